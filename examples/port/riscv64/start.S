/* riscv64 and riscv32 "virt" with -bios none: every hart starts here in
   M-mode at 0x80000000 with no paging (physical addresses, so nothing to
   map) and no firmware; QEMU's reset code leaves the hart id in a0 and
   the device tree's address in a1. Hart 0 runs the guest; the others
   wait forever. */
#if __riscv_xlen == 32
#define STORE sw
#define LOAD lw
#define WORD 4
#else
#define STORE sd
#define LOAD ld
#define WORD 8
#endif
    .section .text.start, "ax"
    .global _start
_start:
    csrr    t0, mhartid
    bnez    t0, park
    mv      s0, a1                  /* the device tree, for port_init */
    la      sp, __stack_top
    la      t0, trap_entry
    csrw    mtvec, t0               /* direct mode: every trap to trap_entry */
    la      t0, __bss_start         /* zero .bss */
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    STORE   zero, 0(t0)
    addi    t0, t0, WORD
    j       1b
2:  mv      a0, s0
    call    port_init
    call    main
    call    port_exit               /* a0 still holds main's return value */
park:
    wfi
    j       park

/* Every trap comes here (mtvec direct mode). An interrupt (mcause's top
   bit set; only a guest that called port_irq_enable gets one) goes to
   port_irq_entry with the registers a C call may change saved, and
   returns with mret. A CPU exception is reported and powers off: we
   never return, so the stack is simply reset (and not used before: the
   exception may be a bad sp). port_trap takes three
   64-bit arguments: on riscv32 each is a register pair (low half first),
   the high halves zero. */
    .align  4
trap_entry:
    csrw    mscratch, t0            /* an exception (a bad sp, say) must not touch the stack */
    csrr    t0, mcause
    bgez    t0, exception
    csrr    t0, mscratch
    addi    sp, sp, -16 * WORD
    STORE   ra, 0 * WORD(sp)
    STORE   t0, 1 * WORD(sp)
    STORE   t1, 2 * WORD(sp)
    STORE   t2, 3 * WORD(sp)
    STORE   a0, 4 * WORD(sp)
    STORE   a1, 5 * WORD(sp)
    STORE   a2, 6 * WORD(sp)
    STORE   a3, 7 * WORD(sp)
    STORE   a4, 8 * WORD(sp)
    STORE   a5, 9 * WORD(sp)
    STORE   a6, 10 * WORD(sp)
    STORE   a7, 11 * WORD(sp)
    STORE   t3, 12 * WORD(sp)
    STORE   t4, 13 * WORD(sp)
    STORE   t5, 14 * WORD(sp)
    STORE   t6, 15 * WORD(sp)
    csrr    a0, mcause
    call    port_irq_entry
    LOAD    ra, 0 * WORD(sp)
    LOAD    t0, 1 * WORD(sp)
    LOAD    t1, 2 * WORD(sp)
    LOAD    t2, 3 * WORD(sp)
    LOAD    a0, 4 * WORD(sp)
    LOAD    a1, 5 * WORD(sp)
    LOAD    a2, 6 * WORD(sp)
    LOAD    a3, 7 * WORD(sp)
    LOAD    a4, 8 * WORD(sp)
    LOAD    a5, 9 * WORD(sp)
    LOAD    a6, 10 * WORD(sp)
    LOAD    a7, 11 * WORD(sp)
    LOAD    t3, 12 * WORD(sp)
    LOAD    t4, 13 * WORD(sp)
    LOAD    t5, 14 * WORD(sp)
    LOAD    t6, 15 * WORD(sp)
    addi    sp, sp, 16 * WORD
    mret
exception:
    la      sp, __stack_top
#if __riscv_xlen == 32
    csrr    a0, mcause
    li      a1, 0
    csrr    a2, mepc
    li      a3, 0
    csrr    a4, mtval
    li      a5, 0
#else
    csrr    a0, mcause
    csrr    a1, mepc
    csrr    a2, mtval
#endif
    call    port_trap
    j       park
