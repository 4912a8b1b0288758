"""rt_sigaction, rt_sigprocmask, kill, tgkill, getppid (kernel/signal.c, kernel/sys.c, 3.16)
and the default actions on the way out of the kernel."""

import pytest

from simulator import Machine

SIGTERM, SIGKILL, SIGSTOP, SIGUSR1, SIGCHLD = 15, 9, 19, 10, 17
SA_RESTART = 0x1000_0000


@pytest.fixture
def m():
    return Machine.boot()


def _sigaction(p, handler, flags=0, restorer=0, mask=0, *, word=8):
    address = p.alloc(64)
    blob = b"".join(v.to_bytes(word, "little") for v in (handler, flags, restorer))
    p.write_mem(address, blob + mask.to_bytes(8, "little"))
    return address


class TestSigaction:
    def test_set_and_read_back(self, m):
        """rt_sigaction stores handler, flags, restorer and mask, and gives the old action
        back in the same struct sigaction layout (8-byte fields on x86_64)."""
        p = m.spawn("x86_64")
        act = _sigaction(p, 0x401000, SA_RESTART, 0x402000, 1 << (SIGUSR1 - 1))
        assert p.syscall("rt_sigaction", SIGTERM, act, 0, 8).ret == 0
        old = p.alloc(64)
        assert p.syscall("rt_sigaction", SIGTERM, 0, old, 8).ret == 0
        raw = p.read_mem(old, 32)
        fields = [int.from_bytes(raw[i : i + 8], "little") for i in range(0, 32, 8)]
        assert fields == [0x401000, SA_RESTART, 0x402000, 1 << (SIGUSR1 - 1)]

    def test_compat_layout(self, m):
        """compat_sys_rt_sigaction reads struct compat_sigaction: 4-byte handler, flags,
        restorer, then the 8-byte compat_sigset_t (kernel/signal.c 3.16)."""
        p = m.spawn("i386")
        act = _sigaction(p, 0x8049000, SA_RESTART, 0x804A000, 0, word=4)
        assert p.syscall("rt_sigaction", SIGTERM, act, 0, 8, via="int80").ret == 0
        assert p.task.sigactions[SIGTERM] == (0x8049000, SA_RESTART, 0x804A000, 0)

    @pytest.mark.parametrize("sig", [SIGKILL, SIGSTOP, 0, 65])
    def test_refused_signals(self, m, sig):
        """do_sigaction: -EINVAL for an invalid number or for setting SIGKILL/SIGSTOP."""
        p = m.spawn("x86_64")
        act = _sigaction(p, 0x401000)
        assert p.syscall("rt_sigaction", sig, act, 0, 8).errno == "EINVAL"

    def test_bad_sigsetsize(self, m):
        """sigsetsize must be sizeof(sigset_t), 8."""
        p = m.spawn("x86_64")
        assert p.syscall("rt_sigaction", SIGTERM, 0, 0, 4).errno == "EINVAL"

    def test_unreadable_act(self, m):
        """An unreadable struct sigaction is -EFAULT."""
        p = m.spawn("x86_64")
        assert p.syscall("rt_sigaction", SIGTERM, 0x5000_0000, 0, 8).errno == "EFAULT"

    def test_handler_delivery_is_not_modeled_yet(self, m):
        """A caught signal needs a signal frame (setup_rt_frame), not modeled yet: the run
        says so rather than pretend."""
        p = m.spawn("x86_64")
        p.syscall("rt_sigaction", SIGUSR1, _sigaction(p, 0x401000), 0, 8)
        r = p.syscall("kill", p.pid, SIGUSR1)
        assert r.outcome == "not modeled"


class TestMask:
    def test_block_keeps_pending_and_unblock_delivers(self, m):
        """A blocked signal stays pending (no TIF_SIGPENDING); unblocking it delivers it on
        the way out of rt_sigprocmask: SIGTERM's default action terminates."""
        p = m.spawn("x86_64")
        setp = p.alloc(16)
        p.write_mem(setp, (1 << (SIGTERM - 1)).to_bytes(8, "little"))
        assert p.syscall("rt_sigprocmask", 0, setp, 0, 8).ret == 0  # SIG_BLOCK
        assert p.syscall("kill", p.pid, SIGTERM).ret == 0
        assert SIGTERM in p.task.pending_signals and p.alive
        r = p.syscall("rt_sigprocmask", 1, setp, 0, 8)  # SIG_UNBLOCK
        assert r.signal == SIGTERM and not p.alive

    def test_sigkill_cannot_be_blocked(self, m):
        """set_current_blocked drops SIGKILL and SIGSTOP from the mask."""
        p = m.spawn("x86_64")
        setp, old = p.alloc(16), p.alloc(16)
        p.write_mem(setp, ((1 << 64) - 1).to_bytes(8, "little"))
        assert p.syscall("rt_sigprocmask", 2, setp, 0, 8).ret == 0
        assert p.syscall("rt_sigprocmask", 0, 0, old, 8).ret == 0
        mask = int.from_bytes(p.read_mem(old, 8), "little")
        assert mask == (1 << 64) - 1 & ~(1 << (SIGKILL - 1)) & ~(1 << (SIGSTOP - 1))

    def test_bad_how(self, m):
        """how outside SIG_BLOCK/SIG_UNBLOCK/SIG_SETMASK is -EINVAL."""
        p = m.spawn("x86_64")
        setp = p.alloc(16)
        assert p.syscall("rt_sigprocmask", 7, setp, 0, 8).errno == "EINVAL"


class TestKill:
    def test_kill_self_default_terminate(self, m):
        """kill(getpid(), SIGTERM): delivered on the way out (do_signal), default terminate;
        the wait status is the signal number."""
        p = m.spawn("x86_64")
        r = p.syscall("kill", p.pid, SIGTERM)
        assert r.signal == SIGTERM and p.task.exit_code == SIGTERM

    def test_kill_ignored_by_default(self, m):
        """SIGCHLD's default action is to be ignored: sig_ignored drops it."""
        p = m.spawn("x86_64")
        assert p.syscall("kill", p.pid, SIGCHLD).ret == 0 and p.alive
        assert not p.task.pending_signals

    def test_sig_ign(self, m):
        """SIG_IGN makes SIGTERM harmless."""
        p = m.spawn("x86_64")
        p.syscall("rt_sigaction", SIGTERM, _sigaction(p, 1), 0, 8)
        assert p.syscall("kill", p.pid, SIGTERM).ret == 0 and p.alive

    def test_kill_another_process(self, m):
        """The signal waits in the other process until its next return to user mode."""
        a, b = m.spawn("x86_64"), m.spawn("x86_64")
        assert a.syscall("kill", b.pid, SIGTERM).ret == 0
        assert b.alive and SIGTERM in b.task.pending_signals
        assert b.syscall("getpid").signal == SIGTERM

    def test_errors(self, m):
        """-ESRCH for no such process, -EINVAL for a bad signal; signal 0 only checks."""
        p = m.spawn("x86_64")
        assert p.syscall("kill", 999, SIGTERM).errno == "ESRCH"
        assert p.syscall("kill", p.pid, 65).errno == "EINVAL"
        assert p.syscall("kill", p.pid, 0).ret == 0

    def test_tgkill(self, m):
        """tgkill(tgid, tid, sig): tid must be a thread of tgid (-ESRCH), both > 0 (-EINVAL)."""
        p = m.spawn("x86_64")
        assert p.syscall("tgkill", p.pid, p.pid + 1, SIGTERM).errno == "ESRCH"
        assert p.syscall("tgkill", 0, p.pid, SIGTERM).errno == "EINVAL"
        assert p.syscall("tgkill", p.pid, p.pid, SIGTERM).signal == SIGTERM


class TestGetppid:
    def test_parent(self, m):
        """getppid: the real parent's pid, 0 without one."""
        parent = m.spawn("x86_64")
        child = m.spawn("x86_64", parent=parent)
        assert child.syscall("getppid").ret == parent.pid
        assert parent.syscall("getppid").ret == 0
