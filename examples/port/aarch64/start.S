/* aarch64 "virt", little- or big-endian: QEMU loads the ELF at its link
   address and enters _start at EL1 with the MMU and caches off on CPU 0
   (other CPUs stay powered off in QEMU's PSCI; any that run anyway park).
   For a big-endian ELF QEMU sets SCTLR_EL1.EE: data accesses and table
   walks are big-endian (instructions are little-endian either way). We
   install the trap vectors, allow FP/SIMD, and turn on the MMU with an
   identity map: with the MMU off every data access is Device memory,
   where unaligned accesses fault and exclusives are unpredictable. x0
   may hold the device tree's address (port_init looks at it). */
    .section .text.start, "ax"
    .global _start
_start:
    mov     x19, x0                 /* boot argument, for port_init */
    mrs     x0, mpidr_el1
    and     x0, x0, #0xff
    cbnz    x0, park
    ldr     x0, =__stack_top
    mov     sp, x0
    ldr     x0, =vectors
    msr     vbar_el1, x0
    mov     x0, #(3 << 20)          /* CPACR_EL1.FPEN: no FP/SIMD traps */
    msr     cpacr_el1, x0

    /* MAIR: attribute 0 = Device-nGnRE, attribute 1 = Normal write-back */
    ldr     x0, =0xff04
    msr     mair_el1, x0
    /* TCR: T0SZ=24 (1 TiB, walk starts at level 0), TTBR0 walks
       write-back cacheable and inner shareable, 4 KiB granule, no TTBR1
       walks (EPD1), 40-bit physical addresses (IPS=2) */
    ldr     x0, =(24 | (1 << 8) | (1 << 10) | (3 << 12) | (1 << 23) | (2 << 32))
    msr     tcr_el1, x0
    ldr     x0, =level0
    msr     ttbr0_el1, x0
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    /* SCTLR: MMU (M), data cache (C), instruction cache (I) on; no
       alignment checks (A) */
    mrs     x0, sctlr_el1
    ldr     x1, =((1 << 0) | (1 << 2) | (1 << 12))
    orr     x0, x0, x1
    bic     x0, x0, #(1 << 1)
    msr     sctlr_el1, x0
    isb

    ldr     x0, =__bss_start        /* zero .bss */
    ldr     x1, =__bss_end
1:  cmp     x0, x1
    b.hs    2f
    str     xzr, [x0], #8
    b       1b
2:  mov     x0, x19
    bl      port_init
    bl      main
    bl      port_exit               /* w0 still holds main's return value */
park:
    wfe
    b       park

/* Exceptions: the 16 vector entries (0x80 bytes apart). Entry 5, an IRQ
   taken from EL1 on SP_EL1 (our own code, once a guest called
   port_irq_enable), goes to irq_entry and returns; every other entry
   reports the exception and powers off: nothing returns, so the stack is
   reset. */
    .balign 2048
vectors:
    .irp    n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    .balign 0x80
    .if     \n == 5
    b       irq_entry
    .else
    mov     x4, #\n
    b       trap
    .endif
    .endr

/* An IRQ: save what a C call may change (x0-x18, x29, x30, the SIMD
   registers q0-q7 and q16-q31 that compiled code uses freely, and ELR /
   SPSR), call port_irq_entry, restore, return. 576 bytes of frame. */
#define IRQ_FRAME (24 * 8 + 24 * 16)
irq_entry:
    sub     sp, sp, #IRQ_FRAME
    stp     x0, x1, [sp, #0]
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x29, [sp, #144]
    mrs     x0, elr_el1
    mrs     x1, spsr_el1
    stp     x30, x0, [sp, #160]
    str     x1, [sp, #176]
    add     x0, sp, #192
    stp     q0, q1, [x0, #0]
    stp     q2, q3, [x0, #32]
    stp     q4, q5, [x0, #64]
    stp     q6, q7, [x0, #96]
    stp     q16, q17, [x0, #128]
    stp     q18, q19, [x0, #160]
    stp     q20, q21, [x0, #192]
    stp     q22, q23, [x0, #224]
    stp     q24, q25, [x0, #256]
    stp     q26, q27, [x0, #288]
    stp     q28, q29, [x0, #320]
    stp     q30, q31, [x0, #352]
    mov     x0, #0
    bl      port_irq_entry
    add     x0, sp, #192
    ldp     q0, q1, [x0, #0]
    ldp     q2, q3, [x0, #32]
    ldp     q4, q5, [x0, #64]
    ldp     q6, q7, [x0, #96]
    ldp     q16, q17, [x0, #128]
    ldp     q18, q19, [x0, #160]
    ldp     q20, q21, [x0, #192]
    ldp     q22, q23, [x0, #224]
    ldp     q24, q25, [x0, #256]
    ldp     q26, q27, [x0, #288]
    ldp     q28, q29, [x0, #320]
    ldp     q30, q31, [x0, #352]
    ldr     x1, [sp, #176]
    ldp     x30, x0, [sp, #160]
    msr     elr_el1, x0
    msr     spsr_el1, x1
    ldp     x18, x29, [sp, #144]
    ldp     x16, x17, [sp, #128]
    ldp     x14, x15, [sp, #112]
    ldp     x12, x13, [sp, #96]
    ldp     x10, x11, [sp, #80]
    ldp     x8, x9, [sp, #64]
    ldp     x6, x7, [sp, #48]
    ldp     x4, x5, [sp, #32]
    ldp     x2, x3, [sp, #16]
    ldp     x0, x1, [sp, #0]
    add     sp, sp, #IRQ_FRAME
    eret

trap:
    ldr     x0, =__stack_top
    mov     sp, x0
    mrs     x0, esr_el1
    orr     x0, x0, x4, lsl #32     /* cause: vector number << 32 | ESR */
    mrs     x1, elr_el1
    mrs     x2, far_el1
    bl      port_trap
    b       park

/* The translation tables: 1 GiB blocks over the first TiB, which holds
   everything QEMU 7.2's virt puts in its low and high memory maps
   (highmem=on: GIC redistributors and PCIe ECAM from 256 GiB, the 64-bit
   PCI window at 512 GiB).
     0 - 1 GiB      devices (UART, GIC, virtio-mmio, low PCIe windows)
     1 - 256 GiB    Normal memory (RAM starts at 1 GiB)
     256 GiB - 1 TiB devices
   Device blocks: AF, attribute 0 (Device-nGnRE), never executable (PXN,
   UXN). Normal blocks: AF, inner shareable, attribute 1 (write-back). */
#define DEVICE ((1 << 10) | (0 << 2) | 1 | (3 << 53))
#define NORMAL ((1 << 10) | (3 << 8) | (1 << 2) | 1)
    .section .rodata
    .balign 4096
level0:
    .quad   level1_low + 3          /* table descriptors */
    .quad   level1_high + 3
    .fill   510, 8, 0
    .balign 4096
level1_low:
    .quad   DEVICE
    .set    gib, 1
    .rept   255
    .quad   (gib << 30) | NORMAL
    .set    gib, gib + 1
    .endr
    .rept   256
    .quad   (gib << 30) | DEVICE
    .set    gib, gib + 1
    .endr
    .balign 4096
level1_high:
    .rept   512
    .quad   (gib << 30) | DEVICE
    .set    gib, gib + 1
    .endr
