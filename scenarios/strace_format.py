"""strace 4.8 style lines for a tracer that stops a process at each syscall entry and exit.

The formatting half of an strace clone. A tracer reads the raw registers and calls
:func:`format_call` once per system call; for the calls whose arguments are gone after
the call (``execve``) or must be printed as they were at entry (``write``, ``open``), it
first calls :func:`capture_entry` at the entry stop and passes the snapshot on.

The conventions are those of strace 4.8 (June 2013), built for x86_64 and tracing all
three x86 personalities; each rule names the 4.8 source it follows:

- ``util.c`` ``string_quote``/``printstr``/``printpathn``: strings in double quotes with
  ``\\" \\\\ \\f \\n \\r \\t \\v`` escapes, bytes 0x20..0x7e as themselves and every other
  byte in octal with as few digits as possible, or three when the next byte is a digit;
  buffers cut at ``string_limit`` bytes (``-s``, default 32) with ``...`` after the
  closing quote when longer; paths are never cut before PATH_MAX (4096); ``NULL`` for a
  zero pointer and the address in hex when the memory cannot be read.
- ``syscall.c`` ``printargs``: a call without a decoder prints each argument as ``%#lx``
  (``0`` for zero); an unknown number prints as ``syscall_NNN`` with six arguments and,
  because 4.8 marks it ``QUAL_RAW``, its result as ``= %#lx`` or ``= -1 (errno N)``.
- ``syscall.c`` ``trace_syscall_exiting``: ``= -1 ENAME (strerror text)`` for an error,
  ``= ? ERESTARTSYS (To be restarted if SA_RESTART is set)`` and its three siblings for
  the kernel's restart codes, ``ERRNO_N`` for an errno without a name.
- ``file.c`` (open, openat, lseek, umask), ``io.c`` (read, write), ``process.c``
  (execve, exit, kill, prctl), ``time.c`` (gettimeofday, time), ``mem.c`` (brk, mmap).

Where this module departs from 4.8 on purpose (a 4.8 bug, or an output column), the
comment at the rule says so. Values are read at the ABI's register width: 32 bits for
i386, 64 for x86_64 and x32; memory is read with the ABI's pointer and ``long`` sizes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from abi import (
    ABIS,
    ERRNO_NAMES,
    MAX_ERRNO,
    POINTER_WIDTH,
    REGISTER_WIDTH,
    SIGNATURES,
    X32_SYSCALL_BIT,
    abi_syscalls,
)

__all__ = [
    "DEFAULT_STRING_LIMIT",
    "ERRNO_MESSAGES",
    "SYSCALL_KINDS",
    "Peek",
    "capture_entry",
    "format_call",
    "personality_notice",
    "personality_notice_for",
    "quote",
]

#: Read ``size`` bytes of tracee memory at ``address``; None when any of them is unreadable.
Peek = Callable[[int, int], "bytes | None"]

#: strace's ``-s`` default (``max_strlen`` in strace.c).
DEFAULT_STRING_LIMIT = 32
#: PATH_MAX, the bound of ``printpath`` (util.c ``printpathn``).
PATH_MAX = 4096
MAX_ARGS = 6
PAGE_SIZE = 4096

#: glibc's strerror text for each asm-generic errno (taken from glibc 2.36's strerror; the
#: wording of these messages is the one glibc has printed since before 2013).
ERRNO_MESSAGES: Mapping[str, str] = MappingProxyType(
    {
        "EPERM": "Operation not permitted",
        "ENOENT": "No such file or directory",
        "ESRCH": "No such process",
        "EINTR": "Interrupted system call",
        "EIO": "Input/output error",
        "ENXIO": "No such device or address",
        "E2BIG": "Argument list too long",
        "ENOEXEC": "Exec format error",
        "EBADF": "Bad file descriptor",
        "ECHILD": "No child processes",
        "EAGAIN": "Resource temporarily unavailable",
        "ENOMEM": "Cannot allocate memory",
        "EACCES": "Permission denied",
        "EFAULT": "Bad address",
        "ENOTBLK": "Block device required",
        "EBUSY": "Device or resource busy",
        "EEXIST": "File exists",
        "EXDEV": "Invalid cross-device link",
        "ENODEV": "No such device",
        "ENOTDIR": "Not a directory",
        "EISDIR": "Is a directory",
        "EINVAL": "Invalid argument",
        "ENFILE": "Too many open files in system",
        "EMFILE": "Too many open files",
        "ENOTTY": "Inappropriate ioctl for device",
        "ETXTBSY": "Text file busy",
        "EFBIG": "File too large",
        "ENOSPC": "No space left on device",
        "ESPIPE": "Illegal seek",
        "EROFS": "Read-only file system",
        "EMLINK": "Too many links",
        "EPIPE": "Broken pipe",
        "EDOM": "Numerical argument out of domain",
        "ERANGE": "Numerical result out of range",
        "EDEADLK": "Resource deadlock avoided",
        "ENAMETOOLONG": "File name too long",
        "ENOLCK": "No locks available",
        "ENOSYS": "Function not implemented",
        "ENOTEMPTY": "Directory not empty",
        "ELOOP": "Too many levels of symbolic links",
        "ENOMSG": "No message of desired type",
        "EIDRM": "Identifier removed",
        "ECHRNG": "Channel number out of range",
        "EL2NSYNC": "Level 2 not synchronized",
        "EL3HLT": "Level 3 halted",
        "EL3RST": "Level 3 reset",
        "ELNRNG": "Link number out of range",
        "EUNATCH": "Protocol driver not attached",
        "ENOCSI": "No CSI structure available",
        "EL2HLT": "Level 2 halted",
        "EBADE": "Invalid exchange",
        "EBADR": "Invalid request descriptor",
        "EXFULL": "Exchange full",
        "ENOANO": "No anode",
        "EBADRQC": "Invalid request code",
        "EBADSLT": "Invalid slot",
        "EBFONT": "Bad font file format",
        "ENOSTR": "Device not a stream",
        "ENODATA": "No data available",
        "ETIME": "Timer expired",
        "ENOSR": "Out of streams resources",
        "ENONET": "Machine is not on the network",
        "ENOPKG": "Package not installed",
        "EREMOTE": "Object is remote",
        "ENOLINK": "Link has been severed",
        "EADV": "Advertise error",
        "ESRMNT": "Srmount error",
        "ECOMM": "Communication error on send",
        "EPROTO": "Protocol error",
        "EMULTIHOP": "Multihop attempted",
        "EDOTDOT": "RFS specific error",
        "EBADMSG": "Bad message",
        "EOVERFLOW": "Value too large for defined data type",
        "ENOTUNIQ": "Name not unique on network",
        "EBADFD": "File descriptor in bad state",
        "EREMCHG": "Remote address changed",
        "ELIBACC": "Can not access a needed shared library",
        "ELIBBAD": "Accessing a corrupted shared library",
        "ELIBSCN": ".lib section in a.out corrupted",
        "ELIBMAX": "Attempting to link in too many shared libraries",
        "ELIBEXEC": "Cannot exec a shared library directly",
        "EILSEQ": "Invalid or incomplete multibyte or wide character",
        "ERESTART": "Interrupted system call should be restarted",
        "ESTRPIPE": "Streams pipe error",
        "EUSERS": "Too many users",
        "ENOTSOCK": "Socket operation on non-socket",
        "EDESTADDRREQ": "Destination address required",
        "EMSGSIZE": "Message too long",
        "EPROTOTYPE": "Protocol wrong type for socket",
        "ENOPROTOOPT": "Protocol not available",
        "EPROTONOSUPPORT": "Protocol not supported",
        "ESOCKTNOSUPPORT": "Socket type not supported",
        "EOPNOTSUPP": "Operation not supported",
        "EPFNOSUPPORT": "Protocol family not supported",
        "EAFNOSUPPORT": "Address family not supported by protocol",
        "EADDRINUSE": "Address already in use",
        "EADDRNOTAVAIL": "Cannot assign requested address",
        "ENETDOWN": "Network is down",
        "ENETUNREACH": "Network is unreachable",
        "ENETRESET": "Network dropped connection on reset",
        "ECONNABORTED": "Software caused connection abort",
        "ECONNRESET": "Connection reset by peer",
        "ENOBUFS": "No buffer space available",
        "EISCONN": "Transport endpoint is already connected",
        "ENOTCONN": "Transport endpoint is not connected",
        "ESHUTDOWN": "Cannot send after transport endpoint shutdown",
        "ETOOMANYREFS": "Too many references: cannot splice",
        "ETIMEDOUT": "Connection timed out",
        "ECONNREFUSED": "Connection refused",
        "EHOSTDOWN": "Host is down",
        "EHOSTUNREACH": "No route to host",
        "EALREADY": "Operation already in progress",
        "EINPROGRESS": "Operation now in progress",
        "ESTALE": "Stale file handle",
        "EUCLEAN": "Structure needs cleaning",
        "ENOTNAM": "Not a XENIX named type file",
        "ENAVAIL": "No XENIX semaphores available",
        "EISNAM": "Is a named type file",
        "EREMOTEIO": "Remote I/O error",
        "EDQUOT": "Disk quota exceeded",
        "ENOMEDIUM": "No medium found",
        "EMEDIUMTYPE": "Wrong medium type",
        "ECANCELED": "Operation canceled",
        "ENOKEY": "Required key not available",
        "EKEYEXPIRED": "Key has expired",
        "EKEYREVOKED": "Key has been revoked",
        "EKEYREJECTED": "Key was rejected by service",
        "EOWNERDEAD": "Owner died",
        "ENOTRECOVERABLE": "State not recoverable",
        "ERFKILL": "Operation not possible due to RF-kill",
        "EHWPOISON": "Memory page has hardware error",
    }
)

# The kernel's restart codes (include/linux/errno.h) as 4.8's trace_syscall_exiting prints
# them: "= ? NAME (text)", not "-1".
_RESTART_CODES: Mapping[int, str] = MappingProxyType(
    {
        512: "ERESTARTSYS (To be restarted if SA_RESTART is set)",
        513: "ERESTARTNOINTR (To be restarted)",
        514: "ERESTARTNOHAND (To be restarted if no handler)",
        516: "ERESTART_RESTARTBLOCK (Interrupted by signal)",
    }
)
# Kernel-internal errnos that 4.8's errnoent.h names (strerror knows no text for them).
_EXTRA_ERRNO_NAMES: Mapping[int, str] = MappingProxyType({515: "ENOIOCTLCMD"})

# --- value tables (x86 Linux values; the order is 4.8's xlat order) ---------------------

# file.c open_access_modes and open_mode_flags; O_LARGEFILE is 0100000 as 4.8 redefines it
# for x86_64, whose glibc defines it as 0.
_OPEN_ACCESS = {0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR", 3: "O_ACCMODE"}
_OPEN_FLAGS: tuple[tuple[int, str], ...] = (
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o4010000, "O_SYNC"),
    (0o20000, "O_ASYNC"),
    (0o10000, "O_DSYNC"),
    (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"),
    (0o200000, "O_DIRECTORY"),
    (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"),
    (0o2000000, "O_CLOEXEC"),
)
O_CREAT = 0o100
AT_FDCWD = -100
# file.c whence_codes.
_WHENCE = {0: "SEEK_SET", 1: "SEEK_CUR", 2: "SEEK_END", 3: "SEEK_DATA", 4: "SEEK_HOLE"}
SEEK_SET = 0
# mem.c mmap_prot and mmap_flags (MAP_TYPE = 0xf is printed as a value, the rest as flags).
_MMAP_PROT: tuple[tuple[int, str], ...] = (
    (0x1, "PROT_READ"),
    (0x2, "PROT_WRITE"),
    (0x4, "PROT_EXEC"),
    (0x8, "PROT_SEM"),
    (0x01000000, "PROT_GROWSDOWN"),
    (0x02000000, "PROT_GROWSUP"),
)
_MAP_TYPE = 0xF
_MMAP_TYPES = {0x1: "MAP_SHARED", 0x2: "MAP_PRIVATE"}
_MMAP_FLAGS: tuple[tuple[int, str], ...] = (
    (0x10, "MAP_FIXED"),
    (0x20, "MAP_ANONYMOUS"),
    (0x40, "MAP_32BIT"),
    (0x4000, "MAP_NORESERVE"),
    (0x8000, "MAP_POPULATE"),
    (0x10000, "MAP_NONBLOCK"),
    (0x100, "MAP_GROWSDOWN"),
    (0x800, "MAP_DENYWRITE"),
    (0x1000, "MAP_EXECUTABLE"),
    (0x2000, "MAP_LOCKED"),
    (0x20000, "MAP_STACK"),
    (0x40000, "MAP_HUGETLB"),
)
# process.c prctl_options (include/uapi/linux/prctl.h values).
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
_PRCTL_OPTIONS = {
    1: "PR_SET_PDEATHSIG",
    2: "PR_GET_PDEATHSIG",
    3: "PR_GET_DUMPABLE",
    4: "PR_SET_DUMPABLE",
    5: "PR_GET_UNALIGN",
    6: "PR_SET_UNALIGN",
    7: "PR_GET_KEEPCAPS",
    8: "PR_SET_KEEPCAPS",
    9: "PR_GET_FPEMU",
    10: "PR_SET_FPEMU",
    11: "PR_GET_FPEXC",
    12: "PR_SET_FPEXC",
    13: "PR_GET_TIMING",
    14: "PR_SET_TIMING",
    15: "PR_SET_NAME",
    16: "PR_GET_NAME",
    19: "PR_GET_ENDIAN",
    20: "PR_SET_ENDIAN",
    21: "PR_GET_SECCOMP",
    PR_SET_SECCOMP: "PR_SET_SECCOMP",
    23: "PR_CAPBSET_READ",
    24: "PR_CAPBSET_DROP",
    25: "PR_GET_TSC",
    26: "PR_SET_TSC",
    27: "PR_GET_SECUREBITS",
    28: "PR_SET_SECUREBITS",
    29: "PR_SET_TIMERSLACK",
    30: "PR_GET_TIMERSLACK",
    31: "PR_TASK_PERF_EVENTS_DISABLE",
    32: "PR_TASK_PERF_EVENTS_ENABLE",
    33: "PR_MCE_KILL",
    34: "PR_MCE_KILL_GET",
    35: "PR_SET_MM",
    36: "PR_SET_CHILD_SUBREAPER",
    37: "PR_GET_CHILD_SUBREAPER",
    PR_SET_NO_NEW_PRIVS: "PR_SET_NO_NEW_PRIVS",
    39: "PR_GET_NO_NEW_PRIVS",
    40: "PR_GET_TID_ADDRESS",
    0x59616D61: "PR_SET_PTRACER",
}
# 4.8 sys_prctl: these print their one argument as %lu, and the PR_GET_* ones print none.
_PRCTL_ONE_ULONG = frozenset({1, 4, 8})
_PRCTL_NO_ARGS = frozenset({2, 3, 7})
# x86 signal numbers (arch/x86/include/uapi/asm/signal.h); 0 is "SIG_0" in signalent.h.
_SIGNALS: tuple[str, ...] = (
    "SIG_0",
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
)

# --- the syscall table -------------------------------------------------------------------

#: For each syscall name: the kind of each argument, and how the result is printed
#: ("dec" %ld, "udec" %lu, "hex" %#lx, "oct" %#lo, "none" for "?"). Kinds:
#:
#: - ``fd`` int as %d; ``dirfd`` the same, or AT_FDCWD; ``long`` %ld; ``ulong`` %lu;
#:   ``hex`` %#lx; ``ptr`` NULL or %#lx; ``octal`` %#lo; ``signal`` a SIG name;
#: - ``path`` a NUL-terminated path (read at entry); ``buf_in`` a buffer printed at entry
#:   with the next argument as its length; ``buf_out`` a buffer printed at exit with the
#:   result as its length (its address on error);
#: - ``flags_open`` open(2) flags; ``mode_open`` %#lo, present only with O_CREAT;
#:   ``lseek_offset`` %lu with SEEK_SET, else %ld; ``whence`` a SEEK_ name;
#: - ``struct_timeval`` printed at exit (``{sec, usec}``); ``long_out`` a long printed at
#:   exit as ``[n]``; ``argv`` a string array, ``envp`` its count (``[/* n vars */]``);
#: - ``prctl_option``, ``mmap_*``: the option or flag names of prctl and mmap;
#: - ``generic``: no decoder; ``nargs`` arguments are printed as %#lx (4.8 printargs).
SYSCALL_KINDS: Mapping[str, tuple[tuple[str, ...], str]] = MappingProxyType(
    {
        "read": (("fd", "buf_out", "ulong"), "dec"),
        "write": (("fd", "buf_in", "ulong"), "dec"),
        "open": (("path", "flags_open", "mode_open"), "dec"),
        "openat": (("dirfd", "path", "flags_open", "mode_open"), "dec"),
        "close": (("fd",), "dec"),
        "lseek": (("fd", "lseek_offset", "whence"), "udec"),
        "getpid": ((), "dec"),
        "getppid": ((), "dec"),
        "gettid": ((), "dec"),
        "exit": (("long",), "none"),
        "exit_group": (("long",), "none"),
        "execve": (("path", "argv", "envp"), "dec"),
        "brk": (("hex",), "hex"),
        "umask": (("octal",), "oct"),
        "gettimeofday": (("struct_timeval", "struct_timeval"), "dec"),
        "time": (("long_out",), "dec"),
        "dup": (("fd",), "dec"),
        "dup2": (("fd", "fd"), "dec"),
        "kill": (("long", "signal"), "dec"),
        "prctl": (("prctl_option", "hex", "hex", "hex", "hex"), "dec"),
        "mmap": (("ptr", "ulong", "mmap_prot", "mmap_flags", "fd", "mmap_offset"), "hex"),
        "mmap2": (("ptr", "ulong", "mmap_prot", "mmap_flags", "fd", "mmap_pgoff"), "hex"),
        # Without a decoder here: printed as 4.8 printargs with their syscallent nargs.
        "getuid": ((), "dec"),
        "geteuid": ((), "dec"),
        "getgid": ((), "dec"),
        "getegid": ((), "dec"),
        "getuid32": ((), "dec"),
        "geteuid32": ((), "dec"),
        "getgid32": ((), "dec"),
        "getegid32": ((), "dec"),
        "pipe": (("generic",) * 1, "dec"),
        "uname": (("generic",) * 1, "dec"),
        "stat": (("generic",) * 2, "dec"),
        "fstat": (("generic",) * 2, "dec"),
        "lstat": (("generic",) * 2, "dec"),
        "stat64": (("generic",) * 2, "dec"),
        "fstat64": (("generic",) * 2, "dec"),
        "lstat64": (("generic",) * 2, "dec"),
        "newfstatat": (("generic",) * 4, "dec"),
        "fstatat64": (("generic",) * 4, "dec"),
        "ptrace": (("generic",) * 4, "dec"),
        "wait4": (("generic",) * 4, "dec"),
        "waitpid": (("generic",) * 3, "dec"),
    }
)

# The kinds whose memory strace reads at the entry stop (the rest are read at exit).
_ENTRY_READS = frozenset({"path", "buf_in", "argv", "envp", "mmap_oldargs"})


# --- argument checking -------------------------------------------------------------------


def _check_int(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{field}: expected an int, received {type(value).__name__} {value!r}")
    return value


def _check_abi(abi: object) -> str:
    if not isinstance(abi, str):
        raise TypeError(f"abi: expected a str, received {type(abi).__name__} {abi!r}")
    if abi not in ABIS:
        raise ValueError(f"abi: expected one of {', '.join(ABIS)}, received {abi!r}")
    return abi


def _check_register(value: object, field: str, width: int) -> int:
    """A raw register value: unsigned, or a signed int that fits ``width`` bits."""
    number = _check_int(value, field)
    if not -(1 << (width - 1)) <= number < 1 << width:
        raise ValueError(
            f"{field}: expected a {width}-bit register value "
            f"(-{1 << (width - 1)}..{(1 << width) - 1}), received {number!r}"
        )
    return number & ((1 << width) - 1)


def _check_nr(abi: str, nr: object) -> int:
    number = _check_register(nr, "nr", REGISTER_WIDTH[abi])
    if abi == "x32" and not number & X32_SYSCALL_BIT:
        raise ValueError(
            f"nr: expected an x32 number carrying X32_SYSCALL_BIT {X32_SYSCALL_BIT:#x}, "
            f"received {number:#x} (an x32 process without the bit makes an x86_64 call)"
        )
    if abi == "x86_64" and number & X32_SYSCALL_BIT:
        raise ValueError(
            f"nr: expected an x86_64 number without X32_SYSCALL_BIT {X32_SYSCALL_BIT:#x}, "
            f"received {number:#x} (pass abi='x32' for an x32 call)"
        )
    return number


def _check_args(abi: str, args: object) -> tuple[int, ...]:
    if isinstance(args, (str, bytes)) or not isinstance(args, Sequence):
        raise TypeError(
            f"args: expected a sequence of up to {MAX_ARGS} ints, "
            f"received {type(args).__name__} {args!r}"
        )
    if len(args) > MAX_ARGS:
        raise ValueError(f"args: expected at most {MAX_ARGS} register values, received {len(args)}")
    width = REGISTER_WIDTH[abi]
    return tuple(_check_register(a, f"args[{i}]", width) for i, a in enumerate(args))


def _check_peek(peek: object) -> Peek:
    if not callable(peek):
        raise TypeError(
            "peek: expected a callable (address, size) -> bytes | None, "
            f"received {type(peek).__name__} {peek!r}"
        )
    return peek  # type: ignore[return-value]


def _check_limit(limit: object) -> int:
    number = _check_int(limit, "string_limit")
    if number < 0:
        raise ValueError(f"string_limit: expected an int >= 0, received {number!r}")
    return number


# --- the call's description ---------------------------------------------------------------


class _Call:
    """One syscall as the formatter sees it: ABI, name, kinds and argument values."""

    def __init__(self, abi: str, nr: int, args: tuple[int, ...]) -> None:
        self.abi = abi
        self.nr = nr
        self.args = args
        self.width = REGISTER_WIDTH[abi]
        self.ptr_size = POINTER_WIDTH[abi] // 8
        # sizeof(long) and sizeof(time_t) in tracee memory: x32's time_t is 64 bits.
        self.long_size = 4 if abi == "i386" else 8
        entry = abi_syscalls(abi).by_number.get(nr)
        self.known = entry is not None
        if entry is None:
            # syscall.c undefined_scno_name(): "syscall_%lu", x32 bit removed by get_scno.
            self.name = f"syscall_{nr & ~X32_SYSCALL_BIT if abi == 'x32' else nr}"
            self.kinds: tuple[str, ...] = ("generic",) * len(args)
            self.rval = "raw"
        else:
            self.name = entry.name
            spec = SYSCALL_KINDS.get(entry.name)
            if spec is None:
                params = SIGNATURES.get(entry.entry.entry_point or "")
                nargs = len(params) if params is not None else MAX_ARGS
                self.kinds, self.rval = ("generic",) * nargs, "dec"
            else:
                self.kinds, self.rval = spec
            if abi == "i386" and entry.name == "mmap":
                # i386 mmap is old_mmap: one pointer to the six arguments (mem.c).
                self.kinds = ("mmap_oldargs",)
            if len(args) < len(self.kinds):
                raise ValueError(
                    f"args: expected {len(self.kinds)} register values for {self.name} "
                    f"({abi}), received {len(args)}"
                )

    def signed(self, value: int, width: int | None = None) -> int:
        bits = self.width if width is None else width
        value &= (1 << bits) - 1
        return value - (1 << bits) if value >> (bits - 1) else value

    def unsigned(self, value: int) -> int:
        return value & ((1 << self.width) - 1)


# --- reading tracee memory ---------------------------------------------------------------


class _Memory:
    """A peek that can record what it read (capture_entry) or replay a record."""

    def __init__(
        self,
        peek: Peek | None,
        *,
        replay: Mapping[tuple[int, int], bytes | None] | None = None,
        record: bool = False,
    ) -> None:
        self._peek = peek
        self._replay = replay
        self.recorded: dict[tuple[int, int], bytes | None] | None = {} if record else None

    def read(self, address: int, size: int) -> bytes | None:
        """umoven(): all ``size`` bytes at ``address``, or None."""
        if size == 0:
            return b""
        if address < 0 or address + size > 1 << 64:
            return None
        if self._replay is not None:
            data = self._replay.get((address, size))
        else:
            assert self._peek is not None
            data = self._peek(address, size)
            if data is not None and (not isinstance(data, (bytes, bytearray)) or len(data) != size):
                got = len(data) if isinstance(data, (bytes, bytearray)) else type(data).__name__
                raise ValueError(
                    f"peek: expected {size} bytes or None for ({address:#x}, {size}), "
                    f"received {got}"
                )
            data = None if data is None else bytes(data)
        if self.recorded is not None:
            self.recorded[(address, size)] = data
        return data

    def read_string(self, address: int, limit: int) -> tuple[bytes, bool] | None:
        """umovestr(): up to ``limit`` bytes up to a NUL; (bytes, NUL seen), None if unreadable.

        Reads in 64-byte pieces and byte by byte inside a piece that does not read whole,
        so a string that ends just before an unmapped page is still read; memory that ends
        before a NUL ends the string there (it is printed as unterminated).
        """
        out = bytearray()
        offset = 0
        while offset < limit:
            size = min(64, limit - offset)
            piece = self.read(address + offset, size)
            if piece is None:
                for i in range(size):
                    byte = self.read(address + offset + i, 1)
                    if byte is None:
                        return None if offset == i == 0 else (bytes(out), False)
                    if byte == b"\0":
                        return bytes(out), True
                    out += byte
                offset += size
                continue
            nul = piece.find(b"\0")
            if nul >= 0:
                out += piece[:nul]
                return bytes(out), True
            out += piece
            offset += size
        return bytes(out), False

    def read_word(self, address: int, size: int) -> int | None:
        data = self.read(address, size)
        return None if data is None else int.from_bytes(data, "little")


# --- strace's printing primitives ---------------------------------------------------------


def _hex(value: int) -> str:
    """C's %#lx: "0" for zero, else 0x followed by lowercase hex."""
    return f"{value:#x}" if value else "0"


def _octal(value: int) -> str:
    """C's %#lo: "0" for zero, else a leading 0."""
    return f"0{value:o}" if value else "0"


def quote(data: bytes) -> str:
    """util.c string_quote() in its default (non -x) style, quotes included."""
    out = ['"']
    simple = {0x22: '\\"', 0x5C: "\\\\", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}
    simple[0x0B] = "\\v"
    for i, c in enumerate(data):
        if c in simple:
            out.append(simple[c])
        elif 0x20 <= c <= 0x7E:
            out.append(chr(c))
        elif i + 1 < len(data) and 0x30 <= data[i + 1] <= 0x39:
            out.append(f"\\{c:03o}")  # a digit follows: all three octal digits
        else:
            out.append(f"\\{c:o}")
    out.append('"')
    return "".join(out)


def _printstr(mem: _Memory, address: int, length: int | None, limit: int) -> str:
    """util.c printstr(): ``length`` None means NUL-terminated (len == -1)."""
    if not address:
        return "NULL"
    if length is None:
        got = mem.read_string(address, limit + 1)
        if got is None:
            return _hex(address)
        data, nul_seen = got
        # string_quote quotes at most limit bytes and returns 0 (no "...") when it met
        # the NUL, or when the byte just past the limit is the NUL.
        return quote(data[:limit]) + ("" if nul_seen and len(data) <= limit else "...")
    size = min(limit, length)
    data = mem.read(address, size)
    if data is None:
        return _hex(address)
    return quote(data) + ("..." if length > limit else "")


def _printpath(mem: _Memory, address: int) -> str:
    """util.c printpath(): like printstr, but cut at PATH_MAX instead of -s."""
    if not address:
        return "NULL"
    got = mem.read_string(address, PATH_MAX + 1)
    if got is None:
        return _hex(address)
    data, nul_seen = got
    return quote(data[:PATH_MAX]) + ("" if nul_seen and len(data) <= PATH_MAX else "...")


def _printflags(table: tuple[tuple[int, str], ...], value: int, default: str) -> str:
    """util.c printflags() (for tables without a zero entry)."""
    names = []
    for bit, name in table:
        if value & bit == bit:
            names.append(name)
            value &= ~bit
    if names:
        return "|".join(names) + (f"|{value:#x}" if value else "")
    return f"{value:#x} /* {default} */" if value else "0"


def _printxval(table: Mapping[int, str], value: int, default: str) -> str:
    """util.c printxval(): the name, or ``%#x /* default */``."""
    name = table.get(value)
    return name if name is not None else f"{_hex(value)} /* {default} */"


def _open_modes(flags: int) -> str:
    """file.c sprint_open_modes(): access mode, then flags, then the rest in hex."""
    flags &= 0xFFFFFFFF
    parts = [_OPEN_ACCESS[flags & 3]]
    flags &= ~3
    for bit, name in _OPEN_FLAGS:
        if flags & bit == bit:
            parts.append(name)
            flags &= ~bit
    if flags:
        parts.append(f"{flags:#x}")
    return "|".join(parts)


def _signame(sig: int) -> str:
    """util.c signame() for x86: the signalent.h name, SIGRT_n, or the number."""
    if 0 <= sig < len(_SIGNALS):
        return _SIGNALS[sig]
    if 32 <= sig <= 64:
        return "SIGRTMIN" if sig == 32 else f"SIGRT_{sig - 32}"
    return str(sig)


def _errno_text(code: int) -> str:
    """``NAME (strerror)`` as trace_syscall_exiting prints an error (after "= -1 ")."""
    name = ERRNO_NAMES.get(code) or _EXTRA_ERRNO_NAMES.get(code)
    message = ERRNO_MESSAGES.get(name or "", f"Unknown error {code}")
    return f"{name or f'ERRNO_{code}'} ({message})"


# --- rendering ---------------------------------------------------------------------------


class _Renderer:
    def __init__(
        self, call: _Call, entry_mem: _Memory, exit_mem: _Memory | None, ret: int | None
    ) -> None:
        self.call = call
        self.entry_mem = entry_mem
        self.exit_mem = exit_mem
        self.ret = ret  # the signed result, None while rendering for capture_entry
        self.error = ret is not None and -MAX_ERRNO <= ret <= -1

    def args_text(self, limit: int) -> str:
        call = self.call
        if call.kinds == ("mmap_oldargs",):
            return self._old_mmap(limit)
        if call.name == "prctl" and call.known:
            return self._prctl()
        parts = []
        for index, kind in enumerate(call.kinds):
            text = self.arg(kind, index, limit)
            if text is not None:
                parts.append(text)
        return ", ".join(parts)

    def arg(self, kind: str, index: int, limit: int) -> str | None:
        call, value = self.call, self.call.args[index]
        if kind in _ENTRY_READS:
            mem = self.entry_mem
        elif self.exit_mem is None:
            return None  # capture_entry reads nothing that strace reads at exit
        else:
            mem = self.exit_mem
        if kind == "generic" or kind == "hex":
            return _hex(value)
        if kind == "fd":
            return str(call.signed(value, 32))
        if kind == "dirfd":
            fd = call.signed(value, 32)
            return "AT_FDCWD" if fd == AT_FDCWD else str(fd)
        if kind == "long":
            return str(call.signed(value))
        if kind == "ulong":
            return str(value)
        if kind == "ptr":
            return _hex(value) if value else "NULL"
        if kind == "octal":
            return _octal(value)
        if kind == "signal":
            return _signame(call.signed(value, 32))
        if kind == "path":
            return _printpath(mem, value)
        if kind == "buf_in":
            return _printstr(mem, value, call.args[index + 1], limit)
        if kind == "buf_out":
            if self.error:
                return _hex(value)
            assert self.ret is not None
            return _printstr(mem, value, self.ret, limit)
        if kind == "flags_open":
            return _open_modes(value)
        if kind == "mode_open":
            return _octal(value) if call.args[index - 1] & O_CREAT else None
        if kind == "lseek_offset":
            whence = call.args[index + 1] & 0xFFFFFFFF
            return str(value) if whence == SEEK_SET else str(call.signed(value))
        if kind == "whence":
            return _printxval(_WHENCE, value & 0xFFFFFFFF, "SEEK_???")
        if kind == "struct_timeval":
            return self._timeval(mem, value)
        if kind == "long_out":
            return self._long_out(mem, value)
        if kind == "argv":
            return self._argv(mem, value, limit)
        if kind == "envp":
            return self._envp(mem, value)
        if kind == "mmap_prot":
            return _printflags(_MMAP_PROT, value & 0xFFFFFFFF, "PROT_???") if value else "PROT_NONE"
        if kind == "mmap_flags":
            flags = value & 0xFFFFFFFF
            text = _printxval(_MMAP_TYPES, flags & _MAP_TYPE, "MAP_???")
            for bit, name in _MMAP_FLAGS:
                if flags & bit == bit and flags & ~_MAP_TYPE & bit:
                    text += "|" + name
                    flags &= ~bit
            rest = flags & ~_MAP_TYPE
            return text + (f"|{rest:#x}" if rest else "")
        if kind == "mmap_offset":
            return _hex(value)
        if kind == "mmap_pgoff":
            return _hex(value * PAGE_SIZE)
        raise AssertionError(f"unknown argument kind {kind!r}")  # pragma: no cover

    def _timeval(self, mem: _Memory, address: int) -> str:
        # time.c: gettimeofday prints both addresses as %#lx when the call failed;
        # printtv prints NULL, {sec, usec} (unsigned) or {...}.
        if self.error:
            return _hex(address)
        if not address:
            return "NULL"
        size = self.call.long_size
        # 4.8 reads x32's timeval as two 32-bit fields (current_wordsize == 4); x32's
        # time_t and suseconds_t are 64 bits, and this reads them so.
        data = mem.read(address, 2 * size)
        if data is None:
            return "{...}"
        sec = int.from_bytes(data[:size], "little")
        usec = int.from_bytes(data[size:], "little")
        return f"{{{sec}, {usec}}}"

    def _long_out(self, mem: _Memory, address: int) -> str:
        # util.c printnum(tcp, addr, "%ld"): NULL, [n], or the address.
        if not address:
            return "NULL"
        size = self.call.long_size
        data = mem.read(address, size)
        if data is None:
            return _hex(address)
        number = int.from_bytes(data, "little", signed=True)
        return f"[{number}]"

    def _argv(self, mem: _Memory, address: int, limit: int) -> str:
        # process.c printargv(): at most max_strlen / 2 strings, then "...".
        size = self.call.ptr_size
        parts: list[str] = []
        for _ in range(limit // 2):
            pointer = mem.read_word(address, size)
            if pointer is None:
                parts.append(_hex(address))
                return "[" + ", ".join(parts) + "]"
            if pointer == 0:
                return "[" + ", ".join(parts) + "]"
            parts.append(_printstr(mem, pointer, None, limit))
            address += size
        return "[" + ", ".join([*parts, "..."]) + "]"

    def _envp(self, mem: _Memory, address: int) -> str:
        # process.c printargc(", [/* %d var%s */]"): the pointers up to NULL or unreadable.
        # 4.8 steps by the tracer's sizeof(char *); this steps by the tracee's pointer size.
        size = self.call.ptr_size
        count = 0
        while True:
            pointer = mem.read_word(address + count * size, size)
            if not pointer:
                break
            count += 1
        return f"[/* {count} var{'' if count == 1 else 's'} */]"

    def _prctl(self) -> str:
        call = self.call
        option = call.args[0] & 0xFFFFFFFF
        parts = [_printxval(_PRCTL_OPTIONS, option, "PR_???")]
        if option in _PRCTL_ONE_ULONG:
            parts.append(str(call.args[1]))
        elif option not in _PRCTL_NO_ARGS:
            parts.extend(_hex(value) for value in call.args[1:5])
        return ", ".join(parts)

    def _old_mmap(self, limit: int) -> str:
        # mem.c sys_old_mmap (i386 "mmap"): the six arguments are read from memory at
        # entry; when they cannot be read 4.8 prints no arguments at all.
        call = self.call
        data = self.entry_mem.read(call.args[0], 6 * 4)
        if data is None:
            return ""
        values = struct.unpack("<6I", data)
        inner = _Call.__new__(_Call)
        inner.__dict__.update(call.__dict__)
        inner.args = values
        inner.kinds = ("ptr", "ulong", "mmap_prot", "mmap_flags", "fd", "mmap_offset")
        sub = _Renderer(inner, self.entry_mem, self.entry_mem, self.ret)
        return ", ".join(
            t for i, k in enumerate(inner.kinds) if (t := sub.arg(k, i, limit)) is not None
        )

    def result_text(self) -> str:
        call, ret = self.call, self.ret
        assert ret is not None
        if call.rval == "none":
            return "= ?"
        if self.error:
            code = -ret
            if call.rval == "raw":
                return f"= -1 (errno {code})"
            restart = _RESTART_CODES.get(code)
            if restart is not None:
                return f"= ? {restart}"
            return f"= -1 {_errno_text(code)}"
        value = call.unsigned(ret)
        if call.rval in ("hex", "raw"):
            return f"= {_hex(value)}"
        if call.rval == "oct":
            return f"= {_octal(value)}"
        if call.rval == "udec":
            return f"= {value}"
        return f"= {ret}"


# --- the public API -----------------------------------------------------------------------


def capture_entry(
    abi: str,
    nr: int,
    args: Sequence[int],
    peek: Peek,
    *,
    string_limit: int = DEFAULT_STRING_LIMIT,
) -> Mapping[str, object]:
    """Read at the syscall-entry stop what strace 4.8 reads there, for :func:`format_call`.

    That is the memory of the arguments 4.8's decoders print ``if (entering(tcp))``: paths,
    ``write``'s buffer, ``execve``'s argv and envp (gone after a successful execve), i386
    ``mmap``'s argument block. The snapshot is an immutable mapping with keys ``abi``,
    ``nr``, ``args``, ``string_limit`` and ``memory`` (every read made, as
    ``(address, size) -> bytes | None``); pass it as ``format_call(..., at_entry=...)``
    with the same call and the same ``string_limit``.
    """
    abi = _check_abi(abi)
    number = _check_nr(abi, nr)
    values = _check_args(abi, args)
    reader = _check_peek(peek)
    limit = _check_limit(string_limit)
    call = _Call(abi, number, values)
    memory = _Memory(reader, record=True)
    _Renderer(call, memory, None, None).args_text(limit)
    assert memory.recorded is not None
    return MappingProxyType(
        {
            "abi": abi,
            "nr": number,
            "args": values,
            "string_limit": limit,
            "memory": MappingProxyType(dict(memory.recorded)),
        }
    )


def _check_snapshot(
    at_entry: object, abi: str, nr: int, args: tuple[int, ...], limit: int
) -> Mapping[tuple[int, int], bytes | None]:
    if not isinstance(at_entry, Mapping):
        raise TypeError(
            "at_entry: expected the Mapping capture_entry returned, "
            f"received {type(at_entry).__name__} {at_entry!r}"
        )
    expected = {"abi": abi, "nr": nr, "args": args, "string_limit": limit}
    for key, value in expected.items():
        if key not in at_entry:
            raise ValueError(f"at_entry: expected a capture_entry snapshot, missing {key!r}")
        got = at_entry[key]
        if key == "args":
            got = tuple(got)  # type: ignore[arg-type]
        if got != value:
            raise ValueError(
                f"at_entry[{key!r}]: expected the snapshot of this call ({value!r}), "
                f"received {got!r}"
            )
    memory = at_entry.get("memory")
    if not isinstance(memory, Mapping):
        raise TypeError(f"at_entry['memory']: expected a Mapping, received {type(memory).__name__}")
    return memory


def format_call(
    abi: str,
    nr: int,
    args: Sequence[int],
    ret: int,
    peek: Peek,
    *,
    at_entry: Mapping | None = None,
    string_limit: int = DEFAULT_STRING_LIMIT,
) -> str:
    """The strace 4.8 line for one finished syscall, e.g. ``read(3, "hi\\n", 16) = 3``.

    ``abi`` is the call's personality ("x86_64", "i386" or "x32"; x32 numbers carry
    ``X32_SYSCALL_BIT``), ``args`` the raw argument registers and ``ret`` the raw result
    register (both at the ABI's register width; -4095..-1 read as signed are errors).
    ``peek`` reads tracee memory at the exit stop. ``at_entry`` is the snapshot
    :func:`capture_entry` took at the entry stop; without it, what strace reads at entry
    is read now through ``peek``. ``string_limit`` is strace's ``-s``.

    The line has no pid prefix, no newline and one space before ``=`` (strace pads to its
    ``-a`` column, 40 by default, with spaces; a caller that wants that pads here).
    """
    abi = _check_abi(abi)
    number = _check_nr(abi, nr)
    values = _check_args(abi, args)
    reader = _check_peek(peek)
    limit = _check_limit(string_limit)
    raw_ret = _check_register(ret, "ret", REGISTER_WIDTH[abi])
    call = _Call(abi, number, values)
    live = _Memory(reader)
    if at_entry is None:
        entry_mem = live
    else:
        entry_mem = _Memory(None, replay=_check_snapshot(at_entry, abi, number, values, limit))
    renderer = _Renderer(call, entry_mem, live, call.signed(raw_ret))
    return f"{call.name}({renderer.args_text(limit)}) {renderer.result_text()}"


#: syscall.c update_personality(): the x86_64 build's names of personalities 0, 1, 2.
_PERSONALITY_NAMES: Mapping[str, str] = MappingProxyType(
    {"x86_64": "64 bit", "i386": "32 bit", "x32": "x32"}
)


def _notice(pid: object, mode: str) -> str:
    number = _check_int(pid, "pid")
    if number <= 0:
        raise ValueError(f"pid: expected a process id > 0, received {number!r}")
    return f"[ Process PID={number} runs in {mode} mode. ]"


def personality_notice(pid: int, bits: int) -> str:
    """strace 4.8's line when a process switches between 64-bit and 32-bit syscalls.

    ``[ Process PID=1234 runs in 32 bit mode. ]`` (syscall.c update_personality(), printed
    to stderr without -q when the personality of the traced call changes).
    """
    number = _check_int(bits, "bits")
    if number not in (32, 64):
        raise ValueError(f"bits: expected 32 or 64, received {number!r}")
    return _notice(pid, f"{number} bit")


def personality_notice_for(pid: int, abi: str) -> str:
    """The same notice by ABI name; x32 is ``[ Process PID=1234 runs in x32 mode. ]``."""
    return _notice(pid, _PERSONALITY_NAMES[_check_abi(abi)])
