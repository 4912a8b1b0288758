"""SYSCALL/SYSRETQ and INT 0x80/IRETQ on a bare CPU, step by step, on Intel and on AMD."""

from __future__ import annotations

from scenarios.bare_cpu import (
    IDT,
    KERNEL_CODE,
    KERNEL_CS,
    USER_CODE,
    long_mode_cpu,
)
from scenarios.story import DEFAULT, Options
from simulator.cpu import CPU, Gate64, StepResult
from simulator.cpu.assembler import assemble
from simulator.cpu.disassembler import format_instruction

INT80_HANDLER = KERNEL_CODE + 0x300
_QUIET = {"rip"}


def _show(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        return str(value)
    return f"{value:#x}"


def describe(step: int, result: StepResult) -> list[str]:
    """A step as trace lines: ring, address, instruction, manual section, what changed."""
    ring = f"{result.before.cpl}->{result.after.cpl}"
    text = format_instruction(result.instruction) if result.instruction else result.outcome
    lines = [f"  {step}. ring {ring}  {result.rip:#018x}  {text:<10}  [{result.source}]"]
    changed = []
    for change in result.changes():
        if change.name.endswith(".cache"):
            continue
        if change.name in _QUIET:
            continue
        if change.name == "cpl":
            continue
        changed.append(f"{change.name} {_show(change.before)} -> {_show(change.after)}")
    lines.append("       " + "; ".join([f"rip -> {result.after.reg('rip'):#x}", *changed]))
    if result.fault is not None:
        lines.append(f"       fault: {result.fault}")
    return lines


def prepare(vendor: str) -> CPU:
    """A long-mode CPU whose LSTAR code is SYSRETQ and whose vector 0x80 handler is IRETQ."""
    cpu = long_mode_cpu(vendor)
    cpu.space.poke(KERNEL_CODE, assemble("sysretq"))
    cpu.space.poke(INT80_HANDLER, assemble("iretq"))
    gate = Gate64(offset=INT80_HANDLER, selector=KERNEL_CS, type=0xE, dpl=3, present=True)
    cpu.space.poke(IDT + 16 * 0x80, gate.encode())
    cpu.space.poke(USER_CODE, assemble("mov eax, 39\nsyscall\nint 0x80\nhlt"))
    return cpu


def run(opts: Options = DEFAULT) -> list[str]:
    """Tell the story; return the lines of its trace."""
    out = ["== A bare CPU crosses the ring boundary: SYSCALL/SYSRETQ, INT 0x80/IRETQ =="]
    out.append("No kernel yet: LSTAR points at a lone SYSRETQ, vector 0x80 at a lone IRETQ,")
    out.append("as Linux 3.16 sets STAR (0x0023001000000000), FMASK (0x43700) and the IDT gate.")
    for vendor in opts.cpus():
        cpu = prepare(vendor)
        out.append("")
        out.append(f"-- {vendor} --")
        for step in range(1, 7):
            result = cpu.step(deliver=False)
            out.extend(describe(step, result))
            if result.instruction is not None and result.instruction.mnemonic == "sysret":
                out.append(f"       SS cache after SYSRET: {cpu.segment('ss')[1].describe()}")
            if result.outcome != "completed":
                break
    out.append("")
    out.append("SYSCALL saved the return address in RCX and RFLAGS in R11 and pushed nothing;")
    out.append("INT 0x80 pushed SS, RSP, RFLAGS, CS and RIP on the TSS's RSP0 stack, and IRETQ")
    out.append("popped them. The HLT at CPL 3 is refused with #GP(0), as the manual says.")
    out.append("On AMD, SYSRET changed SS's selector but kept its ring-0 cache (DPL 0): Linux")
    out.append("calls this X86_BUG_SYSRET_SS_ATTRS; 64-bit code ignores SS, 32-bit code would not.")
    return out
