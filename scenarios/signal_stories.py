"""The other way back to user mode: a signal handler's frame and its return through
rt_sigreturn (arch/x86/kernel/signal.c, arch/x86/ia32/ia32_signal.c, Linux 3.16)."""

from __future__ import annotations

from scenarios.story import DEFAULT, Options, Part, shown
from simulator import Process
from simulator.cpu.assembler import assemble

SIGUSR1 = 10
SA_SIGINFO, SA_RESTORER = 0x4, 0x0400_0000


def _handler_64(p: Process) -> tuple[int, int]:
    code = p.alloc(4096, executable=True)
    p.write_mem(code, assemble("mov r12, rdi\nret", mode=64, address=code))  # a clobber
    restorer = code + 0x100  # glibc's __restore_rt
    p.write_mem(restorer, assemble("mov eax, 15\nsyscall", mode=64, address=restorer))
    return code, restorer


def _frame_lines(r, kinds=("kernel",)) -> list[str]:
    keep = ("signal", "sigreturn", "setup", "__send_signal", "handle_signal", "stub_")
    return [
        f"   {e.where}: {e.what}"
        for e in r.trace or ()
        if e.kind in kinds and any(word in e.where for word in keep)
    ]


def x86_64_handler(opts: Options = DEFAULT) -> list[Part]:
    """kill(getpid(), SIGUSR1) with a handler: the rt_sigframe, the handler, rt_sigreturn."""
    m = opts.boot("x86_64", "intel", seed=1)
    p = m.spawn("x86_64")
    handler, restorer = _handler_64(p)
    act = p.alloc(32)
    flags = SA_SIGINFO | SA_RESTORER
    p.write_mem(
        act,
        b"".join(v.to_bytes(8, "little") for v in (handler, flags, restorer, 0)),
    )
    out = ["== A signal handler on x86_64: the frame, the handler, rt_sigreturn =="]
    r = p.syscall("rt_sigaction", SIGUSR1, act, 0, 8, trace=False)
    out.append(
        f"rt_sigaction(SIGUSR1, {{handler {handler:#x}, SA_SIGINFO|SA_RESTORER, restorer "
        f"{restorer:#x}}}) = {r.ret}"
    )
    p.set_registers({"r12": 0x1212})
    r = p.syscall("kill", p.pid, SIGUSR1)
    out.append(f"kill(getpid(), SIGUSR1) = {r.ret}; changed: {sorted(r.changed)}")
    out += shown(
        "-- kill(getpid(), SIGUSR1) on x86_64, the handler, rt_sigreturn", r.trace, in_text=False
    )
    out += _frame_lines(r)
    cpu = [e for e in r.trace or () if e.kind == "cpu"]
    out.append("   the instructions, ring by ring:")
    out += [f"     ring {e.ring} {e.address:#x} {e.what}" for e in cpu if e.address is not None]
    out.append(
        f"r12 after the handler clobbered it: {p.registers()['r12']:#x} "
        "(restore_sigcontext put it back)"
    )
    return out


def i386_handler(opts: Options = DEFAULT) -> list[Part]:
    """The same from a 32-bit process on a 64-bit kernel: ia32_setup_rt_frame, and the return
    through the vDSO's __kernel_rt_sigreturn (int $0x80) to sys32_rt_sigreturn."""
    m = opts.boot("x86_64", "intel", seed=1)
    p = m.spawn("i386")
    code = p.alloc(4096, executable=True)
    p.write_mem(code, assemble("mov esi, eax\nret", mode=32, address=code))
    act = p.alloc(32)
    p.write_mem(act, code.to_bytes(4, "little") + SA_SIGINFO.to_bytes(4, "little") + bytes(12))
    out = ["== The same from a 32-bit process: the vDSO's __kernel_rt_sigreturn =="]
    r = p.syscall("rt_sigaction", SIGUSR1, act, 0, 8, via="int80", trace=False)
    out.append(f"rt_sigaction(SIGUSR1, {{handler {code:#x}, SA_SIGINFO, no restorer}}) = {r.ret}")
    r = p.syscall("kill", p.pid, SIGUSR1)
    out.append(f"kill(getpid(), SIGUSR1) through __kernel_vsyscall = {r.ret}")
    out += shown(
        "-- kill(getpid(), SIGUSR1) from a 32-bit process, __kernel_rt_sigreturn",
        r.trace,
        in_text=False,
    )
    out += _frame_lines(r)
    vdso = [e for e in r.trace or () if e.kind == "cpu" and e.what in ("mov eax, 0xad", "int 0x80")]
    out += [f"   ring 3 {e.address:#x} {e.what} (__kernel_rt_sigreturn)" for e in vdso]
    return out


def restart_through_the_vdso(opts: Options = DEFAULT) -> list[Part]:
    """A 32-bit read through __kernel_vsyscall (SYSENTER) sleeps on an empty pipe; a signal
    with an SA_RESTART handler interrupts it; the call restarts on the vDSO's int $0x80."""
    m = opts.boot("x86_64", "intel", seed=1)
    reader, writer = m.spawn("i386"), m.spawn("i386")
    fds = reader.alloc(16)
    reader.syscall("pipe", fds, via="int80", trace=False)
    rfd, wfd = (int.from_bytes(reader.read_mem(fds + i, 4), "little") for i in (0, 4))
    writer.task.fds[5] = reader.task.fds[wfd]  # the write end, shared as a fork would
    code = reader.alloc(4096, executable=True)
    reader.write_mem(code, assemble("ret", mode=32, address=code))
    act = reader.alloc(32)
    reader.write_mem(act, code.to_bytes(4, "little") + (0x1000_0000).to_bytes(4, "little"))
    reader.syscall("rt_sigaction", SIGUSR1, act, 0, 8, via="int80", trace=False)
    out = ["== A read interrupted by a signal, restarted through the vDSO's int $0x80 =="]
    buf = reader.alloc(64)
    r = reader.syscall("read", rfd, buf, 16)
    out.append(f"pid {reader.pid}: read(pipe) through __kernel_vsyscall: {r.outcome}")
    out += shown("-- read(pipe) through __kernel_vsyscall, until it sleeps", r.trace, in_text=False)
    out += [f"   {e.where}: {e.what}" for e in r.trace or () if e.kind == "kernel"][-2:]
    w = writer.syscall("kill", reader.pid, SIGUSR1, via="int80", trace=False)
    out.append(f"pid {writer.pid}: kill({reader.pid}, SIGUSR1) = {w.ret}; the reader is woken")
    out.append(f"Machine.schedule(): {m.schedule()} (handled, restarted, asleep again)")
    msg = writer.alloc(16)
    writer.write_mem(msg, b"hi!")
    w = writer.syscall("write", 5, msg, 3, via="int80", trace=False)
    out.append(f'pid {writer.pid}: write(pipe, "hi!", 3) = {w.ret}')
    out.append(f"Machine.schedule(): {m.schedule()}")
    result = reader.last_result
    out += shown(
        "-- the read woken: SA_RESTART handler, restarted on int $0x80", result.trace, in_text=False
    )
    out.append(f"the reader's read = {result.ret}: {reader.read_mem(buf, 3)!r}")
    back = reader.task.sysenter_return
    out.append(
        f"SYSENTER_RETURN is {back:#x}; the restart ip -= 2 lands on {back - 2:#x}, the "
        "vDSO's int $0x80 (vdso32/sysenter.S keeps it there for this):"
    )
    keep = ("restart", "ERESTARTSYS", "ia32_setup_frame", "sigreturn", "woken")
    for e in result.trace or ():
        if e.kind == "kernel" and any(word in e.what or word in e.where for word in keep):
            out.append(f"   {e.where}: {e.what}")
        if e.kind == "cpu" and e.what in ("sysenter", "int 0x80"):
            out.append(f"   ring 3 {e.address:#x} {e.what}")
    return out


def run(opts: Options = DEFAULT) -> list[Part]:
    return [*x86_64_handler(opts), "", *i386_handler(opts), "", *restart_through_the_vdso(opts)]
