/* riscv64 "virt" with -bios none: every hart starts here in M-mode at
   0x80000000 with no paging (physical addresses, so nothing to map) and
   no firmware. Hart 0 runs the guest; the others wait forever. */
    .section .text.start, "ax"
    .global _start
_start:
    csrr    t0, mhartid
    bnez    t0, park
    la      sp, __stack_top
    la      t0, trap_entry
    csrw    mtvec, t0               /* direct mode: every trap to trap_entry */
    la      t0, __bss_start         /* zero .bss */
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sd      zero, 0(t0)
    addi    t0, t0, 8
    j       1b
2:  call    port_init
    call    main
    call    port_exit               /* a0 still holds main's return value */
park:
    wfi
    j       park

/* A CPU exception (interrupts stay disabled): report it and power off.
   We never return, so the stack is simply reset. */
    .align  4
trap_entry:
    la      sp, __stack_top
    csrr    a0, mcause
    csrr    a1, mepc
    csrr    a2, mtval
    call    port_trap
    j       park
