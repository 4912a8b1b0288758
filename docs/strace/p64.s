.globl _start
.data
msg: .ascii "hello\n"
nope: .asciz "/nope"
path: .asciz "./echo32"
hi: .asciz "hi"
argv: .quad path, hi, 0
.text
_start:
mov $1, %edi
lea msg(%rip), %rsi
mov $6, %edx
mov $1, %eax
syscall
lea nope(%rip), %rdi
xor %esi, %esi
mov $2, %eax
syscall
mov $1, %ebx
lea msg(%rip), %rcx
mov $6, %edx
mov $4, %eax
int $0x80
lea path(%rip), %rdi
lea argv(%rip), %rsi
xor %edx, %edx
mov $59, %eax
syscall
