/* riscv64 and riscv32 "virt" with -bios none: every hart starts here in
   M-mode at 0x80000000 with no paging (physical addresses, so nothing to
   map) and no firmware; QEMU's reset code leaves the hart id in a0 and
   the device tree's address in a1. Hart 0 runs the guest; the others
   wait forever. */
#if __riscv_xlen == 32
#define STORE sw
#define WORD 4
#else
#define STORE sd
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

/* A CPU exception (interrupts stay disabled): report it and power off.
   We never return, so the stack is simply reset. port_trap takes three
   64-bit arguments: on riscv32 each is a register pair (low half first),
   the high halves zero. */
    .align  4
trap_entry:
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
