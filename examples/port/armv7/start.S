/* armv7 "virt" (cortex-a15, highmem=off): QEMU loads the ELF at its link
   address and enters _start in SVC mode, ARM state, MMU and caches off,
   interrupts masked, on CPU 0 (the others stay off in QEMU's PSCI; any
   that run anyway park). r2 may hold the device tree's address (the
   Linux convention; port_init also looks at the start of RAM). We zero
   .bss, install the vectors and turn on the MMU with an identity map of
   1 MiB sections: with the MMU off every access is Strongly-ordered,
   where unaligned accesses fault and exclusives are unpredictable. */
    .syntax unified
    .arm
    .section .text.start, "ax"
    .global _start
_start:
    mov     r4, r2                  /* boot argument, for port_init */
    mrc     p15, 0, r0, c0, c0, 5   /* MPIDR: CPU number in bits 7:0 */
    ands    r0, r0, #0xff
    bne     park
    ldr     sp, =__stack_top
    cps     #0x12                   /* IRQ mode has its own sp: give it a stack */
    ldr     sp, =irq_stack_top
    cps     #0x13                   /* back to SVC */
    ldr     r0, =__bss_start        /* zero .bss (the table below is in it) */
    ldr     r1, =__bss_end
    mov     r2, #0
1:  cmp     r0, r1
    strlo   r2, [r0], #4
    blo     1b
    ldr     r0, =vectors
    mcr     p15, 0, r0, c12, c0, 0  /* VBAR */

    /* One level-1 table of 4096 section entries: the first GiB (every
       device: GIC, UART, virtio-mmio, PCIe windows and ECAM) shareable
       Device and never executable, 1-4 GiB (RAM) Normal write-back
       write-allocate, shareable. Full access (AP=11) in domain 0. */
    ldr     r0, =ttb
    ldr     r5, =((3 << 10) | (1 << 4) | (1 << 2) | 2)                       /* Device, XN */
    ldr     r6, =((1 << 16) | (1 << 12) | (3 << 10) | (1 << 3) | (1 << 2) | 2) /* Normal, TEX=001 C B, S */
    mov     r1, #0
2:  cmp     r1, #0x400
    movlo   r3, r5
    movhs   r3, r6
    orr     r3, r3, r1, lsl #20
    str     r3, [r0, r1, lsl #2]
    add     r1, r1, #1
    cmp     r1, #4096
    blo     2b
    mov     r1, #0
    mcr     p15, 0, r1, c2, c0, 2   /* TTBCR: short descriptors, TTBR0 for everything */
    mcr     p15, 0, r0, c2, c0, 0   /* TTBR0 */
    ldr     r1, =0x55555555
    mcr     p15, 0, r1, c3, c0, 0   /* DACR: every domain a client (permissions checked) */
    mov     r1, #0
    mcr     p15, 0, r1, c8, c7, 0   /* TLBIALL */
    mcr     p15, 0, r1, c7, c5, 0   /* ICIALLU */
    dsb
    isb
    /* SCTLR: MMU (M), data cache (C), branch prediction (Z), instruction
       cache (I) on; no alignment checks (A), no TEX remap (TRE), no access
       flag model (AFE), exceptions in ARM state (TE), vectors at VBAR (V) */
    mrc     p15, 0, r1, c1, c0, 0
    ldr     r2, =((1 << 0) | (1 << 2) | (1 << 11) | (1 << 12))
    orr     r1, r1, r2
    ldr     r2, =((1 << 1) | (1 << 13) | (1 << 28) | (1 << 29) | (1 << 30))
    bic     r1, r1, r2
    mcr     p15, 0, r1, c1, c0, 0
    isb

    mov     r0, r4
    bl      port_init
    bl      main
    bl      port_exit               /* r0 still holds main's return value */
park:
    wfe
    b       park

/* Exceptions: the eight vectors. IRQ (6), which only a guest that called
   port_irq_enable gets, goes to irq_entry and returns; every other one
   reports and powers off (port.c reads the fault registers): nothing
   returns, so the stack is reset. Each exception mode has its own banked
   sp; we set it. */
    .balign 32
vectors:
    .irp    n, 0,1,2,3,4,5,6,7
    .if     \n == 6
    b       irq_entry
    .else
    b       vector\n
    .endif
    .endr

/* An IRQ, in IRQ mode on its own stack: save what a C call may change
   and the return address (lr_irq is 4 past the interrupted instruction),
   call port_irq_entry, and return restoring CPSR from SPSR_irq. */
irq_entry:
    sub     lr, lr, #4
    push    {r0-r3, r12, lr}
    mov     r0, #0
    bl      port_irq_entry
    ldm     sp!, {r0-r3, r12, pc}^
    .irp    n, 0,1,2,3,4,5,6,7
vector\n:
    mov     r0, #\n
    b       trap
    .endr
trap:
    ldr     sp, =__stack_top
    mov     r1, lr
    bl      port_arm_trap
    b       park

/* The ARM run-time ABI's 64-bit division (RTABI §4.2): quotient in r0:r1,
   remainder in r2:r3, which C cannot return; the division itself is
   port_udivmod64 / port_divmod64 in common.c, with the remainder written
   to the stack. */
    .text
    .global __aeabi_uldivmod
    .global __aeabi_ldivmod
__aeabi_uldivmod:
    ldr     r12, =port_udivmod64
    b       1f
__aeabi_ldivmod:
    ldr     r12, =port_divmod64
1:  push    {r11, lr}
    sub     sp, sp, #16             /* [sp]: the third argument, &[sp + 8] */
    add     r11, sp, #8
    str     r11, [sp]
    blx     r12                     /* (n in r0:r1, d in r2:r3, &remainder) */
    ldrd    r2, r3, [sp, #8]
    add     sp, sp, #16
    pop     {r11, pc}

    .section .bss
    .balign 16384
ttb:
    .skip   16384
    .balign 16
    .skip   4096
irq_stack_top:
