"""Integer arithmetic with the flags the SDM defines for each instruction."""

from __future__ import annotations

from simulator.cpu.flags import AF, CF, OF, PF, SF, ZF

ARITH_FLAGS = CF | PF | AF | ZF | SF | OF

# PF is set when the low byte of the result has an even number of 1 bits
# (SDM Vol. 1 §3.4.3.1).
_PARITY = tuple(PF if bin(i).count("1") % 2 == 0 else 0 for i in range(256))

MASKS = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFF_FFFF, 8: 0xFFFF_FFFF_FFFF_FFFF}
SIGN = {1: 0x80, 2: 0x8000, 4: 0x8000_0000, 8: 0x8000_0000_0000_0000}


def _szp(result: int, size: int) -> int:
    f = _PARITY[result & 0xFF]
    if result == 0:
        f |= ZF
    if result & SIGN[size]:
        f |= SF
    return f


def add(a: int, b: int, size: int, carry: int = 0) -> tuple[int, int]:
    """ADD/ADC: the result and all six arithmetic flags (SDM Vol. 2A ADD, ADC)."""
    mask = MASKS[size]
    full = a + b + carry
    r = full & mask
    f = _szp(r, size)
    if full > mask:
        f |= CF
    if (a ^ b ^ r) & 0x10:
        f |= AF
    if (~(a ^ b) & (a ^ r)) & SIGN[size]:
        f |= OF
    return r, f


def sub(a: int, b: int, size: int, borrow: int = 0) -> tuple[int, int]:
    """SUB/SBB/CMP/NEG: the result and all six arithmetic flags (SDM Vol. 2B SUB, SBB, CMP)."""
    mask = MASKS[size]
    r = (a - b - borrow) & mask
    f = _szp(r, size)
    if a < b + borrow:
        f |= CF
    if (a ^ b ^ r) & 0x10:
        f |= AF
    if ((a ^ b) & (a ^ r)) & SIGN[size]:
        f |= OF
    return r, f


def logic(r: int, size: int) -> int:
    """AND/OR/XOR/TEST: OF and CF cleared, SF/ZF/PF from the result.

    AF is undefined (SDM Vol. 2A AND "Flags Affected"); ringsim clears it, as
    current Intel and AMD processors do.
    """
    return _szp(r, size)


def incdec(a: int, size: int, delta: int) -> tuple[int, int]:
    """INC/DEC: like ADD/SUB of 1 but CF is left alone (the caller keeps it)."""
    r, f = add(a, 1, size) if delta > 0 else sub(a, 1, size)
    return r, f & ~CF


def shift(op: str, a: int, count: int, size: int) -> tuple[int, int] | None:
    """SHL/SHR/SAR: the result and flags, or None when the masked count is 0.

    The count is masked to 5 bits (6 with a 64-bit operand); a zero count
    changes no flags. CF is the last bit shifted out; OF is defined for a
    count of 1 (SHL: MSB(result) XOR CF; SHR: MSB of the original; SAR: 0)
    and undefined otherwise; AF is undefined (SDM Vol. 2B SAL/SAR/SHL/SHR).
    ringsim computes OF by the count-1 rule for every count and clears AF.
    """
    count &= 0x3F if size == 8 else 0x1F
    if count == 0:
        return None
    mask = MASKS[size]
    bits = size * 8
    if op == "shl":
        r = (a << count) & mask
        cf = (a >> (bits - count)) & 1 if count <= bits else 0
        of = ((r & SIGN[size]) != 0) ^ cf
    elif op == "shr":
        r = a >> count if count < bits else 0
        cf = (a >> (count - 1)) & 1 if count <= bits else 0
        of = (a & SIGN[size]) != 0
    else:  # sar
        signed = a - (1 << bits) if a & SIGN[size] else a
        r = (signed >> count) & mask
        cf = (signed >> (count - 1)) & 1 if count <= bits else (1 if signed < 0 else 0)
        of = 0
    return r, _szp(r, size) | (CF if cf else 0) | (OF if of else 0)


def mul(a: int, b: int, size: int) -> tuple[int, int, int]:
    """MUL: the low and high halves and the flags (SDM Vol. 2B MUL).

    CF and OF are set when the high half is not zero; SF, ZF, AF and PF are
    undefined: ringsim takes SF, ZF and PF from the low half and clears AF.
    """
    full = a * b
    lo = full & MASKS[size]
    hi = full >> (size * 8)
    f = _szp(lo, size)
    if hi:
        f |= CF | OF
    return lo, hi, f


def condition(cond: int, rflags: int) -> bool:
    """Whether condition code ``cond`` (0..15, the Jcc opcode's low nibble) holds.

    SDM Vol. 2A Appendix B.1.4.7 Table B-1 ("Encoding of Conditional Test
    (tttn) Field"). Answered from a table built by ``_condition`` at import.
    """
    return _CONDITIONS[cond][rflags & _COND_FLAGS]


def _condition(cond: int, rflags: int) -> bool:
    """Table B-1 itself, evaluated (what the table is built from)."""
    cf = bool(rflags & CF)
    zf = bool(rflags & ZF)
    sf = bool(rflags & SF)
    of = bool(rflags & OF)
    pf = bool(rflags & PF)
    base = cond >> 1
    if base == 0:
        value = of
    elif base == 1:
        value = cf
    elif base == 2:
        value = zf
    elif base == 3:
        value = cf or zf
    elif base == 4:
        value = sf
    elif base == 5:
        value = pf
    elif base == 6:
        value = sf != of
    else:
        value = zf or sf != of
    return value != bool(cond & 1)


_COND_FLAGS = CF | PF | ZF | SF | OF
_COMBINATIONS = [
    sum(bit for i, bit in enumerate((CF, PF, ZF, SF, OF)) if n >> i & 1) for n in range(32)
]
# For each condition, its answer for every combination of the five flags it can test.
_CONDITIONS: tuple[dict[int, bool], ...] = tuple(
    {flags: _condition(cond, flags) for flags in _COMBINATIONS} for cond in range(16)
)
