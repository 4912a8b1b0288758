"""The audit architecture tokens that seccomp and audit report for x86 syscalls."""

from __future__ import annotations

# include/uapi/linux/elf-em.h.
EM_386 = 3
EM_X86_64 = 62

# include/uapi/linux/audit.h, Linux 3.16: "distinguish syscall tables".
AUDIT_ARCH_64BIT = 0x80000000
AUDIT_ARCH_LE = 0x40000000

#: (EM_386|__AUDIT_ARCH_LE)
AUDIT_ARCH_I386 = EM_386 | AUDIT_ARCH_LE
#: (EM_X86_64|__AUDIT_ARCH_64BIT|__AUDIT_ARCH_LE)
AUDIT_ARCH_X86_64 = EM_X86_64 | AUDIT_ARCH_64BIT | AUDIT_ARCH_LE
