"""Signals on Linux x86 (3.16) as data: numbers, default actions, sigaction flags, si_code
values, and the byte layouts of sigaction, siginfo, sigcontext, ucontext and the signal frames
for x86_64, ia32 emulation and the i386 kernel, with the sigreturn trampolines' bytes.

Layouts are :class:`CStruct` values (a :class:`abi.layouts.StructLayout` that also knows its
alignment, its ``sizeof`` with tail padding, and the layouts of its structure members), built
the way GCC lays out the C declaration for the ABI named: each member at the next multiple of
its alignment. Member names follow the uapi headers (``rip``, ``eflags``, ``esp_at_signal``);
the kernel's own copies of sigcontext (arch/x86/include/asm/sigcontext.h) spell the same slots
``ip``, ``flags``, ``sp_at_signal``, at the same offsets.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import attrs

from abi.errors import AbiLookupError
from abi.layouts import Field, StructLayout

# --- signal numbers: arch/x86/include/uapi/asm/signal.h -------------------------------------

#: Signals 1..31 by name (arch/x86/include/uapi/asm/signal.h, Linux 3.16); one name a number.
SIGNALS: Mapping[str, int] = MappingProxyType(
    {
        "SIGHUP": 1,
        "SIGINT": 2,
        "SIGQUIT": 3,
        "SIGILL": 4,
        "SIGTRAP": 5,
        "SIGABRT": 6,
        "SIGBUS": 7,
        "SIGFPE": 8,
        "SIGKILL": 9,
        "SIGUSR1": 10,
        "SIGSEGV": 11,
        "SIGUSR2": 12,
        "SIGPIPE": 13,
        "SIGALRM": 14,
        "SIGTERM": 15,
        "SIGSTKFLT": 16,
        "SIGCHLD": 17,
        "SIGCONT": 18,
        "SIGSTOP": 19,
        "SIGTSTP": 20,
        "SIGTTIN": 21,
        "SIGTTOU": 22,
        "SIGURG": 23,
        "SIGXCPU": 24,
        "SIGXFSZ": 25,
        "SIGVTALRM": 26,
        "SIGPROF": 27,
        "SIGWINCH": 28,
        "SIGIO": 29,
        "SIGPWR": 30,
        "SIGSYS": 31,
    }
)
#: The header's second names: SIGIOT is SIGABRT, SIGPOLL is SIGIO, SIGUNUSED is SIGSYS.
SIGNAL_ALIASES: Mapping[str, int] = MappingProxyType({"SIGIOT": 6, "SIGPOLL": 29, "SIGUNUSED": 31})
SIGNAL_NAMES: Mapping[int, str] = MappingProxyType({n: name for name, n in SIGNALS.items()})

SIGRTMIN = 32
#: _NSIG (arch/x86/include/asm/signal.h): 64 signals; SIGRTMAX is _NSIG.
NSIG = 64
SIGRTMAX = NSIG
#: sigset_t is _NSIG bits: one unsigned long on x86_64, two on i386 (_NSIG_WORDS).
SIGSET_SIZE = NSIG // 8
#: The old one-word mask of sigreturn's sigcontext.oldmask and the ia32 frame's extramask.
COMPAT_NSIG_BPW = 32

SIGKILL = SIGNALS["SIGKILL"]
SIGSTOP = SIGNALS["SIGSTOP"]


def sigmask(sig: int) -> int:
    """The bit of ``sig`` in a sigset_t: ``1 << (sig - 1)`` (include/linux/signal.h)."""
    if not 1 <= sig <= NSIG:
        raise AbiLookupError(f"sig: expected a signal number 1..{NSIG}, received {sig!r}")
    return 1 << (sig - 1)


def _mask(*names: str) -> int:
    bits = 0
    for name in names:
        bits |= sigmask(SIGNALS[name])
    return bits


# --- default actions: include/linux/signal.h, used by kernel/signal.c -----------------------

#: SIG_KERNEL_ONLY_MASK: the signals that cannot be caught, blocked or ignored.
SIG_KERNEL_ONLY_MASK = _mask("SIGKILL", "SIGSTOP")
SIG_KERNEL_STOP_MASK = _mask("SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU")
#: x86 has no SIGEMT, so SIGEMT_MASK is 0.
SIG_KERNEL_COREDUMP_MASK = _mask(
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGFPE",
    "SIGSEGV",
    "SIGBUS",
    "SIGSYS",
    "SIGXCPU",
    "SIGXFSZ",
)
SIG_KERNEL_IGNORE_MASK = _mask("SIGCONT", "SIGCHLD", "SIGWINCH", "SIGURG")
#: SIGKILL and SIGSTOP: sigaction refuses them (-EINVAL) and sigprocmask drops them.
UNCATCHABLE: frozenset[int] = frozenset({SIGKILL, SIGSTOP})

TERMINATE = "terminate"
CORE = "core"
IGNORE = "ignore"
STOP = "stop"
CONTINUE = "continue"
DEFAULT_ACTIONS = (TERMINATE, CORE, IGNORE, STOP, CONTINUE)


def default_action(sig: int) -> str:
    """What SIG_DFL does with ``sig`` (get_signal in kernel/signal.c, masks from
    include/linux/signal.h): ``stop``, ``core``, ``ignore``, ``terminate``; SIGCONT, which
    SIG_KERNEL_IGNORE_MASK holds because prepare_signal already resumed the group when it was
    sent, is ``continue``. Real-time signals terminate."""
    bit = sigmask(sig)
    if sig >= SIGRTMIN:
        return TERMINATE
    if sig == SIGNALS["SIGCONT"]:
        return CONTINUE
    if bit & SIG_KERNEL_STOP_MASK:
        return STOP
    if bit & SIG_KERNEL_COREDUMP_MASK:
        return CORE
    if bit & SIG_KERNEL_IGNORE_MASK:
        return IGNORE
    return TERMINATE


def signal_name(sig: int) -> str:
    """``SIGHUP`` for 1 .. ``SIGSYS`` for 31, ``SIGRTMIN+n`` for 32..64."""
    if sig in SIGNAL_NAMES:
        return SIGNAL_NAMES[sig]
    if SIGRTMIN <= sig <= SIGRTMAX:
        return "SIGRTMIN" if sig == SIGRTMIN else f"SIGRTMIN+{sig - SIGRTMIN}"
    raise AbiLookupError(f"sig: expected a signal number 1..{NSIG}, received {sig!r}")


def signal_number(name: str) -> int:
    """The number of ``name`` (either spelling: ``SIGIOT`` is 6)."""
    number = SIGNALS.get(name, SIGNAL_ALIASES.get(name))
    if number is None:
        raise AbiLookupError(f"name: expected a signal name such as SIGSEGV, received {name!r}")
    return number


# --- sigaction and sigprocmask: arch/x86/include/uapi/asm/signal.h, signal-defs.h -----------

SA_NOCLDSTOP = 0x00000001
SA_NOCLDWAIT = 0x00000002
SA_SIGINFO = 0x00000004
SA_RESTORER = 0x04000000
SA_ONSTACK = 0x08000000
SA_RESTART = 0x10000000
SA_NODEFER = 0x40000000
SA_RESETHAND = 0x80000000
SA_NOMASK = SA_NODEFER
SA_ONESHOT = SA_RESETHAND
SA_FLAGS: Mapping[str, int] = MappingProxyType(
    {
        "SA_NOCLDSTOP": SA_NOCLDSTOP,
        "SA_NOCLDWAIT": SA_NOCLDWAIT,
        "SA_SIGINFO": SA_SIGINFO,
        "SA_RESTORER": SA_RESTORER,
        "SA_ONSTACK": SA_ONSTACK,
        "SA_RESTART": SA_RESTART,
        "SA_NODEFER": SA_NODEFER,
        "SA_RESETHAND": SA_RESETHAND,
    }
)
MINSIGSTKSZ = 2048
SIGSTKSZ = 8192

SIG_BLOCK = 0
SIG_UNBLOCK = 1
SIG_SETMASK = 2
SIG_DFL = 0
SIG_IGN = 1
SIG_ERR = -1

#: uc_flags bit (arch/x86/include/uapi/asm/ucontext.h): fpstate points at an xstate layout.
UC_FP_XSTATE = 0x1

# --- restart errnos: include/linux/errno.h (never seen by user programs) --------------------

ERESTARTSYS = 512
ERESTARTNOINTR = 513
ERESTARTNOHAND = 514
ERESTART_RESTARTBLOCK = 516
RESTART_ERRNOS: Mapping[str, int] = MappingProxyType(
    {
        "ERESTARTSYS": ERESTARTSYS,
        "ERESTARTNOINTR": ERESTARTNOINTR,
        "ERESTARTNOHAND": ERESTARTNOHAND,
        "ERESTART_RESTARTBLOCK": ERESTART_RESTARTBLOCK,
    }
)

# --- si_code: include/uapi/asm-generic/siginfo.h ---------------------------------------------
# The values user space sees: inside the kernel the positive codes carry a __SI_FAULT,
# __SI_CHLD, ... class in their high 16 bits, which copy_siginfo_to_user drops.

SI_USER = 0
SI_KERNEL = 0x80
SI_QUEUE = -1
SI_TIMER = -2
SI_MESGQ = -3
SI_ASYNCIO = -4
SI_SIGIO = -5
SI_TKILL = -6
SI_DETHREAD = -7
ILL_ILLOPC = 1
ILL_ILLOPN = 2
ILL_ILLADR = 3
ILL_ILLTRP = 4
ILL_PRVOPC = 5
ILL_PRVREG = 6
ILL_COPROC = 7
ILL_BADSTK = 8
FPE_INTDIV = 1
FPE_INTOVF = 2
SEGV_MAPERR = 1
SEGV_ACCERR = 2
BUS_ADRALN = 1
BUS_ADRERR = 2
BUS_OBJERR = 3
TRAP_BRKPT = 1
TRAP_TRACE = 2
TRAP_BRANCH = 3
TRAP_HWBKPT = 4
CLD_EXITED = 1
CLD_KILLED = 2
CLD_DUMPED = 3
CLD_TRAPPED = 4
CLD_STOPPED = 5
CLD_CONTINUED = 6
SYS_SECCOMP = 1

# --- layouts ---------------------------------------------------------------------------------


@attrs.frozen
class CStruct(StructLayout):
    """A C structure as the compiler lays it out for one ABI: fields of any size, each at the
    next multiple of its alignment, ``sizeof`` rounded up to the structure's alignment, and the
    layouts of members that are themselves structures (``members``), for dotted paths."""

    alignment: int
    sizeof: int
    members: tuple[tuple[str, CStruct], ...] = ()

    @property
    def size(self) -> int:
        """``sizeof`` the structure, tail padding included."""
        return self.sizeof

    def member(self, name: str) -> CStruct:
        """The layout of structure member ``name``."""
        for candidate, layout in self.members:
            if candidate == name:
                return layout
        raise AbiLookupError(
            f"name: expected a structure member of {self.name} "
            f"({', '.join(n for n, _ in self.members) or 'none'}), received {name!r}"
        )

    def offset_of_path(self, path: str) -> int:
        """The byte offset of a dotted member path, ``uc.uc_mcontext.rip`` in rt_sigframe."""
        head, _, rest = path.partition(".")
        offset = self.offset_of(head)
        return offset + self.member(head).offset_of_path(rest) if rest else offset

    def field_at(self, offset: int) -> Field:
        """The field that starts at byte ``offset``."""
        for candidate in self.fields:
            if candidate.offset == offset:
                return candidate
        starts = ", ".join(str(f.offset) for f in self.fields)
        raise AbiLookupError(
            f"offset: expected a field offset of {self.name} ({starts}), received {offset!r}"
        )


#: A member: (name, size, alignment), or (name, layout) for a structure member.
Member = tuple[str, int, int] | tuple[str, CStruct]


def _round_up(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


def c_struct(
    name: str, source: str, *members: Member, start: int = 0, sizeof: int | None = None
) -> CStruct:
    """Lay out ``members`` as GCC does: each at the next multiple of its alignment from
    ``start`` (a union's offset, for the siginfo views), ``sizeof`` rounded up to the largest
    alignment unless given (a siginfo view is the whole 128-byte siginfo)."""
    names = [m[0] for m in members]
    if len(set(names)) != len(names):
        raise ValueError(f"{name}: a field name is repeated in {names!r}")
    offset, alignment, fields, nested = start, 1, [], []
    for member in members:
        if isinstance(member[1], CStruct):
            member_name, layout = member
            size, align = layout.size, layout.alignment
            nested.append((member_name, layout))
        else:
            member_name, size, align = member
        offset = _round_up(offset, align)
        fields.append(Field(member_name, offset, size))
        offset += size
        alignment = max(alignment, align)
    total = _round_up(offset, alignment) if sizeof is None else sizeof
    if total < offset:
        raise ValueError(f"{name}: members end at {offset}, past sizeof {total}")
    return CStruct(name, source, tuple(fields), alignment, total, tuple(nested))


_SIGNAL_H = "arch/x86/include/uapi/asm/signal.h"
_LINUX_SIGNAL_H = "include/linux/signal.h"
_COMPAT_H = "include/linux/compat.h"
_SIGINFO_H = "include/uapi/asm-generic/siginfo.h"
_ASM_COMPAT_H = "arch/x86/include/asm/compat.h"
_SIGCONTEXT_H = "arch/x86/include/uapi/asm/sigcontext.h"
_SIGCONTEXT32_H = "arch/x86/include/uapi/asm/sigcontext32.h"
_UCONTEXT_H = "include/uapi/asm-generic/ucontext.h"
_IA32_H = "arch/x86/include/asm/ia32.h"
_SIGFRAME_H = "arch/x86/include/asm/sigframe.h"

#: sigset_t on x86_64: one unsigned long.
SIGSET_64 = c_struct("sigset_t (x86_64)", "arch/x86/include/asm/signal.h", ("sig0", 8, 8))
#: sigset_t on i386 and compat_sigset_t: two 32-bit words, signals 1..32 then 33..64.
SIGSET_32 = c_struct(
    "sigset_t (i386)", "arch/x86/include/asm/signal.h", ("sig0", 4, 4), ("sig1", 4, 4)
)
COMPAT_SIGSET = c_struct("compat_sigset_t", _COMPAT_H, ("sig0", 4, 4), ("sig1", 4, 4))

#: struct sigaction as rt_sigaction reads it on x86_64 (include/linux/signal.h, with
#: __ARCH_HAS_SA_RESTORER): handler, flags, restorer, then the mask, 32 bytes.
SIGACTION_64 = c_struct(
    "sigaction (x86_64)",
    _LINUX_SIGNAL_H,
    ("sa_handler", 8, 8),
    ("sa_flags", 8, 8),
    ("sa_restorer", 8, 8),
    ("sa_mask", SIGSET_64),
)
#: struct compat_sigaction (include/linux/compat.h), what compat_sys_rt_sigaction reads for
#: an ia32 process: u32 handler, flags and restorer, then the __packed 8-byte mask; 20 bytes.
#: (3.16 has no struct sigaction32 in asm/ia32.h any more: the compat syscall is generic.)
SIGACTION_IA32 = c_struct(
    "compat_sigaction (ia32)",
    _COMPAT_H,
    ("sa_handler", 4, 4),
    ("sa_flags", 4, 4),
    ("sa_restorer", 4, 4),
    ("sa_mask", COMPAT_SIGSET),
)
#: struct sigaction on the i386 kernel: the same shape as compat_sigaction.
SIGACTION_I386 = c_struct(
    "sigaction (i386)",
    _LINUX_SIGNAL_H,
    ("sa_handler", 4, 4),
    ("sa_flags", 4, 4),
    ("sa_restorer", 4, 4),
    ("sa_mask", SIGSET_32),
)

#: stack_t (arch/x86/include/uapi/asm/signal.h): void *ss_sp; int ss_flags; size_t ss_size.
STACK_T_64 = c_struct(
    "stack_t (x86_64)", _SIGNAL_H, ("ss_sp", 8, 8), ("ss_flags", 4, 4), ("ss_size", 8, 8)
)
STACK_T_32 = c_struct(
    "stack_t (i386)", _SIGNAL_H, ("ss_sp", 4, 4), ("ss_flags", 4, 4), ("ss_size", 4, 4)
)
#: compat_stack_t (include/linux/compat.h): compat_uptr_t, int, compat_size_t.
COMPAT_STACK = c_struct(
    "compat_stack_t", _COMPAT_H, ("ss_sp", 4, 4), ("ss_flags", 4, 4), ("ss_size", 4, 4)
)

SI_MAX_SIZE = 128
#: __ARCH_SI_PREAMBLE_SIZE: 4 ints on x86_64 (arch/x86/include/uapi/asm/siginfo.h), the
#: generic 3 ints on i386 and for compat_siginfo_t.
SI_PREAMBLE_64 = 16
SI_PREAMBLE_32 = 12


def _siginfo(name: str, source: str, word: int, preamble: int, *union: Member) -> CStruct:
    head: tuple[Member, ...] = (("si_signo", 4, 4), ("si_errno", 4, 4), ("si_code", 4, 4))
    if not union:
        union = (("_sifields", SI_MAX_SIZE - preamble, word),)
    layout = c_struct(name, source, *head, sizeof=SI_MAX_SIZE)
    tail = c_struct(name, source, *union, start=preamble, sizeof=SI_MAX_SIZE)
    return CStruct(
        name, source, layout.fields + tail.fields, word, SI_MAX_SIZE, layout.members + tail.members
    )


def _siginfo_views(
    name: str, source: str, word: int, preamble: int, clock: int, addr_lsb: bool
) -> Mapping[str, CStruct]:
    fault: tuple[Member, ...] = (("si_addr", word, word),)
    if addr_lsb:
        fault += (("si_addr_lsb", 2, 2),)
    views: dict[str, tuple[Member, ...]] = {
        "_kill": (("si_pid", 4, 4), ("si_uid", 4, 4)),
        "_rt": (("si_pid", 4, 4), ("si_uid", 4, 4), ("si_value", word, word)),
        "_sigchld": (
            ("si_pid", 4, 4),
            ("si_uid", 4, 4),
            ("si_status", 4, 4),
            ("si_utime", clock, clock),
            ("si_stime", clock, clock),
        ),
        "_sigfault": fault,
        "_sigsys": (("si_call_addr", word, word), ("si_syscall", 4, 4), ("si_arch", 4, 4)),
    }
    return MappingProxyType(
        {
            member: _siginfo(f"{name} {member}", source, word, preamble, *fields)
            for member, fields in views.items()
        }
    )


#: siginfo_t on x86_64: 128 bytes, the union _sifields at 16.
SIGINFO_64 = _siginfo("siginfo_t (x86_64)", _SIGINFO_H, 8, SI_PREAMBLE_64)
#: siginfo_t on the i386 kernel: the union at 12.
SIGINFO_32 = _siginfo("siginfo_t (i386)", _SIGINFO_H, 4, SI_PREAMBLE_32)
#: compat_siginfo_t (arch/x86/include/asm/compat.h): what an ia32 handler receives.
COMPAT_SIGINFO = _siginfo("compat_siginfo_t", _ASM_COMPAT_H, 4, SI_PREAMBLE_32)
#: The union members as whole-siginfo views, fields named by their si_* accessors.
SIGINFO_64_VIEWS = _siginfo_views("siginfo_t (x86_64)", _SIGINFO_H, 8, SI_PREAMBLE_64, 8, True)
SIGINFO_32_VIEWS = _siginfo_views("siginfo_t (i386)", _SIGINFO_H, 4, SI_PREAMBLE_32, 4, True)
#: 3.16's compat _sigfault has only _addr (no _addr_lsb).
COMPAT_SIGINFO_VIEWS = _siginfo_views(
    "compat_siginfo_t", _ASM_COMPAT_H, 4, SI_PREAMBLE_32, 4, False
)

_Q = 8
#: struct sigcontext for x86_64 (arch/x86/include/uapi/asm/sigcontext.h): 256 bytes.
SIGCONTEXT_64 = c_struct(
    "sigcontext (x86_64)",
    _SIGCONTEXT_H,
    *(
        (n, _Q, _Q)
        for n in (
            "r8",
            "r9",
            "r10",
            "r11",
            "r12",
            "r13",
            "r14",
            "r15",
            "rdi",
            "rsi",
            "rbp",
            "rbx",
            "rdx",
            "rax",
            "rcx",
            "rsp",
            "rip",
            "eflags",
        )
    ),
    ("cs", 2, 2),
    ("gs", 2, 2),
    ("fs", 2, 2),
    ("__pad0", 2, 2),
    *((n, _Q, _Q) for n in ("err", "trapno", "oldmask", "cr2", "fpstate")),
    ("reserved1", 8 * _Q, _Q),
)


def _sigcontext_32(name: str, source: str) -> CStruct:
    def seg(n: str) -> tuple[Member, Member]:
        return ((n, 2, 2), (f"__{n}h", 2, 2))

    def words(*names: str) -> tuple[Member, ...]:
        return tuple((n, 4, 4) for n in names)

    return c_struct(
        name,
        source,
        *seg("gs"),
        *seg("fs"),
        *seg("es"),
        *seg("ds"),
        *words("edi", "esi", "ebp", "esp", "ebx", "edx", "ecx", "eax", "trapno", "err", "eip"),
        *seg("cs"),
        *words("eflags", "esp_at_signal"),
        *seg("ss"),
        *words("fpstate", "oldmask", "cr2"),
    )


#: struct sigcontext for i386 (the uapi __i386__ definition): 88 bytes.
SIGCONTEXT_32 = _sigcontext_32("sigcontext (i386)", _SIGCONTEXT_H)
#: struct sigcontext_ia32 (arch/x86/include/uapi/asm/sigcontext32.h): the same 88 bytes.
SIGCONTEXT_IA32 = _sigcontext_32("sigcontext_ia32", _SIGCONTEXT32_H)


def _fpstate_32(name: str, source: str, sw_align: int) -> CStruct:
    return c_struct(
        name,
        source,
        *((n, 4, 4) for n in ("cw", "sw", "tag", "ipoff", "cssel", "dataoff", "datasel")),
        ("_st", 8 * 10, 2),
        ("status", 2, 2),
        ("magic", 2, 2),
        ("_fxsr_env", 6 * 4, 4),
        ("mxcsr", 4, 4),
        ("reserved", 4, 4),
        ("_fxsr_st", 8 * 16, 2),
        ("_xmm", 8 * 16, 4),
        ("padding", 44 * 4, 4),
        ("sw_reserved", 12 * 4, sw_align),
    )


#: struct _fpstate_ia32 (sigcontext32.h) as the x86_64 kernel compiles it: 624 bytes, aligned
#: to 8 because the sw_reserved union holds struct _fpx_sw_bytes with its __u64 xstate_bv.
FPSTATE_IA32 = _fpstate_32("_fpstate_ia32", _SIGCONTEXT32_H, 8)
#: struct _fpstate for i386 (sigcontext.h, __i386__): the same 624 bytes, aligned to 4.
FPSTATE_I386 = _fpstate_32("_fpstate (i386)", _SIGCONTEXT_H, 4)

#: struct ucontext on x86_64 (include/uapi/asm-generic/ucontext.h): 304 bytes.
UCONTEXT_64 = c_struct(
    "ucontext (x86_64)",
    _UCONTEXT_H,
    ("uc_flags", 8, 8),
    ("uc_link", 8, 8),
    ("uc_stack", STACK_T_64),
    ("uc_mcontext", SIGCONTEXT_64),
    ("uc_sigmask", SIGSET_64),
)
#: struct ucontext_ia32 (arch/x86/include/asm/ia32.h): 116 bytes.
UCONTEXT_IA32 = c_struct(
    "ucontext_ia32",
    _IA32_H,
    ("uc_flags", 4, 4),
    ("uc_link", 4, 4),
    ("uc_stack", COMPAT_STACK),
    ("uc_mcontext", SIGCONTEXT_IA32),
    ("uc_sigmask", COMPAT_SIGSET),
)
#: struct ucontext on the i386 kernel (sigframe.h's ucontext_ia32 there): 116 bytes.
UCONTEXT_I386 = c_struct(
    "ucontext (i386)",
    _UCONTEXT_H,
    ("uc_flags", 4, 4),
    ("uc_link", 4, 4),
    ("uc_stack", STACK_T_32),
    ("uc_mcontext", SIGCONTEXT_32),
    ("uc_sigmask", SIGSET_32),
)

#: struct rt_sigframe for x86_64 (arch/x86/include/asm/sigframe.h): 440 bytes; the fpstate
#: follows. The handler's rsp points at pretcode (its return address).
RT_SIGFRAME_64 = c_struct(
    "rt_sigframe (x86_64)",
    _SIGFRAME_H,
    ("pretcode", 8, 8),
    ("uc", UCONTEXT_64),
    ("info", SIGINFO_64),
)
#: struct ucontext_x32 (arch/x86/include/asm/sigframe.h, CONFIG_X86_X32_ABI): 32-bit flags,
#: link and stack, uc__pad0 "needed for alignment", the 64-bit sigcontext, a compat mask.
UCONTEXT_X32 = c_struct(
    "ucontext_x32",
    _SIGFRAME_H,
    ("uc_flags", 4, 4),
    ("uc_link", 4, 4),
    ("uc_stack", COMPAT_STACK),
    ("uc__pad0", 4, 4),
    ("uc_mcontext", SIGCONTEXT_64),
    ("uc_sigmask", COMPAT_SIGSET),
)
#: struct rt_sigframe_x32 (sigframe.h): u64 pretcode, ucontext_x32, compat_siginfo_t.
RT_SIGFRAME_X32 = c_struct(
    "rt_sigframe_x32",
    _SIGFRAME_H,
    ("pretcode", 8, 8),
    ("uc", UCONTEXT_X32),
    ("info", COMPAT_SIGINFO),
)
#: struct rt_sigframe_ia32 (sigframe.h, CONFIG_IA32_EMULATION): 268 bytes.
RT_SIGFRAME_IA32 = c_struct(
    "rt_sigframe_ia32",
    _SIGFRAME_H,
    ("pretcode", 4, 4),
    ("sig", 4, 4),
    ("pinfo", 4, 4),
    ("puc", 4, 4),
    ("info", COMPAT_SIGINFO),
    ("uc", UCONTEXT_IA32),
    ("retcode", 8, 1),
)
#: struct sigframe_ia32 (sigframe.h, CONFIG_IA32_EMULATION): the fields end at 732, but the
#: 8-aligned _fpstate_ia32 makes sizeof 736 in the 64-bit kernel.
SIGFRAME_IA32 = c_struct(
    "sigframe_ia32",
    _SIGFRAME_H,
    ("pretcode", 4, 4),
    ("sig", 4, 4),
    ("sc", SIGCONTEXT_IA32),
    ("fpstate_unused", FPSTATE_IA32),
    ("extramask", 4, 4),
    ("retcode", 8, 1),
)
#: The i386 kernel's struct rt_sigframe (sigframe.h under CONFIG_X86_32, where
#: rt_sigframe_ia32 is #defined to rt_sigframe): 268 bytes.
RT_SIGFRAME_I386 = c_struct(
    "rt_sigframe (i386)",
    _SIGFRAME_H,
    ("pretcode", 4, 4),
    ("sig", 4, 4),
    ("pinfo", 4, 4),
    ("puc", 4, 4),
    ("info", SIGINFO_32),
    ("uc", UCONTEXT_I386),
    ("retcode", 8, 1),
)
#: The i386 kernel's struct sigframe (extramask is unsigned long[_NSIG_WORDS-1]): 732 bytes.
SIGFRAME_I386 = c_struct(
    "sigframe (i386)",
    _SIGFRAME_H,
    ("pretcode", 4, 4),
    ("sig", 4, 4),
    ("sc", SIGCONTEXT_32),
    ("fpstate_unused", FPSTATE_I386),
    ("extramask", 4, 4),
    ("retcode", 8, 1),
)

# --- sigreturn code --------------------------------------------------------------------------

#: i386 __NR_sigreturn and __NR_rt_sigreturn (arch/x86/syscalls/syscall_32.tbl).
NR_SIGRETURN_I386 = 119
NR_RT_SIGRETURN_I386 = 173


def _imm32(value: int) -> bytes:
    return value.to_bytes(4, "little")


#: The 8-byte retcode of a sigframe: the packed {u16 0xb858; u32 __NR_sigreturn; u16 0x80cd}
#: of ia32_setup_frame (arch/x86/ia32/ia32_signal.c) and the i386 __setup_frame
#: (arch/x86/kernel/signal.c): ``popl %eax; movl $119, %eax; int $0x80``. Only a marker for
#: gdb: the handler returns through the vDSO or SA_RESTORER.
SIGRETURN_RETCODE = b"\x58\xb8" + _imm32(NR_SIGRETURN_I386) + b"\xcd\x80"
#: The 8-byte retcode of an rt_sigframe: {u8 0xb8; u32 __NR_rt_sigreturn; u16 0x80cd; u8 0}
#: (ia32_setup_rt_frame, i386 __setup_rt_frame): ``movl $173, %eax; int $0x80``, one pad byte.
RT_SIGRETURN_RETCODE = b"\xb8" + _imm32(NR_RT_SIGRETURN_I386) + b"\xcd\x80\x00"
#: __kernel_sigreturn in the 32-bit vDSO (arch/x86/vdso/vdso32/sigreturn.S):
#: ``popl %eax; movl $__NR_sigreturn, %eax; int $0x80`` (SYSCALL_ENTER_KERNEL's default).
VDSO32_SIGRETURN = b"\x58" + b"\xb8" + _imm32(NR_SIGRETURN_I386) + b"\xcd\x80"
#: __kernel_rt_sigreturn: ``movl $__NR_rt_sigreturn, %eax; int $0x80``.
VDSO32_RT_SIGRETURN = b"\xb8" + _imm32(NR_RT_SIGRETURN_I386) + b"\xcd\x80"
#: sigreturn.S places __kernel_sigreturn with ``.org __kernel_vsyscall+32`` and
#: __kernel_rt_sigreturn at the next ``.balign 32``: these offsets from __kernel_vsyscall.
VDSO32_SIGRETURN_OFFSET = 32
VDSO32_RT_SIGRETURN_OFFSET = 64

LAYOUTS: Mapping[str, CStruct] = MappingProxyType(
    {
        layout.name: layout
        for layout in (
            UCONTEXT_X32,
            RT_SIGFRAME_X32,
            SIGSET_64,
            SIGSET_32,
            COMPAT_SIGSET,
            SIGACTION_64,
            SIGACTION_IA32,
            SIGACTION_I386,
            STACK_T_64,
            STACK_T_32,
            COMPAT_STACK,
            SIGINFO_64,
            SIGINFO_32,
            COMPAT_SIGINFO,
            SIGCONTEXT_64,
            SIGCONTEXT_32,
            SIGCONTEXT_IA32,
            FPSTATE_IA32,
            FPSTATE_I386,
            UCONTEXT_64,
            UCONTEXT_IA32,
            UCONTEXT_I386,
            RT_SIGFRAME_64,
            RT_SIGFRAME_IA32,
            SIGFRAME_IA32,
            RT_SIGFRAME_I386,
            SIGFRAME_I386,
        )
    }
)
