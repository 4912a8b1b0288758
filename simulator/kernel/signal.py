"""kernel/signal.c, kernel/sys.c and kernel/compat.c (Linux 3.16): the system calls that set
up and send signals: rt_sigaction (and its compat form), rt_sigprocmask, kill, tgkill,
getppid.

What a task has: ``sigactions`` (signal -> (handler, flags, restorer, mask)), ``blocked``
(the mask), ``pending_signals``. Delivery is simulator.kernel.ptrace.do_signal on the exit
path: default actions, ignored signals, blocked ones kept pending. Running a user handler
(the signal frame and rt_sigreturn) is not modeled yet: such a delivery stops with a
*not modeled* outcome.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.kernel import uaccess
from simulator.kernel.syscalls import _enter, _fail, handler

if TYPE_CHECKING:
    from simulator.kernel.kernel import Kernel
    from simulator.kernel.task import Task

_NSIG = 64
SIGKILL, SIGSTOP = 9, 19
SIG_DFL, SIG_IGN = 0, 1
SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK = 0, 1, 2
_UNBLOCKABLE = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1))
_M32 = 0xFFFF_FFFF
_M64 = (1 << 64) - 1
# Signals whose default action is to be ignored (SIG_KERNEL_IGNORE_MASK, kernel/signal.c).
DEFAULT_IGNORED = frozenset({17, 18, 23, 28})  # SIGCHLD, SIGCONT, SIGURG, SIGWINCH


def sigmask(sig: int) -> int:
    return 1 << (sig - 1)


def is_ignored(task: Task, sig: int) -> bool:
    """sig_handler_ignored: SIG_IGN, or SIG_DFL for a signal whose default is ignore."""
    handler_address = task.sigactions.get(sig, (SIG_DFL, 0, 0, 0))[0]
    return handler_address == SIG_IGN or (handler_address == SIG_DFL and sig in DEFAULT_IGNORED)


def send(k: Kernel, task: Task, sig: int, why: str) -> None:
    """__send_signal (kernel/signal.c), in part: a signal the task ignores (and does not block,
    and is not traced) is dropped at once (sig_ignored); otherwise it is queued, and
    TIF_SIGPENDING set when it is not blocked (recalc_sigpending)."""
    from simulator.kernel import linux316 as L

    if (
        is_ignored(task, sig)
        and not task.blocked & sigmask(sig)
        and not task.ptrace
        and sig != SIGKILL
    ):
        k.note("sig_ignored (kernel/signal.c)", f"signal {sig} to pid {task.pid} ({why}): ignored")
        return
    if sig not in task.pending_signals:
        task.pending_signals.append(sig)
    if not task.blocked & sigmask(sig):
        task.set_flag(L.TIF_SIGPENDING)
    k.note(
        "__send_signal (kernel/signal.c)",
        f"signal {sig} to pid {task.pid} ({why}): pending"
        + (" (blocked)" if task.blocked & sigmask(sig) else "; TIF_SIGPENDING"),
    )


def recalc_sigpending(task: Task) -> None:
    from simulator.kernel import linux316 as L

    deliverable = any(not task.blocked & sigmask(s) for s in task.pending_signals)
    task.set_flag(L.TIF_SIGPENDING, deliverable)


def _do_sigaction(
    k: Kernel, name: str, sig: int, new: tuple[int, int, int, int] | None
) -> tuple[int, int, int, int] | int:
    """do_sigaction: a valid signal, not SIGKILL or SIGSTOP when setting; SIGKILL and SIGSTOP
    are taken out of the handler's mask; SIG_IGN (or an ignoring SIG_DFL) discards what is
    pending. Returns the old action, or -EINVAL."""
    task = k.current
    assert task is not None
    if not 1 <= sig <= _NSIG or (new is not None and sig in (SIGKILL, SIGSTOP)):
        return _fail(k, name, "EINVAL", f"signal {sig}")
    old = task.sigactions.get(sig, (SIG_DFL, 0, 0, 0))
    if new is not None:
        handler_address, flags, restorer, mask = new
        task.sigactions[sig] = (handler_address, flags, restorer, mask & ~_UNBLOCKABLE)
        if is_ignored(task, sig) and sig in task.pending_signals:
            task.pending_signals.remove(sig)
            recalc_sigpending(task)
        _enter(
            k,
            name,
            f"signal {sig}: handler {handler_address:#x}, flags {flags:#x}, restorer "
            f"{restorer:#x}, mask {mask:#x}",
        )
    return old


@handler("sys_rt_sigaction", "kernel/signal.c")
def sys_rt_sigaction(k: Kernel, sig: int, act: int, oact: int, sigsetsize: int, *_: int) -> int:
    """rt_sigaction(sig, act, oact, sigsetsize): struct sigaction as the kernel reads it on
    x86_64: handler, flags, restorer, mask (8 bytes each)."""
    return _rt_sigaction(k, "sys_rt_sigaction", sig, act, oact, sigsetsize, word=8)


@handler("compat_sys_rt_sigaction", "kernel/signal.c")
def compat_sys_rt_sigaction(
    k: Kernel, sig: int, act: int, oact: int, sigsetsize: int, *_: int
) -> int:
    """The compat form: struct compat_sigaction is handler, flags, restorer (4 bytes each)
    and a compat_sigset_t of two 32-bit words."""
    return _rt_sigaction(k, "compat_sys_rt_sigaction", sig, act, oact, sigsetsize, word=4)


def _rt_sigaction(
    k: Kernel, name: str, sig: int, act: int, oact: int, sigsetsize: int, *, word: int
) -> int:
    sig = _signed32(sig)
    if sigsetsize & _M64 != 8:
        return _fail(k, name, "EINVAL", f"sigsetsize {sigsetsize} is not sizeof(sigset_t)")
    new = None
    if act:
        raw, missing = uaccess.copy_from_user(k, act, 3 * word + 8, "copy_from_user")
        if missing or not uaccess.access_ok(k, act, 3 * word + 8):
            return _fail(k, name, "EFAULT", "struct sigaction unreadable")
        fields = [int.from_bytes(raw[i * word : (i + 1) * word], "little") for i in range(3)]
        mask = int.from_bytes(raw[3 * word : 3 * word + 8], "little")
        new = (fields[0], fields[1], fields[2], mask)
    old = _do_sigaction(k, name, sig, new)
    if isinstance(old, int):
        return old
    if oact:
        blob = b"".join(v.to_bytes(word, "little") for v in old[:3]) + old[3].to_bytes(8, "little")
        if not uaccess.access_ok(k, oact, len(blob)) or uaccess.copy_to_user(k, oact, blob):
            return _fail(k, name, "EFAULT", "the old struct sigaction could not be written")
    if new is None:
        _enter(k, name, f"signal {sig}: handler {old[0]:#x} (read only)")
    return 0


@handler("sys_rt_sigprocmask", "kernel/signal.c")
def sys_rt_sigprocmask(k: Kernel, how: int, nset: int, oset: int, sigsetsize: int, *_: int) -> int:
    """rt_sigprocmask: SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK on an 8-byte sigset_t; SIGKILL and
    SIGSTOP are never blocked (sigdelsetmask in set_current_blocked)."""
    task = k.current
    assert task is not None
    name = "sys_rt_sigprocmask"
    if sigsetsize & _M64 != 8:
        return _fail(k, name, "EINVAL", f"sigsetsize {sigsetsize} is not sizeof(sigset_t)")
    old = task.blocked
    if nset:
        new = uaccess.get_user(k, nset, 8, "copy_from_user")
        if new is None:
            return _fail(k, name, "EFAULT", "the new set is unreadable")
        how = _signed32(how)
        if how == SIG_BLOCK:
            mask = old | new
        elif how == SIG_UNBLOCK:
            mask = old & ~new
        elif how == SIG_SETMASK:
            mask = new
        else:
            return _fail(k, name, "EINVAL", f"how {how}")
        task.blocked = mask & ~_UNBLOCKABLE
        recalc_sigpending(task)
        _enter(k, name, f"blocked {old:#x} -> {task.blocked:#x}")
    if oset and not uaccess.put_user(k, oset, old, 8):
        return _fail(k, name, "EFAULT", "the old set could not be written")
    return 0


@handler("sys_kill", "kernel/signal.c")
def sys_kill(k: Kernel, pid: int, sig: int, *_: int) -> int:
    """kill(pid, sig) for one process (pid > 0); process groups are not modeled."""
    pid, sig = _signed32(pid), _signed32(sig)
    if not 0 <= sig <= _NSIG:
        return _fail(k, "sys_kill", "EINVAL", f"signal {sig}")
    if pid <= 0:
        return k.not_modeled("sys_kill", f"kill({pid}, ...) to a process group")
    return _kill_one(k, "sys_kill", pid, sig)


@handler("sys_tgkill", "kernel/signal.c")
def sys_tgkill(k: Kernel, tgid: int, pid: int, sig: int, *_: int) -> int:
    """tgkill(tgid, tid, sig): one thread; every ringsim process has one, tid == tgid."""
    tgid, pid, sig = _signed32(tgid), _signed32(pid), _signed32(sig)
    if pid <= 0 or tgid <= 0:
        return _fail(k, "sys_tgkill", "EINVAL", f"tgid {tgid}, pid {pid}")
    if not 0 <= sig <= _NSIG:
        return _fail(k, "sys_tgkill", "EINVAL", f"signal {sig}")
    if tgid != pid:
        return _fail(k, "sys_tgkill", "ESRCH", f"no thread {pid} in thread group {tgid}")
    return _kill_one(k, "sys_tgkill", pid, sig)


def _kill_one(k: Kernel, name: str, pid: int, sig: int) -> int:
    target = k.tasks.get(pid)
    if target is None or not target.alive:
        return _fail(k, name, "ESRCH", f"no process {pid}")
    if sig == 0:
        _enter(k, name, f"signal 0: process {pid} exists")
        return 0
    send(k, target, sig, f"{name} from pid {k.current.pid if k.current else 0}")
    return 0


@handler("sys_getppid", "kernel/sys.c")
def sys_getppid(k: Kernel, *_: int) -> int:
    """getppid: the real parent's pid (0 for a process ringsim spawned without one)."""
    task = k.current
    assert task is not None
    _enter(k, "sys_getppid", f"task_tgid_vnr(current->real_parent) = {task.parent}")
    return task.parent


def _signed32(value: int) -> int:
    value &= _M32
    return value - (1 << 32) if value >> 31 else value
