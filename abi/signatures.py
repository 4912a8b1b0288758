"""Parameter names of the syscall handlers abi knows, keyed by entry point symbol."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# Each row: the parameter names of a handler (as its SYSCALL_DEFINEn, COMPAT_SYSCALL_DEFINEn
# or asmlinkage declaration in Linux 3.16 names them), then every entry point symbol of the
# tables that takes exactly those arguments. The 3.16 ptregs stubs (stub_execve,
# stub32_fork, ...) take the arguments of the function they call. Handlers left out are
# unrecorded: abi does not guess their arguments.
_ROWS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (
        (),
        (
            "sys_getpid",
            "sys_getppid",
            "sys_gettid",
            "sys_getuid",
            "sys_geteuid",
            "sys_getgid",
            "sys_getegid",
            "sys_sched_yield",
            "sys_fork",
            "sys_vfork",
            "stub_fork",
            "stub_vfork",
            "stub32_fork",
            "stub32_vfork",
            "sys_restart_syscall",
            "sys_rt_sigreturn",
            "sys_sigreturn",
            "stub_rt_sigreturn",
            "stub32_rt_sigreturn",
            "stub_x32_rt_sigreturn",
        ),
    ),
    (("fd", "buf", "count"), ("sys_read", "sys_write")),
    (("filename", "flags", "mode"), ("sys_open", "compat_sys_open")),
    (("fd",), ("sys_close",)),
    (("error_code",), ("sys_exit", "sys_exit_group")),
    (
        ("filename", "argv", "envp"),
        ("sys_execve", "stub_execve", "stub32_execve", "stub_x32_execve", "compat_sys_execve"),
    ),
    (("fd", "offset", "whence"), ("sys_lseek", "compat_sys_lseek")),
    (("fd", "cmd", "arg"), ("sys_ioctl",)),
    (("fd", "cmd", "arg32"), ("compat_sys_ioctl",)),
    (
        ("fd", "vec", "vlen"),
        ("sys_readv", "sys_writev", "compat_sys_readv", "compat_sys_writev"),
    ),
    (("brk",), ("sys_brk",)),
    (("addr", "len"), ("sys_munmap",)),
    (("start", "len", "prot"), ("sys_mprotect",)),
    (("addr", "len", "prot", "flags", "fd", "off"), ("sys_mmap",)),
    (("addr", "len", "prot", "flags", "fd", "pgoff"), ("sys_mmap_pgoff",)),
    (("arg",), ("sys_old_mmap", "sys32_mmap")),
    (("pid", "sig"), ("sys_kill",)),
    (("tgid", "pid", "sig"), ("sys_tgkill",)),
    (("fildes",), ("sys_dup", "sys_pipe")),
    (("oldfd", "newfd"), ("sys_dup2",)),
    (("rqtp", "rmtp"), ("sys_nanosleep", "compat_sys_nanosleep")),
    (("tv", "tz"), ("sys_gettimeofday", "compat_sys_gettimeofday")),
    (("tloc",), ("sys_time", "compat_sys_time")),
    (("name",), ("sys_newuname",)),
    (("filename", "mode"), ("sys_access",)),
    (("filename",), ("sys_chdir",)),
    (("mask",), ("sys_umask",)),
    (("buf", "size"), ("sys_getcwd",)),
    (("tidptr",), ("sys_set_tid_address",)),
    (("pid", "stat_addr", "options"), ("sys_waitpid",)),
    (("upid", "stat_addr", "options", "ru"), ("sys_wait4",)),
)


def _build() -> Mapping[str, tuple[str, ...]]:
    by_symbol: dict[str, tuple[str, ...]] = {}
    for params, symbols in _ROWS:
        if len(params) > 6:
            raise ValueError(f"{symbols}: a syscall takes at most six arguments")
        for symbol in symbols:
            if symbol in by_symbol:
                raise ValueError(f"signature of {symbol!r} is recorded twice")
            by_symbol[symbol] = params
    return MappingProxyType(by_symbol)


#: Parameter names by entry point symbol, for the handlers abi records.
SIGNATURES: Mapping[str, tuple[str, ...]] = _build()


def parameters(entry_point: str | None) -> tuple[str, ...] | None:
    """The parameter names of handler ``entry_point``, or None when abi does not record them."""
    if entry_point is None:
        return None
    return SIGNATURES.get(entry_point)
