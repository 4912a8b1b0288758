.globl _start
.text
_start:
mov (%esp), %eax
lea 8(%esp,%eax,4), %esi
1: cmpl $0, (%esi)
je 2f
add $4, %esi
jmp 1b
2: add $4, %esi
3: mov (%esi), %eax
cmp $32, %eax
je 4f
add $8, %esi
jmp 3b
4: mov 4(%esi), %edi
mov 8(%esp), %ecx
mov %ecx, %ebx
xor %edx, %edx
5: cmpb $0, (%ebx)
je 6f
inc %ebx
inc %edx
jmp 5b
6: mov $1, %ebx
mov $4, %eax
int $0x80
mov $20, %eax
call *%edi
mov $0, %ebx
mov $1, %eax
call *%edi
