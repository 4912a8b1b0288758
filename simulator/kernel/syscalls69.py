"""The handlers a 6.9 table names differently from 3.16's, mapped onto ringsim's handlers.

6.9's tables renamed some entry points (sys_time32, sys_clock_gettime32, the compat_sys_*
sigreturns) and added 64-bit time calls to the i386 table (clock_gettime64 is 403, entry
sys_clock_gettime with a struct __kernel_timespec). The bodies are the 3.16 model's; only the
types 6.9 gives them differ. Booting a 6.9 kernel adds these to its handler map.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from simulator.kernel import signal, syscalls, timekeeping
from simulator.kernel import syscalls as S

if TYPE_CHECKING:
    from simulator.kernel.kernel import Kernel

HANDLERS: dict[str, Callable[..., int]] = {}
SOURCES: dict[str, str] = {}
HRTIMER_RESOLUTION = 1  # hrtimer_resolution with high-resolution timers (kernel/time/hrtimer.c)
LOW_RES_NSEC = timekeeping.TICK_NSEC  # include/linux/hrtimer.h: TICK_NSEC
_COARSE = (5, 6)  # CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE


def _handler(name: str, source: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    def register(fn: Callable[..., int]) -> Callable[..., int]:
        HANDLERS[name] = fn
        SOURCES[name] = source
        if name not in S.SOURCES:
            S.OTHER_SOURCES[name] = source  # syscalls._enter names the file from these
        return fn

    return register


@_handler("sys_time32", "kernel/time/time.c")
def sys_time32(k: Kernel, tloc: int, *_: int) -> int:
    """SYSCALL_DEFINE1(time32, old_time32_t __user *, tloc): a 32-bit time."""
    return syscalls._time(k, "sys_time32", tloc, 4)


@_handler("sys_clock_gettime32", "kernel/time/posix-stubs.c")
def sys_clock_gettime32(k: Kernel, which: int, tp: int, *_: int) -> int:
    """SYSCALL_DEFINE2(clock_gettime32, ..., struct old_timespec32 __user *, tp)."""
    return syscalls._clock_gettime(k, "sys_clock_gettime32", which, tp, 4)


@_handler("sys_clock_gettime", "kernel/time/posix-timers.c")
def sys_clock_gettime(k: Kernel, which: int, tp: int, *_: int) -> int:
    """6.9's clock_gettime writes a struct __kernel_timespec (two 64-bit fields) whichever
    table reaches it: 228 on x86_64, 403 (clock_gettime64) on i386."""
    return syscalls._clock_gettime(k, "sys_clock_gettime", which, tp, 8)


def _clock_getres(k: Kernel, name: str, which: int, tp: int, size: int) -> int:
    """posix_get_hrtimer_res / posix_get_coarse_res (kernel/time/posix-timers.c)."""
    which &= 0xFFFF_FFFF
    which = which - (1 << 32) if which & 0x8000_0000 else which
    tp = syscalls._ptr(k, tp)
    if which < 0:
        return k.not_modeled(name, f"CPU-time clock id {which} (posix-cpu-timers)")
    if which >= syscalls.MAX_CLOCKS:
        return syscalls._fail(k, name, "EINVAL", f"clockid {which} >= MAX_CLOCKS")
    if which not in syscalls.MODELED_CLOCKS:
        if which in (2, 3, 8, 9):
            return k.not_modeled(name, f"clock {which}")
        return syscalls._fail(k, name, "EINVAL", f"clockid {which} has no clock_getres")
    nsec = LOW_RES_NSEC if which in _COARSE else HRTIMER_RESOLUTION
    if tp and not syscalls._put_pair(k, name, tp, 0, nsec, size):
        return syscalls._fail(k, name, "EFAULT", "copy_to_user(tp)")
    syscalls._enter(k, name, f"{syscalls.MODELED_CLOCKS[which]}: resolution 0.{nsec:09d}")
    return 0


@_handler("sys_clock_getres", "kernel/time/posix-timers.c")
def sys_clock_getres(k: Kernel, which: int, tp: int, *_: int) -> int:
    """SYSCALL_DEFINE2(clock_getres, ..., struct __kernel_timespec __user *, tp)."""
    return _clock_getres(k, "sys_clock_getres", which, tp, 8)


@_handler("sys_clock_getres_time32", "kernel/time/posix-timers.c")
def sys_clock_getres_time32(k: Kernel, which: int, tp: int, *_: int) -> int:
    """SYSCALL_DEFINE2(clock_getres_time32, ..., struct old_timespec32 __user *, tp)."""
    return _clock_getres(k, "sys_clock_getres_time32", which, tp, 4)


# The compat sigreturns kept their bodies and changed their names (arch/x86/kernel/signal_32.c,
# signal_64.c in 6.9).
HANDLERS["compat_sys_sigreturn"] = signal.sys32_sigreturn
HANDLERS["compat_sys_rt_sigreturn"] = signal.sys32_rt_sigreturn
HANDLERS["compat_sys_x32_rt_sigreturn"] = signal.sys32_x32_rt_sigreturn
SOURCES.update(
    compat_sys_sigreturn="arch/x86/kernel/signal_32.c",
    compat_sys_rt_sigreturn="arch/x86/kernel/signal_32.c",
    compat_sys_x32_rt_sigreturn="arch/x86/kernel/signal_64.c",
)
