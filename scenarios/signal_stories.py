"""The other way back to user mode: a signal handler's frame and its return through
rt_sigreturn (arch/x86/kernel/signal.c, arch/x86/ia32/ia32_signal.c, Linux 3.16)."""

from __future__ import annotations

from simulator import Machine, Process
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


def x86_64_handler() -> list[str]:
    """kill(getpid(), SIGUSR1) with a handler: the rt_sigframe, the handler, rt_sigreturn."""
    m = Machine.boot("x86_64", "intel", seed=1)
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
    out += _frame_lines(r)
    cpu = [e for e in r.trace or () if e.kind == "cpu"]
    out.append("   the instructions, ring by ring:")
    out += [f"     ring {e.ring} {e.address:#x} {e.what}" for e in cpu if e.address is not None]
    out.append(
        f"r12 after the handler clobbered it: {p.registers()['r12']:#x} "
        "(restore_sigcontext put it back)"
    )
    return out


def i386_handler() -> list[str]:
    """The same from a 32-bit process on a 64-bit kernel: ia32_setup_rt_frame, and the return
    through the vDSO's __kernel_rt_sigreturn (int $0x80) to sys32_rt_sigreturn."""
    m = Machine.boot("x86_64", "intel", seed=1)
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
    out += _frame_lines(r)
    vdso = [e for e in r.trace or () if e.kind == "cpu" and e.what in ("mov eax, 0xad", "int 0x80")]
    out += [f"   ring 3 {e.address:#x} {e.what} (__kernel_rt_sigreturn)" for e in vdso]
    return out


def run() -> list[str]:
    return [*x86_64_handler(), "", *i386_handler()]
