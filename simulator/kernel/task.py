"""A task: what the kernel keeps for one process (task_struct and thread_info, in part)."""

from __future__ import annotations

from typing import Any

import attrs

from simulator.cpu import AddressSpace, Snapshot
from simulator.kernel import linux316 as L


@attrs.define(eq=False)
class Console:
    """The terminal a spawned process's fds 0, 1 and 2 point at: reads see EOF, writes collect."""

    output: bytearray = attrs.field(factory=bytearray)
    readable: bool = True
    writable: bool = True

    def read(self, count: int) -> bytes | int:
        return b""

    def write(self, data: bytes) -> int:
        self.output += data
        return len(data)


@attrs.define(eq=False)
class Task:
    """One process with one thread.

    ``abi`` is the process's ABI; ``flags`` holds the TIF_* bits of
    thread_info->flags and ``status`` thread_info->status (TS_COMPAT).
    ``kernel_stack_top`` is the top of its kernel stack in the shared kernel
    half; ``user_state`` is the CPU state it returns to user mode with, kept
    while another task runs. ``tls`` holds the three TLS descriptors
    (raw 8-byte values) that __switch_to loads into the GDT.
    """

    pid: int
    abi: str
    mm: AddressSpace
    cr3: int
    kernel_stack_top: int
    flags: int = 0
    status: int = 0
    sysenter_return: int = 0
    umask: int = 0o022
    cwd: str = "/"
    fds: dict[int, Any] = attrs.field(factory=dict)
    tls: list[int] = attrs.field(factory=lambda: [0, 0, 0])
    fs_base: int = 0
    gs_base: int = 0
    user_state: Snapshot | None = None
    exit_code: int | None = None  # the wait status once the task has exited
    killed_by: int | None = None
    no_new_privs: bool = False
    auxv: tuple[tuple[int, int], ...] = ()
    vdso32: int = 0
    brk: int = 0
    parent: int = 0
    execs: int = 0  # how many execve calls have succeeded
    vmas: list[tuple[int, int, str, str]] = attrs.field(factory=list)  # start, end, rwxp, name
    initial_sp: int = 0  # where argc sits on the stack execve (or spawn) built
    vdso: int = 0  # mm->context.vdso: the vDSO's base, 0 when none is mapped
    # ptrace (kernel/ptrace.c, 3.16): task->ptrace (PT_PTRACED | options << PT_OPT_FLAG_SHIFT)
    # and the tracer's pid; ``stopped`` is TASK_TRACED, ``stop_code`` task->exit_code while
    # stopped (what wait reports once, then 0); ``resume`` says where the kernel goes on when
    # the tracer wakes the task, ``kernel_state`` the CPU state it stopped with (ring 0).
    ptrace: int = 0
    tracer: int = 0
    stopped: bool = False
    stop_code: int = 0
    resume: tuple = ()
    kernel_state: Snapshot | None = None
    ptrace_message: int = 0
    pending_signals: list[int] = attrs.field(factory=list)
    blocked: int = 0  # the signal mask (bit sig-1)
    # The siginfo of each pending signal: signal -> (si_errno, si_code, {offset: (value, size)})
    siginfo: dict[int, tuple[int, int, dict[int, tuple[int, int]]]] = attrs.field(factory=dict)
    sigactions: dict[int, tuple[int, int, int, int]] = attrs.field(factory=dict)
    reaped: bool = False
    fault_reason: dict[int, str] = attrs.field(factory=dict)  # signal -> the fault that sent it
    trap: tuple[int, int, int] = (0, 0, 0)  # thread.trap_nr, error_code, cr2 of the last fault
    usersp: int = 0  # thread.usersp: the per-CPU old_rsp saved by __switch_to
    job_stopped: bool = False  # TASK_STOPPED by SIGSTOP/SIGTSTP/SIGTTIN/SIGTTOU
    job_status: int = 0  # the stop status a WUNTRACED wait reports once
    continued: bool = False  # a SIGCONT a WCONTINUED wait reports once
    sleeping: int = 0  # the pipe number a blocked read waits on (TASK_INTERRUPTIBLE), or 0
    exec_event: bool = False  # a PTRACE_EVENT_EXEC stop is due when execve's stub returns
    # seccomp (kernel/seccomp.c, 3.16): mode 0, 1 (strict) or 2 (filter); filters newest first
    cap_sys_admin: bool = True  # ringsim's processes run as root
    seccomp_mode: int = 0
    seccomp_filters: list[Any] = attrs.field(factory=list)

    def has(self, flag: int) -> bool:
        """Whether TIF bit ``flag`` is set."""
        return bool(self.flags >> flag & 1)

    def set_flag(self, flag: int, on: bool = True) -> None:
        if on:
            self.flags |= 1 << flag
        else:
            self.flags &= ~(1 << flag)

    @property
    def alive(self) -> bool:
        return self.exit_code is None

    @property
    def is_compat(self) -> bool:
        """A 32-bit process on a 64-bit kernel (TIF_IA32)."""
        return self.has(L.TIF_IA32)

    def lowest_free_fd(self) -> int:
        fd = 0
        while fd in self.fds:
            fd += 1
        return fd
