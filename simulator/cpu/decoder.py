"""The x86 decoder: the bytes at the instruction pointer to one decoded instruction.

``decode`` dispatches on the opcode byte through two 256-entry tables built once
at import (the one-byte map and the 0F two-byte map of Intel SDM Vol. 2D
Appendix A, Tables A-2 and A-3, with the ModRM groups of Table A-6). Every cell
is one of: a modelled instruction (an ``Instruction``), a real instruction that
ringsim does not model (``Unmodeled``, naming it; its length is still computed so
a disassembly can go on), or an encoding nobody defines (``Undefined``, #UD).
"""

from __future__ import annotations

from collections.abc import Callable

from simulator.cpu.faults import GP
from simulator.cpu.instruction import (
    DecodeResult,
    Imm,
    Instruction,
    Mem,
    Reg,
    Rel,
    SegReg,
    Truncated,
    Undefined,
    Unmodeled,
)
from simulator.cpu.registers import RAX, RBP, RBX, RCX, RDI, RSI
from simulator.cpu.segments import CS, DS, ES, FS, GS, SS

__all__ = ["MAX_LENGTH", "MODES", "decode"]

MAX_LENGTH = 15  # SDM Vol. 2A §2.3.11: a longer instruction raises #GP(0)
MODES = (16, 32, 64)

# ALU block and group 1 operation order (SDM Vol. 2D Table A-2 rows 0-3, Table A-6 group 1).
ALU_NAMES = ("add", "or", "adc", "sbb", "and", "sub", "xor", "cmp")
# Group 2 (SDM Vol. 2D Table A-6): /6 is an undocumented alias of SHL.
SHIFT_NAMES = ("rol", "ror", "rcl", "rcr", "shl", "shr", "sal (undocumented /6)", "sar")
MODELED_SHIFTS = frozenset({"shl", "shr", "sar"})

# LOCK is legal only on these with a memory destination (SDM Vol. 2B LOCK).
LOCKABLE = frozenset({"add", "or", "adc", "sbb", "and", "sub", "xor", "inc", "dec", "neg", "not"})
LOCKABLE_UNMODELED = frozenset({"xchg", "btc", "btr", "bts", "cmpxchg", "cmpxchg8b/16b", "xadd"})

_M = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFF_FFFF, 8: 0xFFFF_FFFF_FFFF_FFFF}

# Prefix kinds, indexed by byte.
_P_NONE, _P_REX, _P_SEG, _P_OPSZ, _P_ADSZ, _P_LOCK, _P_REP, _P_REPNE = range(8)
_SEG_OF = {0x26: ES, 0x2E: CS, 0x36: SS, 0x3E: DS, 0x64: FS, 0x65: GS}


def _prefix_table() -> bytes:
    t = bytearray(256)
    for b in range(0x40, 0x50):
        t[b] = _P_REX
    for b in _SEG_OF:
        t[b] = _P_SEG
    t[0x66] = _P_OPSZ
    t[0x67] = _P_ADSZ
    t[0xF0] = _P_LOCK
    t[0xF3] = _P_REP
    t[0xF2] = _P_REPNE
    return bytes(t)


_PFX = _prefix_table()

# Shared register operands: Reg is frozen, so one instance per (size, number) serves all.
_REG = {size: tuple(Reg(n, size) for n in range(16)) for size in (1, 2, 4, 8)}
_HIGH = tuple(Reg(n, 1, True) for n in range(4))
_CL = _REG[1][RCX]
_ONE_COUNT = Imm(1, 1, 0)

# 16-bit ModRM r/m forms (SDM Vol. 2A Table 2-1): (base, index).
_RM16 = (
    (RBX, RSI),
    (RBX, RDI),
    (RBP, RSI),
    (RBP, RDI),
    (None, RSI),
    (None, RDI),
    (RBP, None),
    (RBX, None),
)


def _s8(v: int) -> int:
    return v - 0x100 if v & 0x80 else v


def _s16(v: int) -> int:
    return v - 0x1_0000 if v & 0x8000 else v


def _s32(v: int) -> int:
    return v - 0x1_0000_0000 if v & 0x8000_0000 else v


class _Short(Exception):
    """Decoding needs byte ``needed - 1``, which is not there."""

    def __init__(self, needed: int) -> None:
        self.needed = needed


class _Result(Exception):
    """A decode outcome found deep inside a helper (an #UD ModRM form)."""

    def __init__(self, result: DecodeResult) -> None:
        self.result = result


class _D:
    """The state of one decode: the bytes, the prefixes, the last ModRM."""

    __slots__ = (
        "asz",
        "data",
        "end",
        "lock",
        "mem",
        "mod",
        "mode",
        "osz",
        "p66",
        "pos",
        "reg",
        "rep",
        "rex",
        "rm",
        "seg",
    )

    def u8(self) -> int:
        p = self.pos
        if p >= self.end:
            raise _Short(p + 1)
        self.pos = p + 1
        return self.data[p]

    def take(self, k: int) -> int:
        p = self.pos
        q = p + k
        if q > self.end:
            raise _Short(q)
        self.pos = q
        return int.from_bytes(self.data[p:q], "little")

    def raw(self) -> bytes:
        return self.data[: self.pos]

    # -------------------------------------------------------------- ModRM

    def modrm(self) -> None:
        b = self.u8()
        mod = b >> 6
        rex = self.rex
        self.mod = mod
        self.reg = ((b >> 3) & 7) | ((rex & 4) << 1)
        rm = b & 7
        if mod == 3:
            self.rm = rm | ((rex & 1) << 3)
            return
        if self.asz == 2:
            base, index = _RM16[rm]
            if mod == 0:
                if rm == 6:
                    base = None
                    disp = _s16(self.take(2))
                else:
                    disp = 0
            elif mod == 1:
                disp = _s8(self.u8())
            else:
                disp = _s16(self.take(2))
            self.mem = (base, index, 1, disp, False)
            return
        index = None
        scale = 1
        rip = False
        if rm == 4:
            sib = self.u8()
            idx = ((sib >> 3) & 7) | ((rex & 2) << 2)
            if idx != 4:
                index = idx
                scale = 1 << (sib >> 6)
            sb = sib & 7
            if sb == 5 and mod == 0:
                base = None
                self.mem = (None, index, scale, _s32(self.take(4)), False)
                return
            base = sb | ((rex & 1) << 3)
        elif rm == 5 and mod == 0:
            self.mem = (None, None, 1, _s32(self.take(4)), self.mode == 64)
            return
        else:
            base = rm | ((rex & 1) << 3)
        if mod == 0:
            disp = 0
        elif mod == 1:
            disp = _s8(self.u8())
        else:
            disp = _s32(self.take(4))
        self.mem = (base, index, scale, disp, rip)

    def mem_op(self, size: int) -> Mem:
        base, index, scale, disp, rip = self.mem
        return Mem(size, base, index, scale, disp, self.seg, rip, self.asz)

    def greg(self, n: int, size: int) -> Reg:
        if size == 1 and 4 <= n < 8 and not self.rex:
            return _HIGH[n - 4]
        return _REG[size][n]

    def E(self, size: int) -> Reg | Mem:
        if self.mod == 3:
            return self.greg(self.rm, size)
        return self.mem_op(size)

    def G(self, size: int) -> Reg:
        return self.greg(self.reg, size)

    def M(self, what: str) -> Mem:
        """A memory-only operand (size 0): a register form is #UD."""
        if self.mod == 3:
            raise _Result(Undefined(self.raw(), f"{what} needs a memory operand"))
        return self.mem_op(0)

    # --------------------------------------------------------- immediates

    def ib(self) -> Imm:
        return Imm(self.u8(), 1, 1)

    def ib_s(self, size: int) -> Imm:
        """imm8 sign-extended to ``size``."""
        v = self.u8()
        if v & 0x80:
            v = (v - 0x100) & _M[size]
        return Imm(v, size, 1)

    def iz(self, size: int) -> Imm:
        """imm16 for a 16-bit operand, else imm32 (sign-extended to 64 bits)."""
        if size == 2:
            return Imm(self.take(2), 2, 2)
        v = self.take(4)
        if size == 8 and v & 0x8000_0000:
            v |= 0xFFFF_FFFF_0000_0000
        return Imm(v, size, 4)

    # ------------------------------------------------------------ results

    def ssz(self) -> int:
        """Operand size of PUSH/POP/RET: default 64 in 64-bit mode (66 gives 16)."""
        if self.mode == 64:
            return 2 if self.p66 else 8
        return self.osz

    def bsz(self) -> int:
        """Operand size of near CALL/JMP/Jcc: forced 64 in 64-bit mode (Intel)."""
        return 8 if self.mode == 64 else self.osz

    def done(
        self, mnemonic: str, operands: tuple, op_size: int, cond: int | None = None
    ) -> Instruction | Undefined:
        raw = self.data[: self.pos]
        if self.lock and not (mnemonic in LOCKABLE and operands and type(operands[0]) is Mem):
            return Undefined(raw, f"LOCK not allowed with {mnemonic}")
        return Instruction(
            mnemonic,
            operands,
            self.pos,
            op_size,
            self.asz,
            raw,
            self.lock,
            self.rep,
            bool(self.rex & 8),
            cond,
        )

    def unmodeled(self, name: str) -> Unmodeled | Undefined:
        raw = self.data[: self.pos]
        if self.lock and not (name in LOCKABLE_UNMODELED and self.mod != 3):
            return Undefined(raw, f"LOCK not allowed with {name}")
        return Unmodeled(raw, name)

    def undefined(self, reason: str) -> Undefined:
        return Undefined(self.data[: self.pos], reason)


Handler = Callable[[_D, int], DecodeResult]


# ------------------------------------------------------------------ cell makers

# Immediate kinds for unmodelled cells, so their length is still right.
_I0, _IB, _IW, _IZ, _IV, _IP, _IA, _IWB = range(8)


def _skip_imm(d: _D, kind: int) -> None:
    if kind == _I0:
        return
    if kind == _IB:
        d.take(1)
    elif kind == _IW:
        d.take(2)
    elif kind == _IZ:
        d.take(2 if d.osz == 2 else 4)
    elif kind == _IV:
        d.take(d.osz)
    elif kind == _IP:
        d.take(4 if d.osz == 2 else 6)
    elif kind == _IA:
        d.take(d.asz)
    else:
        d.take(3)


def _unmod(name: str, modrm: bool = False, imm: int = _I0) -> Handler:
    def handler(d: _D, op: int) -> DecodeResult:
        if modrm:
            d.modrm()
        _skip_imm(d, imm)
        return d.unmodeled(name)

    return handler


def _string(name: str, compare: bool = False) -> Handler:
    def handler(d: _D, op: int) -> DecodeResult:
        rep = d.rep
        if rep is None:
            return d.unmodeled(name)
        if compare:
            return d.unmodeled(f"{'repe' if rep == 'rep' else 'repne'} {name}")
        return d.unmodeled(f"rep {name}")

    return handler


def _undef(reason: str) -> Handler:
    def handler(d: _D, op: int) -> DecodeResult:
        return d.undefined(reason)

    return handler


def _i64(inner: Handler) -> Handler:
    """A cell that is invalid in 64-bit mode (SDM Vol. 2D Table A-2, superscript i64)."""

    def handler(d: _D, op: int) -> DecodeResult:
        if d.mode == 64:
            return d.undefined(f"opcode {op:02x} is invalid in 64-bit mode")
        return inner(d, op)

    return handler


def _simple(mnemonic: str) -> Handler:
    def handler(d: _D, op: int) -> DecodeResult:
        return d.done(mnemonic, (), d.osz)

    return handler


# ------------------------------------------------------------ one-byte cells


def _alu(d: _D, op: int) -> DecodeResult:
    name = ALU_NAMES[op >> 3]
    form = op & 7
    if form == 4:
        return d.done(name, (_REG[1][RAX], d.ib()), 1)
    if form == 5:
        size = d.osz
        return d.done(name, (_REG[size][RAX], d.iz(size)), size)
    size = 1 if form in (0, 2) else d.osz
    d.modrm()
    if form < 2:
        return d.done(name, (d.E(size), d.G(size)), size)
    return d.done(name, (d.G(size), d.E(size)), size)


def _inc_dec_reg(d: _D, op: int) -> DecodeResult:
    size = d.osz
    return d.done("dec" if op & 8 else "inc", (_REG[size][op & 7],), size)


def _push_reg(d: _D, op: int) -> DecodeResult:
    size = d.ssz()
    return d.done("push", (_REG[size][(op & 7) | ((d.rex & 1) << 3)],), size)


def _pop_reg(d: _D, op: int) -> DecodeResult:
    size = d.ssz()
    return d.done("pop", (_REG[size][(op & 7) | ((d.rex & 1) << 3)],), size)


def _push_imm(d: _D, op: int) -> DecodeResult:
    size = d.ssz()
    imm = d.ib_s(size) if op == 0x6A else d.iz(size)
    return d.done("push", (imm,), size)


def _bound(d: _D, op: int) -> DecodeResult:
    d.modrm()
    # With mod=11 this is the EVEX prefix on AVX-512 processors.
    return d.unmodeled("evex" if d.mod == 3 else "bound")


def _arpl_movsxd(d: _D, op: int) -> DecodeResult:
    d.modrm()
    return d.unmodeled("movsxd" if d.mode == 64 else "arpl")


def _jcc8(d: _D, op: int) -> DecodeResult:
    return d.done("jcc", (Rel(_s8(d.u8()), 1),), d.bsz(), op & 15)


def _grp1(d: _D, op: int) -> DecodeResult:
    d.modrm()
    name = ALU_NAMES[d.reg & 7]
    if op == 0x81:
        size = d.osz
        dst = d.E(size)
        return d.done(name, (dst, d.iz(size)), size)
    if op == 0x83:
        size = d.osz
        dst = d.E(size)
        return d.done(name, (dst, d.ib_s(size)), size)
    dst = d.E(1)
    return d.done(name, (dst, d.ib()), 1)


def _test_rm(d: _D, op: int) -> DecodeResult:
    size = 1 if op == 0x84 else d.osz
    d.modrm()
    return d.done("test", (d.E(size), d.G(size)), size)


def _test_acc(d: _D, op: int) -> DecodeResult:
    if op == 0xA8:
        return d.done("test", (_REG[1][RAX], d.ib()), 1)
    size = d.osz
    return d.done("test", (_REG[size][RAX], d.iz(size)), size)


def _mov_rm(d: _D, op: int) -> DecodeResult:
    size = d.osz if op & 1 else 1
    d.modrm()
    if op & 2:
        return d.done("mov", (d.G(size), d.E(size)), size)
    return d.done("mov", (d.E(size), d.G(size)), size)


def _mov_sreg(d: _D, op: int) -> DecodeResult:
    d.modrm()
    sreg = d.reg & 7  # REX.R does not extend the Sreg field
    if sreg > GS:
        return d.undefined(f"segment register encoding {sreg} is reserved")
    size = d.osz
    if op == 0x8C:
        # A register destination takes the operand size; memory is always a word.
        rm = d.greg(d.rm, size) if d.mod == 3 else d.mem_op(2)
        return d.done("mov", (rm, SegReg(sreg)), size)
    if sreg == CS:
        return d.undefined("MOV to CS is invalid")
    # MOV Sreg, r/m16: only the low word is read, whatever the operand size.
    rm = d.greg(d.rm, 2) if d.mod == 3 else d.mem_op(2)
    return d.done("mov", (SegReg(sreg), rm), size)


def _lea(d: _D, op: int) -> DecodeResult:
    d.modrm()
    size = d.osz
    return d.done("lea", (d.G(size), d.M("lea")), size)


def _grp1a(d: _D, op: int) -> DecodeResult:
    d.modrm()
    if d.reg & 7:
        return d.unmodeled("xop")  # AMD XOP prefix; #UD on Intel
    size = d.ssz()
    return d.done("pop", (d.E(size),), size)


def _nop_xchg(d: _D, op: int) -> DecodeResult:
    if op == 0x90 and not d.rex & 1:
        if d.rep == "rep":
            return d.unmodeled("pause")
        return d.done("nop", (), d.osz)
    return d.unmodeled("xchg")


def _cbw(d: _D, op: int) -> DecodeResult:
    return d.unmodeled({2: "cbw", 4: "cwde", 8: "cdqe"}[d.osz])


def _cwd(d: _D, op: int) -> DecodeResult:
    return d.unmodeled({2: "cwd", 4: "cdq", 8: "cqo"}[d.osz])


def _mov_imm8(d: _D, op: int) -> DecodeResult:
    return d.done("mov", (d.greg((op & 7) | ((d.rex & 1) << 3), 1), d.ib()), 1)


def _mov_imm(d: _D, op: int) -> DecodeResult:
    size = d.osz
    reg = _REG[size][(op & 7) | ((d.rex & 1) << 3)]
    return d.done("mov", (reg, Imm(d.take(size), size, size)), size)


def _grp2(d: _D, op: int) -> DecodeResult:
    d.modrm()
    size = 1 if op in (0xC0, 0xD0, 0xD2) else d.osz
    dst = d.E(size)
    if op < 0xD0:
        count = d.ib()
    elif op < 0xD2:
        count = _ONE_COUNT
    else:
        count = _CL
    name = SHIFT_NAMES[d.reg & 7]
    if name not in MODELED_SHIFTS:
        return d.unmodeled(name)
    return d.done(name, (dst, count), size)


def _ret_near(d: _D, op: int) -> DecodeResult:
    if op == 0xC2:
        return d.done("ret", (Imm(d.take(2), 2, 2),), d.ssz())
    return d.done("ret", (), d.ssz())


def _vex_les(d: _D, op: int) -> DecodeResult:
    if d.mode != 64:
        # Outside 64-bit mode C4/C5 are LES/LDS unless the next byte looks like mod=11.
        if d.pos >= d.end:
            raise _Short(d.pos + 1)
        if d.data[d.pos] < 0xC0:
            d.modrm()
            return d.unmodeled("les" if op == 0xC4 else "lds")
    # Skip the VEX payload, opcode, ModRM and any imm8 so a listing stays in step.
    if op == 0xC5:
        d.u8()
        vmap = 1
    else:
        vmap = d.u8() & 0x1F
        d.u8()
    vop = d.u8()
    if not (vmap == 1 and vop == 0x77):
        d.modrm()
        if vmap == 3 or (vmap == 1 and vop in _SSE_IMM):
            d.take(1)
    return d.unmodeled("vex")


def _grp11(d: _D, op: int) -> DecodeResult:
    d.modrm()
    sub = d.reg & 7
    size = 1 if op == 0xC6 else d.osz
    if sub == 0:
        dst = d.E(size)
        return d.done("mov", (dst, d.ib() if size == 1 else d.iz(size)), size)
    if sub == 7 and d.mod == 3 and d.rm & 7 == 0:
        if op == 0xC6:
            d.take(1)
            return d.unmodeled("xabort")
        d.take(2 if d.osz == 2 else 4)
        return d.unmodeled("xbegin")
    return d.undefined(f"opcode {op:02x} /{sub} is undefined")


def _int3(d: _D, op: int) -> DecodeResult:
    return d.done("int3", (), d.osz)


def _int(d: _D, op: int) -> DecodeResult:
    return d.done("int", (d.ib(),), d.osz)


def _jmp_call_rel(d: _D, op: int) -> DecodeResult:
    size = d.bsz()
    if op == 0xEB:
        return d.done("jmp", (Rel(_s8(d.u8()), 1),), size)
    rel = Rel(_s16(d.take(2)), 2) if size == 2 else Rel(_s32(d.take(4)), 4)
    return d.done("call" if op == 0xE8 else "jmp", (rel,), size)


def _grp3(d: _D, op: int) -> DecodeResult:
    d.modrm()
    sub = d.reg & 7
    size = 1 if op == 0xF6 else d.osz
    dst = d.E(size)
    if sub < 2:
        imm = d.ib() if size == 1 else d.iz(size)
        if sub == 1:
            return d.unmodeled("test (undocumented /1)")
        return d.done("test", (dst, imm), size)
    if sub < 5:
        return d.done(("not", "neg", "mul")[sub - 2], (dst,), size)
    return d.unmodeled(("imul", "div", "idiv")[sub - 5])


def _grp4(d: _D, op: int) -> DecodeResult:
    d.modrm()
    sub = d.reg & 7
    if sub > 1:
        return d.undefined(f"opcode fe /{sub} is undefined")
    return d.done("dec" if sub else "inc", (d.E(1),), 1)


def _grp5(d: _D, op: int) -> DecodeResult:
    d.modrm()
    sub = d.reg & 7
    if sub < 2:
        size = d.osz
        return d.done("dec" if sub else "inc", (d.E(size),), size)
    if sub == 2 or sub == 4:
        size = d.bsz()
        return d.done("call" if sub == 2 else "jmp", (d.E(size),), size)
    if sub == 6:
        size = d.ssz()
        return d.done("push", (d.E(size),), size)
    if sub == 7:
        return d.undefined("opcode ff /7 is undefined")
    if d.mod == 3:
        return d.undefined(f"far {'call' if sub == 3 else 'jmp'} needs a memory operand")
    return d.unmodeled("call far" if sub == 3 else "jmp far")


def _x87(d: _D, op: int) -> DecodeResult:
    d.modrm()
    if d.mod == 3:
        return d.unmodeled(f"x87: {op:02x} {0xC0 | ((d.reg & 7) << 3) | (d.rm & 7):02x}")
    return d.unmodeled(f"x87: {op:02x} /{d.reg & 7}")


def _iret(d: _D, op: int) -> DecodeResult:
    return d.done("iret", (), d.osz)


def _esc(d: _D, op: int) -> DecodeResult:
    b = d.u8()
    return _TWO[b](d, b)


def _prefix_cell(d: _D, op: int) -> DecodeResult:  # pragma: no cover - never dispatched
    raise AssertionError("prefix bytes are consumed before dispatch")


def _build_one() -> list[Handler]:
    t: list[Handler | None] = [None] * 256

    def put(op: int, h: Handler) -> None:
        if t[op] is not None:
            raise ValueError(f"one-byte opcode {op:02x} defined twice")
        t[op] = h

    for row in range(8):
        for form in range(6):
            put(row * 8 + form, _alu)
    put(0x06, _i64(_unmod("push es")))
    put(0x07, _i64(_unmod("pop es")))
    put(0x0E, _i64(_unmod("push cs")))
    put(0x0F, _esc)
    put(0x16, _i64(_unmod("push ss")))
    put(0x17, _i64(_unmod("pop ss")))
    put(0x1E, _i64(_unmod("push ds")))
    put(0x1F, _i64(_unmod("pop ds")))
    for op, name in ((0x27, "daa"), (0x2F, "das"), (0x37, "aaa"), (0x3F, "aas")):
        put(op, _i64(_unmod(name)))
    for op in (0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3):
        put(op, _prefix_cell)
    for op in range(0x40, 0x50):
        put(op, _inc_dec_reg)  # REX in 64-bit mode: consumed as a prefix there
    for op in range(0x50, 0x58):
        put(op, _push_reg)
    for op in range(0x58, 0x60):
        put(op, _pop_reg)
    put(0x60, _i64(_cbw_like("pusha")))
    put(0x61, _i64(_cbw_like("popa")))
    put(0x62, _i64(_bound))
    put(0x63, _arpl_movsxd)
    put(0x68, _push_imm)
    put(0x69, _unmod("imul", True, _IZ))
    put(0x6A, _push_imm)
    put(0x6B, _unmod("imul", True, _IB))
    put(0x6C, _string("insb"))
    put(0x6D, _string("ins"))
    put(0x6E, _string("outsb"))
    put(0x6F, _string("outs"))
    for op in range(0x70, 0x80):
        put(op, _jcc8)
    for op in (0x80, 0x81, 0x83):
        put(op, _grp1)
    put(0x82, _i64(_grp1))
    put(0x84, _test_rm)
    put(0x85, _test_rm)
    put(0x86, _unmod("xchg", True))
    put(0x87, _unmod("xchg", True))
    for op in range(0x88, 0x8C):
        put(op, _mov_rm)
    put(0x8C, _mov_sreg)
    put(0x8D, _lea)
    put(0x8E, _mov_sreg)
    put(0x8F, _grp1a)
    for op in range(0x90, 0x98):
        put(op, _nop_xchg)
    put(0x98, _cbw)
    put(0x99, _cwd)
    put(0x9A, _i64(_unmod("call far", False, _IP)))
    put(0x9B, _unmod("fwait"))
    put(0x9C, _unmod("pushf"))
    put(0x9D, _unmod("popf"))
    put(0x9E, _unmod("sahf"))
    put(0x9F, _unmod("lahf"))
    for op in range(0xA0, 0xA4):
        put(op, _unmod("mov (moffs)", False, _IA))
    put(0xA4, _string("movsb"))
    put(0xA5, _string("movs"))
    put(0xA6, _string("cmpsb", True))
    put(0xA7, _string("cmps", True))
    put(0xA8, _test_acc)
    put(0xA9, _test_acc)
    put(0xAA, _string("stosb"))
    put(0xAB, _string("stos"))
    put(0xAC, _string("lodsb"))
    put(0xAD, _string("lods"))
    put(0xAE, _string("scasb", True))
    put(0xAF, _string("scas", True))
    for op in range(0xB0, 0xB8):
        put(op, _mov_imm8)
    for op in range(0xB8, 0xC0):
        put(op, _mov_imm)
    for op in (0xC0, 0xC1, 0xD0, 0xD1, 0xD2, 0xD3):
        put(op, _grp2)
    put(0xC2, _ret_near)
    put(0xC3, _ret_near)
    put(0xC4, _vex_les)
    put(0xC5, _vex_les)
    put(0xC6, _grp11)
    put(0xC7, _grp11)
    put(0xC8, _unmod("enter", False, _IWB))
    put(0xC9, _unmod("leave"))
    put(0xCA, _unmod("ret far", False, _IW))
    put(0xCB, _unmod("ret far"))
    put(0xCC, _int3)
    put(0xCD, _int)
    put(0xCE, _i64(_simple("into")))
    put(0xCF, _iret)
    put(0xD4, _i64(_unmod("aam", False, _IB)))
    put(0xD5, _i64(_unmod("aad", False, _IB)))
    put(0xD6, _i64(_unmod("salc (undocumented)")))
    put(0xD7, _unmod("xlat"))
    for op in range(0xD8, 0xE0):
        put(op, _x87)
    put(0xE0, _unmod("loopne", False, _IB))
    put(0xE1, _unmod("loope", False, _IB))
    put(0xE2, _unmod("loop", False, _IB))
    put(0xE3, _unmod("jcxz", False, _IB))
    put(0xE4, _unmod("in", False, _IB))
    put(0xE5, _unmod("in", False, _IB))
    put(0xE6, _unmod("out", False, _IB))
    put(0xE7, _unmod("out", False, _IB))
    put(0xE8, _jmp_call_rel)
    put(0xE9, _jmp_call_rel)
    put(0xEA, _i64(_unmod("jmp far", False, _IP)))
    put(0xEB, _jmp_call_rel)
    put(0xEC, _unmod("in"))
    put(0xED, _unmod("in"))
    put(0xEE, _unmod("out"))
    put(0xEF, _unmod("out"))
    put(0xF1, _unmod("int1"))
    put(0xF4, _simple("hlt"))
    put(0xF5, _unmod("cmc"))
    put(0xF6, _grp3)
    put(0xF7, _grp3)
    put(0xF8, _unmod("clc"))
    put(0xF9, _unmod("stc"))
    put(0xFA, _simple("cli"))
    put(0xFB, _simple("sti"))
    put(0xFC, _unmod("cld"))
    put(0xFD, _unmod("std"))
    put(0xFE, _grp4)
    put(0xFF, _grp5)
    missing = [f"{i:02x}" for i, h in enumerate(t) if h is None]
    if missing:
        raise ValueError(f"one-byte opcode map has no entry for {', '.join(missing)}")
    return t  # type: ignore[return-value]


def _cbw_like(name: str) -> Handler:
    def handler(d: _D, op: int) -> DecodeResult:
        return d.unmodeled(name + ("" if d.osz == 2 else "d"))

    return handler


# ------------------------------------------------------------ two-byte cells


def _grp6(d: _D, op: int) -> DecodeResult:
    d.modrm()
    sub = d.reg & 7
    if sub == 3:
        return d.done("ltr", (d.E(2),), 2)
    if sub > 5:
        return d.undefined(f"opcode 0f 00 /{sub} is undefined")
    return d.unmodeled(("sldt", "str", "lldt", "ltr", "verr", "verw")[sub])


# 0F 01 with mod=11: the whole ModRM byte selects the instruction (SDM Vol. 2D Table A-6,
# group 7, plus the AMD APM Vol. 3 opcode map for the SVM and AMD-only cells).
_GRP7_REG = {
    0xC0: "enclv",
    0xC1: "vmcall",
    0xC2: "vmlaunch",
    0xC3: "vmresume",
    0xC4: "vmxoff",
    0xC5: "pconfig",
    0xC6: "wrmsrns",
    0xC8: "monitor",
    0xC9: "mwait",
    0xCA: "clac",
    0xCB: "stac",
    0xCF: "encls",
    0xD0: "xgetbv",
    0xD1: "xsetbv",
    0xD4: "vmfunc",
    0xD5: "xend",
    0xD6: "xtest",
    0xD7: "enclu",
    0xD8: "vmrun",
    0xD9: "vmmcall",
    0xDA: "vmload",
    0xDB: "vmsave",
    0xDC: "stgi",
    0xDD: "clgi",
    0xDE: "skinit",
    0xDF: "invlpga",
    0xE8: "serialize",
    0xEE: "rdpkru",
    0xEF: "wrpkru",
    0xFA: "monitorx",
    0xFB: "mwaitx",
    0xFC: "clzero",
    0xFD: "rdpru",
    0xFE: "invlpgb",
    0xFF: "tlbsync",
}
# Cells of 0F 01 mod=11 that some processor defines but whose name we are not sure of.
_GRP7_UNSURE = frozenset({0xC7, 0xCC, 0xCD, 0xCE, 0xE9, 0xEA, 0xEB, 0xEC, 0xED})


def _grp7(d: _D, op: int) -> DecodeResult:
    d.modrm()
    sub = d.reg & 7
    if d.mod != 3:
        if sub == 2:
            return d.done("lgdt", (d.mem_op(0),), d.osz)
        if sub == 3:
            return d.done("lidt", (d.mem_op(0),), d.osz)
        if sub == 5:
            if d.rep == "rep":
                return d.unmodeled("rstorssp")
            return d.undefined("opcode 0f 01 /5 with a memory operand is undefined")
        return d.unmodeled(("sgdt", "sidt", "", "", "smsw", "", "lmsw", "invlpg")[sub])
    modrm = 0xC0 | ((d.reg & 7) << 3) | (d.rm & 7)
    if modrm == 0xF8:
        if d.mode != 64:
            return d.undefined("swapgs is invalid outside 64-bit mode")
        return d.done("swapgs", (), d.osz)
    if modrm == 0xF9:
        return d.done("rdtscp", (), d.osz)
    if sub == 4:
        return d.unmodeled("smsw")
    if sub == 6:
        return d.unmodeled("lmsw")
    name = _GRP7_REG.get(modrm)
    if name is not None:
        return d.unmodeled(name)
    if modrm in _GRP7_UNSURE:
        return d.unmodeled(f"0f 01 {modrm:02x}")
    return d.undefined(f"opcode 0f 01 {modrm:02x} is undefined")


def _lsl(d: _D, op: int) -> DecodeResult:
    d.modrm()
    size = d.osz
    src = d.greg(d.rm, 2 if size == 2 else 4) if d.mod == 3 else d.mem_op(2)
    return d.done("lsl", (d.G(size), src), size)


def _syscall(d: _D, op: int) -> DecodeResult:
    return d.done("syscall", (), d.osz)


def _sys_return(d: _D, op: int) -> DecodeResult:
    # SYSRET/SYSEXIT: REX.W selects the 64-bit form; 66 has no effect.
    return d.done("sysret" if op == 0x07 else "sysexit", (), 8 if d.rex & 8 else 4)


def _sysenter(d: _D, op: int) -> DecodeResult:
    return d.done("sysenter", (), d.osz)


def _ud2(d: _D, op: int) -> DecodeResult:
    return d.done("ud2", (), d.osz)


def _hint_nop(d: _D, op: int) -> DecodeResult:
    d.modrm()
    if op == 0x1F and d.reg & 7 == 0:
        size = d.osz
        return d.done("nop", (d.E(size),), size)
    if op == 0x1E and d.rep == "rep" and d.mod == 3 and d.reg & 7 == 7 and d.rm & 7 in (2, 3):
        return d.unmodeled("endbr64" if d.rm & 7 == 2 else "endbr32")
    return d.unmodeled(f"hint nop: 0f {op:02x} /{d.reg & 7}")


def _jcc32(d: _D, op: int) -> DecodeResult:
    size = d.bsz()
    rel = Rel(_s16(d.take(2)), 2) if size == 2 else Rel(_s32(d.take(4)), 4)
    return d.done("jcc", (rel,), size, op & 15)


def _movzx(d: _D, op: int) -> DecodeResult:
    d.modrm()
    size = d.osz
    return d.done("movzx", (d.G(size), d.E(1 if op == 0xB6 else 2)), size)


_GRP9_MEM = {1: "cmpxchg8b/16b", 3: "xrstors", 4: "xsavec", 5: "xsaves", 6: "vmptrld", 7: "vmptrst"}


def _grp9(d: _D, op: int) -> DecodeResult:
    d.modrm()
    sub = d.reg & 7
    if d.mod != 3:
        name = _GRP9_MEM.get(sub)
        if sub == 6 and d.p66:
            name = "vmclear"
        elif sub == 6 and d.rep == "rep":
            name = "vmxon"
    else:
        name = {6: "rdrand", 7: "rdpid" if d.rep == "rep" else "rdseed"}.get(sub)
    if name is None:
        return d.undefined(f"opcode 0f c7 /{sub} is undefined with this operand")
    return d.unmodeled(name)


def _grp8(d: _D, op: int) -> DecodeResult:
    d.modrm()
    d.take(1)
    sub = d.reg & 7
    if sub < 4:
        return d.undefined(f"opcode 0f ba /{sub} is undefined")
    return d.unmodeled(("bt", "bts", "btr", "btc")[sub - 4])


def _three_byte(d: _D, op: int) -> DecodeResult:
    d.u8()
    d.modrm()
    if op == 0x3A:
        d.take(1)
    return d.unmodeled(f"0f {op:02x} map")


def _popcnt(d: _D, op: int) -> DecodeResult:
    d.modrm()
    if d.rep == "rep":
        return d.unmodeled("popcnt")
    return d.undefined("opcode 0f b8 without f3 (jmpe) is undefined outside IA-64")


def _sse(d: _D, op: int) -> DecodeResult:
    d.modrm()
    if op in _SSE_IMM:
        d.take(1)
    return d.unmodeled(f"sse: 0f {op:02x}")


_SSE_IMM = frozenset({0x70, 0x71, 0x72, 0x73, 0xC2, 0xC4, 0xC5, 0xC6})


def _sse_grp(d: _D, op: int) -> DecodeResult:
    """0F 71-73 (groups 12-14): only some /r are defined, all with a register operand."""
    d.modrm()
    d.take(1)
    sub = d.reg & 7
    ok = {0x71: (2, 4, 6), 0x72: (2, 4, 6), 0x73: (2, 3, 6, 7)}[op]
    if d.mod != 3 or sub not in ok:
        return d.undefined(f"opcode 0f {op:02x} /{sub} is undefined")
    return d.unmodeled(f"sse: 0f {op:02x} /{sub}")


def _build_two() -> list[Handler]:
    t: list[Handler | None] = [None] * 256

    def put(op: int, h: Handler) -> None:
        if t[op] is not None:
            raise ValueError(f"two-byte opcode 0f {op:02x} defined twice")
        t[op] = h

    def undef(op: int) -> None:
        put(op, _undef(f"opcode 0f {op:02x} is undefined"))

    put(0x00, _grp6)
    put(0x01, _grp7)
    put(0x02, _unmod("lar", True))
    put(0x03, _lsl)
    undef(0x04)
    put(0x05, _syscall)
    put(0x06, _unmod("clts"))
    put(0x07, _sys_return)
    put(0x08, _unmod("invd"))
    put(0x09, _unmod("wbinvd"))
    undef(0x0A)
    put(0x0B, _ud2)
    undef(0x0C)
    put(0x0D, _unmod("prefetch (0f 0d)", True))
    put(0x0E, _unmod("femms"))
    put(0x0F, _unmod("3dnow", True, _IB))
    for op in range(0x10, 0x18):
        put(op, _sse)
    put(0x18, _unmod("prefetch (0f 18)", True))
    for op in range(0x19, 0x20):
        put(op, _hint_nop)
    put(0x20, _unmod("mov cr", True))
    put(0x21, _unmod("mov dr", True))
    put(0x22, _unmod("mov cr", True))
    put(0x23, _unmod("mov dr", True))
    for op in range(0x24, 0x28):
        undef(op)  # MOV to/from test registers: 386/486 only
    for op in range(0x28, 0x30):
        put(op, _sse)
    put(0x30, _simple("wrmsr"))
    put(0x31, _simple("rdtsc"))
    put(0x32, _simple("rdmsr"))
    put(0x33, _unmod("rdpmc"))
    put(0x34, _sysenter)
    put(0x35, _sys_return)
    undef(0x36)
    put(0x37, _unmod("getsec"))
    put(0x38, _three_byte)
    undef(0x39)
    put(0x3A, _three_byte)
    for op in range(0x3B, 0x40):
        undef(op)
    for op in range(0x40, 0x50):
        put(op, _unmod("cmovcc", True))
    for op in range(0x50, 0x71):
        put(op, _sse)
    for op in (0x71, 0x72, 0x73):
        put(op, _sse_grp)
    for op in (0x74, 0x75, 0x76):
        put(op, _sse)
    put(0x77, _unmod("emms"))
    put(0x78, _unmod("vmread", True))
    put(0x79, _unmod("vmwrite", True))
    undef(0x7A)
    undef(0x7B)
    for op in range(0x7C, 0x80):
        put(op, _sse)
    for op in range(0x80, 0x90):
        put(op, _jcc32)
    for op in range(0x90, 0xA0):
        put(op, _unmod("setcc", True))
    put(0xA0, _unmod("push fs"))
    put(0xA1, _unmod("pop fs"))
    put(0xA2, _unmod("cpuid"))
    put(0xA3, _unmod("bt", True))
    put(0xA4, _unmod("shld", True, _IB))
    put(0xA5, _unmod("shld", True))
    undef(0xA6)
    undef(0xA7)
    put(0xA8, _unmod("push gs"))
    put(0xA9, _unmod("pop gs"))
    put(0xAA, _unmod("rsm"))
    put(0xAB, _unmod("bts", True))
    put(0xAC, _unmod("shrd", True, _IB))
    put(0xAD, _unmod("shrd", True))
    put(0xAE, _unmod("group 15 (fxsave/fences)", True))
    put(0xAF, _unmod("imul", True))
    put(0xB0, _unmod("cmpxchg", True))
    put(0xB1, _unmod("cmpxchg", True))
    put(0xB2, _unmod("lss", True))
    put(0xB3, _unmod("btr", True))
    put(0xB4, _unmod("lfs", True))
    put(0xB5, _unmod("lgs", True))
    put(0xB6, _movzx)
    put(0xB7, _movzx)
    put(0xB8, _popcnt)
    put(0xB9, _undef_modrm("ud1"))
    put(0xBA, _grp8)
    put(0xBB, _unmod("btc", True))
    put(0xBC, _unmod("bsf", True))
    put(0xBD, _unmod("bsr", True))
    put(0xBE, _unmod("movsx", True))
    put(0xBF, _unmod("movsx", True))
    put(0xC0, _unmod("xadd", True))
    put(0xC1, _unmod("xadd", True))
    for op in range(0xC2, 0xC7):
        put(op, _sse)
    put(0xC7, _grp9)
    for op in range(0xC8, 0xD0):
        put(op, _unmod("bswap"))
    for op in range(0xD0, 0xFF):
        put(op, _sse)
    put(0xFF, _undef_modrm("ud0"))
    missing = [f"{i:02x}" for i, h in enumerate(t) if h is None]
    if missing:
        raise ValueError(f"two-byte opcode map has no entry for {', '.join(missing)}")
    return t  # type: ignore[return-value]


def _undef_modrm(name: str) -> Handler:
    """UD0/UD1: defined to raise #UD; they take a ModRM byte."""

    def handler(d: _D, op: int) -> DecodeResult:
        d.modrm()
        return d.undefined(f"{name} (0f {op:02x}) raises #UD")

    return handler


_ONE = _build_one()
_TWO = _build_two()


# ------------------------------------------------------------------ entry point


def decode(data: bytes | bytearray | memoryview, *, mode: int) -> DecodeResult:
    """Decode the instruction at the start of ``data`` in a ``mode``-bit code segment.

    ``mode`` is 16, 32 or 64 (the default operand size CS gives). ``data`` holds
    the bytes available at the instruction pointer; only the first 15 are looked
    at. Returns an ``Instruction``; ``Undefined`` (#UD, or #GP for more than 15
    bytes); ``Unmodeled`` for a real instruction outside the subset; or
    ``Truncated(needed=n)`` when ``data`` ends before the instruction does (``n``
    bytes from the start would let decoding go on; never more than 15).
    """
    if type(data) is not bytes:
        if not isinstance(data, (bytearray, memoryview)):
            raise TypeError(
                f"data: expected bytes, bytearray or memoryview, received "
                f"{type(data).__name__} {data!r}"
            )
        data = bytes(data[:MAX_LENGTH])
    if mode != 64 and mode != 32 and mode != 16:
        if isinstance(mode, bool) or not isinstance(mode, int):
            raise TypeError(f"mode: expected one of 16, 32, 64, received {type(mode).__name__}")
        raise ValueError(f"mode: expected one of 16, 32, 64, received {mode!r}")
    avail = len(data)
    end = avail if avail < MAX_LENGTH else MAX_LENGTH
    pos = 0
    rex = 0
    seg = None
    lock = False
    rep = None
    p66 = False
    p67 = False
    pfx = _PFX
    while True:
        if pos >= end:
            return _short(data, avail, pos + 1)
        b = data[pos]
        kind = pfx[b]
        if not kind:
            break
        if kind == _P_REX:
            if mode != 64:
                break
            rex = b
            pos += 1
            continue
        rex = 0  # a REX followed by a legacy prefix is ignored (SDM Vol. 2A §2.2.1)
        if kind == _P_SEG:
            seg = _SEG_OF[b]
        elif kind == _P_OPSZ:
            p66 = True
        elif kind == _P_ADSZ:
            p67 = True
        elif kind == _P_LOCK:
            lock = True
        elif kind == _P_REP:
            rep = "rep"
        else:
            rep = "repne"
        pos += 1
    d = _D()
    d.data = data
    d.end = end
    d.pos = pos + 1
    d.mode = mode
    d.rex = rex
    d.lock = lock
    d.rep = rep
    d.p66 = p66
    d.mod = 3
    if mode == 64:
        d.osz = 8 if rex & 8 else (2 if p66 else 4)
        d.asz = 4 if p67 else 8
        # CS, DS, ES and SS overrides are ignored in 64-bit mode (SDM Vol. 1 §3.3.7.1).
        d.seg = seg if seg is not None and seg >= FS else None
    elif mode == 32:
        d.osz = 2 if p66 else 4
        d.asz = 2 if p67 else 4
        d.seg = seg
    else:
        d.osz = 4 if p66 else 2
        d.asz = 4 if p67 else 2
        d.seg = seg
    try:
        return _ONE[b](d, b)
    except _Short as short:
        return _short(data, avail, short.needed)
    except _Result as found:
        return found.result


def _short(data: bytes, avail: int, needed: int) -> Truncated | Undefined:
    if avail >= MAX_LENGTH:
        return Undefined(
            data[:MAX_LENGTH], "instruction longer than 15 bytes (SDM Vol. 2A §2.3.11)", GP
        )
    return Truncated(needed if needed <= MAX_LENGTH else MAX_LENGTH)
