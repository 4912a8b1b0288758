"""Linux 6.9's numbers for x86 where they differ from 3.16's, and its configuration options.

Each value names the 6.9 file it comes from; tests/unit/test_linux69.py pins them. The
selectors, the GDT layout, STAR and the pt_regs layouts are the same as 3.16's and stay in
simulator.kernel.linux316.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simulator.kernel import linux316 as L

PROFILE = "linux-6.9"

# --- RFLAGS bits (arch/x86/include/uapi/asm/processor-flags.h) -------------
X86_EFLAGS_CF = 0x0000_0001
X86_EFLAGS_FIXED = 0x0000_0002
X86_EFLAGS_PF = 0x0000_0004
X86_EFLAGS_AF = 0x0000_0010
X86_EFLAGS_ZF = 0x0000_0040
X86_EFLAGS_SF = 0x0000_0080
X86_EFLAGS_TF = 0x0000_0100
X86_EFLAGS_IF = 0x0000_0200
X86_EFLAGS_DF = 0x0000_0400
X86_EFLAGS_OF = 0x0000_0800
X86_EFLAGS_IOPL = 0x0000_3000
X86_EFLAGS_NT = 0x0000_4000
X86_EFLAGS_RF = 0x0001_0000
X86_EFLAGS_VM = 0x0002_0000
X86_EFLAGS_AC = 0x0004_0000
X86_EFLAGS_ID = 0x0020_0000

# idt_syscall_init (arch/x86/kernel/cpu/common.c): "Flags to clear on syscall; clear as much
# as possible to minimize user space-kernel interference."
SYSCALL_MASK = (
    X86_EFLAGS_CF
    | X86_EFLAGS_PF
    | X86_EFLAGS_AF
    | X86_EFLAGS_ZF
    | X86_EFLAGS_SF
    | X86_EFLAGS_TF
    | X86_EFLAGS_IF
    | X86_EFLAGS_DF
    | X86_EFLAGS_OF
    | X86_EFLAGS_IOPL
    | X86_EFLAGS_NT
    | X86_EFLAGS_RF
    | X86_EFLAGS_AC
    | X86_EFLAGS_ID
)  # 0x257fd5

# GDT_ENTRY_INVALID_SEG (arch/x86/include/asm/segment.h): what idt_syscall_init writes to
# IA32_SYSENTER_CS when ia32 emulation is off, so that SYSENTER raises #GP(0).
GDT_ENTRY_INVALID_SEG = 0

# --- the syscall number ------------------------------------------------------
X32_SYSCALL_BIT = L.X32_SYSCALL_BIT  # arch/x86/include/uapi/asm/unistd.h, as in 3.16
TASK_SIZE_MAX = L.TASK_SIZE_MAX_64  # (1 << 47) - PAGE_SIZE with 4-level paging

# --- ptrace (include/uapi/linux/ptrace.h) -----------------------------------
# ptrace_report_syscall_entry/exit leave these in current->ptrace_message for the stop.
PTRACE_EVENTMSG_SYSCALL_ENTRY = 1
PTRACE_EVENTMSG_SYSCALL_EXIT = 2

# --- syscall_work bits (include/linux/thread_info.h, enum syscall_work_bit) --
SYSCALL_WORK_BIT_SECCOMP = 0
SYSCALL_WORK_BIT_SYSCALL_TRACEPOINT = 1
SYSCALL_WORK_BIT_SYSCALL_TRACE = 2
SYSCALL_WORK_BIT_SYSCALL_EMU = 3
SYSCALL_WORK_BIT_SYSCALL_AUDIT = 4
SYSCALL_WORK_BIT_SYSCALL_USER_DISPATCH = 5
SYSCALL_WORK_BIT_SYSCALL_EXIT_TRAP = 6

# ringsim keeps the work bits where its 3.16 model keeps them (the TIF_* bits of the task);
# these are the 6.9 names the trace gives them.
WORK_NAMES = (
    (L.TIF_SECCOMP, "SYSCALL_WORK_SECCOMP"),
    (L.TIF_SYSCALL_TRACEPOINT, "SYSCALL_WORK_SYSCALL_TRACEPOINT"),
    (L.TIF_SYSCALL_TRACE, "SYSCALL_WORK_SYSCALL_TRACE"),
    (L.TIF_SYSCALL_EMU, "SYSCALL_WORK_SYSCALL_EMU"),
    (L.TIF_SYSCALL_AUDIT, "SYSCALL_WORK_SYSCALL_AUDIT"),
)
SYSCALL_WORK_ENTER = sum(1 << bit for bit, _ in WORK_NAMES)
# SYSCALL_WORK_EXIT: TRACEPOINT, TRACE, AUDIT, USER_DISPATCH, EXIT_TRAP (TIF_SINGLESTEP here).
SYSCALL_WORK_EXIT = (
    1 << L.TIF_SYSCALL_TRACEPOINT
    | 1 << L.TIF_SYSCALL_TRACE
    | 1 << L.TIF_SYSCALL_AUDIT
    | 1 << L.TIF_SINGLESTEP
)
# EXIT_TO_USER_MODE_WORK (include/linux/entry-common.h): SIGPENDING, NOTIFY_RESUME, UPROBE,
# NEED_RESCHED, PATCH_PENDING, NOTIFY_SIGNAL; ringsim has the first, second and fourth.
EXIT_TO_USER_MODE_WORK = 1 << L.TIF_SIGPENDING | 1 << L.TIF_NOTIFY_RESUME | 1 << L.TIF_NEED_RESCHED

# --- configuration -------------------------------------------------------------
#: The options a linux-6.9 x86_64 kernel takes, with their defaults: CONFIG_X86_X32_ABI and
#: the ia32_emulation= boot parameter (CONFIG_IA32_EMULATION built in). An i386 kernel has
#: neither.
OPTIONS_64: Mapping[str, bool] = {"x32": True, "ia32_emulation": True}
OPTION_TEXT = {
    "x32": "CONFIG_X86_X32_ABI (arch/x86/Kconfig): the x32 table and x32 processes",
    "ia32_emulation": "ia32_emulation= (arch/x86/entry/common.c, early_param): 32-bit "
    "processes, INT 0x80, compat SYSCALL and SYSENTER",
}


def check_options(kind: str, options: Mapping[str, Any] | None) -> dict[str, bool]:
    """The options of a 6.9 ``kind`` kernel, defaults filled in; unknown keys or values raise."""
    given = dict(options or {})
    if kind != "x86_64":
        if given:
            raise ValueError(
                f"options: expected none for an i386 linux-6.9 kernel (it has neither x32 nor "
                f"ia32 emulation), received {sorted(given)}"
            )
        return {"x32": False, "ia32_emulation": False}
    out = dict(OPTIONS_64)
    for key, value in given.items():
        if key not in OPTIONS_64:
            raise ValueError(
                f"options: expected keys among {', '.join(OPTIONS_64)}, received {key!r}"
            )
        if not isinstance(value, bool):
            raise TypeError(
                f"options[{key!r}]: expected a bool, received {type(value).__name__} {value!r}"
            )
        out[key] = value
    return out


def is_69(k: Any) -> bool:
    """Whether kernel ``k`` was booted with the linux-6.9 profile."""
    return k.options.get("profile") == PROFILE
