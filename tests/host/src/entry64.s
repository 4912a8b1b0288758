# One system call from 64-bit code, every general register loaded with a known value first.
#
# tests/host/hostrun.py assembles this with `as --64 -I DIR`, where DIR/case.inc (written per
# case) sets CASE_INT80 (0: SYSCALL, 1: INT 0x80), CASE_RAX .. CASE_R15 (every general
# register but rsp: the number, the arguments, and the pattern elsewhere) and the macro
# CASE_DATA (the bytes that pointer arguments point into). The program stores every register
# right before and right after the one instruction that enters the kernel, writes the record
# below to stdout, and exits 0. It makes no other system call before the case's.
#
# Record: "RSREC64\0", then before and after, each 18 little-endian quadwords:
# rax rcx rdx rbx rsp rbp rsi rdi r8 r9 r10 r11 r12 r13 r14 r15 rip rflags.
# rip before is the entering instruction, rip after the instruction the kernel returns to.

        .include "case.inc"

        .section .note.GNU-stack,"",@progbits

        .macro STORE to
        movq    %rax, \to + 0 * 8
        movq    %rcx, \to + 1 * 8
        movq    %rdx, \to + 2 * 8
        movq    %rbx, \to + 3 * 8
        movq    %rsp, \to + 4 * 8
        movq    %rbp, \to + 5 * 8
        movq    %rsi, \to + 6 * 8
        movq    %rdi, \to + 7 * 8
        movq    %r8, \to + 8 * 8
        movq    %r9, \to + 9 * 8
        movq    %r10, \to + 10 * 8
        movq    %r11, \to + 11 * 8
        movq    %r12, \to + 12 * 8
        movq    %r13, \to + 13 * 8
        movq    %r14, \to + 14 * 8
        movq    %r15, \to + 15 * 8
        pushfq                          # neither instruction changes a flag
        popq    \to + 17 * 8
        .endm

        .data
        .balign 8
record: .ascii  "RSREC64\0"
before: .skip   18 * 8
after:  .skip   18 * 8
record_end:
case_data:
        CASE_DATA

        .text
        .globl  _start
_start:
        movq    $entry, before + 16 * 8
        movq    $return, after + 16 * 8
        movb    $0x80, %al
        addb    $0x80, %al              # RFLAGS: CF PF ZF OF set, SF AF clear (0xa47 with IF)
        movabs  $CASE_RAX, %rax         # no mov changes a flag
        movabs  $CASE_RCX, %rcx
        movabs  $CASE_RDX, %rdx
        movabs  $CASE_RBX, %rbx
        movabs  $CASE_RBP, %rbp
        movabs  $CASE_RSI, %rsi
        movabs  $CASE_RDI, %rdi
        movabs  $CASE_R8, %r8
        movabs  $CASE_R9, %r9
        movabs  $CASE_R10, %r10
        movabs  $CASE_R11, %r11
        movabs  $CASE_R12, %r12
        movabs  $CASE_R13, %r13
        movabs  $CASE_R14, %r14
        movabs  $CASE_R15, %r15
        STORE   before
entry:
        .if CASE_INT80
        int     $0x80
        .else
        syscall
        .endif
return:
        STORE   after
        movl    $1, %eax                # write(1, record, size)
        movl    $1, %edi
        movl    $record, %esi
        movl    $record_end - record, %edx
        syscall
        movl    $60, %eax               # exit(0)
        xorl    %edi, %edi
        syscall
        hlt
