"""Facts about the Linux x86 ABIs as data: syscall tables, conventions, errno, layouts."""

from abi.address_space import USER_LIMITS, user_limit
from abi.audit import AUDIT_ARCH_I386, AUDIT_ARCH_X86_64
from abi.auxv import AT_SYSINFO, AT_SYSINFO_EHDR, AUXV_NAMES, AUXV_TYPES, auxv_name
from abi.conventions import (
    CONVENTIONS,
    IA32_ARGS_TO_C,
    ArgMove,
    Convention,
    Reg,
    RegisterView,
    StackSlot,
    convention,
    conventions_for,
)
from abi.errnos import (
    ERRNO,
    ERRNO_NAMES,
    MAX_ERRNO,
    errno_name,
    errno_number,
    error_number,
    is_error,
    to_signed,
)
from abi.errors import AbiLookupError, TableFormatError, UnknownAbiError, UnknownSyscallError
from abi.explain import explain
from abi.headers import HEADER_RULES, generated_headers, syscallhdr_sh, syscalltbl_sh
from abi.kernel_tables import (
    KernelSyscallTable,
    i386_sys_call_table,
    ia32_sys_call_table,
    x86_64_sys_call_table,
)
from abi.layouts import PT_REGS_32, PT_REGS_64, USER_REGS_32, USER_REGS_64, StructLayout
from abi.profiles import DEFAULT_PROFILE, PROFILES, Profile, get_profile, syscall_table
from abi.registers import ABI_REGISTERS, ABIS, POINTER_WIDTH, REGISTER_WIDTH, RegisterFile
from abi.signatures import SIGNATURES
from abi.syscalls import (
    X32_SYSCALL_BIT,
    Syscall,
    abi_syscalls,
    lookup_syscall,
    syscall_name,
    syscall_number,
)
from abi.tbl import TABLE_ABIS, SyscallEntry, SyscallTable, load_table, parse_table

__all__ = [
    "ABIS",
    "ABI_REGISTERS",
    "AT_SYSINFO",
    "AT_SYSINFO_EHDR",
    "AUDIT_ARCH_I386",
    "AUDIT_ARCH_X86_64",
    "AUXV_NAMES",
    "AUXV_TYPES",
    "CONVENTIONS",
    "DEFAULT_PROFILE",
    "ERRNO",
    "ERRNO_NAMES",
    "HEADER_RULES",
    "IA32_ARGS_TO_C",
    "MAX_ERRNO",
    "POINTER_WIDTH",
    "PROFILES",
    "PT_REGS_32",
    "PT_REGS_64",
    "REGISTER_WIDTH",
    "SIGNATURES",
    "TABLE_ABIS",
    "USER_LIMITS",
    "USER_REGS_32",
    "USER_REGS_64",
    "X32_SYSCALL_BIT",
    "AbiLookupError",
    "ArgMove",
    "Convention",
    "KernelSyscallTable",
    "Profile",
    "Reg",
    "RegisterFile",
    "RegisterView",
    "StackSlot",
    "StructLayout",
    "Syscall",
    "SyscallEntry",
    "SyscallTable",
    "TableFormatError",
    "UnknownAbiError",
    "UnknownSyscallError",
    "abi_syscalls",
    "auxv_name",
    "convention",
    "conventions_for",
    "errno_name",
    "errno_number",
    "error_number",
    "explain",
    "generated_headers",
    "get_profile",
    "i386_sys_call_table",
    "ia32_sys_call_table",
    "is_error",
    "load_table",
    "lookup_syscall",
    "parse_table",
    "syscall_name",
    "syscall_number",
    "syscall_table",
    "syscallhdr_sh",
    "syscalltbl_sh",
    "to_signed",
    "user_limit",
    "x86_64_sys_call_table",
]
