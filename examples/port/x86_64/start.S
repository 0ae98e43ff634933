/* x86_64 "q35": SeaBIOS loads this image through QEMU's Multiboot v1
   loader (an ELF64 re-wrapped as ELF32) and enters _start in 32-bit
   protected mode with paging off. We identity-map the low 4 GiB with
   2 MiB pages (RAM, the PCI hole, the BARs SeaBIOS placed there), enable
   SSE, enter long mode and call C. */
    .section .multiboot, "a"
    .align 4
    .long 0x1badb002            /* magic */
    .long 0                     /* flags: nothing needed from the loader */
    .long -0x1badb002           /* checksum */

    .section .text.start, "ax"
    .code32
    .global _start
_start:
    cli
    mov     $__stack_top, %esp
    /* zero .bss (the page tables live there) */
    mov     $__bss_start, %edi
    mov     $__bss_end, %ecx
    sub     %edi, %ecx
    shr     $2, %ecx
    xor     %eax, %eax
    rep stosl
    /* PML4[0] -> PDPT, PDPT[0..3] -> PD0..PD3, PDs map 2 MiB pages */
    mov     $pdpt, %eax
    or      $3, %eax
    mov     %eax, pml4
    xor     %ecx, %ecx
1:  mov     %ecx, %eax
    shl     $12, %eax
    add     $pd, %eax
    or      $3, %eax
    mov     %eax, pdpt(,%ecx,8)
    inc     %ecx
    cmp     $4, %ecx
    jb      1b
    xor     %ecx, %ecx
2:  mov     %ecx, %eax
    shl     $21, %eax
    or      $0x83, %eax         /* present, writable, 2 MiB page */
    mov     %eax, pd(,%ecx,8)
    mov     %ecx, %eax
    shr     $11, %eax           /* high bits of (ecx << 21) */
    mov     %eax, pd+4(,%ecx,8)
    inc     %ecx
    cmp     $2048, %ecx
    jb      2b
    /* CR4: PAE, OSFXSR, OSXMMEXCPT */
    mov     %cr4, %eax
    or      $((1 << 5) | (1 << 9) | (1 << 10)), %eax
    mov     %eax, %cr4
    mov     $pml4, %eax
    mov     %eax, %cr3
    /* EFER.LME */
    mov     $0xc0000080, %ecx
    rdmsr
    or      $(1 << 8), %eax
    wrmsr
    /* CR0: paging, protection, FPU monitor on, emulation off */
    mov     %cr0, %eax
    and     $~(1 << 2), %eax
    or      $((1 << 31) | (1 << 1) | 1), %eax
    mov     %eax, %cr0
    lgdt    gdt_ptr
    ljmp    $0x08, $long_mode

    .code64
long_mode:
    mov     $0x10, %ax
    mov     %ax, %ds
    mov     %ax, %es
    mov     %ax, %ss
    mov     %ax, %fs
    mov     %ax, %gs
    mov     $__stack_top, %rsp
    call    port_init
    call    main
    mov     %eax, %edi
    call    port_exit
3:  hlt
    jmp     3b

    .section .rodata
    .align 8
gdt:
    .quad 0
    .quad 0x00af9a000000ffff    /* 64-bit code */
    .quad 0x00cf92000000ffff    /* data */
gdt_ptr:
    .word gdt_ptr - gdt - 1
    .long gdt

    .section .bss
    .align 4096
pml4: .skip 4096
pdpt: .skip 4096
pd:   .skip 4096 * 4
