"""A blocking read on a pipe, a signal while it sleeps, and system call restart (fs/pipe.c,
arch/x86/kernel/signal.c handle_signal and do_signal, Linux 3.16), through every mechanism."""

import pytest

from simulator import Machine
from simulator.cpu.assembler import assemble

SIGUSR1 = 10
SA_RESTART, SA_RESTORER = 0x1000_0000, 0x0400_0000
CASES = [
    ("x86_64", "intel", "x86_64", "syscall", ["syscall", "syscall", "syscall"]),
    ("x86_64", "intel", "i386", "kernel_vsyscall", ["sysenter", "int 0x80", "int 0x80"]),
    ("x86_64", "amd", "i386", "kernel_vsyscall", ["syscall", "int 0x80", "syscall"]),
    ("x86_64", "intel", "i386", "int80", ["int 0x80", "int 0x80", "int 0x80"]),
    ("i386", "intel", "i386", "kernel_vsyscall", ["sysenter", "int 0x80", "int 0x80"]),
    ("i386", "intel", "i386", "int80", ["int 0x80", "int 0x80", "int 0x80"]),
    ("x86_64", "intel", "x32", "syscall", ["syscall", "syscall", "syscall"]),
]


def _setup(kernel, vendor, abi_name, flags):
    m = Machine.boot(kernel=kernel, cpu=vendor)
    reader, writer = m.spawn(abi_name), m.spawn(abi_name)
    wide = abi_name in ("x86_64", "x32")
    plain = "syscall" if wide else "int80"
    fds = reader.alloc(16)
    assert reader.syscall("pipe", fds, via=plain).ret == 0
    rfd, wfd = (int.from_bytes(reader.read_mem(fds + i, 4), "little") for i in (0, 4))
    writer.task.fds[5] = reader.task.fds[wfd]  # the write end, as a fork would share it
    code = reader.alloc(4096, executable=True)
    reader.write_mem(code, assemble("ret", mode=64 if wide else 32, address=code))
    if wide:
        restorer = code + 0x100
        number = 15 if abi_name == "x86_64" else 0x4000_0201  # rt_sigreturn; x32's 513
        reader.write_mem(
            restorer, assemble(f"mov eax, {number}\nsyscall", mode=64, address=restorer)
        )
        size = 8 if abi_name == "x86_64" else 4
        act = b"".join(v.to_bytes(size, "little") for v in (code, flags | SA_RESTORER, restorer))
        act += bytes(8)
    else:
        act = code.to_bytes(4, "little") + flags.to_bytes(4, "little") + bytes(12)
    where = reader.alloc(32)
    reader.write_mem(where, act)
    assert reader.syscall("rt_sigaction", SIGUSR1, where, 0, 8, via=plain).ret == 0
    return m, reader, writer, rfd, plain


@pytest.mark.parametrize(("kernel", "vendor", "abi_name", "via", "entries"), CASES)
def test_sa_restart_restarts_the_read(kernel, vendor, abi_name, via, entries):
    """The read sleeps on the empty pipe; SIGUSR1 wakes it; pipe_read returns -ERESTARTSYS;
    with SA_RESTART handle_signal sets ax = orig_ax and ip -= 2, the handler runs, and after
    sigreturn the call is made again by the instruction two bytes back: for SYSENTER the
    vDSO's int $0x80 before SYSENTER_RETURN. The writer's data then completes it."""
    m, reader, writer, rfd, plain = _setup(kernel, vendor, abi_name, SA_RESTART)
    buf = reader.alloc(64)
    assert reader.syscall("read", rfd, buf, 16, via=via).outcome == "blocked"
    assert reader.blocked
    assert writer.syscall("kill", reader.pid, SIGUSR1, via=plain).ret == 0
    assert not reader.blocked  # signal_wake_up
    assert m.schedule() == [(reader.pid, "blocked")]  # handled, restarted, asleep again
    msg = writer.alloc(16)
    writer.write_mem(msg, b"hi!")
    assert writer.syscall("write", 5, msg, 3, via=plain).ret == 3
    assert m.schedule() == [(reader.pid, "returned")]
    result = reader.last_result
    assert result.ret == 3 and reader.read_mem(buf, 3) == b"hi!"
    seen = [e.what for e in result.trace if e.kind == "cpu"]
    assert [w for w in seen if w in ("syscall", "sysenter", "int 0x80")][:1] == entries[:1]
    assert [w for w in seen if w in ("syscall", "sysenter", "int 0x80")][-1] == entries[-1]


@pytest.mark.parametrize(("kernel", "vendor", "abi_name", "via", "entries"), CASES)
def test_without_sa_restart_the_read_gives_eintr(kernel, vendor, abi_name, via, entries):
    """Without SA_RESTART, -ERESTARTSYS becomes -EINTR (handle_signal)."""
    m, reader, writer, rfd, plain = _setup(kernel, vendor, abi_name, 0)
    buf = reader.alloc(64)
    assert reader.syscall("read", rfd, buf, 16, via=via).outcome == "blocked"
    writer.syscall("kill", reader.pid, SIGUSR1, via=plain)
    assert m.schedule() == [(reader.pid, "returned")]
    assert reader.last_result.errno == "EINTR"


def test_eof_when_no_writer_and_epipe_when_no_reader():
    """pipe_read with no writers left is end of file (0); pipe_write with no readers is
    -EPIPE and SIGPIPE, whose default action terminates."""
    m = Machine.boot()
    p = m.spawn("x86_64")
    fds = p.alloc(16)
    p.syscall("pipe", fds)
    rfd, wfd = (int.from_bytes(p.read_mem(fds + i, 4), "little") for i in (0, 4))
    buf = p.alloc(16)
    assert p.syscall("close", wfd).ret == 0
    assert p.syscall("read", rfd, buf, 8).ret == 0
    q = m.spawn("x86_64")
    fds = q.alloc(16)
    q.syscall("pipe", fds)
    rfd, wfd = (int.from_bytes(q.read_mem(fds + i, 4), "little") for i in (0, 4))
    q.syscall("close", rfd)
    r = q.syscall("write", wfd, buf, 1)
    assert r.signal == 13  # SIGPIPE's default action, on the way out of the failed write


def test_a_blocked_process_refuses_new_calls():
    """A process asleep in a call cannot start another: ValueError, naming what to do."""
    m = Machine.boot()
    p = m.spawn("x86_64")
    fds = p.alloc(16)
    p.syscall("pipe", fds)
    rfd = int.from_bytes(p.read_mem(fds, 4), "little")
    p.syscall("read", rfd, fds, 4)
    with pytest.raises(ValueError, match="asleep"):
        p.syscall("getpid")


@pytest.mark.parametrize(
    ("error", "handler", "expect"),
    [
        (-514, True, "EINTR"),  # -ERESTARTNOHAND with a handler: -EINTR
        (-516, True, "EINTR"),  # -ERESTART_RESTARTBLOCK with a handler: -EINTR
        (-513, True, "restart"),  # -ERESTARTNOINTR: always restarted
        (-514, False, "restart"),  # no handler ran (the tracer discarded the signal)
        (-516, False, "restart_syscall"),  # no handler: restart as __NR_restart_syscall
    ],
)
def test_restart_codes(error, handler, expect):
    """handle_signal's switch and do_signal's no-handler fix-up (arch/x86/kernel/signal.c
    3.16), driven by a tracer that writes the restart code into rax at the exit stop of a
    getpid and then injects SIGUSR1 (or discards it): -EINTR, or ax = orig_ax and ip -= 2 so
    that the SYSCALL instruction runs again (a second entry stop)."""
    m = Machine.boot()
    tracer, child = m.spawn("x86_64"), m.spawn("x86_64")
    if handler:
        code = child.alloc(4096, executable=True)
        child.write_mem(code, assemble("ret", mode=64, address=code))
        restorer = code + 0x100
        child.write_mem(restorer, assemble("mov eax, 15\nsyscall", mode=64, address=restorer))
        act = child.alloc(32)
        child.write_mem(
            act,
            b"".join(v.to_bytes(8, "little") for v in (code, SA_RESTORER, restorer, 0)),
        )
        assert child.syscall("rt_sigaction", SIGUSR1, act, 0, 8).ret == 0
    m.ptrace("PTRACE_ATTACH", child, tracer=tracer)
    m.waitpid(child)
    m.ptrace("PTRACE_SYSCALL", child)
    assert child.syscall("getpid").outcome == "stopped"
    m.waitpid(child)  # entry stop
    m.ptrace("PTRACE_SYSCALL", child)
    m.waitpid(child)  # exit stop
    m.ptrace("PTRACE_POKEUSER", child, 80, error & ((1 << 64) - 1))
    m.ptrace("PTRACE_SYSCALL", child, 0, SIGUSR1)  # send_sig(SIGUSR1) from the exit stop
    w = m.waitpid(child)
    assert w.stopped and w.stopsig == SIGUSR1  # the signal-delivery stop
    if handler:
        m.ptrace("PTRACE_CONT", child, 0, SIGUSR1)  # deliver it, stop tracing calls
        assert m.waitpid(child).pid == 0  # handler, sigreturn, and the call's end
        if expect == "EINTR":
            assert child.last_result.errno == "EINTR"
        else:
            assert child.last_result.ret == child.pid  # getpid ran again and returned
    else:
        m.ptrace("PTRACE_SYSCALL", child, 0, 0)  # discard it: do_signal's own fix-up
        w = m.waitpid(child)
        assert w.stopped and w.stopsig == 5  # the SYSCALL ran again: an entry stop
        # syscall_64.tbl (3.16): 219 common restart_syscall sys_restart_syscall.
        restarted = 219 if expect == "restart_syscall" else 39
        assert m.ptrace("PTRACE_GETREGS", child).value["orig_rax"] == restarted
