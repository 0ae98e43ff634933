/* x86_64 and i686 "q35": QEMU's -kernel loader boots Multiboot v1 images
   through SeaBIOS. It refuses ELF64 files as such, but honours the
   header's "address fields" (flag bit 16): it then copies the file bytes
   between load_addr and load_end_addr as a flat image, whatever the file
   format. So this stays a normal ELF (debuggers keep their symbols) whose
   one loadable segment is also the flat image (see link.ld).

   We are entered in 32-bit protected mode, paging off, interrupts off.
   x86_64: we identity-map the first 64 GiB with 2 MiB pages (RAM, the PCI
   hole below 4 GiB with ECAM, HPET and the 32-bit BARs, and the 64-bit
   BARs SeaBIOS places above 4 GiB when they do not fit below), turn on
   SSE, enter long mode and call C. i686: we load our own GDT (Multiboot
   leaves GDTR undefined, and exceptions need a code selector) and call C
   in flat 32-bit mode without paging: the first 4 GiB, which is all a
   32-bit CPU reaches. */
#define MAP_GIB 64

    .section .multiboot, "a"
    .balign 4
mb_header:
    .long   0x1badb002              /* magic */
    .long   0x00010000              /* flags: the address fields below are valid */
    .long   -(0x1badb002 + 0x00010000)   /* checksum */
    .long   mb_header               /* header_addr */
    .long   __image_start           /* load_addr */
    .long   __image_end             /* load_end_addr */
    .long   __bss_end               /* bss_end_addr: QEMU clears up to here */
    .long   _start                  /* entry_addr */

    .section .text.start, "ax"
    .code32
    .global _start
_start:
    cli
    mov     %eax, port_x86_mb_magic /* the loader's Multiboot magic and info block */
    mov     %ebx, port_x86_mb_info
    mov     $__stack_top, %esp
#if defined(__i386__)
    lgdt    gdt_ptr
    ljmp    $0x08, $flat
flat:
    mov     $0x10, %ax
    mov     %ax, %ds
    mov     %ax, %es
    mov     %ax, %ss
    mov     %ax, %fs
    mov     %ax, %gs
    push    $0                      /* no device tree on q35 */
    call    port_init
    call    main
    push    %eax
    call    port_exit
3:  cli
    hlt
    jmp     3b
#else
    /* PML4[0] -> PDPT; PDPT[0..MAP_GIB) -> the page directories, which
       are contiguous, so entry i of `pd` maps 2 MiB page i. */
    mov     $pdpt + 3, %eax         /* present, writable */
    mov     %eax, pml4
    xor     %ecx, %ecx
1:  mov     %ecx, %eax
    shl     $12, %eax
    add     $pd + 3, %eax
    mov     %eax, pdpt(,%ecx,8)
    inc     %ecx
    cmp     $MAP_GIB, %ecx
    jb      1b
    xor     %ecx, %ecx
2:  mov     %ecx, %eax
    shl     $21, %eax
    or      $0x83, %eax             /* present, writable, 2 MiB page */
    mov     %eax, pd(,%ecx,8)
    mov     %ecx, %eax
    shr     $11, %eax               /* bits 32 and up of the address */
    mov     %eax, pd+4(,%ecx,8)
    inc     %ecx
    cmp     $(MAP_GIB * 512), %ecx
    jb      2b
    mov     %cr4, %eax              /* PAE, OSFXSR, OSXMMEXCPT */
    or      $((1 << 5) | (1 << 9) | (1 << 10)), %eax
    mov     %eax, %cr4
    mov     $pml4, %eax
    mov     %eax, %cr3
    mov     $0xc0000080, %ecx       /* EFER.LME */
    rdmsr
    or      $(1 << 8), %eax
    wrmsr
    mov     %cr0, %eax              /* paging, protection, FPU monitor; no FPU emulation */
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
    xor     %edi, %edi              /* no device tree on q35 */
    call    port_init
    call    main
    mov     %eax, %edi
    call    port_exit
3:  cli
    hlt
    jmp     3b
#endif

/* One stub per vector, 16 bytes apart (port.c builds the IDT from
   them): push the vector number, then the exceptions (0-31) go to trap,
   the interrupts (32-255, which only a guest that called
   port_irq_enable gets) to irq. */
    .balign 16
    .global port_x86_trap_stubs
port_x86_trap_stubs:
    .set    vec, 0
    .rept   256
    .balign 16
    push    $vec
    .if     vec < 32
    jmp     trap
    .else
    jmp     irq
    .endif
    .set    vec, vec + 1
    .endr

/* An interrupt: save what a C call may change (x86_64: also the SSE
   state, which compiled code uses freely; the CPU aligned the stack to
   16 bytes before its frame, so fxsave's area is aligned too), call
   port_irq_entry(vector), restore, return. */
irq:
#if defined(__i386__)
    push    %eax
    push    %ecx
    push    %edx
    mov     12(%esp), %eax          /* the vector */
    cld
    push    %eax
    call    port_irq_entry
    add     $4, %esp
    pop     %edx
    pop     %ecx
    pop     %eax
    add     $4, %esp                /* the vector */
    iret
#else
    push    %rax
    push    %rcx
    push    %rdx
    push    %rsi
    push    %rdi
    push    %r8
    push    %r9
    push    %r10
    push    %r11
    mov     72(%rsp), %rdi          /* the vector */
    sub     $520, %rsp              /* 512 for fxsave, 8 to keep 16-byte alignment */
    fxsave  (%rsp)
    cld
    call    port_irq_entry
    fxrstor (%rsp)
    add     $520, %rsp
    pop     %r11
    pop     %r10
    pop     %r9
    pop     %r8
    pop     %rdi
    pop     %rsi
    pop     %rdx
    pop     %rcx
    pop     %rax
    add     $8, %rsp                /* the vector */
    iretq
#endif
trap:
#if defined(__i386__)
    mov     %esp, %eax              /* the frame: vector, [error code,] eip, ... */
    mov     %cr2, %edx              /* faulting address of a page fault */
    mov     $__stack_top, %esp      /* we never return */
    push    %edx
    push    %eax
#else
    mov     %rsp, %rdi              /* the frame: vector, [error code,] rip, ... */
    mov     %cr2, %rsi              /* faulting address of a page fault */
    mov     $__stack_top, %rsp      /* we never return */
#endif
    call    port_x86_trap
    jmp     3b

    .section .data
    .balign 4
    .global port_x86_mb_magic
    .global port_x86_mb_info
port_x86_mb_magic:
    .long   0
port_x86_mb_info:
    .long   0

    .section .rodata
    .balign 8
gdt:
    .quad   0
#if defined(__i386__)
    .quad   0x00cf9a000000ffff      /* 0x08: 32-bit code, flat */
#else
    .quad   0x00af9a000000ffff      /* 0x08: 64-bit code */
#endif
    .quad   0x00cf92000000ffff      /* 0x10: data, flat */
gdt_ptr:
    .word   gdt_ptr - gdt - 1
    .long   gdt

#if !defined(__i386__)
    .section .bss
    .balign 4096
pml4:   .skip 4096
pdpt:   .skip 4096
pd:     .skip 4096 * MAP_GIB
#endif
