"""The simulator side: boot ringsim as the probe found the host, run a case with the same
instruction sequence, and answer with the same record shape as the host runner.

The comparison boots ``Machine.boot(kernel="x86_64", cpu=<host vendor>, profile="linux-6.9",
options={...})``. Until that profile exists, Machine.boot raises ValueError naming the
profile; ``profile_missing`` recognises exactly that error, so the tests can say so and
start comparing the moment the profile lands.
"""

from __future__ import annotations

from collections.abc import Mapping

from simulator import Machine
from simulator.cpu.assembler import assemble
from tests.host.cases import (
    FLAGS_SETUP,
    RECORD_REGS_32,
    RECORD_REGS_64,
    Case,
    Record,
)
from tests.host.probe import HostProbe

PROFILE = "linux-6.9"
# Machine.boot's options, from the probe's findings: the configuration a real kernel has.
OPTION_FINDINGS: Mapping[str, str] = {"x32": "x32", "ia32_emulation": "ia32"}


def boot_options(probe: HostProbe) -> dict[str, bool]:
    """The linux-6.9 options that match the host: x32 on or off, ia32 emulation on or off."""
    return {option: bool(probe[finding]) for option, finding in OPTION_FINDINGS.items()}


def profile_missing(error: BaseException, profile: str = PROFILE) -> bool:
    """Whether ``error`` is Machine.boot refusing ``profile`` as unknown (not landed yet)."""
    text = str(error)
    return (
        isinstance(error, ValueError)
        and text.startswith("profile:")
        and text.endswith(f"received {profile!r}")
    )


def boot(probe: HostProbe, *, profile: str = PROFILE, options: bool = True) -> Machine:
    """The x86_64 kernel on the host's CPU vendor, configured as the host is (``options``
    false boots without the options argument, as profiles before linux-6.9 are booted)."""
    if probe.vendor is None:
        raise ValueError(f"vendor: the probe found none ({probe['vendor'].reason})")
    kwargs = {"kernel": "x86_64", "cpu": probe.vendor, "profile": profile, "seed": 0}
    if not options:
        return Machine.boot(**kwargs)
    try:
        return Machine.boot(**kwargs, options=boot_options(probe))
    except TypeError as error:
        if "unexpected keyword argument 'options'" not in str(error):
            raise
        Machine.boot(**kwargs)  # raises the ValueError that says the profile is unknown
        raise TypeError(
            f"Machine.boot knows profile {profile!r} but takes no options= argument"
        ) from error


def _load(p, case: Case, data: int) -> None:
    """What the host's program does before the call, in ringsim's assembler syntax: the
    flags pattern, then every general register but the stack pointer, in the same order."""
    setup = [f"{op} {reg}, {value:#x}" for op, reg, value in FLAGS_SETUP]
    setup += [f"mov {reg}, {value:#x}" for reg, value in case.registers(data).items()]
    loaded = p.run("\n".join(setup), trace=False)
    if loaded.stop != "end":
        raise RuntimeError(f"{case.name}: the setup stopped with {loaded.stop}: {loaded.detail}")


class Simulated:
    """A booted machine, restored to its fresh state before each case (so the case's
    process is always the machine's first: pid 1, a value no compared call returns)."""

    def __init__(self, machine: Machine, profile: str = PROFILE) -> None:
        self.machine = machine
        self.release = f"ringsim {profile}"
        self._fresh = machine.snapshot()

    def _spawn(self, bits: int):
        self.machine.restore(self._fresh)
        return self.machine.spawn("x86_64" if bits == 64 else "i386")

    def _sysinfo(self, p) -> tuple[int, int]:
        """AT_SYSINFO as the process's own TLS word %gs:0x10 holds it (ringsim's start-up
        does what libc does), read by an instruction; and where it was stored."""
        slot = p.alloc(4)
        run = p.run(f"mov eax, dword ptr gs:[0x10]\nmov dword ptr [{slot:#x}], eax", trace=False)
        if run.stop != "end":
            raise RuntimeError(f"reading %gs:0x10 stopped with {run.stop}: {run.detail}")
        return int.from_bytes(p.read_mem(slot, 4), "little"), slot

    def run(self, case: Case) -> Record:
        """The case, as the host's program makes it: the flags, every register, then the
        one entering instruction, run by the CPU model in user mode."""
        bits = case.bits
        p = self._spawn(bits)
        data = p.alloc(max(len(case.data), 1))
        if case.data:
            p.write_mem(data, case.data)
        note = ""
        if case.via == "kernel_vsyscall":
            sysinfo, slot = self._sysinfo(p)
            if not sysinfo:
                note = "no AT_SYSINFO in the auxiliary vector: no 32-bit vDSO"
                return Record(case.name, "ringsim", self.release, bits, note=note)
            entry = f"call dword ptr [{slot:#x}]"
        else:
            entry = "syscall" if case.via == "syscall" else "int 0x80"
        _load(p, case, data)
        ran = p.run(entry, trace=False)
        names = RECORD_REGS_64 if bits == 64 else RECORD_REGS_32
        before = {reg: ran.before.reg(reg) for reg in names}
        start = before[names[-2]]
        places = {
            "the entering instruction": start,
            "the return address": start + len(assemble(entry, mode=bits, address=start)),
            "case data": data,
            "the process's pid": p.pid,
            "RFLAGS at the call": before[names[-1]],
        }
        common = {"bits": bits, "places": places, "output": p.stdout, "data_size": len(case.data)}
        if ran.stop == "signal":
            return Record(case.name, "ringsim", self.release, signal=ran.signal, **common)
        if ran.stop != "end":
            note = f"the call ended with {ran.stop}: {ran.detail}"
            return Record(case.name, "ringsim", self.release, before=before, note=note, **common)
        after = {reg: ran.after.reg(reg) for reg in names}
        return Record(case.name, "ringsim", self.release, before=before, after=after, **common)

    def vdso_image(self, bits: int) -> bytes:
        """The [vdso] mapping of a fresh 64-bit or 32-bit process, read like a debugger."""
        p = self._spawn(bits)
        for line in p.maps():
            if line.endswith("[vdso]"):
                start, end = (int(x, 16) for x in line.split()[0].split("-"))
                return p.read_mem(start, end - start)
        return b""

    def kernel_vsyscall_code(self) -> bytes:
        """Up to 64 bytes at AT_SYSINFO in a 32-bit process (not past the page), as the
        host's 32-bit program copies them."""
        p = self._spawn(32)
        sysinfo, _ = self._sysinfo(p)
        if not sysinfo:
            return b""
        return p.read_mem(sysinfo, min(64, 0x1000 - (sysinfo & 0xFFF)))

    def trace_first_syscall(self, case: Case) -> tuple[Record, dict, dict, tuple[int, int]]:
        """A tracer's view of the case (a 64-bit one): PTRACE_ATTACH, PTRACE_O_TRACESYSGOOD,
        PTRACE_SYSCALL, then the registers at the call's entry and exit stops."""
        m = self.machine
        m.restore(self._fresh)
        tracer = m.spawn("x86_64")
        child = m.spawn("x86_64", parent=tracer)
        data = child.alloc(max(len(case.data), 1))
        if case.data:
            child.write_mem(data, case.data)
        m.ptrace("PTRACE_ATTACH", child, tracer=tracer)
        m.waitpid(child)
        m.ptrace("PTRACE_SETOPTIONS", child, 0, 1)
        m.ptrace("PTRACE_SYSCALL", child)
        _load(child, case, data)
        entry = "syscall" if case.via == "syscall" else "int 0x80"
        ran = child.run(entry, trace=False)
        start = ran.before.reg("rip")
        stops, statuses = [], []
        for resume in ("PTRACE_SYSCALL", "PTRACE_CONT"):  # after the entry, the exit stop
            statuses.append(m.waitpid(child).status)
            stops.append(dict(m.ptrace("PTRACE_GETREGS", child).value))
            m.ptrace(resume, child)
        m.waitpid(child)
        places = {
            "the entering instruction": start,
            "the return address": start + len(assemble(entry, mode=64, address=start)),
            "case data": data,
            "the process's pid": child.pid,
            "RFLAGS at the call": ran.before.reg("rflags"),
        }
        record = Record(
            case.name, "ringsim", self.release, 64, places=places, data_size=len(case.data)
        )
        return record, stops[0], stops[1], (statuses[0], statuses[1])
