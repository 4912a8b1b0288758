"""Seccomp in the kernel (Linux 3.16): prctl(PR_SET_SECCOMP), strict mode, filters at entry.

The BPF checker and interpreter are tested in test_seccomp_bpf.py; these tests drive whole
processes through prctl and real system-call instructions, and look at what the process, its
parent's wait and its tracer see.
"""

import struct

import pytest

import abi
from simulator import Machine
from simulator.kernel import ptrace as P
from simulator.kernel import seccomp
from simulator.kernel.bpf import (
    BPF_A,
    BPF_ABS,
    BPF_ALU,
    BPF_AND,
    BPF_H,
    BPF_JEQ,
    BPF_JGE,
    BPF_JMP,
    BPF_K,
    BPF_LD,
    BPF_MAXINSNS,
    BPF_OR,
    BPF_RET,
    BPF_W,
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_ERRNO,
    SECCOMP_RET_KILL,
    SECCOMP_RET_TRACE,
    SECCOMP_RET_TRAP,
    assemble,
    converted_length,
    jump,
    parse_filter,
    stmt,
)

PR_GET_SECCOMP = 21
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
SECCOMP_MODE_STRICT = 1
SECCOMP_MODE_FILTER = 2

SIGKILL = 9
SIGSEGV = 11
SIGSYS = 31
SIGTRAP = 5
PTRACE_O_TRACESYSGOOD = 0x1
PTRACE_O_TRACESECCOMP = 0x80
PTRACE_EVENT_SECCOMP = 7
ORIG_RAX = 120  # offsetof(struct user_regs_struct, orig_ax) on x86_64: 15 * 8

X86_64 = abi.AUDIT_ARCH_X86_64
I386 = abi.AUDIT_ARCH_I386
X32_BIT = abi.X32_SYSCALL_BIT

EINVAL = abi.errno_number("EINVAL")
EFAULT = abi.errno_number("EFAULT")
EACCES = abi.errno_number("EACCES")
ENOMEM = abi.errno_number("ENOMEM")
ENOSYS = abi.errno_number("ENOSYS")
EPERM = abi.errno_number("EPERM")

# x86_64 numbers (arch/x86/syscalls/syscall_64.tbl) and i386 ones (syscall_32.tbl).
NR_READ, NR_WRITE, NR_GETPID, NR_UMASK, NR_EXIT, NR_EXIT_GROUP = 0, 1, 39, 95, 60, 231
NR_RT_SIGRETURN = 15
NR32_EXIT, NR32_READ, NR32_WRITE, NR32_GETPID, NR32_UMASK, NR32_SIGRETURN = 1, 3, 4, 20, 60, 119

RET_ALLOW = stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
LD_NR = stmt(BPF_LD | BPF_W | BPF_ABS, 0)  # offsetof(struct seccomp_data, nr)
LD_ARCH = stmt(BPF_LD | BPF_W | BPF_ABS, 4)  # offsetof(struct seccomp_data, arch)


def ret(action):
    return stmt(BPF_RET | BPF_K, action)


def libseccomp_filter(errno_nr=NR_GETPID, kill_nr=NR_UMASK):
    """The shape libseccomp emits for x86_64: check the arch, refuse x32 numbers, then one
    rule per call and a default."""
    return assemble(
        [
            LD_ARCH,
            jump(BPF_JMP | BPF_JEQ | BPF_K, X86_64, 1, 0),
            ret(SECCOMP_RET_KILL),
            LD_NR,
            jump(BPF_JMP | BPF_JGE | BPF_K, X32_BIT, 0, 1),
            ret(SECCOMP_RET_KILL),
            jump(BPF_JMP | BPF_JEQ | BPF_K, errno_nr, 0, 1),
            ret(SECCOMP_RET_ERRNO | EPERM),
            jump(BPF_JMP | BPF_JEQ | BPF_K, kill_nr, 0, 1),
            ret(SECCOMP_RET_KILL),
            RET_ALLOW,
        ]
    )


def nr_filter(nr, action):
    """``action`` for system call ``nr``, allow everything else."""
    return assemble([LD_NR, jump(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1), ret(action), RET_ALLOW])


def fprog(process, program, *, compat=False, length=None):
    """Put ``program`` and a struct sock_fprog pointing at it in the process's memory.

    include/uapi/linux/filter.h: {unsigned short len; struct sock_filter *filter;}, 16 bytes
    for a 64-bit caller; include/linux/filter.h compat_sock_fprog: {u16 len; compat_uptr_t
    filter;}, 8 bytes."""
    insns = process.alloc(max(len(program), 8))
    process.write_mem(insns, program)
    count = len(program) // 8 if length is None else length
    if compat:
        address = process.alloc(8)
        process.write_mem(address, struct.pack("<HHI", count, 0, insns))
    else:
        address = process.alloc(16)
        process.write_mem(address, struct.pack("<HHIQ", count, 0, 0, insns))
    return address


def attach(process, program, *, via=None, compat=False):
    kw = {} if via is None else {"via": via}
    return process.syscall(
        "prctl", PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fprog(process, program, compat=compat), **kw
    )


def attached(process, program, **kw):
    result = attach(process, program, **kw)
    assert result.ret == 0, result
    return result


@pytest.fixture
def m():
    return Machine.boot()


@pytest.fixture
def parent(m):
    return m.spawn("x86_64")


def assert_killed(m, process, result, signal):
    """The call ended the process with ``signal``: do_exit(signal), so the wait status is the
    signal number (WIFSIGNALED, no core)."""
    assert result.outcome == "signal", result
    assert result.signal == signal
    assert result.ret is None
    assert not process.alive
    assert process.task.killed_by == signal
    assert process.exit_status == signal
    with pytest.raises(ValueError):
        process.syscall("getpid")
    w = m.waitpid(process)
    assert w.pid == process.pid
    assert w.signaled and w.termsig == signal
    assert w.status == signal
    assert not w.stopped


# ---------------------------------------------------------------------------- strict mode


class TestStrictMode:
    """SECCOMP_MODE_STRICT (kernel/seccomp.c mode1_syscalls, include/linux/seccomp.h): read,
    write, exit and sigreturn, anything else do_exit(SIGKILL)."""

    def strict(self, m, parent, kind="x86_64", via=None):
        p = m.spawn(kind, parent=parent)
        kw = {} if via is None else {"via": via}
        r = p.syscall("prctl", PR_SET_SECCOMP, SECCOMP_MODE_STRICT, **kw)
        assert r.ret == 0, r
        assert p.task.seccomp_mode == SECCOMP_MODE_STRICT
        assert p.task.seccomp_filters == []
        return p

    def test_prctl_get_seccomp_is_zero_before(self, m):
        """prctl_get_seccomp returns current->seccomp.mode: 0 for a new task."""
        p = m.spawn("x86_64")
        assert p.syscall("prctl", PR_GET_SECCOMP).ret == 0

    def test_read_and_write_allowed(self, m, parent):
        """mode1_syscalls: __NR_seccomp_read and __NR_seccomp_write (x86_64: 0, 1)."""
        p = self.strict(m, parent)
        buf = p.alloc(16)
        p.write_mem(buf, b"strict")
        r = p.syscall("write", 1, buf, 6)
        assert r.ret == 6 and r.outcome == "returned"
        assert p.stdout == b"strict"
        r = p.syscall("read", 0, buf, 0)
        assert r.outcome == "returned" and r.signal is None
        assert p.alive

    def test_exit_allowed(self, m, parent):
        """__NR_seccomp_exit (60) is allowed: a normal exit, status 3 << 8."""
        p = self.strict(m, parent)
        r = p.syscall("exit", 3)
        assert r.signal is None
        assert not p.alive
        assert p.exit_status == 3 << 8
        w = m.waitpid(p)
        assert w.exited and w.exitstatus == 3 and not w.signaled

    def test_rt_sigreturn_passes_the_check(self, m, parent):
        """__NR_seccomp_sigreturn is rt_sigreturn (15) on x86_64: strict mode lets it through.
        With no signal frame on the stack, sys_rt_sigreturn then restores whatever lies there;
        what matters here is that seccomp did not kill it with SIGKILL."""
        p = self.strict(m, parent)
        r = p.syscall(NR_RT_SIGRETURN)
        assert r.signal != SIGKILL
        assert any("strict mode: 15 is allowed" in e.what for e in r.trace)
        assert "sys_rt_sigreturn (arch/x86/kernel/signal.c)" in r.trace.symbols()

    def test_getpid_killed_with_sigkill(self, m, parent):
        p = self.strict(m, parent)
        assert_killed(m, p, p.syscall("getpid"), SIGKILL)

    def test_exit_group_is_not_in_the_list(self, m, parent):
        """mode1_syscalls has exit, not exit_group: glibc's _exit is killed."""
        p = self.strict(m, parent)
        assert_killed(m, p, p.syscall("exit_group", 0), SIGKILL)

    def test_prctl_get_seccomp_is_killed_in_strict_mode(self, m, parent):
        """prctl is not in mode1_syscalls: even asking for the mode kills."""
        p = self.strict(m, parent)
        assert_killed(m, p, p.syscall("prctl", PR_GET_SECCOMP), SIGKILL)

    @pytest.mark.parametrize(
        ("nr", "args"),
        [
            (NR32_READ, (0, 0, 0)),
            (NR32_WRITE, (1, 0, 0)),
        ],
    )
    def test_i386_allowed_numbers(self, m, parent, nr, args):
        """mode1_syscalls_32 (kernel/seccomp.c): 3, 4, 1, 119, used when is_compat_task()."""
        p = self.strict(m, parent, "i386", via="int80")
        r = p.syscall(nr, *args, via="int80")
        assert r.outcome == "returned" and r.signal is None, r
        assert p.alive

    def test_i386_exit_allowed(self, m, parent):
        p = self.strict(m, parent, "i386", via="int80")
        r = p.syscall(NR32_EXIT, 5, via="int80")
        assert r.signal is None
        assert p.exit_status == 5 << 8

    def test_i386_sigreturn_passes_the_check(self, m, parent):
        """sigreturn (119) is in the 32-bit strict list; with no frame on the stack what it
        restores is garbage, but seccomp did not kill it with SIGKILL."""
        p = self.strict(m, parent, "i386", via="int80")
        r = p.syscall(NR32_SIGRETURN, via="int80")
        assert r.signal != SIGKILL
        assert any("strict mode: 119 is allowed" in e.what for e in r.trace)

    def test_i386_getpid_killed(self, m, parent):
        p = self.strict(m, parent, "i386", via="int80")
        assert_killed(m, p, p.syscall(NR32_GETPID, via="int80"), SIGKILL)

    def test_i386_64bit_read_number_means_restart_syscall(self, m, parent):
        """The compat list is by i386 number: 0 is restart_syscall there, not read."""
        p = self.strict(m, parent, "i386", via="int80")
        assert_killed(m, p, p.syscall(0, 0, 0, 0, via="int80"), SIGKILL)

    def test_x86_64_int80_uses_the_32bit_list(self, m, parent):
        """INT 0x80 from a 64-bit process sets TS_COMPAT: is_compat_task() is true, so the
        i386 numbers are checked (4 is write there)."""
        p = self.strict(m, parent)
        r = p.syscall(NR32_WRITE, 1, 0, 0, via="int80")
        assert r.outcome == "returned" and r.signal is None
        assert_killed(m, p, p.syscall(NR32_GETPID, via="int80"), SIGKILL)

    def test_x32_read_killed_by_the_32bit_list(self, m, parent):
        """The 3.16 quirk: is_compat_task() (asm/compat.h) is is_ia32_task() ||
        is_x32_task(), so strict mode checks an x32 call against mode1_syscalls_32; read is
        0 | __X32_SYSCALL_BIT, in neither list, and is killed."""
        p = self.strict(m, parent, "x32")
        r = p.syscall("read", 0, 0, 0)
        assert r.number == X32_BIT | NR_READ
        assert_killed(m, p, r, SIGKILL)

    def test_x32_write_killed(self, m, parent):
        p = self.strict(m, parent, "x32")
        buf = p.alloc(8)
        assert_killed(m, p, p.syscall("write", 1, buf, 1), SIGKILL)
        assert p.stdout == b""

    def test_seccomp_implements_the_x32_quirk(self, m):
        """seccomp.is_compat_task counts an orig_ax with the x32 bit (not only TS_COMPAT)."""
        p = m.spawn("x32")
        k = m.kernel
        m.switch_to(p.task)
        P.write_slot(k, p.task, "orig_ax", X32_BIT | NR_READ)
        assert seccomp.is_compat_task(k, p.task)
        assert P.audit_arch(k, p.task) == X86_64  # but syscall_get_arch says X86_64
        P.write_slot(k, p.task, "orig_ax", NR_READ)
        assert not seccomp.is_compat_task(k, p.task)

    def test_strict_mode_disables_the_tsc(self, m, parent):
        """prctl_set_seccomp -> disable_TSC (arch/x86/kernel/process.c): TIF_NOTSC and
        CR4.TSD, so a user RDTSC raises #GP and the task dies of SIGSEGV."""
        p = self.strict(m, parent)
        assert p.task.flags >> 16 & 1  # TIF_NOTSC
        assert m.cpu.cr4 & 4  # X86_CR4_TSD
        r = p.run("rdtsc")
        assert r.stop == "signal" and r.signal == SIGSEGV
        assert not p.alive
        assert p.exit_status == SIGSEGV

    def test_tsc_disabled_per_task(self, m, parent):
        """__switch_to_xtra toggles CR4.TSD by TIF_NOTSC: another task still reads the TSC."""
        self.strict(m, parent)
        q = m.spawn("x86_64")
        r = q.run("rdtsc")
        assert r.stop == "end" and r.signal is None
        assert not m.cpu.cr4 & 4

    def test_second_strict_prctl_is_killed(self, m, parent):
        """prctl_set_seccomp would accept the same mode again, but prctl itself is outside
        mode1_syscalls, so the second call kills before it gets there."""
        p = self.strict(m, parent)
        assert_killed(m, p, p.syscall("prctl", PR_SET_SECCOMP, SECCOMP_MODE_STRICT), SIGKILL)

    def test_unknown_mode_einval(self, m):
        p = m.spawn("x86_64")
        r = p.syscall("prctl", PR_SET_SECCOMP, 3)
        assert r.ret == -EINVAL
        assert p.task.seccomp_mode == 0


# ---------------------------------------------------------------------------- filter mode


class TestFilterMode:
    """SECCOMP_MODE_FILTER with a libseccomp-shaped program (kernel/seccomp.c
    seccomp_attach_user_filter, __secure_computing; include/uapi/linux/seccomp.h)."""

    def test_install_after_no_new_privs(self, m, parent):
        p = m.spawn("x86_64", parent=parent)
        assert p.syscall("prctl", PR_SET_NO_NEW_PRIVS, 1).ret == 0
        assert p.task.no_new_privs
        assert p.syscall("prctl", PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0).ret == 1
        attached(p, libseccomp_filter())
        assert p.task.seccomp_mode == SECCOMP_MODE_FILTER
        assert len(p.task.seccomp_filters) == 1
        assert p.syscall("prctl", PR_GET_SECCOMP).ret == SECCOMP_MODE_FILTER

    def test_getpid_errno_write_allowed_umask_killed(self, m, parent):
        p = m.spawn("x86_64", parent=parent)
        p.syscall("prctl", PR_SET_NO_NEW_PRIVS, 1)
        attached(p, libseccomp_filter())
        r = p.syscall("getpid")
        assert r.ret == -1 == -EPERM
        assert r.errno == "EPERM"
        buf = p.alloc(8)
        p.write_mem(buf, b"ok")
        assert p.syscall("write", 1, buf, 2).ret == 2
        assert p.stdout == b"ok"
        # getppid is not modeled by ringsim: umask stands in for the KILL rule.
        assert_killed(m, p, p.syscall("umask", 0), SIGSYS)

    def test_killed_call_does_not_run(self, m, parent):
        p = m.spawn("x86_64", parent=parent)
        attached(p, libseccomp_filter(kill_nr=NR_UMASK))
        before = p.task.umask
        assert_killed(m, p, p.syscall("umask", 0o77), SIGSYS)
        assert p.task.umask == before

    def test_int80_from_x86_64_killed_by_the_arch_check(self, m, parent):
        """syscall_get_arch: AUDIT_ARCH_I386 under TS_COMPAT (INT 0x80 from a 64-bit task)."""
        p = m.spawn("x86_64", parent=parent)
        attached(p, libseccomp_filter())
        assert_killed(m, p, p.syscall(NR32_UMASK, 0o22, via="int80"), SIGSYS)

    def test_int80_sees_i386_arch_and_number(self, m, parent):
        """seccomp_data for INT 0x80 from a 64-bit task: arch I386, nr in the i386 table."""
        p = m.spawn("x86_64", parent=parent)
        program = assemble(
            [
                LD_ARCH,
                jump(BPF_JMP | BPF_JEQ | BPF_K, I386, 0, 3),
                LD_NR,
                jump(BPF_JMP | BPF_JEQ | BPF_K, NR32_GETPID, 0, 1),
                ret(SECCOMP_RET_ERRNO | 9),
                RET_ALLOW,
            ]
        )
        attached(p, program)
        assert p.syscall(NR32_GETPID, via="int80").ret == -9
        assert p.syscall("getpid").ret == p.pid  # 39 through SYSCALL: arch X86_64

    def test_x32_killed_by_the_x32_bit_check(self, m, parent):
        """An x32 call: arch AUDIT_ARCH_X86_64 (no TS_COMPAT), nr with __X32_SYSCALL_BIT, so
        the JGE 0x40000000 rule kills. The x32 prctl reads the 8-byte compat sock_fprog
        (is_compat_task() is true for x32 in 3.16; x32's own struct is 8 bytes too)."""
        p = m.spawn("x32", parent=parent)
        attached(p, libseccomp_filter(), compat=True)
        r = p.syscall("getpid")
        assert r.number == X32_BIT | NR_GETPID
        assert_killed(m, p, r, SIGSYS)

    def test_x32_prctl_reads_the_compat_layout(self, m):
        """With the 16-byte layout an x32 caller's pointer is read from bytes 4..8 (zero):
        -EFAULT."""
        p = m.spawn("x32")
        r = attach(p, libseccomp_filter())
        assert r.ret == -EFAULT
        assert p.task.seccomp_mode == 0

    def test_x32_filter_sees_x86_64_arch(self, m):
        p = m.spawn("x32")
        program = assemble(
            [
                LD_ARCH,
                jump(BPF_JMP | BPF_JEQ | BPF_K, X86_64, 1, 0),
                ret(SECCOMP_RET_KILL),
                LD_NR,
                jump(BPF_JMP | BPF_JEQ | BPF_K, X32_BIT | NR_GETPID, 0, 1),
                ret(SECCOMP_RET_ERRNO | 11),
                RET_ALLOW,
            ]
        )
        attached(p, program, compat=True)
        assert p.syscall("getpid").ret == -11
        assert p.alive

    def test_compat_i386_process_installs_through_compat_fprog(self, m, parent):
        """compat_sock_fprog: {u16 len; compat_uptr_t filter;}, read when is_compat_task()."""
        p = m.spawn("i386", parent=parent)
        program = assemble(
            [
                LD_ARCH,
                jump(BPF_JMP | BPF_JEQ | BPF_K, I386, 1, 0),
                ret(SECCOMP_RET_KILL),
                LD_NR,
                jump(BPF_JMP | BPF_JEQ | BPF_K, NR32_GETPID, 0, 1),
                ret(SECCOMP_RET_ERRNO | EACCES),
                RET_ALLOW,
            ]
        )
        attached(p, program, via="int80", compat=True)
        assert p.task.seccomp_mode == SECCOMP_MODE_FILTER
        assert p.syscall("prctl", PR_GET_SECCOMP, via="int80").ret == 2
        r = p.syscall(NR32_GETPID, via="int80")
        assert r.ret == -EACCES and r.errno == "EACCES"
        assert p.syscall(NR32_UMASK, 0o22, via="int80").ret == 0o22

    def test_compat_args_are_32bit_registers(self, m):
        """syscall_get_arguments for a compat call: bx, cx, ... (arch/x86/include/asm/syscall.h);
        args[0] is at offset 16 of struct seccomp_data."""
        p = m.spawn("i386")
        program = assemble(
            [
                stmt(BPF_LD | BPF_W | BPF_ABS, 16),
                jump(BPF_JMP | BPF_JEQ | BPF_K, 0o77, 0, 1),
                ret(SECCOMP_RET_ERRNO | 1),
                RET_ALLOW,
            ]
        )
        attached(p, program, via="int80", compat=True)
        assert p.syscall(NR32_UMASK, 0o77, via="int80").ret == -1
        assert p.syscall(NR32_UMASK, 0o70, via="int80").ret == 0o22

    def test_x86_64_args(self, m):
        """args[0] of a 64-bit call is rdi; its high half sits at offset 20."""
        p = m.spawn("x86_64")
        program = assemble(
            [
                stmt(BPF_LD | BPF_W | BPF_ABS, 16),
                jump(BPF_JMP | BPF_JEQ | BPF_K, 0o77, 0, 3),
                stmt(BPF_LD | BPF_W | BPF_ABS, 20),
                jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 1),
                ret(SECCOMP_RET_ERRNO | 1),
                RET_ALLOW,
            ]
        )
        attached(p, program)
        assert p.syscall("umask", (1 << 32) | 0o77).ret == -1
        assert p.syscall("umask", 0o77).ret == 0o22

    def test_instruction_pointer(self, m):
        """seccomp_data.instruction_pointer (offset 8) is regs->ip, after the SYSCALL; RET A
        hands it back as the errno."""
        p = m.spawn("x86_64")
        program = assemble(
            [
                LD_NR,
                jump(BPF_JMP | BPF_JEQ | BPF_K, NR_GETPID, 1, 0),
                RET_ALLOW,
                stmt(BPF_LD | BPF_W | BPF_ABS, 8),
                stmt(BPF_ALU | BPF_AND | BPF_K, 0xFFF),
                stmt(BPF_ALU | BPF_OR | BPF_K, SECCOMP_RET_ERRNO),
                stmt(BPF_RET | BPF_A),
            ]
        )
        attached(p, program)
        r = p.syscall("getpid")
        ip = r.before.reg("rip") + 2  # the 2-byte SYSCALL
        assert r.ret == -(ip & 0xFFF)

    def test_errno_zero_skips_and_returns_zero(self, m):
        """3.16 does not cap the errno data: RET_ERRNO|0 sets ax = 0 and skips the call."""
        p = m.spawn("x86_64")
        attached(p, nr_filter(NR_WRITE, SECCOMP_RET_ERRNO | 0))
        buf = p.alloc(8)
        p.write_mem(buf, b"zz")
        r = p.syscall("write", 1, buf, 2)
        assert r.ret == 0 and r.errno is None
        assert p.stdout == b""

    def test_errno_skips_the_call(self, m):
        p = m.spawn("x86_64")
        attached(p, nr_filter(NR_UMASK, SECCOMP_RET_ERRNO | EPERM))
        assert p.syscall("umask", 0o77).ret == -EPERM
        assert p.task.umask == 0o22

    def test_prctl_get_seccomp_after_filter(self, m):
        p = m.spawn("x86_64")
        assert p.syscall("prctl", PR_GET_SECCOMP).ret == 0
        attached(p, assemble([RET_ALLOW]))
        assert p.syscall("prctl", PR_GET_SECCOMP).ret == SECCOMP_MODE_FILTER


# ---------------------------------------------------------------------------- refusals


class TestRefusals:
    """seccomp_attach_user_filter / seccomp_attach_filter / sk_chk_filter /
    seccomp_check_filter errors, as prctl returns them."""

    @pytest.mark.parametrize(
        "program",
        [
            pytest.param([jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 5, 0), RET_ALLOW], id="bad-jump"),
            pytest.param([LD_NR], id="no-ret-at-end"),
            pytest.param([stmt(BPF_LD | BPF_W | BPF_ABS, 2), RET_ALLOW], id="misaligned-load"),
            pytest.param([stmt(BPF_LD | BPF_W | BPF_ABS, 64), RET_ALLOW], id="load-beyond-64"),
            pytest.param([stmt(BPF_LD | BPF_H | BPF_ABS, 0), RET_ALLOW], id="halfword-load"),
        ],
    )
    def test_checker_refusal_is_einval(self, m, program):
        p = m.spawn("x86_64")
        r = attach(p, assemble(program))
        assert r.ret == -EINVAL and r.errno == "EINVAL"
        assert p.task.seccomp_mode == 0
        assert p.task.seccomp_filters == []
        assert p.syscall("getpid").ret == p.pid  # nothing installed

    def test_last_word_load_accepted(self, m):
        """offset 60 (args[5] high half) is the last aligned word of seccomp_data."""
        p = m.spawn("x86_64")
        attached(p, assemble([stmt(BPF_LD | BPF_W | BPF_ABS, 60), RET_ALLOW]))

    def test_len_zero_einval(self, m):
        p = m.spawn("x86_64")
        r = p.syscall("prctl", PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fprog(p, RET_ALLOW, length=0))
        assert r.ret == -EINVAL

    def test_len_above_bpf_maxinsns_einval(self, m):
        p = m.spawn("x86_64")
        program = assemble([RET_ALLOW] * (BPF_MAXINSNS + 1))
        assert attach(p, program).ret == -EINVAL

    def test_unreadable_fprog_efault(self, m):
        p = m.spawn("x86_64")
        r = p.syscall("prctl", PR_SET_SECCOMP, SECCOMP_MODE_FILTER, 0x1234)
        assert r.ret == -EFAULT
        assert p.task.seccomp_mode == 0

    def test_unreadable_instructions_efault(self, m):
        p = m.spawn("x86_64")
        address = p.alloc(16)
        p.write_mem(address, struct.pack("<HHIQ", 1, 0, 0, 0x5000))
        r = p.syscall("prctl", PR_SET_SECCOMP, SECCOMP_MODE_FILTER, address)
        assert r.ret == -EFAULT

    def test_no_cap_sys_admin_no_no_new_privs_eacces(self, m):
        p = m.spawn("x86_64")
        p.task.cap_sys_admin = False
        assert attach(p, assemble([RET_ALLOW])).ret == -EACCES
        assert p.task.seccomp_mode == 0

    def test_no_cap_sys_admin_with_no_new_privs(self, m):
        p = m.spawn("x86_64")
        p.task.cap_sys_admin = False
        assert p.syscall("prctl", PR_SET_NO_NEW_PRIVS, 1).ret == 0
        attached(p, assemble([RET_ALLOW]))

    def test_cap_sys_admin_suffices(self, m):
        """Root (CAP_SYS_ADMIN) may attach without no_new_privs."""
        p = m.spawn("x86_64")
        assert p.task.cap_sys_admin and not p.task.no_new_privs
        attached(p, assemble([RET_ALLOW]))

    def test_eacces_checked_before_the_program(self, m):
        """seccomp_attach_filter checks privileges before copying and checking the program."""
        p = m.spawn("x86_64")
        p.task.cap_sys_admin = False
        assert attach(p, assemble([LD_NR])).ret == -EACCES

    def test_len_checked_before_privileges(self, m):
        p = m.spawn("x86_64")
        p.task.cap_sys_admin = False
        r = p.syscall("prctl", PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fprog(p, RET_ALLOW, length=0))
        assert r.ret == -EINVAL

    def test_filter_then_strict_einval(self, m):
        """prctl_set_seccomp: a task in one mode may not switch to another."""
        p = m.spawn("x86_64")
        attached(p, assemble([RET_ALLOW]))
        r = p.syscall("prctl", PR_SET_SECCOMP, SECCOMP_MODE_STRICT)
        assert r.ret == -EINVAL
        assert p.task.seccomp_mode == SECCOMP_MODE_FILTER
        assert not p.task.flags >> 16 & 1  # no TIF_NOTSC
        assert p.run("rdtsc").stop == "end"

    def test_filter_then_filter_stacks(self, m):
        p = m.spawn("x86_64")
        attached(p, assemble([RET_ALLOW]))
        attached(p, assemble([RET_ALLOW]))
        assert len(p.task.seccomp_filters) == 2

    def test_too_many_instructions_over_several_filters_enomem(self, m):
        """MAX_INSNS_PER_PATH (32768): the new len plus, per attached filter, its converted
        length (filter->prog->len) + 4. 4096 RETs convert to 8193: four fit, a fifth not."""
        p = m.spawn("x86_64")
        big = assemble([RET_ALLOW] * BPF_MAXINSNS)
        assert converted_length(parse_filter(big)) == 8193
        for _ in range(4):
            attached(p, big)
        assert 4096 + 4 * (8193 + 4) > 32768 >= 4096 + 3 * (8193 + 4)
        r = attach(p, big)
        assert r.ret == -ENOMEM and r.errno == "ENOMEM"
        assert len(p.task.seccomp_filters) == 4
        assert p.syscall("getpid").ret == p.pid

    def test_even_one_instruction_refused_when_full(self, m):
        p = m.spawn("x86_64")
        big = assemble([RET_ALLOW] * BPF_MAXINSNS)
        for _ in range(4):
            attached(p, big)
        # 4 * 8197 = 32788 is already over: even one instruction is refused.
        assert attach(p, assemble([RET_ALLOW])).ret == -ENOMEM


# ---------------------------------------------------------------------------- actions


class TestActions:
    """seccomp_run_filters (lowest action wins) and each SECCOMP_RET_* in __secure_computing."""

    def test_errno_beats_allow(self, m):
        p = m.spawn("x86_64")
        attached(p, nr_filter(NR_GETPID, SECCOMP_RET_ERRNO | 5))
        attached(p, assemble([RET_ALLOW]))
        assert p.syscall("getpid").ret == -5
        assert p.syscall("umask", 0o22).ret == 0o22

    def test_allow_first_errno_second(self, m):
        p = m.spawn("x86_64")
        attached(p, assemble([RET_ALLOW]))
        attached(p, nr_filter(NR_GETPID, SECCOMP_RET_ERRNO | 5))
        assert p.syscall("getpid").ret == -5

    def test_equal_actions_newest_data_wins(self, m):
        """Only a strictly lower action replaces ret, and the newest filter runs first."""
        p = m.spawn("x86_64")
        attached(p, nr_filter(NR_GETPID, SECCOMP_RET_ERRNO | 5))
        attached(p, nr_filter(NR_GETPID, SECCOMP_RET_ERRNO | 7))
        assert p.syscall("getpid").ret == -7

    def test_kill_beats_errno(self, m, parent):
        p = m.spawn("x86_64", parent=parent)
        attached(p, nr_filter(NR_GETPID, SECCOMP_RET_KILL))
        attached(p, nr_filter(NR_GETPID, SECCOMP_RET_ERRNO | 5))
        assert_killed(m, p, p.syscall("getpid"), SIGSYS)

    def test_trap_beats_errno(self, m, parent):
        p = m.spawn("x86_64", parent=parent)
        attached(p, nr_filter(NR_GETPID, SECCOMP_RET_ERRNO | 5))
        attached(p, nr_filter(NR_GETPID, SECCOMP_RET_TRAP))
        assert_killed(m, p, p.syscall("getpid"), SIGSYS)

    def test_errno_beats_trace(self, m):
        p = m.spawn("x86_64")
        attached(p, nr_filter(NR_GETPID, SECCOMP_RET_TRACE | 1))
        attached(p, nr_filter(NR_GETPID, SECCOMP_RET_ERRNO | 5))
        assert p.syscall("getpid").ret == -5

    def test_trap_skips_the_call_and_sigsys_kills(self, m, parent):
        """SECCOMP_RET_TRAP: syscall_rollback, seccomp_send_sigsys, skip; with no handler the
        default action of SIGSYS (core, but RLIMIT_CORE is 0) ends the task on the way out."""
        p = m.spawn("x86_64", parent=parent)
        attached(p, nr_filter(NR_WRITE, SECCOMP_RET_TRAP | 3))
        buf = p.alloc(8)
        p.write_mem(buf, b"no")
        r = p.syscall("write", 1, buf, 2)
        assert p.stdout == b""
        assert_killed(m, p, r, SIGSYS)

    def test_trace_without_tracer_enosys(self, m):
        p = m.spawn("x86_64")
        attached(p, nr_filter(NR_UMASK, SECCOMP_RET_TRACE | 7))
        r = p.syscall("umask", 0o77)
        assert r.ret == -ENOSYS and r.errno == "ENOSYS"
        assert p.task.umask == 0o22
        assert p.alive

    def test_allow_runs(self, m):
        p = m.spawn("x86_64")
        attached(p, assemble([RET_ALLOW]))
        assert p.syscall("umask", 0o77).ret == 0o22
        assert p.task.umask == 0o77


# ---------------------------------------------------------------------------- SECCOMP_RET_TRACE


class TestTrace:
    """SECCOMP_RET_TRACE with a tracer that set PTRACE_O_TRACESECCOMP: ptrace_event
    (PTRACE_EVENT_SECCOMP, data), then the call runs unless the tracer set the number to -1."""

    def traced(self, m, program, options=PTRACE_O_TRACESECCOMP, resume="PTRACE_CONT"):
        tracer = m.spawn("x86_64")
        child = m.spawn("x86_64")
        attached(child, program)
        assert m.ptrace("PTRACE_ATTACH", child, tracer=tracer).ret == 0
        w = m.waitpid(child)
        assert w.stopped
        assert m.ptrace("PTRACE_SETOPTIONS", child, 0, options).ret == 0
        assert m.ptrace(resume, child).ret == 0
        assert m.waitpid(child).pid == 0
        return tracer, child

    def test_event_stop_message_and_call_runs(self, m):
        _, c = self.traced(m, nr_filter(NR_UMASK, SECCOMP_RET_TRACE | 0x1234))
        r = c.syscall("umask", 0o77)
        assert r.outcome == "stopped"
        assert c.stopped
        w = m.waitpid(c)
        assert w.pid == c.pid and w.stopped
        assert w.status == (PTRACE_EVENT_SECCOMP << 16) | 0x57F == 0x7057F
        assert w.stopsig == SIGTRAP
        assert w.event == PTRACE_EVENT_SECCOMP
        assert m.ptrace("PTRACE_GETEVENTMSG", c).value == 0x1234
        regs = m.ptrace("PTRACE_GETREGS", c).value
        assert regs["orig_rax"] == NR_UMASK
        assert regs["rax"] == (-ENOSYS) & (2**64 - 1)
        assert c.task.umask == 0o22  # not yet run
        assert m.ptrace("PTRACE_CONT", c).ret == 0
        assert m.waitpid(c).pid == 0
        assert c.last_result.ret == 0o22
        assert c.task.umask == 0o77
        assert c.alive

    def test_tracer_skips_with_minus_one(self, m):
        _, c = self.traced(m, nr_filter(NR_UMASK, SECCOMP_RET_TRACE | 1))
        c.syscall("umask", 0o77)
        assert m.waitpid(c).event == PTRACE_EVENT_SECCOMP
        assert m.ptrace("PTRACE_POKEUSER", c, ORIG_RAX, 2**64 - 1).ret == 0
        assert m.ptrace("PTRACE_CONT", c).ret == 0
        assert m.waitpid(c).pid == 0
        assert c.last_result.ret == -ENOSYS  # rax as the entry code left it
        assert c.task.umask == 0o22
        assert c.alive

    def test_tracer_changes_the_call(self, m):
        """3.16 does not run the filters again after the event: the new number just runs."""
        _, c = self.traced(m, nr_filter(NR_UMASK, SECCOMP_RET_TRACE | 1))
        c.syscall("umask", 0o77)
        m.waitpid(c)
        assert m.ptrace("PTRACE_POKEUSER", c, ORIG_RAX, NR_GETPID).ret == 0
        m.ptrace("PTRACE_CONT", c)
        assert m.waitpid(c).pid == 0
        assert c.last_result.ret == c.pid
        assert c.task.umask == 0o22

    def test_seccomp_stop_before_syscall_entry_stop(self, m):
        """3.16's syscall_trace_enter runs secure_computing before the ptrace entry stop."""
        _, c = self.traced(
            m,
            nr_filter(NR_UMASK, SECCOMP_RET_TRACE | 1),
            options=PTRACE_O_TRACESECCOMP | PTRACE_O_TRACESYSGOOD,
            resume="PTRACE_SYSCALL",
        )
        c.syscall("umask", 0o77)
        statuses = []
        while True:
            w = m.waitpid(c)
            if w.pid <= 0 or not w.stopped:
                break
            statuses.append(w.status)
            m.ptrace("PTRACE_SYSCALL", c)
        assert statuses == [0x7057F, 0x857F, 0x857F]
        assert c.last_result.ret == 0o22

    def test_traced_without_option_enosys(self, m):
        """ptrace_event_enabled is false without PTRACE_O_TRACESECCOMP: -ENOSYS, no stop."""
        _, c = self.traced(m, nr_filter(NR_UMASK, SECCOMP_RET_TRACE | 1), options=0)
        r = c.syscall("umask", 0o77)
        assert r.outcome == "returned"
        assert r.ret == -ENOSYS
        assert c.task.umask == 0o22

    def test_non_traced_calls_do_not_stop(self, m):
        _, c = self.traced(m, nr_filter(NR_UMASK, SECCOMP_RET_TRACE | 1))
        r = c.syscall("getpid")
        assert r.outcome == "returned" and r.ret == c.pid

    def test_resume_signal_after_event_stop_is_ignored(self, m):
        """ptrace_notify (kernel/signal.c 3.16) ignores the signal a tracer resumes with: only
        syscall stops and signal-delivery stops use current->exit_code, so after a
        PTRACE_EVENT_SECCOMP stop fatal_signal_pending() is false and the call runs."""
        _, c = self.traced(m, nr_filter(NR_UMASK, SECCOMP_RET_TRACE | 1))
        c.syscall("umask", 0o77)
        assert m.waitpid(c).event == PTRACE_EVENT_SECCOMP
        assert m.ptrace("PTRACE_CONT", c, 0, SIGKILL).ret == 0
        m.waitpid(c)
        assert c.alive
        assert c.task.umask == 0o77
