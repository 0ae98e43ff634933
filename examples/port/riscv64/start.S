/* riscv64 "virt", -bios none: every hart starts here in M-mode at
   0x80000000. Hart 0 runs the guest; the others wait forever. */
    .section .text.start
    .global _start
_start:
    csrr    t0, mhartid
    bnez    t0, park
    la      sp, __stack_top
    /* zero .bss */
    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sd      zero, 0(t0)
    addi    t0, t0, 8
    j       1b
2:  call    port_init
    call    main
    call    port_exit
park:
    wfi
    j       park
