"""The hot path's shortcuts keep every architectural check (benchmarks/run.py measures their
speed; these tests pin that they change nothing a program or a trace can see)."""

from __future__ import annotations

from itertools import pairwise

import attrs

from simulator import Machine
from simulator.cpu.registers import FULL_NAMES, RIP
from simulator.cpu.segments import DescriptorCache
from simulator.cpu.state import register_changes, visible_changes


def test_cached_instruction_still_checks_the_page_at_the_new_cpl():
    """The kernel's SYSCALL entry is decoded (and cached) at CPL 0 by the first getpid; a jump
    to it from ring 3 must still fault: #PF with error code 0x15 (P, U/S, I/D: a user fetch
    from a present supervisor page, Intel SDM Vol. 3A 4.7), CR2 the address, SIGSEGV."""
    m = Machine.boot(kernel="x86_64", cpu="intel")
    p = m.spawn("x86_64")
    assert p.syscall("getpid", trace=False).ret == p.pid  # decodes system_call at CPL 0
    lstar = m.cpu.read_msr("lstar")
    run = p.run(f"mov rax, {lstar:#x}\njmp rax")
    assert run.stop == "signal" and run.signal == 11
    faults = [e for e in run.trace or () if e.kind == "fault"]
    assert faults and f"#PF(0x15) at {lstar:#x}: fetch refused by paging" in faults[0].what
    assert m.cpu.cr2 == lstar


def test_with_base_is_evolve_and_flips_back():
    """SWAPGS's base change gives the value attrs.evolve would, and flipping back returns an
    equal cache (the memo is by identity, the values are immutable)."""
    user = DescriptorCache(base=0x1000, limit=0xFFFF_FFFF, type=3, dpl=3)
    kernel = user.with_base(0xFFFF_8800_0001_8000)
    assert kernel == attrs.evolve(user, base=0xFFFF_8800_0001_8000)
    back = kernel.with_base(0x1000)
    assert back == user
    assert back.with_base(0xFFFF_8800_0001_8000) == kernel
    assert user.with_base(7) == attrs.evolve(user, base=7)


def test_traced_and_untraced_runs_end_alike():
    """Tracing off skips the notes' text, never the work: the same loop of reads ends with
    the same registers and memory either way."""
    ends = []
    for trace in (False, True):
        m = Machine.boot(seed=3)
        m.fs.add_file("/etc/motd", b"Anatomy of a system call\n")
        p = m.spawn("x86_64")
        path = p.alloc(16)
        p.write_mem(path, b"/etc/motd\0")
        fd = p.syscall("open", path, 0, 0, trace=False).ret
        buf = p.alloc(64)
        code = (
            "mov r12, 3\nloop:\nxor eax, eax\n"
            f"mov edi, {fd}\nmov esi, {buf:#x}\nmov edx, 5\nsyscall\nsub r12, 1\njnz loop"
        )
        run = p.run(code, trace=trace)
        ends.append((run.stop, run.after, p.read_mem(buf, 16)))
    assert ends[0] == ends[1]
    assert ends[0][2] == b" a sy" + bytes(11)  # the third 5-byte read of the file


WAYS_IN = (
    ("x86_64", "intel", "x86_64", "syscall"),
    ("x86_64", "intel", "i386", "sysenter"),
    ("x86_64", "amd", "i386", "kernel_vsyscall"),
    ("x86_64", "intel", "x86_64", "int80"),
    ("i386", "intel", "i386", "kernel_vsyscall"),
    ("i386", "amd", "i386", "int80"),
    ("i386", "intel", "i386", "syscall"),  # #UD, delivered through the IDT: SIGILL
)
PROGRAMS = (
    "mov eax, 39\nsyscall\npush rax\npop rbx\nmov ax, ss\nmov ds, ax\nmov fs, ax",
    "mov r12, 2\nloop:\nxor eax, eax\nmov eax, 39\nsyscall\nsub r12, 1\njnz loop\nud2",
    "mov eax, 20\nint 0x80\nrdtsc\nmov eax, dword ptr [0x10]",
)


def _traces() -> list[str]:
    """Traced calls by every way in, and traced programs that load segment registers, fault
    and cross rings, rendered."""
    out = []
    for kernel, cpu, abi_name, via in WAYS_IN:
        p = Machine.boot(kernel=kernel, cpu=cpu).spawn(abi_name)
        out.append(p.syscall("getpid", via=via, trace=True).trace.render())
    for program in PROGRAMS:
        p = Machine.boot().spawn("x86_64")
        out.append(p.run(program, trace=True).trace.render())
    return out


def test_fast_diffs_are_the_named_diff(monkeypatch):
    """Snapshot.diff_items (flat tuples first) and visible_changes (what a traced step shows
    besides the registers) give exactly what comparing every named field gives, in the same
    order, between the states after the traced steps of every way in (mode and CPL changes,
    segment caches, MSRs, the IDT delivery of a fault)."""
    import simulator.machine as machine_module

    states = []
    record = machine_module._StepTrace.step

    def spy(self, *args):
        record(self, *args)
        states.append((self.cpu.snapshot(), self.cpu.visible_state()))

    monkeypatch.setattr(machine_module._StepTrace, "step", spy)
    _traces()
    assert len(states) > 50
    for (a, va), (b, vb) in pairwise(states):
        named = [(c.name, c.before, c.after) for c in a.diff_slow(b)]
        assert a.diff_items(b) == named
        shown = [c for c in named if c[0] != "rip" and not c[0].endswith(".cache")]
        assert a.diff_items(b, hidden=False) == shown
        rest = [c for c in shown if c[0] not in FULL_NAMES]
        assert visible_changes(va, vb) == rest
        assert register_changes(a.regs, b.regs) + rest == shown


class _FullSnapshots:
    """The definition a traced step's changes are checked against: a full snapshot before
    and after every step, diffed whole (Snapshot.diff_items without RIP and the caches)."""

    def __init__(self, t, cpu) -> None:
        self.t, self.cpu, self.before = t, cpu, None

    def forget(self) -> None:
        self.before = None

    def ready(self) -> None:
        if self.before is None:
            self.before = self.cpu.snapshot()

    def step(self, ins, rip, ring, outcome, delivered) -> None:
        from simulator.cpu.disassembler import format_instruction
        from simulator.cpu.execute import DELIVERY_SECTION, HOOK, manual_page

        after = self.cpu.snapshot()
        if outcome != HOOK:
            text = outcome if ins is None else format_instruction(ins, address=rip)
            source = "" if ins is None else manual_page(ins.mnemonic, self.cpu.vendor.name)
            if outcome in ("delivered", "shutdown"):
                source = DELIVERY_SECTION
            changes = tuple(self.before.diff_items(after, hidden=False))
            self.t.record("cpu", ring, source or "CPU", text, changes, rip)
            for fault in delivered:
                self.t.record(
                    "fault",
                    ring,
                    "Intel SDM Vol. 3A §6.12 (delivery through the IDT)",
                    f"{fault} delivered",
                )
        self.before = after


def test_traced_steps_are_what_full_snapshots_give(monkeypatch):
    """A traced step is diffed on the registers alone when its instruction changes only
    registers and memory (registers_only), on the rest of the visible state otherwise, with
    the register names put on when the trace is read: the traces are the ones a full
    snapshot before and after every step gives, on every way in and on programs that load
    segment registers, fault, and cross rings."""
    import simulator.machine as machine_module

    light = _traces()
    monkeypatch.setattr(machine_module, "_StepTrace", _FullSnapshots)
    assert _traces() == light


def test_condition_table_is_table_b1():
    """Jcc's condition codes answered from a table give Table B-1's answers (Intel SDM Vol. 2A
    Appendix B.1.4.7) for every condition and every value of the flags they read."""
    from simulator.cpu import alu

    for cond in range(16):
        for rflags in range(1 << 12):
            assert alu.condition(cond, rflags) == alu._condition(cond, rflags)


def test_kernel_tlb_follows_the_kernel_half_mappings():
    """The kernel's TLB of its own pages is emptied by any change to the kernel half: after a
    page is unmapped and mapped again, kernel reads and writes reach the new page, never the
    old bytes; and an unmapped page is refused by the CPU's own check (a #PF at CPL 0)."""
    import pytest

    from simulator.cpu.faults import FaultSignal

    m = Machine.boot()
    p = m.spawn("x86_64")
    assert p.syscall("getpid", trace=False).ret == p.pid  # the per-CPU page is in the TLB
    k, cpu = m.kernel, m.cpu
    cpu.cpl = 0  # the kernel's view
    address = k.map.percpu + 0x800
    k.kwrite(address, 0x1122, 8)
    assert k.kread(address, 8) == 0x1122
    before = k.kspace.generation
    k.kspace.unmap(k.map.percpu, 0x1000)
    assert k.kspace.generation > before
    with pytest.raises(FaultSignal):
        k.kread(address, 8)
    k.kspace.map(k.map.percpu, 0x1000, user=False, writable=True, executable=False, zero=True)
    assert k.kread(address, 8) == 0  # the new page, not the old bytes
    k.kwrite(address, 0x3344, 8)
    assert k.kspace.peek(address, 8) == (0x3344).to_bytes(8, "little")


def test_generation_counts_every_mapping_change():
    from simulator.cpu import AddressSpace

    kernel = AddressSpace("kernel")
    space = AddressSpace("user", shared=kernel, split=0x8000_0000)
    start = (space.generation, kernel.generation)
    space.map(0x1000, 0x1000, user=True, writable=True, executable=False, zero=True)
    space.map(0x9000_0000, 0x1000, user=False, writable=True, executable=False, zero=True)
    space.protect(0x1000, 0x1000, writable=False, user=True, executable=False)
    space.unmap(0x9000_0000, 0x1000)
    assert space.generation > start[0] and kernel.generation >= start[1] + 2
    snap = space.snapshot()
    g = space.generation
    space.restore(snap)
    assert space.generation > g


def test_kernel_tlb_follows_the_paging_controls():
    """The kernel TLB is emptied when what the CPU's check depended on changes: with CR0.WP
    set again a supervisor write to read-only kernel text is #PF(0x3) (SDM Vol. 3A 4.6), and
    a user-accessible page in the kernel half (the vsyscall page) is never cached, so SMAP
    refuses a kernel read of it with AC clear, #PF(0x1)."""
    import pytest

    from simulator.cpu import control as C
    from simulator.cpu.faults import FaultSignal
    from simulator.kernel.vdso import VSYSCALL_ADDR

    m = Machine.boot()
    m.spawn("x86_64")
    k, cpu = m.kernel, m.cpu
    cpu.cpl = 0
    text = k.map.kernel_text + 0xF000
    cpu.cr0 = cpu.cr0 & ~C.CR0_WP
    k.kwrite(text, 0x41, 1)  # WP clear: allowed, and the page enters the TLB
    cpu.cr0 = cpu.cr0 | C.CR0_WP
    with pytest.raises(FaultSignal, match=r"#PF\(0x3\)"):
        k.kwrite(text, 0x42, 1)
    assert k.kread(VSYSCALL_ADDR, 1) == 0x48  # SMAP off: readable (mov rax, imm: 0x48)
    cpu.cr4 = cpu.cr4 | C.CR4_SMAP
    with pytest.raises(FaultSignal, match=r"#PF\(0x1\)"):
        k.kread(VSYSCALL_ADDR, 1)


def test_fast_loop_stops_where_the_run_ends():
    """CPU._run_fast stops before an instruction at CPL 3 when RIP is where the run ends, or
    the byte there is an HLT within the run's code, even when the HLT is already decoded
    (Process.run reports an HLT at CPL 3 rather than executing it into a #GP); outside that
    range the HLT runs and its #GP(0) is delivered (Intel SDM Vol. 2A HLT)."""
    m = Machine.boot()
    p = m.spawn("x86_64")
    run = p.run("nop\nhlt", trace=False)
    assert run.stop == "hlt"
    cpu = m.cpu
    rip = cpu.r[RIP]
    assert cpu._fetch().mnemonic == "hlt"  # now in the decode cache
    assert cpu._run_fast(10, -1, rip, rip + 1, True) == (0, True)
    assert cpu._run_fast(10, rip, 0, 0, True) == (0, True)
    steps, result = cpu._run_fast(10, -1, 0, 0, True)
    assert steps == 1 and result[0] == "delivered" and result[2].vector == 13


def test_import_leaves_the_kernel_for_the_first_boot():
    """`import simulator` loads the CPU model, the trace and the facade; the toy kernel, the
    ABI facts and the assembler load when a machine first boots (simulator/_lazy.py), and
    booting works the same (a fresh interpreter, so nothing is imported already)."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "import simulator\n"
        "late = ('abi', 'simulator.kernel.kernel', 'simulator.kernel.ptrace',"
        " 'simulator.cpu.assembler')\n"
        "print(sorted(n for n in late if n in sys.modules and"
        " type(sys.modules[n]).__name__ == 'module'))\n"
        "p = simulator.Machine.boot().spawn('x86_64')\n"
        "print(p.syscall('getpid', trace=False).ret == p.pid)\n"
        "print(sorted(n for n in late if type(sys.modules[n]).__name__ == 'module'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[0] == "[]"
    assert out[1] == "True"
    assert out[2] == str(
        sorted(
            ("abi", "simulator.kernel.kernel", "simulator.kernel.ptrace", "simulator.cpu.assembler")
        )
    )


def test_a_hook_added_inside_a_straight_run_runs():
    """The fast loop runs a straight run of register-only instructions (CPU._block) after
    checking it once for hooks; a hook added afterwards at an address inside the run must
    still run in place of its instruction (CPU.hooks counts its changes)."""
    from simulator.cpu.assembler import assemble
    from simulator.cpu.registers import R12, RAX, RBX

    m = Machine.boot()
    p = m.spawn("x86_64")
    body = "loop:\nmov eax, 1\nmov ebx, 2\nmov ecx, 3\nsub r12, 1\njnz loop"
    run = p.run(f"mov r12, 3\n{body}", trace=False)  # three passes: the run is made
    assert run.stop == "end" and run.after.reg("rbx") == 2
    cpu = m.cpu
    end = run.after.regs[RIP]
    loop = end - len(assemble(body, mode=64, address=0))
    mov_ebx = loop + len(assemble("mov eax, 1", mode=64))
    calls = []

    def hook(c):
        calls.append(c.r[RIP])
        c.r[RBX] = 0x99  # in place of mov ebx, 2
        c.r[RIP] = mov_ebx + len(assemble("mov ebx, 2", mode=64))

    cpu.hooks[mov_ebx] = hook
    try:
        cpu.r[RIP], cpu.r[R12], cpu.r[RAX] = loop, 1, 0
        steps, answer = cpu._run_fast(100, end, 0, 0, True)
    finally:
        del cpu.hooks[mov_ebx]
    assert answer is True and calls == [mov_ebx]
    assert cpu.r[RBX] == 0x99 and cpu.r[RAX] == 1
    assert steps == 5  # mov eax, the hook, mov ecx, sub, jnz
