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

from abi import signals as _ABI
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

    # prepare_signal (kernel/signal.c): SIGCONT wakes a stopped task and drops pending stop
    # signals; a stop signal drops a pending SIGCONT; SIGKILL wakes a stopped task too.
    if sig == 18:
        task.pending_signals[:] = [s for s in task.pending_signals if s not in (19, 20, 21, 22)]
        if task.job_stopped:
            task.job_stopped = False
            task.job_status = 0
            task.continued = True
            k.note("prepare_signal (kernel/signal.c)", f"SIGCONT: pid {task.pid} continues")
    elif sig in (19, 20, 21, 22) and 18 in task.pending_signals:
        task.pending_signals.remove(18)
    if sig == SIGKILL and task.job_stopped:
        task.job_stopped = False
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
        if task.sleeping:
            # signal_wake_up: an interruptible sleep ends; the call sees signal_pending.
            task.sleeping = 0
            k.note("signal_wake_up (kernel/signal.c)", f"pid {task.pid} woken from its sleep")
    k.note(
        "__send_signal (kernel/signal.c)",
        f"signal {sig} to pid {task.pid} ({why}): pending"
        + (" (blocked)" if task.blocked & sigmask(sig) else "; TIF_SIGPENDING"),
    )


# Where each siginfo field sits (asm-generic/siginfo.h: the union at 16 on x86_64, at 12 in
# a 32-bit or compat siginfo): name -> (64-bit offset, size), (32-bit offset, size).
_SIGINFO_FIELDS = {
    "pid": ((16, 4), (12, 4)),
    "uid": ((20, 4), (16, 4)),
    "addr": ((16, 8), (12, 4)),
    "call_addr": ((16, 8), (12, 4)),
    "syscall": ((24, 4), (16, 4)),
    "arch": ((28, 4), (20, 4)),
}


def siginfo_bytes(task: Task, sig: int, *, wide: bool) -> list[tuple[int, int, int]]:
    """copy_siginfo_to_user / copy_siginfo_to_user32: (offset, value, size) of si_signo,
    si_errno, si_code and the union member the code selects; the info is consumed."""
    errno, code, fields = task.siginfo.pop(sig, (0, SI_KERNEL, {}))
    out = [(0, sig, 4), (4, errno, 4), (8, code, 4)]
    for name, value in fields.items():
        offset, size = _SIGINFO_FIELDS[name][0 if wide else 1]
        out.append((offset, value, size))
    return out


def force_sig_info(k: Kernel, task: Task, sig: int, info: tuple) -> None:
    """force_sig_info (kernel/signal.c, 3.16): a signal the task blocks or ignores is
    unblocked and its handler reset to SIG_DFL, so it cannot be escaped; then it is queued
    with its info."""
    handler_address, flags, restorer, mask = task.sigactions.get(sig, (SIG_DFL, 0, 0, 0))
    if handler_address == SIG_IGN or task.blocked & sigmask(sig):
        # Blocked or ignored: the action becomes SIG_DFL (a blocked one loses its handler
        # too) and the signal is unblocked.
        task.blocked &= ~sigmask(sig)
        task.sigactions[sig] = (SIG_DFL, flags, restorer, mask)
    task.siginfo[sig] = info
    send(k, task, sig, "force_sig_info")


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
    """rt_sigaction(sig, act, oact, sigsetsize): struct sigaction as the kernel reads it:
    handler, flags, restorer (a long each: 8 bytes on x86_64, 4 on i386), then the 8-byte
    mask."""
    word = 8 if k.kind == "x86_64" else 4
    return _rt_sigaction(k, "sys_rt_sigaction", sig, act, oact, sigsetsize, word=word)


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
    if pid <= 0:
        return k.not_modeled("sys_kill", f"kill({pid}, ...) to a process group")
    return _kill_one(k, "sys_kill", pid, sig)


@handler("sys_tgkill", "kernel/signal.c")
def sys_tgkill(k: Kernel, tgid: int, pid: int, sig: int, *_: int) -> int:
    """tgkill(tgid, tid, sig): one thread; every ringsim process has one, tid == tgid."""
    tgid, pid, sig = _signed32(tgid), _signed32(pid), _signed32(sig)
    if pid <= 0 or tgid <= 0:
        return _fail(k, "sys_tgkill", "EINVAL", f"tgid {tgid}, pid {pid}")
    if tgid != pid:
        return _fail(k, "sys_tgkill", "ESRCH", f"no thread {pid} in thread group {tgid}")
    return _kill_one(k, "sys_tgkill", pid, sig)


def _kill_one(k: Kernel, name: str, pid: int, sig: int) -> int:
    target = k.tasks.get(pid)
    if target is None or not target.alive:
        return _fail(k, name, "ESRCH", f"no process {pid}")
    if not 0 <= sig <= _NSIG:
        # valid_signal is checked in check_kill_permission, after the target is found.
        return _fail(k, name, "EINVAL", f"signal {sig}")
    if sig == 0:
        _enter(k, name, f"signal 0: process {pid} exists")
        return 0
    sender = k.current.pid if k.current else 0
    code = SI_TKILL if name == "sys_tgkill" else SI_USER
    target.siginfo[sig] = (0, code, {"pid": sender, "uid": 0})  # the _kill member
    send(k, target, sig, f"{name} from pid {sender}")
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


# ------------------------------------------------------------------ x86_64 frames

SA_SIGINFO = 0x4
SA_RESTORER = 0x0400_0000
SA_RESTART = 0x1000_0000
SA_NODEFER = 0x4000_0000
SA_RESETHAND = 0x8000_0000
SS_DISABLE = 2
ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND, ERESTART_RESTARTBLOCK = 512, 513, 514, 516
SI_USER, SI_KERNEL, SI_TKILL = 0, 0x80, -6
SYS_SECCOMP = 1
# The layouts are abi.signals' (struct sigcontext, ucontext, rt_sigframe of 3.16), with the
# sigcontext fields named by their pt_regs slots.
_RENAME = {"rdi": "di", "rsi": "si", "rbp": "bp", "rbx": "bx", "rdx": "dx", "rax": "ax",
           "rcx": "cx", "rsp": "sp", "rip": "ip", "eflags": "flags"}  # fmt: skip
SIGCONTEXT_64 = {_RENAME.get(f.name, f.name): f.offset for f in _ABI.SIGCONTEXT_64.fields}
UC_FLAGS = _ABI.UCONTEXT_64.offset_of_path("uc_flags")
UC_LINK = _ABI.UCONTEXT_64.offset_of_path("uc_link")
UC_STACK = _ABI.UCONTEXT_64.offset_of_path("uc_stack")
UC_MCONTEXT = _ABI.UCONTEXT_64.offset_of_path("uc_mcontext")
UC_SIGMASK = _ABI.UCONTEXT_64.offset_of_path("uc_sigmask")
RT_SIGFRAME_64 = {
    name: _ABI.RT_SIGFRAME_64.offset_of_path(name) for name in ("pretcode", "uc", "info")
}
RT_SIGFRAME_64_SIZE = _ABI.RT_SIGFRAME_64.sizeof
# FIX_EFLAGS (arch/x86/include/asm/sighandling.h, 3.12-3.18, one definition for every
# kernel and ABI): AC, OF, DF, TF, SF, ZF, AF, PF, CF and RF are what sigreturn may change.
FIX_EFLAGS = 0x40000 | 0x800 | 0x400 | 0x100 | 0x80 | 0x40 | 0x10 | 0x4 | 0x1 | 0x10000
_SC_REGS = ("r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "di", "si", "bp", "bx",
            "dx", "ax", "cx", "sp", "ip", "flags")  # fmt: skip


def handle_signal(k: Kernel, task: Task, sig: int, action: tuple[int, int, int, int]) -> None:
    """handle_signal (arch/x86/kernel/signal.c, 3.16): restart fix-up for an interrupted
    system call, the frame (setup_rt_frame), DF/RF/TF cleared, then signal_setup_done: the
    handler's mask and the signal itself blocked, SA_RESETHAND honoured."""
    from simulator.kernel import ptrace as P

    handler_address, flags, restorer, mask = action
    k.note(
        "do_signal -> handle_signal (arch/x86/kernel/signal.c)",
        f"get_signal_to_deliver: signal {sig}, handler {handler_address:#x}",
    )
    if flags & SA_RESETHAND:
        # get_signal_to_deliver: SA_ONESHOT resets only the handler, before the frame.
        task.sigactions[sig] = (SIG_DFL, flags, restorer, mask)

    if P.syscall_nr(k, task) >= 0:
        raw_ax = P.read_slot(k, task, "ax")
        # syscall_get_error: (long)(int) for a TS_COMPAT call.
        compat = k.kind == "i386" or bool(task.status & 0x2)
        error = _signed32(raw_ax) if compat else _signed64(raw_ax)
        if error in (-ERESTART_RESTARTBLOCK, -ERESTARTNOHAND) or (
            error == -ERESTARTSYS and not flags & SA_RESTART
        ):
            P.write_slot(k, task, "ax", -k.errno("EINTR"))
            k.note("handle_signal (arch/x86/kernel/signal.c)", "interrupted call: ax = -EINTR")
        elif error in (-ERESTARTSYS, -ERESTARTNOINTR):
            P.write_slot(k, task, "ax", P.read_slot(k, task, "orig_ax"))
            P.write_slot(k, task, "ip", P.read_slot(k, task, "ip") - 2)
            k.note(
                "handle_signal (arch/x86/kernel/signal.c)",
                "restart: ax = orig_ax, ip -= 2 (back onto the entry instruction)",
            )
    if task.abi == "i386":
        failed = setup_frame_32(k, task, sig, action, rt=bool(flags & SA_SIGINFO))
    else:
        failed = setup_rt_frame_64(k, task, sig, action, x32=task.abi == "x32")
    if failed:
        # signal_setup_done(failed): force_sigsegv; the mask is left as it was. A SIGSEGV
        # whose own frame failed loses its handler, so the next one kills.
        k.note(
            "signal_setup_done -> force_sigsegv (kernel/signal.c)",
            f"the frame of signal {sig} could not be written: SIGSEGV",
        )
        if sig == 11:
            old = task.sigactions.get(11, (SIG_DFL, 0, 0, 0))
            task.sigactions[11] = (SIG_DFL, old[1], old[2], old[3])
        task.fault_reason[11] = f"no room for the frame of signal {sig}"
        force_sig_info(k, task, 11, (0, SI_KERNEL, {}))
        return
    blocked = task.blocked | mask
    if not flags & SA_NODEFER:
        blocked |= sigmask(sig)
    task.blocked = blocked & ~_UNBLOCKABLE
    recalc_sigpending(task)
    k.note(
        "signal_setup_done (kernel/signal.c)",
        f"blocked = {task.blocked:#x} (sa_mask | the signal unless SA_NODEFER)",
    )
    _ = (handler_address, restorer)


def _frame64(x32: bool) -> tuple:
    """(frame layout, ucontext layout, pointer size of uc_flags/uc_link and the stack_t,
    siginfo wide?) for the x86_64 rt_sigframe or x32's rt_sigframe_x32."""
    if x32:
        return _ABI.RT_SIGFRAME_X32, _ABI.UCONTEXT_X32, 4, False
    return _ABI.RT_SIGFRAME_64, _ABI.UCONTEXT_64, 8, True


def setup_rt_frame_64(
    k: Kernel, task: Task, sig: int, action: tuple[int, int, int, int], *, x32: bool = False
) -> int:
    """__setup_rt_frame (x86_64) and x32_setup_rt_frame (arch/x86/kernel/signal.c, 3.16):
    get_sigframe (128-byte red zone, round_down 16, -8), the siginfo (SA_SIGINFO; the compat
    layout for x32), the ucontext (ucontext_x32 for x32) with setup_sigcontext's copy of
    pt_regs, the return address sa_restorer (required: "x86-64 should always use
    SA_RESTORER"), then rdi = sig, rsi = &info, rdx = &uc, rip = handler, rsp = frame,
    cs = __USER_CS; x86_64 also sets rax = 0, x32 loads ds = es = ss = __USER_DS.
    Returns 0 or -EFAULT."""
    from simulator.kernel import linux316 as L
    from simulator.kernel import ptrace as P

    layout, uc_layout, word, wide_info = _frame64(x32)
    size = layout.sizeof
    handler_address, flags, restorer, _ = action
    regs = {name: P.read_slot(k, task, name) for name in (*_SC_REGS, "cs", "orig_ax")}
    sp = regs["sp"] - 128  # the red zone
    frame = ((sp - size) & ~0xF) - 8
    if not uaccess.access_ok(k, frame, size):
        return -k.errno("EFAULT")
    blob = bytearray(size)

    def put(offset: int, value: int, size: int = 8) -> None:
        blob[offset : offset + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")

    info = layout.offset_of_path("info")
    if flags & SA_SIGINFO:
        # copy_siginfo_to_user(32): signo, errno, code, then the member the code selects.
        for offset, value, size_ in siginfo_bytes(task, sig, wide=wide_info):
            put(info + offset, value, size_)
    uc = layout.offset_of_path("uc")
    put(uc + uc_layout.offset_of_path("uc_flags"), 0, word)  # cpu_has_xsave is false here
    put(uc + uc_layout.offset_of_path("uc_link"), 0, word)
    stack = uc + uc_layout.offset_of_path("uc_stack")
    put(stack + (8 if word == 8 else 4), SS_DISABLE, 4)  # ss_flags: no sigaltstack
    if not flags & SA_RESTORER:
        return -k.errno("EFAULT")
    put(layout.offset_of_path("pretcode"), restorer)
    sc = uc + uc_layout.offset_of_path("uc_mcontext")
    for name in _SC_REGS:
        put(sc + SIGCONTEXT_64[name], regs[name])
    put(sc + SIGCONTEXT_64["cs"], regs["cs"], 2)
    put(sc + SIGCONTEXT_64["gs"], 0, 2)
    put(sc + SIGCONTEXT_64["fs"], 0, 2)
    trap_nr, error_code, cr2 = task.trap
    put(sc + SIGCONTEXT_64["err"], error_code)
    put(sc + SIGCONTEXT_64["trapno"], trap_nr)
    put(sc + SIGCONTEXT_64["oldmask"], task.blocked)
    put(sc + SIGCONTEXT_64["cr2"], cr2)
    put(sc + SIGCONTEXT_64["fpstate"], 0)  # no FPU state used: used_math() is false
    put(uc + uc_layout.offset_of_path("uc_sigmask"), task.blocked)
    routine = "x32_setup_rt_frame" if x32 else "__setup_rt_frame"
    if uaccess.copy_to_user(k, frame, bytes(blob), routine):
        return -k.errno("EFAULT")
    P.write_slot(k, task, "di", sig)
    if not x32:
        P.write_slot(k, task, "ax", 0)
    P.write_slot(k, task, "si", frame + info)
    P.write_slot(k, task, "dx", frame + uc)
    P.write_slot(k, task, "ip", handler_address)
    P.write_slot(k, task, "sp", frame)
    P.write_slot(k, task, "cs", L.USER_CS_64)
    if x32:
        for segment in ("ds", "es"):
            if k.cpu.load_segment(segment, L.USER_DS_64) is not None:
                return -k.errno("EFAULT")
        P.write_slot(k, task, "ss", L.USER_DS_64)
    flags_now = P.read_slot(k, task, "flags") & ~(0x400 | 0x10000 | 0x100)
    P.write_slot(k, task, "flags", flags_now)  # DF, RF, TF cleared for the handler
    k.note(
        f"{routine} (arch/x86/kernel/signal.c)",
        f"{layout.name} at {frame:#x} (pretcode = sa_restorer {restorer:#x}, uc at +{uc}, "
        f"info at +{info}); rdi = {sig}, rsi = &info, rdx = &uc, rip = handler "
        f"{handler_address:#x}",
    )
    return 0


@handler("sys_rt_sigreturn", "arch/x86/kernel/signal.c")
def sys_rt_sigreturn(k: Kernel, *_: int) -> int:
    """sys_rt_sigreturn (x86_64): the frame at regs->sp - 8; uc_sigmask becomes the mask;
    restore_sigcontext puts every register back (cs with RPL 3, flags only in FIX_EFLAGS,
    orig_ax = -1 so no restart check follows); returns the saved ax. A frame that cannot be
    read is signal_fault: SIGSEGV."""

    task = k.current
    assert task is not None
    if k.kind == "i386":
        return sigreturn_32(k, rt=True)  # the i386 kernel's sys_rt_sigreturn
    return _rt_sigreturn_64(k, task, x32=False)


@handler("sys32_x32_rt_sigreturn", "arch/x86/kernel/signal.c")
def sys32_x32_rt_sigreturn(k: Kernel, *_: int) -> int:
    """x32's rt_sigreturn (513 | __X32_SYSCALL_BIT, stub_x32_rt_sigreturn): the
    rt_sigframe_x32 at sp - 8, then restore_sigcontext as for x86_64."""
    task = k.current
    assert task is not None
    return _rt_sigreturn_64(k, task, x32=True)


def _rt_sigreturn_64(k: Kernel, task: Task, *, x32: bool) -> int:
    from simulator.kernel import ptrace as P

    layout, uc_layout, _, _ = _frame64(x32)
    size = layout.sizeof
    frame = P.read_slot(k, task, "sp") - 8
    raw = None
    if uaccess.access_ok(k, frame, size):
        data, missing = uaccess.copy_from_user(k, frame, size, "rt_sigreturn")
        raw = None if missing else data
    if raw is None:
        k.note("signal_fault (arch/x86/kernel/signal.c)", f"bad frame at {frame:#x}: SIGSEGV")
        from simulator.kernel import traps

        traps.kill(k, traps.SIGSEGV, reason=f"rt_sigreturn: bad frame at {frame:#x}")
        return 0

    def get(offset: int, size: int = 8) -> int:
        return int.from_bytes(raw[offset : offset + size], "little")

    uc = layout.offset_of_path("uc")
    task.blocked = get(uc + uc_layout.offset_of_path("uc_sigmask")) & ~_UNBLOCKABLE
    recalc_sigpending(task)
    sc = uc + uc_layout.offset_of_path("uc_mcontext")
    for name in _SC_REGS:
        if name in ("ax", "flags"):
            continue
        P.write_slot(k, task, name, get(sc + SIGCONTEXT_64[name]))
    P.write_slot(k, task, "cs", get(sc + SIGCONTEXT_64["cs"], 2) | 3)
    old_flags = P.read_slot(k, task, "flags")
    new_flags = (old_flags & ~FIX_EFLAGS) | (get(sc + SIGCONTEXT_64["flags"]) & FIX_EFLAGS)
    P.write_slot(k, task, "flags", new_flags)
    P.write_slot(k, task, "orig_ax", _M64)
    ax = get(sc + SIGCONTEXT_64["ax"])
    k.note(
        f"{'sys32_x32_rt_sigreturn' if x32 else 'sys_rt_sigreturn'} (arch/x86/kernel/signal.c)",
        f"frame at {frame:#x}: blocked = {task.blocked:#x}; restore_sigcontext: every register "
        f"back (rip {get(sc + SIGCONTEXT_64['ip']):#x}, rcx {get(sc + SIGCONTEXT_64['cx']):#x},"
        f" r11 {get(sc + SIGCONTEXT_64['r11']):#x}); orig_ax = -1; return ax = {ax:#x}",
    )
    return ax


def _signed64(value: int) -> int:
    value &= _M64
    return value - (1 << 64) if value >> 63 else value


# ------------------------------------------------------------------ 32-bit frames

_SC32 = {f.name: f.offset for f in _ABI.SIGCONTEXT_IA32.fields}
_SC32_REGS = (("edi", "di"), ("esi", "si"), ("ebp", "bp"), ("esp", "sp"), ("ebx", "bx"),
              ("edx", "dx"), ("ecx", "cx"), ("eax", "ax"), ("eip", "ip"))  # fmt: skip


def _layouts(k: Kernel) -> tuple:
    if k.kind == "x86_64":
        return _ABI.RT_SIGFRAME_IA32, _ABI.SIGFRAME_IA32, _ABI.UCONTEXT_IA32
    return _ABI.RT_SIGFRAME_I386, _ABI.SIGFRAME_I386, _ABI.UCONTEXT_I386


def _user_segments(k: Kernel, task: Task) -> dict[str, int]:
    """get_user_seg on x86_64 (the selectors still loaded: the entry does not change them), or
    the pt_regs slots SAVE_ALL filled on an i386 kernel."""
    from simulator.kernel import ptrace as P

    if k.kind == "i386":
        return {s: P.read_slot(k, task, s) & 0xFFFF for s in ("gs", "fs", "es", "ds")}
    cpu = k.cpu
    return {"es": cpu.sel[0], "ds": cpu.sel[3], "fs": cpu.sel[4], "gs": cpu.sel[5]}


def setup_frame_32(
    k: Kernel, task: Task, sig: int, action: tuple[int, int, int, int], *, rt: bool
) -> int:
    """ia32_setup_rt_frame / ia32_setup_frame (arch/x86/ia32/ia32_signal.c) on x86_64, and
    __setup_rt_frame / __setup_frame (arch/x86/kernel/signal.c) on i386, 3.16: get_sigframe
    ((sp - size + 4) & -16) - 4, so that ((sp + 4) & 15) == 0 at the handler's entry); the
    sigcontext, (rt) siginfo and ucontext; pretcode = sa_restorer with SA_RESTORER, else the
    vDSO's __kernel_rt_sigreturn / __kernel_sigreturn; the retcode bytes gdb looks for; then
    eax = sig (edx = &info, ecx = &uc for rt; 0 otherwise), esp = frame, eip = handler, user
    segments. Returns 0 or -EFAULT."""
    from simulator.kernel import linux316 as L
    from simulator.kernel import ptrace as P
    from simulator.kernel import vdso as V

    handler_address, flags, restorer, _ = action
    rt_layout, legacy_layout, uc_layout = _layouts(k)
    layout = rt_layout if rt else legacy_layout
    regs = {slot: P.read_slot(k, task, slot) & _M32 for _, slot in _SC32_REGS}
    regs.update(cs=P.read_slot(k, task, "cs"), flags=P.read_slot(k, task, "flags"))
    regs["ss"] = P.read_slot(k, task, "ss")
    frame = ((regs["sp"] - layout.sizeof + 4) & ~0xF) - 4
    frame &= _M32
    if not uaccess.access_ok(k, frame, layout.sizeof):
        return -k.errno("EFAULT")
    if flags & SA_RESTORER:
        pretcode = restorer
    elif task.vdso32:
        image = V.mapped_image32(k)
        name = "__kernel_rt_sigreturn" if rt else "__kernel_sigreturn"
        pretcode = task.vdso32 + image.symbol_offsets[name]
    else:
        pretcode = frame + layout.offset_of_path("retcode")
    blob = bytearray(layout.sizeof)

    def put(offset: int, value: int, size: int = 4) -> None:
        blob[offset : offset + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")

    put(layout.offset_of_path("pretcode"), pretcode)
    put(layout.offset_of_path("sig"), sig)
    retcode = _ABI.RT_SIGRETURN_RETCODE if rt else _ABI.SIGRETURN_RETCODE
    at = layout.offset_of_path("retcode")
    blob[at : at + len(retcode)] = retcode
    if rt:
        info = layout.offset_of_path("info")
        uc = layout.offset_of_path("uc")
        put(layout.offset_of_path("pinfo"), frame + info)
        put(layout.offset_of_path("puc"), frame + uc)
        for offset, value, size in siginfo_bytes(task, sig, wide=False):
            put(info + offset, value, size)
        put(uc + uc_layout.offset_of_path("uc_flags"), 0)
        put(uc + uc_layout.offset_of_path("uc_link"), 0)
        stack = uc + uc_layout.offset_of_path("uc_stack")
        put(stack + 4, SS_DISABLE)
        put(uc + uc_layout.offset_of_path("uc_sigmask"), task.blocked, 8)
        sc = uc + uc_layout.offset_of_path("uc_mcontext")
    else:
        task.siginfo.pop(sig, None)
        sc = layout.offset_of_path("sc")
        put(layout.offset_of_path("extramask"), task.blocked >> 32)
    for name, value in _user_segments(k, task).items():
        put(sc + _SC32[name], value)
    for field, slot in _SC32_REGS:
        put(sc + _SC32[field], regs[slot])
    put(sc + _SC32["cs"], regs["cs"])
    put(sc + _SC32["eflags"], regs["flags"])
    put(sc + _SC32["esp_at_signal"], regs["sp"])
    put(sc + _SC32["ss"], regs["ss"])
    put(sc + _SC32["oldmask"], task.blocked & _M32)
    put(sc + _SC32["trapno"], task.trap[0])
    put(sc + _SC32["err"], task.trap[1])
    put(sc + _SC32["cr2"], task.trap[2])
    if uaccess.copy_to_user(k, frame, bytes(blob), "setup_frame"):
        return -k.errno("EFAULT")
    P.write_slot(k, task, "sp", frame)
    P.write_slot(k, task, "ip", handler_address)
    P.write_slot(k, task, "ax", sig)
    P.write_slot(k, task, "dx", frame + layout.offset_of_path("info") if rt else 0)
    P.write_slot(k, task, "cx", frame + layout.offset_of_path("uc") if rt else 0)
    if k.kind == "x86_64":
        for segment in ("ds", "es"):
            fault = k.cpu.load_segment(segment, L.USER32_DS)
            if fault is not None:
                return -k.errno("EFAULT")
        P.write_slot(k, task, "cs", L.USER32_CS)
        P.write_slot(k, task, "ss", L.USER32_DS)
    else:
        for slot in ("ds", "es", "ss"):
            P.write_slot(k, task, slot, L.USER_DS_32)
        P.write_slot(k, task, "cs", L.USER_CS_32)
    P.write_slot(k, task, "flags", regs["flags"] & ~(0x400 | 0x10000 | 0x100))
    source = "arch/x86/ia32/ia32_signal.c" if k.kind == "x86_64" else "arch/x86/kernel/signal.c"
    k.note(
        f"{'ia32_setup_rt_frame' if rt else 'ia32_setup_frame'} ({source})",
        f"{layout.name} at {frame:#x} ({layout.sizeof} bytes), pretcode {pretcode:#x}; "
        f"eax = {sig}"
        + (", edx = &info, ecx = &uc" if rt else ", edx = ecx = 0")
        + f"; eip = handler {handler_address:#x}",
    )
    return 0


def sigreturn_32(k: Kernel, *, rt: bool) -> int:
    """sys32_rt_sigreturn / sys32_sigreturn (x86_64) and sys_rt_sigreturn / sys_sigreturn
    (i386), 3.16: the frame at esp - 4 (rt) or esp - 8 (the vDSO's popl %eax went first);
    the mask from uc_sigmask, or oldmask and extramask; ia32_restore_sigcontext reloads the
    segments, every register, cs and ss with RPL 3, flags within FIX_EFLAGS (RF too on an
    i386 kernel), orig_ax = -1; returns the saved eax. A bad frame is SIGSEGV."""
    from simulator.kernel import ptrace as P
    from simulator.kernel import traps

    task = k.current
    assert task is not None
    rt_layout, legacy_layout, uc_layout = _layouts(k)
    layout = rt_layout if rt else legacy_layout
    frame = (P.read_slot(k, task, "sp") - (4 if rt else 8)) & _M32
    raw = None
    if uaccess.access_ok(k, frame, layout.sizeof):
        data, missing = uaccess.copy_from_user(k, frame, layout.sizeof, "sigreturn")
        raw = None if missing else data
    name = ("sys32_" if k.kind == "x86_64" else "sys_") + ("rt_sigreturn" if rt else "sigreturn")
    source = "arch/x86/ia32/ia32_signal.c" if k.kind == "x86_64" else "arch/x86/kernel/signal.c"

    def bad(why: str) -> int:
        k.note(f"signal_fault ({source})", f"{name}: {why}: SIGSEGV")
        traps.kill(k, traps.SIGSEGV, reason=f"{name}: {why}")
        return 0

    if raw is None:
        return bad(f"bad frame at {frame:#x}")

    def get(offset: int, size: int = 4) -> int:
        return int.from_bytes(raw[offset : offset + size], "little")

    if rt:
        uc = layout.offset_of_path("uc")
        task.blocked = get(uc + uc_layout.offset_of_path("uc_sigmask"), 8) & ~_UNBLOCKABLE
        sc = uc + uc_layout.offset_of_path("uc_mcontext")
    else:
        sc = layout.offset_of_path("sc")
        mask = get(sc + _SC32["oldmask"]) | get(layout.offset_of_path("extramask")) << 32
        task.blocked = mask & ~_UNBLOCKABLE
    recalc_sigpending(task)
    index = {"es": 0, "ds": 3, "fs": 4, "gs": 5}
    for segment in ("gs", "fs", "ds", "es"):
        value = get(sc + _SC32[segment]) & 0xFFFF
        if k.kind == "i386":
            P.write_slot(k, task, segment, value)
            continue
        # RELOAD_SEG (ia32_signal.c): pre |= 3; only a selector that changed is loaded.
        value |= 3
        if value == k.cpu.sel[index[segment]]:
            continue
        if segment == "gs":
            _load_gs_index(k, value, source)
            continue
        if k.cpu.load_segment(segment, value) is not None:
            # loadsegment's exception-table fixup loads the null selector instead.
            k.note(f"loadsegment ({source})", f"{segment} = {value:#x} faults: null loaded")
            k.cpu.load_segment(segment, 0)
    for field, slot in _SC32_REGS:
        if slot != "ax":
            P.write_slot(k, task, slot, get(sc + _SC32[field]))
    P.write_slot(k, task, "cs", get(sc + _SC32["cs"]) & 0xFFFF | 3)
    P.write_slot(k, task, "ss", get(sc + _SC32["ss"]) & 0xFFFF | 3)
    old = P.read_slot(k, task, "flags")
    new_flags = (old & ~FIX_EFLAGS) | (get(sc + _SC32["eflags"]) & FIX_EFLAGS)
    P.write_slot(k, task, "flags", new_flags)
    P.write_slot(k, task, "orig_ax", -1)
    ax = get(sc + _SC32["eax"])
    k.note(
        f"{name} ({source})",
        f"frame at {frame:#x}: blocked = {task.blocked:#x}; every register back (eip "
        f"{get(sc + _SC32['eip']):#x}, esp {get(sc + _SC32['esp']):#x}); orig_ax = -1; "
        f"return eax = {ax:#x}",
    )
    return ax


def _load_gs_index(k: Kernel, value: int, source: str) -> None:
    """load_gs_index (native_load_gs_index: swapgs; movl %edi,%gs; swapgs): the user's GS
    selector changes and its base goes to IA32_KERNEL_GS_BASE, while the kernel's GS base
    stays; a selector that faults loads the null one (the exception-table fixup). A null
    selector leaves the user's base as it was (the Intel behaviour; AMD clears it)."""
    import attrs as _attrs

    cpu = k.cpu
    kernel_base = cpu.cache[5].base
    user_base = cpu.msr.values[0xC000_0102]
    if cpu.load_segment("gs", value) is not None:
        k.note(f"load_gs_index ({source})", f"gs = {value:#x} faults: null loaded")
        value = 0
        cpu.load_segment("gs", 0)
    if value & ~3:
        user_base = cpu.cache[5].base
    cpu.msr.values[0xC000_0102] = user_base
    cpu.cache[5] = _attrs.evolve(cpu.cache[5], base=kernel_base)


@handler("sys32_rt_sigreturn", "arch/x86/ia32/ia32_signal.c")
def sys32_rt_sigreturn(k: Kernel, *_: int) -> int:
    return sigreturn_32(k, rt=True)


@handler("sys32_sigreturn", "arch/x86/ia32/ia32_signal.c")
def sys32_sigreturn(k: Kernel, *_: int) -> int:
    return sigreturn_32(k, rt=False)


@handler("sys_sigreturn", "arch/x86/kernel/signal.c")
def sys_sigreturn(k: Kernel, *_: int) -> int:
    return sigreturn_32(k, rt=False)
