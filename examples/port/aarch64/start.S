/* aarch64 "virt": QEMU enters the ELF at EL1 with the MMU off on every
   CPU; CPU 0 runs the guest, the others park. Data accesses are then
   Device memory, so the code is built with -mstrict-align. */
    .section .text.start
    .global _start
_start:
    mrs     x0, mpidr_el1
    and     x0, x0, #0xff
    cbnz    x0, park
    ldr     x0, =__stack_top
    mov     sp, x0
    /* Allow FP/SIMD at EL1 (compilers use it for copies). */
    mov     x0, #(3 << 20)
    msr     cpacr_el1, x0
    isb
    ldr     x0, =__bss_start
    ldr     x1, =__bss_end
1:  cmp     x0, x1
    b.hs    2f
    str     xzr, [x0], #8
    b       1b
2:  bl      port_init
    bl      main
    bl      port_exit
park:
    wfe
    b       park
