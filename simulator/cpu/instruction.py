"""Decoded instructions and their operands: what the decoder makes and the executor runs."""

from __future__ import annotations

import attrs

# Operand and address sizes are in bytes: 1, 2, 4 or 8.
SIZES = (1, 2, 4, 8)


@attrs.frozen
class Reg:
    """A general register operand: ``reg`` is the hardware number 0..15 (RAX..R15).

    ``high`` selects AH, CH, DH or BH (bits 15:8 of registers 0..3), which the
    encoding allows only without a REX prefix.
    """

    reg: int
    size: int
    high: bool = False


@attrs.frozen
class SegReg:
    """A segment register operand: 0..5 = ES, CS, SS, DS, FS, GS."""

    sreg: int


@attrs.frozen
class Imm:
    """An immediate, already sign- or zero-extended as the instruction uses it.

    ``value`` is unsigned and fits ``size`` bytes (the operand size it is used
    at); ``encoded_size`` is how many bytes the encoding holds (imm8 that is
    sign-extended to 32 or 64 bits has encoded_size 1).
    """

    value: int
    size: int
    encoded_size: int


@attrs.frozen
class Mem:
    """A memory operand: ``seg``:[base + index*scale + disp].

    ``seg`` is an explicit segment-override prefix (None: the default, SS for
    an RSP/RBP base and DS otherwise). ``rip`` marks RIP-relative addressing
    (64-bit mode), where ``disp`` is relative to the next instruction.
    ``addr_size`` is the address size in bytes (2, 4 or 8); ``size`` the
    operand size in bytes (0 for LEA-like uses and for LGDT/LIDT, whose
    operand is a pseudo-descriptor).
    """

    size: int
    base: int | None = None
    index: int | None = None
    scale: int = 1
    disp: int = 0
    seg: int | None = None
    rip: bool = False
    addr_size: int = 8


@attrs.frozen
class Rel:
    """A relative branch target: the signed displacement from the next instruction."""

    disp: int
    encoded_size: int


Operand = Reg | SegReg | Imm | Mem | Rel


@attrs.frozen
class Instruction:
    """One decoded instruction.

    ``mnemonic`` is the lower-case Intel mnemonic with no size suffix
    (``mov``, ``syscall``, ``sysret``, ``iret``, ``int``, ``jcc``...); the
    operand size (``op_size``, in bytes) tells IRET from IRETD and IRETQ, and
    SYSRET from SYSRETQ. ``cond`` is the condition code 0..15 of Jcc (the low
    nibble of its opcode). ``raw`` holds the instruction's bytes.
    """

    mnemonic: str
    operands: tuple[Operand, ...]
    length: int
    op_size: int
    addr_size: int
    raw: bytes
    lock: bool = False
    rep: str | None = None  # "rep" (F3) or "repne" (F2)
    rex_w: bool = False
    cond: int | None = None


@attrs.frozen
class Undefined:
    """An encoding the processor refuses: executing it raises ``vector``.

    That is #UD (6) for an undefined opcode, a LOCK prefix where LOCK is not
    allowed, or an opcode invalid in the current mode; #GP (13) for an
    instruction longer than 15 bytes (SDM Vol. 2A §2.3.11).
    """

    raw: bytes
    reason: str
    vector: int = 6


@attrs.frozen
class Unmodeled:
    """A real instruction that ringsim does not model: the run stops, naming it."""

    raw: bytes
    mnemonic: str


@attrs.frozen
class Truncated:
    """The decoder needed more bytes than it was given (the fetch must fault)."""

    needed: int


DecodeResult = Instruction | Undefined | Unmodeled | Truncated
