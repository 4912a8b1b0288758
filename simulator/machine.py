"""The facade: Machine.boot, Machine.spawn, Process.syscall and Process.run, and their results."""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from simulator._lazy import lazy
from simulator.cpu import CPU, Snapshot
from simulator.cpu._validate import check_choice, check_int, check_range
from simulator.cpu.disassembler import format_instruction
from simulator.cpu.execute import (
    COMPLETED,
    DELIVERED,
    DELIVERY_SECTION,
    HALTED,
    HOOK,
    NOT_MODELED,
    SHUTDOWN,
    manual_page,
    registers_only,
)
from simulator.cpu.faults import FaultSignal
from simulator.cpu.memory import PAGE_MASK, PAGE_SHIFT
from simulator.cpu.registers import RAX, RIP, RSP
from simulator.cpu.segments import SREG_NAMES
from simulator.cpu.state import visible_changes
from simulator.trace import FAULT, Trace

if TYPE_CHECKING:
    from simulator.kernel.fs import FileSystem
    from simulator.kernel.kernel import Kernel
    from simulator.kernel.task import Task

# The toy kernel, the ABI facts and the assembler load with the first boot
# (simulator/_lazy.py).
abi = lazy("abi")
kexec = lazy("simulator.kernel.exec")
L = lazy("simulator.kernel.linux316")
P = lazy("simulator.kernel.ptrace")
vdso32 = lazy("simulator.kernel.vdso32")
_boot = lazy("simulator.kernel.boot")
_fs = lazy("simulator.kernel.fs")
_task = lazy("simulator.kernel.task")
_asm = lazy("simulator.cpu.assembler")

KERNELS = ("x86_64", "i386")
VENDORS = ("intel", "amd")
PROFILES = ("linux-3.16", "linux-6.9")
ABIS = ("x86_64", "i386", "x32")
VIAS = ("syscall", "int80", "sysenter", "kernel_vsyscall")  # the ways into the kernel
FUNCTION_VIAS = ("vdso", "vsyscall_page")  # the ways around it
VDSO_FUNCTIONS_64 = ("gettimeofday", "clock_gettime", "time", "getcpu")
VDSO_FUNCTIONS_32 = ("gettimeofday", "clock_gettime", "time")

_VISIBLE_32 = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "eip", "eflags")
_VISIBLE_64 = (
    "rax",
    "rbx",
    "rcx",
    "rdx",
    "rsi",
    "rdi",
    "rbp",
    "rsp",
    "r8",
    "r9",
    "r10",
    "r11",
    "r12",
    "r13",
    "r14",
    "r15",
    "rip",
    "rflags",
)

# ringsim's user layout (ours): the page Process.syscall runs its instruction from,
# the page Process.run loads code into, and the bump area of Process.alloc.
TRAMPOLINE_OFFSET = 0x0
RUN_OFFSET = 0x1000
RUN_SIZE = 0x4000
ALLOC_BASE = 0x1000_0000
ALLOC_LIMIT = 0x2000_0000
STACK_PAGES = 16


@attrs.frozen
class SyscallResult:
    """What one system call did, seen from the process.

    ``ret`` is the return register read as a signed value of the process's
    width; ``errno`` the error name when ret is in -4095..-1. ``changed``
    maps each register visible in the process's mode that changed to its
    (before, after) values. ``signal`` is the signal that ended the process, if
    one did; ``modeled`` is false when the call reached a kernel function ringsim
    does not model (its answer is then a placeholder, not Linux's).
    """

    name: str
    number: int
    via: str
    ret: int | None
    errno: str | None
    changed: Mapping[str, tuple[int, int]]
    before: Snapshot
    after: Snapshot
    trace: Trace | None
    signal: int | None
    modeled: bool
    outcome: str
    detail: str = ""

    @property
    def signal_name(self) -> str | None:
        """The name of ``signal`` (``"SIGSEGV"``, from abi.SIGNAL_NAMES); None when no signal
        ended the process."""
        if self.signal is None:
            return None
        return abi.SIGNAL_NAMES.get(self.signal, f"signal {self.signal}")

    def __str__(self) -> str:
        if self.signal is not None:
            return f"{self.name}: killed by {self.signal_name} ({self.detail})"
        if self.ret is None:
            return f"{self.name}: {self.outcome} ({self.detail})"
        text = f"{self.name} = {self.ret}"
        if self.errno:
            text += f" ({self.errno})"
        return text if self.modeled else text + " [not modeled]"

    def _repr_html_(self) -> str:
        """For notebooks: the result, the registers that changed, the map of the path and
        the trace."""
        from html import escape

        rows = "".join(
            f"<tr><td>{escape(name)}</td><td><code>{before:#x}</code></td>"
            f"<td><code>{after:#x}</code></td></tr>"
            for name, (before, after) in self.changed.items()
        )
        table = (
            f'<table class="ringsim-changed"><tr><th>register</th><th>before</th>'
            f"<th>after</th></tr>{rows}</table>"
            if rows
            else "<p>no register the process can see changed</p>"
        )
        head = f"<p><b>{escape(str(self))}</b> (nr {self.number}, via {escape(self.via)}, "
        head += f"outcome {escape(self.outcome)})</p>"
        return head + table + _trace_html(self.trace)


@attrs.frozen
class RunResult:
    """How a Process.run ended, and what it did."""

    stop: str
    steps: int
    before: Snapshot
    after: Snapshot
    trace: Trace | None
    signal: int | None
    modeled: bool
    detail: str = ""

    def _repr_html_(self) -> str:
        """For notebooks: how the run ended, the map of its path and its trace."""
        from html import escape

        detail = f" ({escape(self.detail)})" if self.detail else ""
        head = f"<p><b>run: {escape(self.stop)}</b>{detail} after {self.steps} steps</p>"
        return head + _trace_html(self.trace)


def _trace_html(trace: Trace | None) -> str:
    if trace is None:
        return "<p>(not traced)</p>"
    return (
        f"<figure>{trace.to_svg()}</figure><details><summary>trace, {len(trace)} steps"
        f"</summary>{trace.to_html()}</details>"
    )


@attrs.frozen(eq=False)
class MachineSnapshot:
    """A machine's state at one moment (see Machine.snapshot)."""

    cpu: Snapshot
    kernel_memory: Any
    memories: dict
    tasks: dict
    files: Any
    brks: dict
    current: int | None
    timekeeper: Any
    next_pid: int
    spaces: dict
    random_state: Any
    tick_at: int | None
    tsc: tuple[int, int]  # (retired, tsc_offset): the TSC, which the CPU snapshot leaves out
    pending: dict  # pid -> the run a ptrace stop interrupted (by reference)


class Machine:
    """A booted machine: one CPU, one kernel, its filesystem and processes.

    Make one with ``Machine.boot``; the constructor takes what boot has built.
    """

    def __init__(self, kernel: Kernel, boot_trace: Trace, *, profile: str, seed: int) -> None:
        self.kernel = kernel
        self.cpu: CPU = kernel.cpu
        self.boot_trace = boot_trace
        self.profile = profile
        self.seed = seed
        self.random: random.Random = random.Random(seed)  # every random choice comes from here
        kernel.random = self.random
        self.fs: FileSystem = _fs.FileSystem.standard()
        kernel.fs = self.fs
        self.processes: dict[int, Process] = {}
        self._next_pid = 1
        self._tick_at: int | None = None

    @classmethod
    def boot(
        cls,
        kernel: str = "x86_64",
        cpu: str = "intel",
        profile: str = "linux-3.16",
        seed: int = 0,
        *,
        what_if: Mapping[str, Any] | None = None,
        files: Mapping[str, bytes] | None = None,
        vsyscall: str = "emulate",
        options: Mapping[str, bool] | None = None,
    ) -> Machine:
        """Boot a kernel (``x86_64`` or ``i386``) on a CPU (``intel`` or ``amd``).

        ``what_if`` changes the boot in ways Linux does not (see
        simulator.kernel.boot.WHAT_IF_KEYS); the boot trace labels each change.
        ``files`` populates the filesystem: path -> bytes (an ELF image becomes an
        executable, mode 0755; anything else a regular file, mode 0644). ``vsyscall`` is
        the kernel parameter of the same name: native, emulate (3.16's default) or none.
        ``options`` configures a linux-6.9 x86_64 kernel as a real one is configured:
        ``x32`` (CONFIG_X86_X32_ABI) and ``ia32_emulation`` (the ia32_emulation= boot
        parameter), both True by default; linux-3.16 and i386 kernels take none.
        """
        check_choice("kernel", kernel, KERNELS)
        check_choice("cpu", cpu, VENDORS)
        check_choice("profile", profile, PROFILES)
        check_int("seed", seed, 64)
        if options is not None and not isinstance(options, Mapping):
            raise TypeError(f"options: expected a mapping, received {type(options).__name__}")
        k, trace = _boot.boot(
            kernel,
            cpu,
            what_if=dict(what_if or {}),
            vsyscall=vsyscall,
            profile=profile,
            options=dict(options or {}),
        )
        machine = cls(k, trace, profile=profile, seed=seed)
        for path, data in (files or {}).items():
            if not isinstance(data, (bytes, bytearray)):
                raise TypeError(f"files[{path!r}]: expected bytes, received {type(data).__name__}")
            if data[:4] == b"\x7fELF":
                machine.fs.add_executable(path, bytes(data))
            else:
                machine.fs.add_file(path, bytes(data))
        return machine

    def snapshot(self) -> MachineSnapshot:
        """The whole machine's state (CPU, memory, tasks, files), to come back to with restore().

        Property tests take one after booting and spawning, and restore it per
        example instead of booting again.
        """
        k = self.kernel
        tasks = {pid: attrs.asdict(t, recurse=False) for pid, t in k.tasks.items()}
        memories = {pid: (t.mm, t.mm.snapshot()) for pid, t in k.tasks.items()}
        brks = {pid: p._brk for pid, p in self.processes.items()}
        files = copy.deepcopy((self.fs, {pid: t["fds"] for pid, t in tasks.items()}))
        for t in tasks.values():
            del t["fds"], t["mm"]
        return MachineSnapshot(
            cpu=self.cpu.snapshot(),
            kernel_memory=k.kspace.snapshot(),
            memories=memories,
            tasks=copy.deepcopy(tasks),
            files=files,
            brks=brks,
            current=k.current.pid if k.current else None,
            timekeeper=copy.deepcopy(k.timekeeper),
            next_pid=self._next_pid,
            spaces=dict(self.cpu.spaces),
            random_state=self.random.getstate(),
            tick_at=self._tick_at,
            tsc=(self.cpu.retired, self.cpu.tsc_offset),
            pending={pid: p._pending for pid, p in self.processes.items()},
        )

    def restore(self, snap: MachineSnapshot) -> None:
        """Put the machine back as ``snap`` recorded it (processes made since are gone)."""
        if not isinstance(snap, MachineSnapshot):
            raise TypeError(f"snap: expected a MachineSnapshot, received {type(snap).__name__}")
        k = self.kernel
        fs, fds = copy.deepcopy(snap.files)
        self.fs = fs
        k.fs = fs
        k.kspace.restore(snap.kernel_memory)
        for pid in list(k.tasks):
            if pid not in snap.tasks:
                del k.tasks[pid]
                self.processes.pop(pid, None)
        for pid, fields in snap.tasks.items():
            mm, memory = snap.memories[pid]
            mm.restore(memory)
            values = copy.deepcopy(fields)
            task = k.tasks.get(pid)
            if task is None:
                task = _task.Task(mm=mm, **values)
                k.tasks[pid] = task
                self.processes[pid] = Process(self, task)
            else:
                for name, value in values.items():
                    setattr(task, name, value)
                task.mm = mm
            task.fds = fds[pid]
            self.processes[pid]._brk = snap.brks.get(pid, ALLOC_BASE)
        self.cpu.spaces.clear()
        self.cpu.spaces.update(snap.spaces)
        self.cpu.restore(snap.cpu)
        k.current = k.tasks.get(snap.current) if snap.current is not None else None
        # The vvar page is one bytearray mapped into every process: keep the object, put
        # its bytes back.
        vvar = k.timekeeper.vvar
        k.timekeeper = copy.deepcopy(snap.timekeeper)
        vvar[:] = k.timekeeper.vvar
        k.timekeeper.vvar = vvar
        self.random.setstate(snap.random_state)
        self._tick_at = snap.tick_at
        self.cpu.retired, self.cpu.tsc_offset = snap.tsc
        k.stopped = None
        k.unmodeled = []
        self._next_pid = snap.next_pid
        self.cpu.halted = False
        self.cpu.shutdown = False
        for pid, process in self.processes.items():
            process._vdso_symbols.clear()
            process._pending = snap.pending.get(pid)

    # ------------------------------------------------------------ ptrace and wait

    def _pid_of(self, field: str, value: Process | int) -> int:
        if isinstance(value, Process):
            return value.pid
        pid = check_int(field, value, 31)
        if pid not in self.kernel.tasks:
            raise ValueError(
                f"{field}: expected the pid of a process of this machine, received {pid}"
            )
        return pid

    def ptrace(
        self,
        request: int | str,
        pid: Process | int,
        addr: int = 0,
        data: int | Mapping[str, int] = 0,
        *,
        tracer: Process | int | None = None,
    ) -> P.PtraceResult:
        """ptrace(2) as ``tracer`` makes it, through the kernel's own sys_ptrace path
        (ptrace_traceme, ptrace_attach, ptrace_check_attach, arch_ptrace, ptrace_request).

        ``request`` is a number or a name (``"PTRACE_SYSCALL"``). ``tracer`` defaults to the
        process's tracer (or its parent, for PTRACE_ATTACH); for PTRACE_TRACEME ``pid`` is the
        process that makes the request. Errors come back as the kernel returns them
        (``ret`` = -ESRCH, -EIO, -EPERM, -EINVAL), never as exceptions; GETREGS gives the
        tracer's user_regs_struct (64-bit on an x86_64 kernel) as a dict, SETREGS takes one.
        """
        if isinstance(request, str):
            if request not in P.REQUESTS:
                raise ValueError(f"request: expected a PTRACE_* name, received {request!r}")
            number = P.REQUESTS[request]
        else:
            number = check_int("request", request, 32)
        k = self.kernel
        target = self._pid_of("pid", pid)
        task = k.tasks[target]
        if number == P.PTRACE_TRACEME:
            return P.sys_ptrace(k, task, number, 0, 0, 0)
        if tracer is not None:
            caller = k.tasks[self._pid_of("tracer", tracer)]
        else:
            default = task.tracer or task.parent
            if not default:
                raise ValueError(
                    f"tracer: expected the tracing process, received None, and pid {target} "
                    "has no tracer or parent to default to"
                )
            caller = k.tasks[default]
        if not isinstance(data, Mapping):
            data = check_int("data", data, 64)
        addr = check_int("addr", addr, 64)
        return P.sys_ptrace(k, caller, number, target, addr, data)

    def waitpid(
        self, pid: Process | int, options: int = 0, *, waiter: Process | int | None = None
    ) -> P.WaitResult:
        """wait4(pid, &status, options) as ``waiter`` (default: the process's tracer, or its
        parent) makes it: a stopped or dead child is reported at once (wait_task_stopped,
        wait_task_zombie); a child its tracer has resumed runs first, as the scheduler would
        run it while the waiter sleeps, until it stops, dies, or ends the run it was making.
        With nothing to report the result's pid is 0; a process that is not the waiter's
        child or tracee gives -ECHILD."""
        k = self.kernel
        target = self._pid_of("pid", pid)
        check_int("options", options, 32)
        task = k.tasks[target]
        who = self._pid_of("waiter", waiter) if waiter is not None else (task.tracer or task.parent)
        if not who or who not in (task.tracer, task.parent) or task.reaped:
            return P.WaitResult(-abi.errno_number("ECHILD"), 0, "ECHILD")
        report = P.wait_report(k, k.tasks[who], task, options)
        if report is not None:
            return report
        process = self.processes.get(target)
        if (
            process is not None
            and process._pending is not None
            and not task.stopped
            and not task.job_stopped
            and not task.sleeping
        ):
            process._continue()
            report = P.wait_report(k, k.tasks[who], task, options)
            if report is not None:
                return report
        elif task.alive and not task.stopped and task.pending_signals:
            # An idle process (in user mode, between calls) with a signal pending: the
            # interrupt that would bring it into the kernel is not modeled, so it takes the
            # signal where it stands: a signal-delivery stop for a tracer, else the default.
            P.idle_signal(k, task)
            report = P.wait_report(k, k.tasks[who], task, options)
            if report is not None:
                return report
        return P.WaitResult(0, 0)

    def schedule(self) -> list[tuple[int, str]]:
        """Run every process that is in the middle of a call and may go on (woken from its
        sleep, not stopped for a tracer), in pid order, as a scheduler would while the others
        wait: each runs until it sleeps or stops again or its call or run ends. Returns
        (pid, what happened) for each: "blocked", "stopped", or how the run ended."""
        ran = []
        for pid in sorted(self.processes):
            process = self.processes[pid]
            task = process.task
            if (
                process._pending is None
                or task.stopped
                or task.job_stopped
                or task.sleeping
                or not task.alive
            ):
                continue
            process._continue()
            if process._pending is None:
                result = process.last_result
                ran.append((pid, getattr(result, "outcome", None) or result.stop))
            else:
                ran.append((pid, "stopped" if task.stopped else "blocked"))
        return ran

    def enable_syscall_tracepoints(self, on: bool = True) -> None:
        """Turn the raw_syscalls sys_enter/sys_exit tracepoints on or off: every task gets
        TIF_SYSCALL_TRACEPOINT (syscall_regfunc, kernel/tracepoint.c); events collect in
        ``m.tracepoints``."""
        on = bool(on)
        self.kernel.syscall_tracepoint = on
        for task in self.kernel.tasks.values():
            task.set_flag(L.TIF_SYSCALL_TRACEPOINT, on)

    def enable_audit(self, on: bool = True) -> None:
        """Turn syscall auditing on or off: tasks get TIF_SYSCALL_AUDIT (audit_alloc sets it
        when an audit context exists); records collect in ``m.audit``."""
        on = bool(on)
        self.kernel.audit_enabled = on
        for task in self.kernel.tasks.values():
            task.set_flag(L.TIF_SYSCALL_AUDIT, on)

    @property
    def tracepoints(self) -> list[P.TracepointEvent]:
        """The sys_enter and sys_exit events recorded so far."""
        return list(self.kernel.tracepoints)

    @property
    def audit(self) -> list[P.AuditRecord]:
        """The audit records (audit_syscall_entry, completed by audit_syscall_exit)."""
        return list(self.kernel.audit)

    def advance_time(self, nanoseconds: int) -> int:
        """Let simulated time pass: the TSC moves on, and every timer tick (HZ=250) that falls
        in the interval runs update_wall_time and update_vsyscall. Returns the ticks run."""
        from simulator.kernel import timekeeping as T

        nanoseconds = check_int("nanoseconds", nanoseconds, 48)
        cpu = self.cpu
        tk = self.kernel.timekeeper
        cycles = nanoseconds * T.TSC_KHZ // 1_000_000
        ticks = 0
        per_tick = T.TICK_NSEC * T.TSC_KHZ // 1_000_000
        target = cpu.read_tsc() + cycles
        while tk.cycle_last + per_tick <= target:
            cpu.tsc_offset += tk.cycle_last + per_tick - cpu.read_tsc()
            tk.tick(cpu.read_tsc())
            ticks += 1
        cpu.tsc_offset += target - cpu.read_tsc()
        return ticks

    def tick_after(self, steps: int) -> None:
        """Deliver a timer tick (its timekeeping) after ``steps`` more instructions of the
        next call or run: how a tests lands a tick in the middle of a vDSO read."""
        self._tick_at = check_range("steps", steps, 1, 1 << 32)

    def set_clocksource(self, name: str) -> None:
        """Switch the clocksource: "tsc" (vclock_mode VCLOCK_TSC, 3.16's usual) or "jiffies"
        (VCLOCK_NONE: the vDSO falls back to the system call). ringsim keeps time from the TSC
        either way; what changes is what update_vsyscall tells the vDSO."""
        from simulator.kernel import timekeeping as T

        check_choice("name", name, ("tsc", "jiffies"))
        tk = self.kernel.timekeeper
        tk.vclock_mode = T.VCLOCK_TSC if name == "tsc" else T.VCLOCK_NONE
        tk.update_vsyscall()

    def tick(self) -> None:
        """One timer interrupt's timekeeping, now: update_wall_time, then update_vsyscall."""
        self.kernel.timekeeper.tick(self.cpu.read_tsc())

    @property
    def kind(self) -> str:
        """The kernel booted: ``"x86_64"`` or ``"i386"``."""
        return self.kernel.kind

    @property
    def vendor(self) -> str:
        """The CPU vendor: ``"intel"`` or ``"amd"``."""
        return self.kernel.vendor

    def spawn(self, abi: str = "x86_64", *, parent: Process | int | None = None) -> Process:
        """A new process of ``abi`` (x86_64, i386 or x32), ready to make system calls.

        ``parent`` (a Process or pid) is its parent, the tracer PTRACE_TRACEME attaches to;
        without one the process has none."""
        check_choice("abi", abi, ABIS)
        parent_pid = self._pid_of("parent", parent) if parent is not None else 0
        if self.kind == "i386" and abi != "i386":
            raise ValueError(f"abi: expected 'i386' on an i386 kernel, received {abi!r}")
        refused = {"i386": "ia32_emulation", "x32": "x32"}.get(abi)
        if self.kind == "x86_64" and refused and not self.kernel.options.get(refused, True):
            raise ValueError(
                f"abi: this linux-6.9 kernel was booted with {refused} off, so it refuses "
                f"{abi!r} executables (compat_elf_check_arch: -ENOEXEC); received {abi!r}"
            )
        pid = self._next_pid
        self._next_pid += 1
        task = self._create_task(pid, abi)
        task.parent = parent_pid
        if self.kernel.syscall_tracepoint:
            task.set_flag(L.TIF_SYSCALL_TRACEPOINT)
        if self.kernel.audit_enabled:
            task.set_flag(L.TIF_SYSCALL_AUDIT)
        process = Process(self, task)
        process._ensure_user_text()
        self.processes[pid] = process
        if abi == "i386":
            process._install_tls()
        return process

    def _create_task(self, pid: int, abi_name: str) -> Task:
        k = self.kernel
        m = k.map
        mm = k.new_address_space(f"mm of pid {pid}")
        cr3 = 0x1000 * (pid + 1)
        self.cpu.add_address_space(cr3, mm)
        stack_base = m.kernel_stacks + pid * m.stack_stride
        k.kspace.map(
            stack_base, m.thread_size, user=False, writable=True, executable=False, zero=True
        )
        top = stack_base + m.thread_size
        task = _task.Task(pid=pid, abi=abi_name, mm=mm, cr3=cr3, kernel_stack_top=top)
        console = _task.Console()
        task.fds = {0: console, 1: console, 2: console}
        if k.kind == "x86_64" and abi_name == "i386":
            task.set_flag(L.TIF_IA32)
            task.set_flag(L.TIF_ADDR32)
        elif abi_name == "x32":
            task.set_flag(L.TIF_X32)
            task.set_flag(L.TIF_ADDR32)
        k.tasks[pid] = task
        previous = k.current
        k.current = task
        saved_cr3 = self.cpu.cr3
        self.cpu.set_cr3(cr3)
        task.vmas.append((m.user_text, m.user_text + RUN_OFFSET + RUN_SIZE, "r-xp", "[ringsim]"))
        # A spawned process starts as if exec'd: a stack with argv ["ringsim"] and an auxv
        # with its vDSO; its "image" is ringsim's own user page.
        sp = kexec.build_stack(
            k, task, "ringsim", [b"ringsim"], [], phdr=0, phent=0, phnum=0, entry=m.user_text
        )
        self.cpu.set_cr3(saved_cr3)
        k.current = previous
        self._initial_user_state(task, sp)
        return task

    def _initial_user_state(self, task: Task, rsp: int) -> None:
        """The CPU state a new task starts user mode with (as start_thread leaves it)."""
        k = self.kernel
        cpu = self.cpu
        self.switch_to(task, quiet=True)
        saved = cpu.snapshot()
        if k.kind == "x86_64":
            cs = L.USER32_CS if task.abi == "i386" else L.USER_CS_64
            ss = L.USER_DS_64
            data = L.USER_DS_64 if task.abi == "i386" else 0
        else:
            cs, ss, data = L.USER_CS_32, L.USER_DS_32, L.USER_DS_32
        for i in range(16):
            cpu.r[i] = 0
        cpu.r[RSP] = rsp
        cpu.r[RIP] = k.map.user_text
        cpu.regs.write("rflags", 0x202)
        for name, sel in (("cs", cs), ("ss", ss), ("ds", data), ("es", data), ("fs", 0), ("gs", 0)):
            fault = cpu.set_segment(name, sel)
            assert fault is None, fault
        if k.kind == "x86_64":
            # In user mode GS.base is the user's and KERNEL_GS_BASE holds the per-CPU area.
            cpu.msr.values[0xC000_0102] = k.map.percpu
            cpu.write_msr("IA32_GS_BASE", 0)
            cpu.write_msr("IA32_FS_BASE", 0)
        task.user_state = cpu.snapshot()
        cpu.restore(saved)

    def switch_to(self, task: Task, *, quiet: bool = False) -> None:
        """schedule -> context_switch -> switch_mm + __switch_to, then ``task``'s user state."""
        k = self.kernel
        cpu = self.cpu
        if not task.alive:
            raise ValueError(
                f"pid: expected a live process, received pid {task.pid}, which has exited"
            )
        m = k.map
        previous = k.current
        k.current = task
        cpu.set_cr3(task.cr3)
        if k.kind == "x86_64" and previous is not task:
            # __switch_to (process_64.c, 3.16): prev->usersp = old_rsp; old_rsp = next->usersp.
            # A task asleep or stopped in a system call keeps its user rsp this way.
            old_rsp = m.percpu + L.PERCPU_OLD_RSP
            if previous is not None:
                previous.usersp = int.from_bytes(k.kspace.peek(old_rsp, 8), "little")
            k.kspace.poke(old_rsp, task.usersp.to_bytes(8, "little"))
        if k.kind == "x86_64":
            k.kspace.poke(m.tss + 4, task.kernel_stack_top.to_bytes(8, "little"))
            k.kspace.poke(
                m.percpu + L.PERCPU_KERNEL_STACK,
                (task.kernel_stack_top - L.KERNEL_STACK_OFFSET).to_bytes(8, "little"),
            )
        else:
            k.kspace.poke(m.tss + 4, (task.kernel_stack_top - 8).to_bytes(4, "little"))
        k.kspace.poke(m.percpu + L.PERCPU_CURRENT_TASK, task.pid.to_bytes(8, "little"))
        k.load_tls(task)
        if task.kernel_state is not None:
            cpu.restore(task.kernel_state)  # stopped in the kernel: go on from there
        elif task.user_state is not None:
            cpu.restore(task.user_state)
        # __switch_to_xtra: TIF_NOTSC decides CR4.TSD (hard_disable_TSC / hard_enable_TSC).
        tsd = bool(task.flags >> 16 & 1)
        if bool(cpu.cr4 & 4) != tsd:
            cpu.cr4 = cpu.cr4 | 4 if tsd else cpu.cr4 & ~4
        cpu.halted = False
        if not quiet and k.trace is not None and previous is not task:
            k.note(
                "context_switch: switch_mm, __switch_to (kernel/sched/core.c, "
                f"arch/x86/kernel/process_{64 if k.kind == 'x86_64' else 32}.c)",
                f"pid {previous.pid if previous else '-'} -> {task.pid}: CR3 = {task.cr3:#x}, "
                f"TSS sp0 = {task.kernel_stack_top:#x}, TLS entries loaded",
            )


class Process:
    """A process of a Machine: its memory, and the two ways to drive it."""

    def __init__(self, machine: Machine, task: Task) -> None:
        self.machine = machine
        self.task = task
        self._brk = ALLOC_BASE
        self._trampolines: dict[tuple[str, int], bytes] = {}
        # A run a ptrace stop interrupted: (trace, done, max_steps, finish); and the result of
        # the last run that such a stop had interrupted, once it ended.
        self._pending: tuple | None = None
        self.last_result: Any = None
        # glibc resolves its vDSO symbols once, at start-up: per image (initial sp, base)
        self._vdso_symbols: dict[tuple[int, int, str, str], int | None] = {}
        self.startup: SyscallResult | None = None  # an i386 process's set_thread_area

    @property
    def pid(self) -> int:
        """The process ID."""
        return self.task.pid

    @property
    def abi(self) -> str:
        """The process's ABI: ``"x86_64"``, ``"i386"`` or ``"x32"``."""
        return self.task.abi

    @property
    def alive(self) -> bool:
        """Whether the process has not exited or been killed."""
        return self.task.alive

    @property
    def exit_status(self) -> int | None:
        """The wait status (exit code << 8, or the signal) once the process has ended."""
        return self.task.exit_code

    @property
    def stdout(self) -> bytes:
        """The bytes written to the console on fd 1, its standard output; empty when fd 1 is
        not a console (closed, or a pipe or a file)."""
        console = self.task.fds.get(1)
        return bytes(console.output) if isinstance(console, _task.Console) else b""

    def _require_alive(self) -> None:
        if not self.alive:
            raise ValueError(
                f"pid: expected a live process, received pid {self.pid}, which has exited"
            )
        if self.task.stopped or self._pending is not None:
            raise ValueError(
                f"pid: expected a process that is not in the middle of a call, received pid "
                f"{self.pid}, which is {'asleep' if self.task.sleeping else 'stopped'} in one; "
                "Machine.schedule (or its tracer's Machine.ptrace and Machine.waitpid) lets "
                "it go on"
            )

    @property
    def blocked(self) -> bool:
        """Whether the process sleeps in a system call (a read on an empty pipe)."""
        return bool(self.task.sleeping)

    @property
    def stopped(self) -> bool:
        """Whether the process is stopped for its tracer (TASK_TRACED)."""
        return self.task.stopped

    def _first_run(self, t, done, max_steps: int, finish, fast: tuple[int, int, int, bool]):
        """Run until ``done`` or a stop; a run parked by a ptrace stop or a sleep is kept to go
        on later (Process._continue), and ``finish`` makes the result of what ran so far.
        ``fast``: see :meth:`_run`."""
        stop, detail, steps = self._run(t, done, max_steps, fast)
        if stop in ("stopped", "blocked"):
            self._stopped_run(t, done, max_steps, finish, fast)
        self.machine.kernel.trace = None
        return finish(stop, detail, steps)

    def _stopped_run(self, t, done, max_steps: int, finish, fast) -> None:
        """The run stopped for a tracer: keep the ring-0 state and how to go on."""
        self.task.kernel_state = self.machine.cpu.snapshot()
        self._pending = (t, done, max_steps, finish, fast)

    def _continue(self) -> None:
        """Go on with a run that a ptrace stop interrupted (Machine.waitpid calls this when the
        tracer has resumed the process): until the next stop, the end of the run, or death."""
        machine = self.machine
        k = machine.kernel
        assert self._pending is not None
        t, done, max_steps, finish, fast = self._pending
        k.trace = t
        machine.switch_to(self.task)
        self.task.kernel_state = None
        stop, detail, steps = self._run(t, done, max_steps, fast)
        if stop in ("stopped", "blocked"):
            self.task.kernel_state = machine.cpu.snapshot()
        else:
            self._pending = None
            self.last_result = finish(stop, detail, steps)
        k.trace = None

    @property
    def wide(self) -> bool:
        """Whether the process is an x86_64 one (an x32 process, 64-bit code with 32-bit
        pointers, is not)."""
        return self.abi == "x86_64"

    # ------------------------------------------------------------------ registers

    def registers(self) -> dict[str, int]:
        """The process's user-mode registers, by the names of its ABI (eax.. or rax..)."""
        state = self.task.user_state
        if state is None:
            raise ValueError(f"pid: expected a process in user mode, received pid {self.pid}")
        names = abi.ABI_REGISTERS[self.abi]
        return {name: state.reg(name) for name in names}

    def set_registers(self, values: Mapping[str, int]) -> None:
        """Set user-mode registers before the next call: a mapping such as an
        ``abi.RegisterFile`` (names of the process's ABI; values that fit its width)."""
        self._require_alive()
        if not isinstance(values, Mapping):
            raise TypeError(f"values: expected a mapping of register names, received {values!r}")
        allowed = abi.ABI_REGISTERS[self.abi]
        width = 32 if self.abi == "i386" else 64
        checked = {}
        for name, value in values.items():
            if name not in allowed:
                raise ValueError(
                    f"values: expected {self.abi} register names ({', '.join(allowed)}), "
                    f"received {name!r}"
                )
            checked[name] = check_int(name, value, width)
        machine = self.machine
        machine.switch_to(self.task, quiet=True)
        for name, value in checked.items():
            machine.cpu.regs.write(name, value)
        self.task.user_state = machine.cpu.snapshot()

    # ------------------------------------------------------------------ the vDSO

    def maps(self) -> list[str]:
        """The process's mappings as /proc/PID/maps shows them (fs/proc/task_mmu.c)."""
        from simulator.kernel import vdso as V

        rows = sorted(self.task.vmas)
        k = self.machine.kernel
        if k.kind == "x86_64" and self.abi == "x86_64" and k.options["vsyscall"] != "none":
            rows.append((V.VSYSCALL_ADDR, V.VSYSCALL_ADDR + 0x1000, "r-xp", "[vsyscall]"))
        return [
            f"{start:08x}-{end:08x} {perms} 00000000 00:00 0  {name}"
            for start, end, perms, name in rows
        ]

    def vdso_symbol(self, name: str, version: str = "LINUX_2.6") -> int | None:
        """What glibc does at start-up: AT_SYSINFO_EHDR from the auxiliary vector on the
        process's stack, then the symbol through the image's DT_HASH and versions, read only
        through read_mem. None when there is no vDSO or the lookup fails (glibc then makes
        the system call). Like glibc, it looks a symbol up once per image and remembers the
        answer (forgotten when write_mem or a restore may have changed the image)."""
        key = (self.task.initial_sp, self.task.vdso, name, version)
        if key in self._vdso_symbols:
            return self._vdso_symbols[key]
        self._vdso_symbols[key] = found = self._resolve_vdso_symbol(name, version)
        return found

    def _resolve_vdso_symbol(self, name: str, version: str) -> int | None:
        from simulator import libc

        wide = self.abi != "i386"
        base = libc.auxv_value(self._read_quiet, self.task.initial_sp, wide, abi.AT_SYSINFO_EHDR)
        if not base:
            return None
        found = libc.find_vdso_symbol(self._read_quiet, base, name, version)
        return None if isinstance(found, libc.VdsoError) else found

    def _read_quiet(self, address: int, size: int) -> bytes:
        return self.read_mem(address, size)

    def _call_function(self, name, args, via: str, trace: bool, max_steps: int) -> SyscallResult:
        """Call the vDSO's function (``via="vdso"``) or the legacy vsyscall page's entry point
        (``via="vsyscall_page"``) as a C function, from ring 3."""
        from simulator.kernel import vdso as V

        if not isinstance(name, str):
            raise TypeError(f"name: expected a function name for via={via!r}, received {name!r}")
        wide = self.abi != "i386"
        if via == "vsyscall_page":
            if self.abi != "x86_64" or self.machine.kind != "x86_64":
                raise ValueError(
                    f"via: the vsyscall page is for x86_64 processes, received {self.abi}"
                )
            offsets = {v: k for k, v in V.VSYSCALL_OFFSETS.items()}
            if name not in offsets:
                raise ValueError(f"name: expected one of {', '.join(offsets)}, received {name!r}")
            target = V.VSYSCALL_ADDR + offsets[name]
            what = f"the vsyscall page's {name} entry at {target:#x}"
        else:
            known = VDSO_FUNCTIONS_64 if wide else VDSO_FUNCTIONS_32
            if name not in known:
                raise ValueError(f"name: expected one of {', '.join(known)}, received {name!r}")
            target = self.vdso_symbol(f"__vdso_{name}")
            if target is None:
                # glibc falls back to the system call when the vDSO does not provide it.
                return self.syscall(name, *args, trace=trace, max_steps=max_steps)
            what = f"__vdso_{name} at {target:#x} (found through AT_SYSINFO_EHDR)"
        if len(args) > 3:
            raise ValueError(f"args: expected at most 3 arguments, received {len(args)}")
        machine = self.machine
        k = machine.kernel
        cpu = machine.cpu
        self._require_alive()
        t = Trace() if trace else None
        k.trace = t
        machine.switch_to(self.task)
        self._ensure_user_text()
        start = k.map.user_text + TRAMPOLINE_OFFSET
        width = 64 if wide else 32
        if wide:
            for reg, value in zip(("rdi", "rsi", "rdx"), args, strict=False):
                cpu.regs.write(reg, check_int(reg, value, width))
            code = _asm.assemble(f"mov rax, {target:#x}\ncall rax", mode=64, address=start)
        else:
            pushes = "".join(f"push {check_int('arg', v, 32):#x}\n" for v in reversed(args))
            code = _asm.assemble(
                f"{pushes}call {target:#x}\nadd esp, {4 * len(args)}", mode=32, address=start
            )
        self.task.mm.poke(start, code)
        cpu.r[RIP] = start
        return_to = start + len(code)
        if t is not None:
            t.record("user", 3, "glibc", f"{name}() calls {what}")
        before = cpu.snapshot()
        stop, detail, _ = self._run(
            t, lambda: cpu.r[RIP] == return_to, max_steps, (return_to, 0, 0, True)
        )
        after = cpu.snapshot()
        k.trace = None
        return self._result(name, 0, via, stop, detail, before, after, t)

    # ------------------------------------------------------------------ memory

    def alloc(self, size: int, *, writable: bool = True, executable: bool = False) -> int:
        """Map fresh zeroed user pages for ``size`` bytes and return their address."""
        size = check_range("size", size, 1, ALLOC_LIMIT - ALLOC_BASE)
        address = self._brk
        pages = (size + 0xFFF) & ~0xFFF
        if address + pages > ALLOC_LIMIT:
            raise ValueError(f"size: expected room in the allocation area, received {size}")
        self.task.mm.map(
            address, pages, user=True, writable=writable, executable=executable, zero=True
        )
        self._brk += pages + 0x1000  # a guard page between allocations
        return address

    def read_mem(self, address: int, size: int) -> bytes:
        """Read user memory as a debugger does (no rights check); unmapped raises ValueError."""
        check_int("address", address, 64)
        check_range("size", size, 0, 1 << 24)
        try:
            return self.task.mm.peek(address, size)
        except LookupError as error:
            raise ValueError(str(error)) from None

    def write_mem(self, address: int, data: bytes) -> None:
        """Write user memory as a debugger does; every page must be mapped."""
        check_int("address", address, 64)
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"data: expected bytes, received {type(data).__name__}")
        self._vdso_symbols.clear()  # a debugger's write may change the image or the auxv
        try:
            self.task.mm.poke(address, bytes(data))
        except LookupError as error:
            raise ValueError(str(error)) from None

    def _install_tls(self) -> None:
        """What libc does at start-up: a TLS block whose word at 0x10 is AT_SYSINFO, installed
        with set_thread_area and loaded into GS (so ``call *%gs:0x10`` reaches the vDSO)."""
        k = self.machine.kernel
        m = k.map
        block = m.tls_block
        self.task.mm.map(block, 0x1000, user=True, writable=True, executable=False, zero=True)
        sysinfo = dict(self.task.auxv).get(abi.AT_SYSINFO, 0)
        self.task.mm.poke(block, block.to_bytes(4, "little"))  # tcb->self
        self.task.mm.poke(block + 0x10, sysinfo.to_bytes(4, "little"))  # tcb->sysinfo
        desc = block + 0x100
        # struct user_desc: entry_number -1, base, limit 0xfffff, seg_32bit|limit_in_pages|useable.
        raw = (0xFFFF_FFFF).to_bytes(4, "little") + block.to_bytes(4, "little")
        raw += (0xFFFFF).to_bytes(4, "little") + (1 | 1 << 4 | 1 << 6).to_bytes(4, "little")
        self.task.mm.poke(desc, raw)
        result = self.syscall("set_thread_area", desc, via="int80", trace=False)
        self.startup = result
        if result.ret != 0:
            return  # the process died at start-up (a what-if boot) or has no TLS: say so
        entry = int.from_bytes(self.task.mm.peek(desc, 4), "little")
        cpu = self.machine.cpu
        self.machine.switch_to(self.task, quiet=True)
        fault = cpu.load_segment("gs", entry * 8 + 3)
        if fault is not None:
            raise RuntimeError(f"loading the TLS selector failed: {fault}")
        self.task.user_state = cpu.snapshot()

    # ------------------------------------------------------------------ calls

    def _number(self, name_or_number: str | int, via: str) -> tuple[str, int]:
        table_abi = "i386" if (via in ("int80", "sysenter") or self.abi == "i386") else self.abi
        if isinstance(name_or_number, str):
            number = abi.syscall_number(name_or_number, abi=table_abi)
            return name_or_number, number
        number = check_int("number", name_or_number, 64)
        try:
            name = abi.syscall_name(
                number & ~abi.X32_SYSCALL_BIT if table_abi == "x32" else number, abi=table_abi
            )
        except (LookupError, ValueError):
            name = f"syscall {number:#x}"
        return name, number

    def _default_via(self) -> str:
        return "kernel_vsyscall" if self.abi == "i386" else "syscall"

    def _ensure_user_text(self) -> None:
        """Map ringsim's own user page (where calls and runs start) if this image lacks it.

        It holds copies of the SYSENTER and SYSCALL ``__kernel_vsyscall`` variants
        (at +0x200 and +0x300) for the mechanisms the kernel's vDSO does not use.
        """
        k = self.machine.kernel
        mm = self.task.mm
        start = k.map.user_text
        if mm.is_mapped(start):
            return
        mm.map(start, RUN_OFFSET + RUN_SIZE, user=True, writable=False, executable=True, zero=True)
        mm.poke(start + 0x200, vdso32.VARIANTS["sysenter"].code)
        mm.poke(start + 0x300, vdso32.VARIANTS["syscall"].code)

    def _trampoline(self, via: str) -> bytes:
        """The instructions that make the call (assembled once per process and mechanism)."""
        key = (via, self.task.vdso)
        code = self._trampolines.get(key)
        if code is None:
            code = self._trampolines[key] = self._make_trampoline(via)
        return code

    def _make_trampoline(self, via: str) -> bytes:
        k = self.machine.kernel
        if self.abi != "i386":
            return _asm.assemble(
                {"syscall": "syscall", "int80": "int 0x80", "sysenter": "sysenter"}[via]
            )
        if via == "int80":
            return _asm.assemble("int 0x80", mode=32)
        if via == "kernel_vsyscall":
            return _asm.assemble("call dword ptr gs:[0x10]", mode=32)
        # via sysenter / syscall: call the vDSO's sequence for that instruction; when the
        # kernel chose another variant, a copy of the asked-for one sits after the call.
        if k.vdso_variant.name == via:
            target = dict(self.task.auxv)[abi.AT_SYSINFO]
        else:
            target = k.map.user_text + 0x200 + (0x100 if via == "syscall" else 0)
        call_at = k.map.user_text + TRAMPOLINE_OFFSET
        return _asm.assemble(f"call {target:#x}", mode=32, address=call_at)

    def syscall(
        self,
        name_or_number: str | int,
        *args: int,
        via: str | None = None,
        trace: bool = True,
        max_steps: int = 10_000,
    ) -> SyscallResult:
        """Make a system call with real instructions and return what it did.

        ``via`` is ``syscall``, ``int80``, ``sysenter`` (the vDSO's SYSENTER
        sequence) or ``kernel_vsyscall`` (``call *%gs:0x10``); the default is
        SYSCALL for x86_64 and x32 processes and __kernel_vsyscall for i386 ones.
        A name is looked up in the table the mechanism reaches (INT 0x80 from a
        64-bit process reaches the i386 table); x32 names carry the x32 bit.
        """
        via = self._default_via() if via is None else check_choice("via", via, VIAS + FUNCTION_VIAS)
        if via in FUNCTION_VIAS:
            return self._call_function(name_or_number, args, via, trace, max_steps)
        if self.abi != "i386" and via == "kernel_vsyscall":
            raise ValueError(
                f"via: expected syscall, int80 or sysenter for an {self.abi} process, "
                "received 'kernel_vsyscall'"
            )
        if len(args) > 6:
            raise ValueError(f"args: expected at most 6 arguments, received {len(args)}")
        name, number = self._number(name_or_number, via)
        if self.abi == "x32" and via == "syscall" and isinstance(name_or_number, str):
            number |= abi.X32_SYSCALL_BIT
        machine = self.machine
        k = machine.kernel
        cpu = machine.cpu
        self._require_alive()
        t = Trace() if trace else None
        k.trace = t
        machine.switch_to(self.task)
        i386_regs = self.abi == "i386" or via in ("int80", "sysenter")
        convention = abi.convention("i386", "int80") if i386_regs else abi.convention(self.abi, via)
        width = 32 if self.abi == "i386" else 64
        names = convention.caller.registers
        values = {convention.caller.number: check_int("number", number, width)}
        for i, value in enumerate(args):
            values[names[i]] = check_int(f"args[{i}]", value, width)
        for reg, value in values.items():
            if width == 64 and reg.startswith("e"):
                reg = "r" + reg[1:]  # 64-bit code fills the whole register
            cpu.regs.write(reg, value)
        self._ensure_user_text()
        code = self._trampoline(via)
        start = k.map.user_text + TRAMPOLINE_OFFSET
        self.task.mm.poke(start, code)
        cpu.r[RIP] = start
        return_to = start + len(code)
        before = cpu.snapshot()
        execs = self.task.execs

        def done() -> bool:
            # Back at the next instruction, or (after a successful execve) at the new image.
            return cpu.r[RIP] == return_to or self.task.execs != execs

        def finish(stop: str, detail: str, _steps: int) -> SyscallResult:
            after = cpu.snapshot()
            return self._result(name, number, via, stop, detail, before, after, t)

        return self._first_run(t, done, max_steps, finish, (return_to, 0, 0, False))

    def _result(self, name, number, via, stop, detail, before, after, t) -> SyscallResult:
        k = self.machine.kernel
        wide = self.abi in ("x86_64", "x32")
        signal = self.task.killed_by if not self.task.alive and stop == "signal" else None
        ret = errno = None
        if stop == "returned":
            if wide:
                raw = after.reg("rax")
                ret = raw - (1 << 64) if raw >> 63 else raw
            else:
                raw = after.reg("eax")
                ret = raw - (1 << 32) if raw >> 31 else raw
            if -4095 <= ret <= -1:
                errno = abi.errno_name(-ret)
        visible = _VISIBLE_64 if wide else _VISIBLE_32
        changed = {
            reg: (before.reg(reg), after.reg(reg))
            for reg in visible
            if before.reg(reg) != after.reg(reg)
        }
        for i, seg in enumerate(SREG_NAMES):
            if before.selectors[i] != after.selectors[i]:
                changed[seg] = (before.selectors[i], after.selectors[i])
        modeled = not k.unmodeled
        k.unmodeled = []
        return SyscallResult(
            name, number, via, ret, errno, changed, before, after, t, signal, modeled, stop, detail
        )

    def _run(
        self,
        t: Trace | None,
        done,
        max_steps: int,
        fast: tuple[int, int, int, bool],
    ) -> tuple[str, str, int]:
        """Step the CPU until ``done()``, a stop from the kernel, or the budget.

        ``fast`` (end, lo, hi, whole) lets the run take the CPU's fast loop (CPU._run_fast,
        traced or not) between the steps that need this one (ticks, the rest). It says
        what ``done`` comes to between two hooks: RIP at ``end``, or an HLT byte at RIP
        within ``[lo, hi)``. ``whole`` says that is all of ``done``; without it the fast
        loop hands back after every hook and every instruction that can change the CPL, and
        this loop asks ``done`` itself, so a ``done`` that also looks at what only the
        kernel changes (the exec count, say) is still exact."""
        machine = self.machine
        k = machine.kernel
        cpu = machine.cpu
        k.stopped = None
        steps = 0
        if cpu.cpl == 3 and done():
            self.task.user_state = cpu.snapshot()
            return "returned", "", steps
        steptrace = _StepTrace(t, cpu) if t is not None else None
        while steps < max_steps:
            result = None
            budget = max_steps - steps
            tick = machine._tick_at
            if tick is not None:
                budget = min(budget, tick - 1)
            if budget > 0:
                if steptrace is not None:
                    steptrace.ready()
                n, result = cpu._run_fast(
                    budget, *fast, steptrace.step if steptrace is not None else None
                )
                steps += n
                if tick is not None:
                    machine._tick_at = tick - n
                if result is True:
                    self.task.user_state = cpu.snapshot()
                    return "returned", "", steps
                if result is None:
                    # handed back before an instruction it does not take: that
                    # instruction may be where the run ends
                    if n and cpu.cpl == 3 and done():
                        self.task.user_state = cpu.snapshot()
                        return "returned", "", steps
                    if steps >= max_steps:
                        break
            if result is None:
                steps += 1
                if machine._tick_at is not None:
                    machine._tick_at -= 1
                    if machine._tick_at == 0:
                        machine._tick_at = None
                        machine.tick()
                        if steptrace is not None:
                            steptrace.forget()
                            steptrace.t.record(
                                "kernel",
                                0,
                                "update_wall_time -> update_vsyscall (kernel/time/timekeeping.c)",
                                "a timer tick between two instructions (the interrupt's entry "
                                "and return are not modeled): the sequence count goes odd, the "
                                "data changes, the count goes even",
                            )
                if steptrace is None:
                    result = cpu._step(True)
                else:
                    rip, ring = cpu.r[RIP], cpu.cpl
                    if rip in cpu.hooks:
                        cpu._step(True)
                        steptrace.forget()
                        result = (COMPLETED, None, None, (), "")
                    else:
                        steptrace.ready()
                        result = cpu._step(True)
                        outcome, ins, _, delivered, _ = result
                        steptrace.step(ins, rip, ring, outcome, delivered)
            if k.stopped is not None:
                stop = k.stopped
                k.stopped = None
                if stop.reason in ("exit", "signal"):
                    self.task.user_state = None
                return stop.reason, stop.detail, steps
            outcome = result[0]
            if outcome in (COMPLETED, DELIVERED):
                if cpu.cpl == 3 and done():
                    self.task.user_state = cpu.snapshot()
                    return "returned", "", steps
                continue
            detail = result[4]
            if outcome == NOT_MODELED:
                return "not modeled", detail, steps
            if outcome == SHUTDOWN:
                return "shutdown", detail, steps
            if outcome == HALTED:
                return "halted", detail, steps
            return outcome, detail, steps
        return "budget", f"no return after {max_steps} steps", steps

    def resume(self, *, trace: bool = True, max_steps: int = 100_000) -> RunResult:
        """Go on running the process's current image (after an execve, say) until it exits,
        is killed, reaches an ``hlt`` at CPL 3, or ``max_steps``."""
        machine = self.machine
        k = machine.kernel
        cpu = machine.cpu
        self._require_alive()
        t = Trace() if trace else None
        k.trace = t
        machine.switch_to(self.task)
        before = cpu.snapshot()
        mm = self.task.mm

        def done() -> bool:
            try:
                return mm.peek(cpu.r[RIP], 1) == b"\xf4"
            except LookupError:
                return False

        total = [0]

        def finish(stop: str, detail: str, steps: int) -> RunResult:
            total[0] += steps
            if stop == "returned":
                stop = "hlt"
            signal = self.task.killed_by if stop == "signal" else None
            modeled = not k.unmodeled
            k.unmodeled = []
            return RunResult(stop, total[0], before, cpu.snapshot(), t, signal, modeled, detail)

        return self._first_run(t, done, max_steps, finish, (-1, 0, 1 << 64, True))

    def run(self, code: str | bytes, *, trace: bool = True, max_steps: int = 100_000) -> RunResult:
        """Load ``code`` (assembler text or bytes) and run it in user mode from its start.

        The run ends when execution falls off the end of the code, reaches an
        ``hlt`` at CPL 3 (reported, not executed: it would raise #GP), or the
        process exits or is killed.
        """
        machine = self.machine
        k = machine.kernel
        cpu = machine.cpu
        self._require_alive()
        start = k.map.user_text + RUN_OFFSET
        mode = 64 if self.wide or self.abi == "x32" else 32
        if isinstance(code, str):
            data = _asm.assemble(code, mode=mode, address=start)
        elif isinstance(code, (bytes, bytearray)):
            data = bytes(code)
        else:
            raise TypeError(
                f"code: expected assembler text or bytes, received {type(code).__name__}"
            )
        if not 0 < len(data) <= RUN_SIZE:
            raise ValueError(f"code: expected 1..{RUN_SIZE} bytes, received {len(data)}")
        t = Trace() if trace else None
        k.trace = t
        machine.switch_to(self.task)
        self._ensure_user_text()
        self.task.mm.poke(start, data)
        cpu.r[RIP] = start
        end = start + len(data)
        before = cpu.snapshot()
        mm = self.task.mm

        def done() -> bool:
            rip = cpu.r[RIP]
            if rip == end:
                return True
            if start <= rip < end:  # an hlt in the code (the code's pages are mapped)
                page = mm.lookup(rip >> PAGE_SHIFT)
                return page is not None and page.data[rip & PAGE_MASK] == 0xF4
            return False

        total = [0]

        def finish(stop: str, detail: str, steps: int) -> RunResult:
            total[0] += steps
            after = cpu.snapshot()
            if stop == "returned":
                stop = "hlt" if cpu.r[RIP] != end else "end"
            signal = self.task.killed_by if stop == "signal" else None
            modeled = not k.unmodeled
            k.unmodeled = []
            return RunResult(stop, total[0], before, after, t, signal, modeled, detail)

        return self._first_run(t, done, max_steps, finish, (end, start, end, True))


class _StepTrace:
    """What a traced run records of each CPU step, however the step ran (Process._run's own
    loop, or CPU._run_fast calling this after each instruction and each hook): the
    instruction's text and manual page, what changed (not RIP, not the hidden caches), each
    exception delivered.

    ``last_regs`` are the registers after the last step and ``last_visible`` the rest of
    what a step shows (CPUState.visible_state) as of the last step that could change it: a
    step that changes only registers (execute.registers_only) is diffed on the registers
    alone; any other, or one that did not complete, reads the rest again. A hook (outcome
    HOOK) or a tick between two steps can change anything: after a hook everything is read
    again, and ``forget`` makes the next step read everything first (``ready``)."""

    __slots__ = ("cpu", "last_regs", "last_visible", "t", "vendor")

    def __init__(self, t: Trace, cpu: CPU) -> None:
        self.t = t
        self.cpu = cpu
        self.vendor = cpu.vendor.name
        self.last_visible: tuple | None = None
        self.last_regs: tuple[int, ...] = ()

    def forget(self) -> None:
        """Something other than a traced step ran."""
        self.last_visible = None

    def ready(self) -> None:
        """Before a step: make sure the state before it is known."""
        if self.last_visible is None:
            self.last_visible = self.cpu.visible_state()
            self.last_regs = tuple(self.cpu.r)

    def step(self, ins, rip: int, ring: int, outcome: str, delivered) -> None:
        """After a step: what it changed, into the trace."""
        if outcome == HOOK:  # the state after the hook is the next step's before
            self.last_visible = None
            self.ready()
            return
        cpu = self.cpu
        if ins is None:
            text, source, light = outcome, "", False
        else:
            text, source, light = _describe(ins, rip, self.vendor)
        regs = tuple(cpu.r)
        changes: tuple = ()
        if outcome != COMPLETED or not light:
            visible = cpu.visible_state()
            changes = tuple(visible_changes(self.last_visible, visible))  # type: ignore[arg-type]
            self.last_visible = visible
        if outcome in (DELIVERED, SHUTDOWN):
            source = DELIVERY_SECTION
        # the registers' changes are named when the trace is read
        self.t.record_step(ring, source or "CPU", text, self.last_regs, regs, changes, rip)
        self.last_regs = regs
        for fault in delivered:
            self.t.record(
                FAULT,
                ring,
                "Intel SDM Vol. 3A §6.12 (delivery through the IDT)",
                f"{fault} delivered",
            )


_TEXT_MEMO: dict[int, tuple[object, int, str, str, str, bool]] = {}


def _describe(ins, rip: int, vendor: str) -> tuple[str, str, bool]:
    """An instruction's text, its manual page and whether it changes registers only,
    remembered per instruction (by identity: the entry holds it, so its id is not reused)
    and address (the same bytes at the same place read the same)."""
    hit = _TEXT_MEMO.get(id(ins))
    if hit is not None and hit[0] is ins and hit[1] == rip and hit[2] == vendor:
        return hit[3], hit[4], hit[5]
    text = format_instruction(ins, address=rip)
    source = manual_page(ins.mnemonic, vendor)
    light = registers_only(ins)
    if len(_TEXT_MEMO) >= 4096:
        _TEXT_MEMO.clear()
    _TEXT_MEMO[id(ins)] = (ins, rip, vendor, text, source, light)
    return text, source, light


_ = (FaultSignal, RAX)
