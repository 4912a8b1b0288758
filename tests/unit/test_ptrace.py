"""ptrace, wait and the system-call entry work on the Linux 3.16 model.

Facts come from include/uapi/linux/ptrace.h, arch/x86/include/uapi/asm/ptrace-abi.h,
arch/x86/include/asm/thread_info.h, arch/x86/include/asm/user_64.h, arch/x86/kernel/ptrace.c,
arch/x86/kernel/entry_64.S, kernel/ptrace.c, kernel/signal.c, kernel/exit.c,
include/linux/tracehook.h and fs/exec.c of 3.16. The index has no full 3.16 tree
(jyizheng/linux-3.16 lacks these files); where a docstring names another copy, that is the
3.x-era text that was read.
"""

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator import Machine
from simulator.cpu.assembler import assemble
from simulator.kernel import elf as E
from simulator.kernel import linux316 as L
from simulator.kernel import ptrace as P

ENOSYS = 38
MINUS_ENOSYS = (1 << 64) - ENOSYS
MASK64 = (1 << 64) - 1
# user_regs_struct offsets (arch/x86/include/uapi/asm/ptrace-abi.h, x86_64).
RAX, RDI, ORIG_RAX = 80, 112, 120
NR_GETPID, NR_UMASK, NR_EXIT = 39, 95, 60
NR_GETPID_I386 = 20
X32_BIT = 0x4000_0000
SIGTRAP, SIGKILL, SIGSTOP = 5, 9, 19
BASE64 = 0x40_0000


def attached(m, options=P.PTRACE_O_TRACESYSGOOD, resume="PTRACE_SYSCALL", abi="x86_64"):
    """A tracer and a tracee: PTRACE_ATTACH, wait for the SIGSTOP stop, set options, resume."""
    tracer = m.spawn("x86_64")
    child = m.spawn(abi)
    assert m.ptrace("PTRACE_ATTACH", child, tracer=tracer).ret == 0
    w = m.waitpid(child)
    assert w.pid == child.pid and w.stopped and w.stopsig == SIGSTOP
    assert m.ptrace("PTRACE_SETOPTIONS", child, 0, options).ret == 0
    if resume:
        assert m.ptrace(resume, child).ret == 0
    return tracer, child


def at_entry_stop(m, name, *args, options=P.PTRACE_O_TRACESYSGOOD, **kw):
    """A tracee that made ``name`` and sits at its syscall-entry stop (already waited for)."""
    tracer, child = attached(m, options)
    r = child.syscall(name, *args, **kw)
    assert r.outcome == "stopped" and child.stopped
    w = m.waitpid(child)
    assert w.pid == child.pid and w.stopped
    return tracer, child, w


def peek(m, child, offset):
    result = m.ptrace("PTRACE_PEEKUSER", child, offset)
    assert result.ret == 0, result
    return result.value


def call_then_cont(m, child, name, *args):
    """A further call of a tracee: wait for its entry stop, PTRACE_CONT (which clears
    TIF_SYSCALL_TRACE, so no exit stop), and give the call's return value."""
    assert child.syscall(name, *args).outcome == "stopped"
    assert m.waitpid(child).stopped
    assert m.ptrace("PTRACE_CONT", child).ret == 0
    assert m.waitpid(child).pid == 0
    return child.last_result.ret


def resume_and_wait(m, child, request="PTRACE_SYSCALL", sig=0):
    assert m.ptrace(request, child, 0, sig).ret == 0
    return m.waitpid(child)


# ----------------------------------------------------------------------------- constants


def test_request_numbers():
    """Request numbers: include/uapi/linux/ptrace.h and arch/x86/include/uapi/asm/ptrace-abi.h
    (3.16; read in unicorn-soc-425/kernel-3.18-U5-, whose HEAD side of the merge is 3.18)."""
    expected = {
        "PTRACE_TRACEME": 0,
        "PTRACE_PEEKTEXT": 1,
        "PTRACE_PEEKDATA": 2,
        "PTRACE_PEEKUSR": 3,
        "PTRACE_PEEKUSER": 3,
        "PTRACE_POKETEXT": 4,
        "PTRACE_POKEDATA": 5,
        "PTRACE_POKEUSR": 6,
        "PTRACE_POKEUSER": 6,
        "PTRACE_CONT": 7,
        "PTRACE_KILL": 8,
        "PTRACE_SINGLESTEP": 9,
        "PTRACE_GETREGS": 12,
        "PTRACE_SETREGS": 13,
        "PTRACE_ATTACH": 16,
        "PTRACE_DETACH": 17,
        "PTRACE_SYSCALL": 24,
        "PTRACE_SYSEMU": 31,
        "PTRACE_SYSEMU_SINGLESTEP": 32,
        "PTRACE_SETOPTIONS": 0x4200,
        "PTRACE_GETEVENTMSG": 0x4201,
    }
    assert P.REQUESTS == expected


def test_options_and_events():
    """Options and events: include/uapi/linux/ptrace.h, 3.16: TRACESYSGOOD 1, TRACEEXEC
    1 << PTRACE_EVENT_EXEC (4), TRACESECCOMP 1 << 7, EXITKILL 1 << 20, PTRACE_O_MASK
    0xff | EXITKILL (PTRACE_O_SUSPEND_SECCOMP, 1 << 21, came in 4.3); PT_TRACESYSGOOD is
    the option shifted by PT_OPT_FLAG_SHIFT 3 (include/linux/ptrace.h)."""
    assert P.PTRACE_O_TRACESYSGOOD == 1
    assert P.PTRACE_EVENT_EXEC == 4
    assert P.PTRACE_O_TRACEEXEC == 0x10
    assert P.PTRACE_EVENT_SECCOMP == 7
    assert P.PTRACE_O_TRACESECCOMP == 0x80
    assert P.PTRACE_O_EXITKILL == 0x10_0000
    assert P.PTRACE_O_MASK == 0x10_00FF
    assert P.PT_PTRACED == 1
    assert P.PT_TRACESYSGOOD == 1 << 3


def test_tif_bits():
    """TIF bit numbers: arch/x86/include/asm/thread_info.h (3.16 text as read in
    Samsonroyal/Gaia_Linux_3.18_Neural-Kernel_v0000, the same block as 3.16)."""
    assert (L.TIF_SYSCALL_TRACE, L.TIF_NOTIFY_RESUME, L.TIF_SIGPENDING) == (0, 1, 2)
    assert (L.TIF_NEED_RESCHED, L.TIF_SINGLESTEP, L.TIF_SYSCALL_EMU) == (3, 4, 6)
    assert (L.TIF_SYSCALL_AUDIT, L.TIF_SECCOMP, L.TIF_IA32, L.TIF_FORK) == (7, 8, 17, 18)
    assert (L.TIF_NOHZ, L.TIF_SYSCALL_TRACEPOINT, L.TIF_ADDR32, L.TIF_X32) == (19, 28, 29, 30)
    assert L.TS_COMPAT == 0x0002


def test_tif_masks():
    """The work masks of arch/x86/include/asm/thread_info.h (3.16; matched against the text
    of Samsonroyal/Gaia_Linux_3.18_Neural-Kernel_v0000 commit 4f9e1855, which has the 3.16
    forms with _TIF_SINGLESTEP and _TIF_NOHZ; 2.6.3x copies lack NOHZ, 4.x drop SINGLESTEP):
    _TIF_WORK_SYSCALL_ENTRY = TRACE|EMU|AUDIT|SECCOMP|SINGLESTEP|TRACEPOINT|NOHZ,
    _TIF_WORK_SYSCALL_EXIT = TRACE|AUDIT|SINGLESTEP|TRACEPOINT|NOHZ,
    _TIF_WORK_MASK = 0xFFFF & ~(TRACE|AUDIT|SINGLESTEP|SECCOMP|EMU),
    _TIF_ALLWORK_MASK = (0xFFFF & ~SECCOMP) | TRACEPOINT | NOHZ."""
    trace, emu, audit, seccomp, step = 1 << 0, 1 << 6, 1 << 7, 1 << 8, 1 << 4
    tracepoint, nohz = 1 << 28, 1 << 19
    assert P.TIF_WORK_SYSCALL_ENTRY == 0x1008_01D1
    assert P.TIF_WORK_SYSCALL_ENTRY == trace | emu | audit | seccomp | step | tracepoint | nohz
    assert P.TIF_WORK_SYSCALL_EXIT == 0x1008_0091
    assert P.TIF_WORK_SYSCALL_EXIT == trace | audit | step | tracepoint | nohz
    assert P.TIF_WORK_MASK == 0xFE2E
    assert P.TIF_WORK_MASK == 0xFFFF & ~(trace | audit | step | seccomp | emu)
    assert P.TIF_ALLWORK_MASK == 0x1008_FEFF
    assert P.TIF_ALLWORK_MASK == (0xFFFF & ~seccomp) | tracepoint | nohz


def test_struct_user_offsets():
    """arch/x86/include/asm/user_64.h (3.4 CyanogenMod/android_kernel_htc_msm8974 and current
    copies agree): user_regs_struct is 27 longs (216 bytes); u_debugreg[8] starts at 848
    (216 + 8 + 512 i387 + 6*8 + 2*4 + 3*8 + 32 u_comm); user_32.h: 17 words, u_debugreg at
    252, sizeof 284."""
    assert len(P.USER_REGS_64) * 8 == 216
    assert P.USER_REGS_64.index("orig_rax") * 8 == ORIG_RAX
    assert P.USER_REGS_64.index("rax") * 8 == RAX
    assert P.USER_REGS_64.index("rdi") * 8 == RDI
    assert P.U_DEBUGREG_64 == 216 + 8 + 512 + 6 * 8 + 2 * 4 + 3 * 8 + 32 == 848
    assert len(P.USER_REGS_32) * 4 == 68
    assert P.U_DEBUGREG_32 == 252 and P.SIZEOF_USER_32 == 284


def test_sizeof_struct_user_64():
    """arch/x86/include/asm/user_64.h, 3.16: ... u_debugreg[8]; error_code; fault_address."""
    assert P.SIZEOF_USER_64 == P.U_DEBUGREG_64 + 8 * 8 + 2 * 8 == 928


# ----------------------------------------------------------------------------- stops


def test_entry_stop_sees_minus_enosys_and_orig_rax():
    """tracesys (arch/x86/kernel/entry_64.S, 3.16): movq $-ENOSYS,RAX(%rsp) before
    syscall_trace_enter, and orig_ax holds the number (SAVE_ARGS; ptrace-abi.h ORIG_RAX 120)."""
    m = Machine.boot()
    _, child, w = at_entry_stop(m, "getpid")
    assert peek(m, child, RAX) == MINUS_ENOSYS
    assert peek(m, child, ORIG_RAX) == NR_GETPID
    regs = m.ptrace("PTRACE_GETREGS", child).value
    assert regs["rax"] == MINUS_ENOSYS and regs["orig_rax"] == NR_GETPID
    assert w.status == 0x857F


@pytest.mark.parametrize(("options", "sig"), [(P.PTRACE_O_TRACESYSGOOD, 0x85), (0, SIGTRAP)])
def test_tracesysgood_stop_signal(options, sig):
    """ptrace_report_syscall (include/linux/tracehook.h, 3.16): ptrace_notify(SIGTRAP |
    (PT_TRACESYSGOOD ? 0x80 : 0)); the wait status is exit_code << 8 | 0x7f
    (kernel/exit.c wait_task_stopped), at entry and at exit."""
    m = Machine.boot()
    _, child, w = at_entry_stop(m, "getpid", options=options)
    assert w.stopped and w.stopsig == sig and w.status == (sig << 8) | 0x7F and w.event == 0
    w = resume_and_wait(m, child)
    assert w.stopped and w.stopsig == sig
    assert peek(m, child, RAX) == child.pid  # the exit stop sees the result
    w = resume_and_wait(m, child)
    assert w.pid == 0 and child.last_result.ret == child.pid


def test_trace_order_of_entry_and_exit_work():
    """syscall_trace_enter (arch/x86/kernel/ptrace.c, 3.16): the ptrace stop, then
    trace_sys_enter, then audit_syscall_entry, then the table call; syscall_trace_leave:
    audit_syscall_exit, trace_sys_exit, then the exit stop (tracehook_report_syscall_exit)."""
    m = Machine.boot()
    m.enable_syscall_tracepoints()
    m.enable_audit()
    _, child, _ = at_entry_stop(m, "getpid")
    resume_and_wait(m, child)
    assert resume_and_wait(m, child).pid == 0
    syms = child.last_result.trace.symbols()

    def first(name):
        return next(i for i, s in enumerate(syms) if s.startswith(name + " ("))

    def last(name):
        return max(i for i, s in enumerate(syms) if s.startswith(name + " ("))

    order = [
        first("tracesys"),
        first("syscall_trace_enter"),
        first("ptrace_stop"),
        first("trace_sys_enter"),
        first("audit_syscall_entry"),
        first("sys_call_table"),
        first("sys_getpid"),
        first("audit_syscall_exit"),
        first("trace_sys_exit"),
        last("ptrace_stop"),
    ]
    assert order == sorted(order)
    assert first("ptrace_stop") < last("syscall_trace_enter") < first("sys_call_table")
    stops = [e.what for e in child.last_result.trace if e.where.startswith("ptrace_stop (")]
    assert any("syscall-entry stop" in w for w in stops)
    assert any("syscall-exit stop" in w for w in stops)


# ----------------------------------------------------------------------------- changing calls


def test_rewriting_the_number_runs_the_other_call():
    """syscall_trace_enter returns regs->orig_ax (arch/x86/kernel/ptrace.c, 3.16), and tracesys
    dispatches that: a tracer's POKEUSER at ORIG_RAX (120) runs the other call."""
    m = Machine.boot()
    _, child, _ = at_entry_stop(m, "umask", 0o27)
    assert m.ptrace("PTRACE_POKEUSER", child, ORIG_RAX, NR_GETPID).ret == 0
    w = resume_and_wait(m, child)
    assert w.stopped and peek(m, child, RAX) == child.pid
    assert peek(m, child, ORIG_RAX) == NR_GETPID
    assert resume_and_wait(m, child).pid == 0
    assert child.last_result.ret == child.pid
    assert any(s.startswith("sys_getpid (") for s in child.last_result.trace.symbols())
    assert not any(s.startswith("sys_umask (") for s in child.last_result.trace.symbols())
    # the umask never ran: a later umask still sees the initial mask
    assert call_then_cont(m, child, "umask", 0o22) == 0o22


def test_rewriting_an_argument():
    """tracesys reloads the argument registers from pt_regs after syscall_trace_enter
    (LOAD_ARGS ARGOFFSET,1; entry_64.S, 3.16): a POKEUSER at RDI (112) is what the call sees."""
    m = Machine.boot()
    _, child, _ = at_entry_stop(m, "umask", 0o27)
    assert m.ptrace("PTRACE_POKEUSER", child, RDI, 0o55).ret == 0
    resume_and_wait(m, child)
    assert resume_and_wait(m, child).pid == 0
    assert call_then_cont(m, child, "umask", 0o22) == 0o55


def test_rewriting_exit_status_argument():
    """The same LOAD_ARGS reload: exit(3) with rdi rewritten to 42 exits with 42
    (kernel/exit.c wait_task_zombie: WIFEXITED, WEXITSTATUS 42)."""
    m = Machine.boot()
    _, child, _ = at_entry_stop(m, "exit", 3)
    assert m.ptrace("PTRACE_POKEUSER", child, RDI, 42).ret == 0
    w = resume_and_wait(m, child)
    assert w.exited and w.exitstatus == 42 and w.status == 42 << 8
    assert not child.alive


def test_skip_with_orig_rax_minus_one():
    """orig_rax = -1 at the entry stop: out of range (unsigned cmpq $__NR_syscall_max; ja
    int_ret_from_sys_call, entry_64.S 3.16), nothing runs, the RAX slot keeps -ENOSYS."""
    m = Machine.boot()
    _, child, _ = at_entry_stop(m, "umask", 0o27)
    assert m.ptrace("PTRACE_POKEUSER", child, ORIG_RAX, MASK64).ret == 0
    w = resume_and_wait(m, child)
    assert w.stopped and peek(m, child, RAX) == MINUS_ENOSYS
    assert resume_and_wait(m, child).pid == 0
    result = child.last_result
    assert result.ret == -ENOSYS and result.errno == "ENOSYS"
    assert not any(s.startswith("sys_umask (") for s in result.trace.symbols())
    assert call_then_cont(m, child, "umask", 0o22) == 0o22


def test_skip_with_rax_written():
    """Skipping with orig_rax = -1 and writing rax: the skipped call "returns" the tracer's
    value, since the RAX slot is returned unchanged (int_ret_from_sys_call, entry_64.S 3.16)."""
    m = Machine.boot()
    _, child, _ = at_entry_stop(m, "getpid")
    assert m.ptrace("PTRACE_POKEUSER", child, ORIG_RAX, MASK64).ret == 0
    assert m.ptrace("PTRACE_POKEUSER", child, RAX, 77).ret == 0
    resume_and_wait(m, child)
    assert resume_and_wait(m, child).pid == 0
    assert child.last_result.ret == 77


def test_changing_rax_at_the_exit_stop():
    """At the syscall-exit stop the RAX slot holds the result; what the tracer writes there is
    what the tracee sees (restored by the IRET exit, entry_64.S int_ret_from_sys_call)."""
    m = Machine.boot()
    _, child, _ = at_entry_stop(m, "getpid")
    resume_and_wait(m, child)
    assert peek(m, child, RAX) == child.pid
    assert m.ptrace("PTRACE_POKEUSER", child, RAX, 12345).ret == 0
    assert resume_and_wait(m, child).pid == 0
    assert child.last_result.ret == 12345


def test_sysemu_skips_the_call_and_has_no_exit_stop():
    """PTRACE_SYSEMU (kernel/ptrace.c ptrace_resume sets TIF_SYSCALL_EMU): syscall_trace_enter
    returns -1 so nothing runs; syscall_trace_leave has no TIF_SYSCALL_TRACE, so no exit stop
    (arch/x86/kernel/ptrace.c, 3.16)."""
    m = Machine.boot()
    _, child = attached(m, resume="PTRACE_SYSEMU")
    assert child.task.has(L.TIF_SYSCALL_EMU) and not child.task.has(L.TIF_SYSCALL_TRACE)
    assert child.syscall("umask", 0o27).outcome == "stopped"
    w = m.waitpid(child)
    assert w.stopped and w.stopsig == 0x85
    assert peek(m, child, ORIG_RAX) == NR_UMASK and peek(m, child, RAX) == MINUS_ENOSYS
    w = resume_and_wait(m, child, "PTRACE_SYSEMU")
    assert w.pid == 0  # no exit stop: the run ended
    result = child.last_result
    assert result.ret == -ENOSYS
    assert not any(s.startswith("sys_umask (") for s in result.trace.symbols())


def test_sysemu_with_rax_written():
    """Under SYSEMU an emulator writes the result at the entry stop; it comes back as is."""
    m = Machine.boot()
    _, child = attached(m, resume="PTRACE_SYSEMU")
    child.syscall("getpid")
    m.waitpid(child)
    assert m.ptrace("PTRACE_POKEUSER", child, RAX, 4242).ret == 0
    assert resume_and_wait(m, child, "PTRACE_SYSEMU").pid == 0
    assert child.last_result.ret == 4242


# ----------------------------------------------------------------------------- PEEKUSER


def test_peekuser_pokeuser_offsets():
    """arch_ptrace PEEKUSR/POKEUSR (arch/x86/kernel/ptrace.c, 3.16; read in the comment-
    stripped copy id 12307118249): -EIO when addr & 7 or addr >= sizeof(struct user); a PEEK
    in u_debugreg reads ptrace_get_debugreg (0 with no breakpoints), elsewhere 0."""
    m = Machine.boot()
    _, child, _ = at_entry_stop(m, "getpid")
    for offset in (1, 4, 7, 121, 847):
        assert m.ptrace("PTRACE_PEEKUSER", child, offset).errno == "EIO"
        assert m.ptrace("PTRACE_POKEUSER", child, offset, 0).errno == "EIO"
    for offset in (928, 936, 4096, MASK64 - 7):
        assert m.ptrace("PTRACE_PEEKUSER", child, offset).ret == -5
        assert m.ptrace("PTRACE_POKEUSER", child, offset, 0).ret == -5
    for offset in range(P.U_DEBUGREG_64, P.U_DEBUGREG_64 + 64, 8):
        assert m.ptrace("PTRACE_PEEKUSER", child, offset) == P.PtraceResult(0, None, 0)
    assert m.ptrace("PTRACE_PEEKUSER", child, 216) == P.PtraceResult(0, None, 0)


def test_peekuser_error_code_and_fault_address_read_zero():
    """arch/x86/include/asm/user_64.h 3.16: error_code (912), fault_address (920) are inside
    struct user; PEEKUSR gives tmp = 0 for them (arch/x86/kernel/ptrace.c)."""
    m = Machine.boot()
    _, child, _ = at_entry_stop(m, "getpid")
    assert m.ptrace("PTRACE_PEEKUSER", child, 912) == P.PtraceResult(0, None, 0)
    assert m.ptrace("PTRACE_PEEKUSER", child, 920) == P.PtraceResult(0, None, 0)


def test_pokeuser_outside_registers_and_debugregs_is_eio():
    """arch/x86/kernel/ptrace.c 3.16, PTRACE_POKEUSR: the break leaves ret = -EIO."""
    m = Machine.boot()
    _, child, _ = at_entry_stop(m, "getpid")
    assert m.ptrace("PTRACE_POKEUSER", child, 216, 1).errno == "EIO"
    assert m.ptrace("PTRACE_POKEUSER", child, 840, 1).errno == "EIO"


_PEEK_MACHINE = {}


def _stopped_tracee():
    """One machine with a tracee at an entry stop, shared by the property tests below."""
    if not _PEEK_MACHINE:
        m = Machine.boot()
        _, child, _ = at_entry_stop(m, "getpid")
        _PEEK_MACHINE["m"], _PEEK_MACHINE["child"] = m, child
    return _PEEK_MACHINE["m"], _PEEK_MACHINE["child"]


@given(st.integers(0, 14), st.integers(0, MASK64))
def test_pokeuser_peekuser_round_trip(index, value):
    """putreg/getreg (arch/x86/kernel/ptrace.c, 3.16) store r15..rdi in pt_regs as given."""
    m, child = _stopped_tracee()
    offset = index * 8
    assert m.ptrace("PTRACE_POKEUSER", child, offset, value).ret == 0
    assert peek(m, child, offset) == value
    assert m.ptrace("PTRACE_GETREGS", child).value[P.USER_REGS_64[index]] == value


@given(st.integers(0, 927).filter(lambda a: a % 8))
def test_misaligned_offsets_are_eio(offset):
    """arch_ptrace: (addr & (sizeof(data) - 1)) gives -EIO (arch/x86/kernel/ptrace.c 3.16)."""
    m, child = _stopped_tracee()
    assert m.ptrace("PTRACE_PEEKUSER", child, offset).errno == "EIO"


# ----------------------------------------------------------------------------- errors


def test_not_traced_or_not_stopped_is_esrch():
    """ptrace_check_attach (kernel/ptrace.c, 3.16): -ESRCH unless the child is traced by the
    caller and in TASK_TRACED (PTRACE_KILL excepted)."""
    m = Machine.boot()
    parent = m.spawn("x86_64")
    child = m.spawn("x86_64", parent=parent)
    assert m.ptrace("PTRACE_PEEKUSER", child, 0, tracer=parent).errno == "ESRCH"
    assert m.ptrace("PTRACE_SYSCALL", child, tracer=parent).errno == "ESRCH"
    tracer = m.spawn("x86_64")
    tracee = m.spawn("x86_64")
    assert m.ptrace("PTRACE_ATTACH", tracee, tracer=tracer).ret == 0
    # SIGSTOP is queued but the tracee has not stopped yet
    assert m.ptrace("PTRACE_PEEKUSER", tracee, 0).errno == "ESRCH"
    m.waitpid(tracee)
    assert m.ptrace("PTRACE_PEEKUSER", tracee, 0).ret == 0
    other = m.spawn("x86_64")
    assert m.ptrace("PTRACE_PEEKUSER", tracee, 0, tracer=other).errno == "ESRCH"
    assert m.ptrace("PTRACE_CONT", tracee).ret == 0
    assert m.ptrace("PTRACE_PEEKUSER", tracee, 0).ret == -3


def test_traceme_twice_is_eperm():
    """ptrace_traceme (kernel/ptrace.c, 3.16): -EPERM when current->ptrace is already set."""
    m = Machine.boot()
    parent = m.spawn("x86_64")
    child = m.spawn("x86_64", parent=parent)
    assert m.ptrace("PTRACE_TRACEME", child).ret == 0
    assert child.task.tracer == parent.pid
    assert m.ptrace("PTRACE_TRACEME", child) == P.PtraceResult(-1, "EPERM")
    child2 = m.spawn("x86_64", parent=parent)
    assert child2.syscall("ptrace", P.PTRACE_TRACEME, 0, 0, 0).ret == 0
    assert child2.syscall("ptrace", P.PTRACE_TRACEME, 0, 0, 0).errno == "EPERM"


def test_attach_to_self_or_traced_is_eperm():
    """ptrace_attach (kernel/ptrace.c, 3.16): same_thread_group(task, current) -> -EPERM;
    task->ptrace already set -> -EPERM."""
    m = Machine.boot()
    tracer = m.spawn("x86_64")
    child = m.spawn("x86_64")
    assert m.ptrace("PTRACE_ATTACH", tracer, tracer=tracer).errno == "EPERM"
    assert m.ptrace("PTRACE_ATTACH", child, tracer=tracer).ret == 0
    other = m.spawn("x86_64")
    assert m.ptrace("PTRACE_ATTACH", child, tracer=other) == P.PtraceResult(-1, "EPERM")
    assert m.ptrace("PTRACE_ATTACH", child, tracer=tracer).errno == "EPERM"


def test_setoptions_outside_mask_is_einval():
    """ptrace_setoptions (kernel/ptrace.c, 3.16): data & ~PTRACE_O_MASK -> -EINVAL."""
    m = Machine.boot()
    _, child = attached(m, resume=None)
    for bad in (1 << 8, 1 << 21, 1 << 31, 0x100 | 1):
        assert m.ptrace("PTRACE_SETOPTIONS", child, 0, bad) == P.PtraceResult(-22, "EINVAL")
    assert m.ptrace("PTRACE_SETOPTIONS", child, 0, P.PTRACE_O_MASK).ret == 0


@pytest.mark.parametrize("request_name", ["PTRACE_CONT", "PTRACE_SYSCALL", "PTRACE_SYSEMU"])
def test_resume_with_invalid_signal_is_eio(request_name):
    """ptrace_resume (kernel/ptrace.c, 3.16): !valid_signal(data) -> -EIO (_NSIG 64)."""
    m = Machine.boot()
    _, child = attached(m, resume=None)
    for sig in (65, 100, 1 << 31):
        assert m.ptrace(request_name, child, 0, sig) == P.PtraceResult(-5, "EIO")
    assert child.stopped


def test_peekdata():
    """ptrace_request PEEKDATA/PEEKTEXT (kernel/ptrace.c generic_ptrace_peekdata, 3.16):
    access_process_vm copying less than a word gives -EIO; otherwise the word."""
    m = Machine.boot()
    _, child = attached(m, resume=None)
    assert m.ptrace("PTRACE_PEEKDATA", child, 0x3EAD_0000).errno == "EIO"
    assert m.ptrace("PTRACE_PEEKTEXT", child, 0).errno == "EIO"
    area = child.alloc(4096)
    child.write_mem(area + 16, struct.pack("<Q", 0x1122_3344_5566_7788))
    assert m.ptrace("PTRACE_PEEKDATA", child, area + 16).value == 0x1122_3344_5566_7788
    assert m.ptrace("PTRACE_POKEDATA", child, area + 24, 0xCAFE).ret == 0
    assert child.read_mem(area + 24, 8) == struct.pack("<Q", 0xCAFE)
    assert m.ptrace("PTRACE_POKEDATA", child, 0x3EAD_0000, 1).errno == "EIO"


def test_wait_on_non_child_is_echild():
    """do_wait (kernel/exit.c, 3.16): no child or tracee matching -> -ECHILD."""
    m = Machine.boot()
    _, child = attached(m, resume=None)
    stranger = m.spawn("x86_64")
    w = m.waitpid(child, waiter=stranger)
    assert (w.pid, w.errno) == (-10, "ECHILD")
    assert not w.stopped and not w.exited


def test_exit_status_after_exit_42():
    """do_exit((42 & 0xff) << 8) (kernel/exit.c sys_exit, 3.16): the parent's wait sees
    WIFEXITED with WEXITSTATUS 42; a second wait finds no child (-ECHILD)."""
    m = Machine.boot()
    parent = m.spawn("x86_64")
    child = m.spawn("x86_64", parent=parent)
    child.syscall("exit", 42)
    w = m.waitpid(child)
    assert w.pid == child.pid and w.exited and w.exitstatus == 42 and w.status == 0x2A00
    assert not w.signaled and not w.stopped
    assert m.waitpid(child).errno == "ECHILD"


def test_traced_exit_42():
    """A traced exit(42): an entry stop, then no exit stop (do_exit does not return); the
    tracer's wait sees WIFEXITED 42 (kernel/exit.c wait_task_zombie)."""
    m = Machine.boot()
    _, child, _ = at_entry_stop(m, "exit", 42)
    w = resume_and_wait(m, child)
    assert w.exited and w.exitstatus == 42
    assert child.last_result.outcome == "exit"


# ----------------------------------------------------------------------------- signals


def test_sigkill_at_exit_stop_kills():
    """ptrace_report_syscall (tracehook.h, 3.16): the tracer's resume signal is sent with
    send_sig; SIGKILL is fatal, and the wait sees WIFSIGNALED with SIGKILL."""
    m = Machine.boot()
    _, child, _ = at_entry_stop(m, "getpid")
    resume_and_wait(m, child)
    w = resume_and_wait(m, child, sig=SIGKILL)
    assert w.pid == child.pid and w.signaled and w.termsig == SIGKILL and w.status == SIGKILL
    assert not child.alive and child.last_result.signal == SIGKILL


def test_sigkill_at_entry_stop_kills():
    """tracehook.h ptrace_report_syscall and kernel/signal.c ptrace_stop, 3.16."""
    m = Machine.boot()
    _, child, _ = at_entry_stop(m, "getpid")
    w = resume_and_wait(m, child, sig=SIGKILL)
    assert w.signaled and w.termsig == SIGKILL


# ----------------------------------------------------------------------------- audit, tracepoints


def test_audit_alone_keeps_the_sysret_fast_path():
    """entry_64.S 3.16: with only TIF_SYSCALL_AUDIT, system_call goes to auditsys
    (__audit_syscall_entry with AUDIT_ARCH_X86_64, di, si, dx, r10), back to the fast path,
    and sysret_audit; it still leaves by sysretq, never through tracesys."""
    m = Machine.boot()
    m.enable_audit()
    p = m.spawn("x86_64")
    r = p.syscall("umask", 0o77, 0x1111, 0x2222, 0x3333, 0x4444)
    assert r.ret == 0o22
    cpu = [e.what for e in r.trace if e.kind == "cpu"]
    assert any(w.startswith("sysretq") for w in cpu)
    assert not any(w.startswith("iretq") for w in cpu)
    assert not any(s.startswith("tracesys (") for s in r.trace.symbols())
    assert m.audit == [
        P.AuditRecord(p.pid, 0xC000_003E, NR_UMASK, (0o77, 0x1111, 0x2222, 0x3333), True, 0o22)
    ]
    r = p.syscall("getpid", via="syscall")
    assert m.audit[-1].success is True and m.audit[-1].ret == p.pid


def test_audit_records_failure():
    """audit_syscall_exit: success is false for -MAX_ERRNO..-1 (AUDITSC_RESULT, 3.16)."""
    m = Machine.boot()
    m.enable_audit()
    p = m.spawn("x86_64")
    p.syscall(400)
    assert m.audit[-1].nr == 400
    assert (m.audit[-1].success, m.audit[-1].ret) == (False, -ENOSYS)


def test_tracepoints():
    """trace_sys_enter(regs, orig_ax) with syscall_get_arguments' six arguments and
    trace_sys_exit with the return value (include/trace/events/syscalls.h,
    arch/x86/kernel/ptrace.c 3.16); the slow path leaves by iretq."""
    m = Machine.boot()
    m.enable_syscall_tracepoints()
    p = m.spawn("x86_64")
    r = p.syscall("umask", 0o77, 1, 2, 3, 4, 5)
    assert m.tracepoints == [
        P.TracepointEvent("sys_enter", p.pid, NR_UMASK, (0o77, 1, 2, 3, 4, 5)),
        P.TracepointEvent("sys_exit", p.pid, NR_UMASK, (), 0o22),
    ]
    assert any(s.startswith("tracesys (") for s in r.trace.symbols())
    assert any(e.what.startswith("iretq") for e in r.trace if e.kind == "cpu")
    m.enable_syscall_tracepoints(False)
    p.syscall("getpid")
    assert len(m.tracepoints) == 2


def test_int80_from_64_bit_process_under_ptrace():
    """INT 0x80 from a 64-bit process (ia32_syscall -> ia32_tracesys, ia32entry.S 3.16):
    orig_rax is the i386 number (getpid 20), and the audit record uses IS_IA32
    (TS_COMPAT): AUDIT_ARCH_I386 with bx, cx, dx, si (arch/x86/kernel/ptrace.c)."""
    m = Machine.boot()
    m.enable_audit()
    m.enable_syscall_tracepoints()
    _, child, _ = at_entry_stop(m, "getpid", 1, 2, 3, 4, 5, 6, via="int80")
    assert peek(m, child, ORIG_RAX) == NR_GETPID_I386
    assert peek(m, child, RAX) == MINUS_ENOSYS
    w = resume_and_wait(m, child)
    assert w.stopped and peek(m, child, RAX) == child.pid
    assert resume_and_wait(m, child).pid == 0
    assert child.last_result.ret == child.pid
    assert m.audit == [
        P.AuditRecord(child.pid, 0x4000_0003, NR_GETPID_I386, (1, 2, 3, 4), True, child.pid)
    ]
    assert m.tracepoints[0] == P.TracepointEvent(
        "sys_enter", child.pid, NR_GETPID_I386, (1, 2, 3, 4, 5, 6)
    )


def test_x32_call_audited_as_i386():
    """The 3.16 quirk: syscall_trace_enter audits with AUDIT_ARCH_I386 and bx, cx, dx, si when
    IS_IA32, and IS_IA32 is is_compat_task() (arch/x86/kernel/ptrace.c 3.16), which is
    is_ia32_task() || is_x32_task() (asm/compat.h; is_x32_task tests orig_ax &
    __X32_SYSCALL_BIT). Fixed in 3.17 by Lutomirski's "x86,x32,audit: Fix x32's AUDIT_ARCH
    wrt audit" (is_compat_task -> is_ia32_task). With tracepoints on, the x32 call takes the
    slow path; the RCX slot is -1 after FIXUP_TOP_OF_STACK, so a1 is 0xffffffff. The
    tracepoint's arguments come from syscall_get_arguments, which tests TS_COMPAT only."""
    m = Machine.boot()
    m.enable_audit()
    m.enable_syscall_tracepoints()
    p = m.spawn("x32")
    p.set_registers({"rbx": 0x1_0000_0011})
    r = p.syscall("umask", 0o77, 0x2222, 0x3333)
    assert r.number == X32_BIT | NR_UMASK and r.ret == 0o22
    record = m.audit[-1]
    assert record.arch == 0x4000_0003
    assert record.nr == X32_BIT | NR_UMASK
    assert record.args == (0x11, 0xFFFF_FFFF, 0x3333, 0x2222)
    assert (record.success, record.ret) == (True, 0o22)
    assert m.tracepoints[0].args[:3] == (0o77, 0x2222, 0x3333)


def test_x32_audit_fast_path_is_x86_64():
    """auditsys (entry_64.S 3.16) hard-codes movl $AUDIT_ARCH_X86_64,%edi with di, si, dx, r10
    and the number from rax, x32 bit included: the quirk above is the slow path's only."""
    m = Machine.boot()
    m.enable_audit()
    p = m.spawn("x32")
    p.syscall("umask", 0o77, 0x2222, 0x3333)
    assert m.audit[-1].arch == 0xC000_003E
    assert m.audit[-1].nr == X32_BIT | NR_UMASK
    assert m.audit[-1].args == (0o77, 0x2222, 0x3333, 0)


# ----------------------------------------------------------------------------- execve


def _image():
    code = assemble("mov edi, 7\nmov eax, 60\nsyscall", mode=64, address=BASE64)
    return E.build_executable(
        [E.Segment(vaddr=BASE64, data=code)],
        entry=BASE64,
        elf_class=E.ELFCLASS64,
        machine=E.EM_X86_64,
    )


def _execve_stops(options):
    m = Machine.boot()
    m.fs.add_executable("/bin/seven", _image())
    _, child = attached(m, options)
    area = child.alloc(4096)
    child.write_mem(area + 0x400, b"/bin/seven\0")
    child.write_mem(area, struct.pack("<QQ", area + 0x400, 0))
    child.write_mem(area + 0x200, struct.pack("<Q", 0))
    assert child.syscall("execve", area + 0x400, area, area + 0x200).outcome == "stopped"
    stops = []
    while True:
        w = m.waitpid(child)
        if w.pid <= 0 or not w.stopped:
            break
        msg = m.ptrace("PTRACE_GETEVENTMSG", child).value if w.event else None
        stops.append((w.status, msg))
        assert m.ptrace("PTRACE_SYSCALL", child).ret == 0
    return m, child, stops


def test_execve_without_traceexec_sends_sigtrap():
    """Without PTRACE_O_TRACEEXEC, ptrace_event(PTRACE_EVENT_EXEC) sends a legacy SIGTRAP
    (include/linux/ptrace.h, 3.16): after the syscall-exit stop, a signal-delivery stop with
    status 0x57f (get_signal_to_deliver -> ptrace_signal)."""
    m, child, stops = _execve_stops(P.PTRACE_O_TRACESYSGOOD)
    assert stops == [(0x857F, None), (0x857F, None), (0x057F, None)]
    assert child.last_result.ret == 0 and child.alive
    r = child.resume()
    assert r.stop == "stopped"  # the new image's exit(7), traced
    w = m.waitpid(child)
    assert w.stopsig == 0x85 and peek(m, child, ORIG_RAX) == NR_EXIT
    w = resume_and_wait(m, child)
    assert w.exited and w.exitstatus == 7


def test_execve_with_traceexec_event_stop():
    """With PTRACE_O_TRACEEXEC: an event stop with status SIGTRAP | PTRACE_EVENT_EXEC << 8,
    i.e. (4 << 16) | 0x57f = 0x4057f, inside the call, between the entry and exit stops;
    GETEVENTMSG gives the old pid (search_binary_handler, fs/exec.c 3.16)."""
    _, child, stops = _execve_stops(P.PTRACE_O_TRACESYSGOOD | P.PTRACE_O_TRACEEXEC)
    assert stops == [(0x857F, None), (0x4057F, child.pid), (0x857F, None)]
    assert (4 << 16) | 0x57F == 0x4057F
    assert child.last_result.ret == 0 and child.alive


# ----------------------------------------------------------------------------- from user mode


def test_ptrace_and_wait4_from_a_simulated_tracer():
    """ptrace(2) and wait4(2) made by a simulated tracer: wait4 puts the status at its pointer
    (kernel/exit.c wait_task_stopped put_user), PEEKUSR puts the word at data (put_user in
    arch_ptrace), GETREGS copies 27 * 8 bytes (copy_regset_to_user, sizeof(struct
    user_regs_struct))."""
    m = Machine.boot()
    tracer, child = attached(m)
    assert child.syscall("umask", 0o27).outcome == "stopped"
    buf = tracer.alloc(4096)
    tracer.write_mem(buf, b"\xaa" * 0x400)
    r = tracer.syscall("wait4", child.pid, buf, 0, 0)
    assert r.ret == child.pid
    assert struct.unpack("<I", tracer.read_mem(buf, 4))[0] == 0x857F
    assert tracer.syscall("wait4", child.pid, buf, P.WNOHANG, 0).ret == 0
    r = tracer.syscall("ptrace", P.PTRACE_PEEKUSR, child.pid, ORIG_RAX, buf + 8)
    assert r.ret == 0 and struct.unpack("<Q", tracer.read_mem(buf + 8, 8))[0] == NR_UMASK
    r = tracer.syscall("ptrace", P.PTRACE_PEEKUSR, child.pid, RDI, buf + 8)
    assert struct.unpack("<Q", tracer.read_mem(buf + 8, 8))[0] == 0o27
    assert tracer.syscall("ptrace", P.PTRACE_PEEKUSR, child.pid, 121, buf + 8).errno == "EIO"
    r = tracer.syscall("ptrace", P.PTRACE_GETREGS, child.pid, 0, buf + 0x100)
    assert r.ret == 0
    words = struct.unpack("<27Q", tracer.read_mem(buf + 0x100, 27 * 8))
    assert dict(zip(P.USER_REGS_64, words, strict=True)) == m.ptrace("PTRACE_GETREGS", child).value
    assert words[15] == NR_UMASK and words[10] == MINUS_ENOSYS
    assert tracer.read_mem(buf + 0x100 + 216, 8) == b"\xaa" * 8
    stranger = m.spawn("x86_64")
    assert stranger.syscall("wait4", child.pid, 0, 0, 0).errno == "ECHILD"
    assert stranger.syscall("ptrace", P.PTRACE_PEEKUSR, child.pid, 0, buf).errno == "ESRCH"


# ----------------------------------------------------------------------------- determinism


def _session():
    m = Machine.boot()
    _, child, w0 = at_entry_stop(m, "umask", 0o27)
    statuses = [w0.status]
    m.ptrace("PTRACE_POKEUSER", child, RDI, 0o55)
    statuses.append(resume_and_wait(m, child).status)
    statuses.append(resume_and_wait(m, child).status)
    _, child2, w1 = at_entry_stop(m, "exit", 3)
    statuses.append(w1.status)
    statuses.append(resume_and_wait(m, child2).status)
    return statuses, child.last_result.trace.render(), child2.last_result.trace.render()


def test_same_session_twice_is_identical():
    """Determinism: the same session on two fresh machines gives the same wait statuses and
    the same rendered traces."""
    first, second = _session(), _session()
    assert first == second
    assert first[0] == [0x857F, 0x857F, 0, 0x857F, 3 << 8]


class TestEveryEntry:
    """The slow path of every entry routine (entry_32.S, ia32entry.S, entry_64.S in 3.16)."""

    @pytest.mark.parametrize(
        ("kernel", "vendor", "via"),
        [
            ("i386", "intel", "int80"),  # system_call -> syscall_trace_entry
            ("i386", "intel", "sysenter"),  # sysenter_audit -> syscall_trace_entry
            ("x86_64", "intel", "sysenter"),  # sysenter_tracesys
            ("x86_64", "amd", "kernel_vsyscall"),  # the SYSCALL variant: cstar_tracesys
            ("x86_64", "intel", "int80"),  # ia32_tracesys
        ],
    )
    def test_entry_stop_and_number_rewrite(self, kernel, vendor, via):
        """A 32-bit getpid (20) stops at entry with eax = -ENOSYS and orig_eax = 20; writing
        13 (time) to orig_eax at the stop runs time instead, and its result comes back."""
        m = Machine.boot(kernel=kernel, cpu=vendor)
        tracer = m.spawn("i386" if kernel == "i386" else "x86_64")
        child = m.spawn("i386")
        m.ptrace("PTRACE_ATTACH", child, tracer=tracer)
        m.waitpid(child)
        m.ptrace("PTRACE_SETOPTIONS", child, 0, 1)
        m.ptrace("PTRACE_SYSCALL", child)
        assert child.syscall("getpid", via=via).outcome == "stopped"
        assert m.waitpid(child).status == 0x857F
        regs = m.ptrace("PTRACE_GETREGS", child).value
        orig, ax, offset = ("orig_eax", "eax", 44) if kernel == "i386" else ("orig_rax", "rax", 120)
        assert regs[orig] == 20
        assert regs[ax] & 0xFFFF_FFFF == (-38) & 0xFFFF_FFFF
        assert m.ptrace("PTRACE_POKEUSER", child, offset, 13).ret == 0
        m.ptrace("PTRACE_SYSCALL", child)
        assert m.waitpid(child).status == 0x857F
        m.ptrace("PTRACE_CONT", child)
        assert m.waitpid(child).pid == 0
        assert child.last_result.ret == m.kernel.timekeeper.xtime_sec

    @pytest.mark.parametrize(("kernel", "vendor"), [("i386", "intel"), ("x86_64", "intel")])
    def test_audit_alone_keeps_sysexit(self, kernel, vendor):
        """TIF_SYSCALL_AUDIT alone: sysenter_audit / sysenter_auditsys record the call and the
        exit is still SYSEXIT (sysexit_audit), with arch AUDIT_ARCH_I386."""
        m = Machine.boot(kernel=kernel, cpu=vendor)
        m.enable_audit()
        p = m.spawn("i386")
        r = p.syscall("getpid", via="sysenter")
        assert r.ret == p.pid
        assert any(e.kind == "cpu" and e.what == "sysexit" for e in r.trace)
        record = m.audit[-1]
        assert (record.arch, record.nr, record.ret) == (0x4000_0003, 20, p.pid)

    def test_execve_keeps_orig_rax(self):
        """start_thread_common and ELF_PLAT_INIT (3.16) leave orig_ax alone: the exit stop of
        a successful execve still reads orig_rax = 59."""
        from scenarios.kernel_stories import _echo_program

        m = Machine.boot(files={"/bin/echo": _echo_program("x86_64")})
        tracer = m.spawn("x86_64")
        child = m.spawn("x86_64")
        path = child.alloc(16)
        child.write_mem(path, b"/bin/echo\0")
        m.ptrace("PTRACE_ATTACH", child, tracer=tracer)
        m.waitpid(child)
        m.ptrace("PTRACE_SYSCALL", child)
        child.run(f"mov rdi, {path}\nxor esi, esi\nxor edx, edx\nmov eax, 59\nsyscall")
        assert m.waitpid(child).stopped
        m.ptrace("PTRACE_SYSCALL", child)
        assert m.waitpid(child).stopsig == 5  # no TRACESYSGOOD: plain SIGTRAP
        assert m.ptrace("PTRACE_PEEKUSER", child, 120).value == 59
        assert m.ptrace("PTRACE_PEEKUSER", child, 80).value == 0


class TestSnapshot:
    def test_restore_a_stopped_tracee(self):
        """A snapshot taken while a tracee is stopped at a syscall entry comes back stopped
        there, with the rest of its run: resuming it after the restore finishes the call."""
        m = Machine.boot()
        tracer = m.spawn("x86_64")
        child = m.spawn("x86_64")
        m.ptrace("PTRACE_ATTACH", child, tracer=tracer)
        m.waitpid(child)
        m.ptrace("PTRACE_SYSCALL", child)
        child.run("mov eax, 39\nsyscall")
        assert m.waitpid(child).stopped
        snap = m.snapshot()
        m.ptrace("PTRACE_CONT", child)
        assert m.waitpid(child).pid == 0
        first = child.last_result.after.reg("rax")
        m.restore(snap)
        assert child.stopped
        m.ptrace("PTRACE_CONT", child)
        assert m.waitpid(child).pid == 0
        assert child.last_result.after.reg("rax") == first == child.pid


class TestSigchld:
    def test_stop_sends_sigchld_which_is_ignored(self):
        """do_notify_parent_cldstop (kernel/signal.c 3.16) sends SIGCHLD to the tracer; with
        SIG_DFL its default action is to be ignored, so sig_ignored drops it at once and the
        tracer's next call still leaves by SYSRET."""
        m = Machine.boot()
        tracer = m.spawn("x86_64")
        child = m.spawn("x86_64")
        m.ptrace("PTRACE_ATTACH", child, tracer=tracer)
        m.waitpid(child)
        m.ptrace("PTRACE_SYSCALL", child)
        r = child.syscall("getpid")
        assert "sig_ignored (kernel/signal.c)" in r.trace.symbols()
        assert not tracer.task.pending_signals
        r = tracer.syscall("getpid")
        assert r.ret == tracer.pid
        assert any(e.kind == "cpu" and e.what == "sysretq" for e in r.trace)
