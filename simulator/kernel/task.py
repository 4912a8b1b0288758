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
