"""Decoded instructions as Intel-syntax text, in the spelling the assembler reads back."""

from __future__ import annotations

from simulator.cpu.decoder import MAX_LENGTH, decode
from simulator.cpu.instruction import (
    Imm,
    Instruction,
    Mem,
    Operand,
    Reg,
    Rel,
    SegReg,
    Truncated,
    Undefined,
    Unmodeled,
)
from simulator.cpu.registers import GPR_NAMES
from simulator.cpu.segments import SREG_NAMES

__all__ = ["COND_NAMES", "REG_NAMES", "SIZE_NAMES", "disassemble", "format_instruction"]

# Register names by operand size in bytes, indexed by the hardware register number.
REG_NAMES: dict[int, tuple[str, ...]] = {
    8: GPR_NAMES,
    4: ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", *(f"r{n}d" for n in range(8, 16))),
    2: ("ax", "cx", "dx", "bx", "sp", "bp", "si", "di", *(f"r{n}w" for n in range(8, 16))),
    1: ("al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil", *(f"r{n}b" for n in range(8, 16))),
}
HIGH_NAMES = ("ah", "ch", "dh", "bh")
SIZE_NAMES = {1: "byte", 2: "word", 4: "dword", 8: "qword"}
# Jcc condition codes 0..15, the low nibble of 70-7F and 0F 80-8F (SDM Vol. 2A Jcc; Vol. 1 App. B).
COND_NAMES = (
    "o",
    "no",
    "b",
    "ae",
    "e",
    "ne",
    "be",
    "a",
    "s",
    "ns",
    "p",
    "np",
    "l",
    "ge",
    "le",
    "g",
)

_MASK = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFF_FFFF, 8: 0xFFFF_FFFF_FFFF_FFFF}


def _signed_hex(value: int) -> str:
    return f"+{value:#x}" if value >= 0 else f"-{-value:#x}"


def _mem(m: Mem) -> str:
    names = REG_NAMES[m.addr_size]
    parts: list[str] = []
    if m.rip:
        parts.append("rip" if m.addr_size == 8 else "eip")
    if m.base is not None:
        parts.append(names[m.base])
    if m.index is not None:
        # 16-bit forms have no scale; elsewhere the scale marks the index register.
        parts.append(names[m.index] if m.addr_size == 2 else f"{names[m.index]}*{m.scale}")
    if parts:
        inner = "+".join(parts) + (_signed_hex(m.disp) if m.disp else "")
    else:
        inner = f"{m.disp & _MASK[m.addr_size]:#x}"
    seg = f"{SREG_NAMES[m.seg]}:" if m.seg is not None else ""
    size = f"{SIZE_NAMES[m.size]} ptr " if m.size else ""
    return f"{size}{seg}[{inner}]"


def _operand(op: Operand, ins: Instruction, address: int | None) -> str:
    t = type(op)
    if t is Reg:
        return HIGH_NAMES[op.reg] if op.high else REG_NAMES[op.size][op.reg]
    if t is Imm:
        return "1" if op.encoded_size == 0 else f"{op.value:#x}"
    if t is Mem:
        return _mem(op)
    if t is SegReg:
        return SREG_NAMES[op.sreg]
    if t is Rel:
        if address is None:
            return f"${_signed_hex(ins.length + op.disp)}"
        return f"{(address + ins.length + op.disp) & _MASK[ins.op_size]:#x}"
    raise TypeError(f"operand: expected Reg, SegReg, Imm, Mem or Rel, received {t.__name__}")


def _mnemonic(ins: Instruction) -> str:
    name = ins.mnemonic
    if name == "jcc":
        return "j" + COND_NAMES[ins.cond]
    if name == "iret":
        return {2: "iretw", 4: "iretd", 8: "iretq"}[ins.op_size]
    if name in ("sysret", "sysexit"):
        return name + "q" if ins.op_size == 8 else name
    last = ins.operands[-1] if ins.operands else None
    if name == "mov" and type(last) is Imm and last.encoded_size == 8:
        return "movabs"
    return name


def format_instruction(ins: Instruction, *, address: int | None = None) -> str:
    """``ins`` in Intel syntax; branch targets are absolute hex when ``address`` is given."""
    if not isinstance(ins, Instruction):
        raise TypeError(f"ins: expected an Instruction, received {type(ins).__name__} {ins!r}")
    if address is not None and (isinstance(address, bool) or not isinstance(address, int)):
        raise TypeError(f"address: expected an int or None, received {type(address).__name__}")
    text = _mnemonic(ins)
    if text == "push" and type(ins.operands[0]) is Imm and ins.op_size == 2:
        text = "push word"  # a word push is the non-default size in 32- and 64-bit code
    if ins.operands:
        text += " " + ", ".join(_operand(op, ins, address) for op in ins.operands)
    if ins.rep is not None:
        text = f"{ins.rep} {text}"
    if ins.lock:
        text = f"lock {text}"
    return text


def disassemble(
    data: bytes | bytearray | memoryview, *, mode: int, address: int = 0
) -> list[tuple[int, bytes, str]]:
    """A listing of ``data`` decoded from ``address``: (address, bytes, text) per instruction.

    An undefined encoding reads "(bad)" with the fault it raises, an instruction
    outside the modelled subset "<not modeled: name>", and bytes that end
    mid-instruction "(truncated)".
    """
    data = bytes(data)
    out: list[tuple[int, bytes, str]] = []
    pos = 0
    while pos < len(data):
        here = address + pos
        result = decode(data[pos : pos + MAX_LENGTH], mode=mode)
        if type(result) is Instruction:
            out.append((here, result.raw, format_instruction(result, address=here)))
            pos += result.length
        elif type(result) is Undefined:
            fault = "#GP" if result.vector == 13 else "#UD"
            raw = result.raw or data[pos : pos + 1]
            out.append((here, raw, f"(bad)  # {fault}: {result.reason}"))
            pos += len(raw)
        elif type(result) is Unmodeled:
            raw = result.raw or data[pos : pos + 1]
            out.append((here, raw, f"<not modeled: {result.mnemonic}>"))
            pos += len(raw)
        else:
            assert type(result) is Truncated
            out.append((here, data[pos:], "(truncated)"))
            break
    return out
