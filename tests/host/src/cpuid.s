# The CPU vendor string from CPUID leaf 0 (EBX, EDX, ECX), 12 bytes to stdout; exit 0.
# tests/host/probe.py builds it with `as --64` and `ld`.

        .section .note.GNU-stack,"",@progbits

        .data
vendor: .skip   12

        .text
        .globl  _start
_start:
        xorl    %eax, %eax
        cpuid
        movl    %ebx, vendor
        movl    %edx, vendor + 4
        movl    %ecx, vendor + 8
        movl    $1, %eax                # write(1, vendor, 12)
        movl    $1, %edi
        movl    $vendor, %esi
        movl    $12, %edx
        syscall
        movl    $60, %eax               # exit(0)
        xorl    %edi, %edi
        syscall
        hlt
