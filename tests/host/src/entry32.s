# One system call from 32-bit code, every general register loaded with a known value first.
#
# tests/host/hostrun.py assembles this with `as --32 -I DIR` (binutils alone, no 32-bit C
# library), where DIR/case.inc (written per case) sets CASE_VSYSCALL (0: INT 0x80,
# 1: `call *AT_SYSINFO`, the vDSO's __kernel_vsyscall), CASE_EAX .. CASE_EDI (every general
# register but esp) and the macro CASE_DATA. Before the case it walks the auxiliary vector
# for AT_SYSINFO (32) and AT_SYSINFO_EHDR (33) and copies up to 64 bytes of the code at
# AT_SYSINFO (not past its page); it makes no system call before the case's. Without
# AT_SYSINFO a __kernel_vsyscall case writes its record with sysinfo 0 and no registers.
#
# Record: "RSREC32\0", before and after (10 little-endian doublewords each: eax ecx edx ebx
# esp ebp esi edi eip eflags), sysinfo, sysinfo_ehdr, code_len, then 64 bytes of code.

        .include "case.inc"

        .section .note.GNU-stack,"",@progbits

        .macro STORE to
        movl    %eax, \to + 0 * 4
        movl    %ecx, \to + 1 * 4
        movl    %edx, \to + 2 * 4
        movl    %ebx, \to + 3 * 4
        movl    %esp, \to + 4 * 4
        movl    %ebp, \to + 5 * 4
        movl    %esi, \to + 6 * 4
        movl    %edi, \to + 7 * 4
        pushfl                          # neither instruction changes a flag
        popl    \to + 9 * 4
        .endm

        .data
        .balign 4
record: .ascii  "RSREC32\0"
before: .skip   10 * 4
after:  .skip   10 * 4
sysinfo:
        .long   0
sysinfo_ehdr:
        .long   0
code_len:
        .long   0
code:   .skip   64
record_end:
case_data:
        CASE_DATA

        .text
        .globl  _start
_start:
        movl    $entry, before + 8 * 4
        movl    $return, after + 8 * 4
        movl    %esp, %esi              # argc, argv[argc + 1], envp[] up to NULL, auxv
        movl    (%esi), %ecx
        leal    8(%esi,%ecx,4), %esi
1:      movl    (%esi), %eax
        addl    $4, %esi
        testl   %eax, %eax
        jnz     1b
2:      movl    (%esi), %eax            # (type, value) pairs up to AT_NULL
        testl   %eax, %eax
        jz      4f
        movl    4(%esi), %edx
        cmpl    $32, %eax
        jne     3f
        movl    %edx, sysinfo
3:      cmpl    $33, %eax
        jne     5f
        movl    %edx, sysinfo_ehdr
5:      addl    $8, %esi
        jmp     2b
4:      movl    sysinfo, %esi
        testl   %esi, %esi
        jz      6f
        movl    %esi, %ecx              # copy min(64, bytes to the end of the page)
        orl     $0xfff, %ecx
        subl    %esi, %ecx
        incl    %ecx
        cmpl    $64, %ecx
        jbe     7f
        movl    $64, %ecx
7:      movl    %ecx, code_len
        movl    $code, %edi
        cld
        rep movsb
6:
        .if CASE_VSYSCALL
        cmpl    $0, sysinfo
        je      done
        .endif
        movb    $0x80, %al
        addb    $0x80, %al              # EFLAGS: CF PF ZF OF set, SF AF clear (0xa47 with IF)
        movl    $CASE_EAX, %eax         # no mov changes a flag
        movl    $CASE_ECX, %ecx
        movl    $CASE_EDX, %edx
        movl    $CASE_EBX, %ebx
        movl    $CASE_EBP, %ebp
        movl    $CASE_ESI, %esi
        movl    $CASE_EDI, %edi
        STORE   before
entry:
        .if CASE_VSYSCALL
        call    *sysinfo
        .else
        int     $0x80
        .endif
return:
        STORE   after
done:
        movl    $4, %eax                # write(1, record, size)
        movl    $1, %ebx
        movl    $record, %ecx
        movl    $record_end - record, %edx
        int     $0x80
        movl    $1, %eax                # exit(0)
        xorl    %ebx, %ebx
        int     $0x80
        hlt
