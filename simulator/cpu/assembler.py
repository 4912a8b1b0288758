"""A small Intel-syntax assembler for the decoder's modelled subset, with labels.

It reads what ``objdump -M intel`` and the disassembler print (``mov eax, 0x3``,
``call dword ptr gs:[0x10]``, ``[rbx+rcx*4-0x8]``) and picks the encodings a
conventional assembler would: the shortest immediate and displacement forms,
short branches when the target is in range (found by iterating to a fixed point).
"""

from __future__ import annotations

import re

import attrs

from simulator.cpu.segments import CS, SREG_INDEX

__all__ = ["assemble", "assemble_one"]

_MODES = (16, 32, 64)
_SIZES = {"byte": 1, "word": 2, "dword": 4, "qword": 8}
_ALU = {"add": 0, "or": 1, "adc": 2, "sbb": 3, "and": 4, "sub": 5, "xor": 6, "cmp": 7}
_SHIFT = {"shl": 4, "sal": 4, "shr": 5, "sar": 7}
_UNARY = {"not": 2, "neg": 3, "mul": 4}
# Jcc spellings to condition codes (SDM Vol. 2A Jcc, the alternative mnemonics included).
_COND = {
    "jo": 0, "jno": 1, "jb": 2, "jc": 2, "jnae": 2, "jae": 3, "jnb": 3, "jnc": 3,
    "je": 4, "jz": 4, "jne": 5, "jnz": 5, "jbe": 6, "jna": 6, "ja": 7, "jnbe": 7,
    "js": 8, "jns": 9, "jp": 10, "jpe": 10, "jnp": 11, "jpo": 11, "jl": 12, "jnge": 12,
    "jge": 13, "jnl": 13, "jle": 14, "jng": 14, "jg": 15, "jnle": 15,
}  # fmt: skip
# Instructions that are just their opcode bytes (and an operand-size REX.W, for the q forms).
_FIXED: dict[str, tuple[bytes, bool]] = {
    "hlt": (b"\xf4", False),
    "cli": (b"\xfa", False),
    "sti": (b"\xfb", False),
    "int3": (b"\xcc", False),
    "syscall": (b"\x0f\x05", False),
    "sysret": (b"\x0f\x07", False),
    "sysretd": (b"\x0f\x07", False),
    "sysretq": (b"\x0f\x07", True),
    "sysenter": (b"\x0f\x34", False),
    "sysexit": (b"\x0f\x35", False),
    "sysexitd": (b"\x0f\x35", False),
    "sysexitq": (b"\x0f\x35", True),
    "rdmsr": (b"\x0f\x32", False),
    "wrmsr": (b"\x0f\x30", False),
    "rdtsc": (b"\x0f\x31", False),
    "rdtscp": (b"\x0f\x01\xf9", False),
    "ud2": (b"\x0f\x0b", False),
}
_PREFIXES = {"lock": 0xF0, "rep": 0xF3, "repe": 0xF3, "repz": 0xF3, "repne": 0xF2, "repnz": 0xF2}


def _build_regs() -> dict[str, tuple[int, int, bool]]:
    """Register name -> (number, size in bytes, high byte)."""
    regs: dict[str, tuple[int, int, bool]] = {}
    legacy = ("ax", "cx", "dx", "bx", "sp", "bp", "si", "di")
    for n, name in enumerate(legacy):
        regs["r" + name] = (n, 8, False)
        regs["e" + name] = (n, 4, False)
        regs[name] = (n, 2, False)
    for n, name in enumerate(("al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil")):
        regs[name] = (n, 1, False)
    for n, name in enumerate(("ah", "ch", "dh", "bh")):
        regs[name] = (n + 4, 1, True)  # encoded as 4..7 without REX
    for n in range(8, 16):
        for suffix, size in (("", 8), ("d", 4), ("w", 2), ("b", 1)):
            regs[f"r{n}{suffix}"] = (n, size, False)
    return regs


_REGS = _build_regs()
_REX_BYTE = frozenset({"spl", "bpl", "sil", "dil"})
_SCALE_BITS = {1: 0, 2: 1, 4: 2, 8: 3}
_RM16 = {
    frozenset({3, 6}): 0,
    frozenset({3, 7}): 1,
    frozenset({5, 6}): 2,
    frozenset({5, 7}): 3,
    frozenset({6}): 4,
    frozenset({7}): 5,
    frozenset({5}): 6,
    frozenset({3}): 7,
}


class AsmError(ValueError):
    """What is wrong with one statement (the caller adds the line)."""


# ------------------------------------------------------------------ operands


@attrs.frozen
class _Reg:
    num: int
    size: int
    high: bool
    name: str


@attrs.frozen
class _Sreg:
    sreg: int


@attrs.frozen
class _Expr:
    """A sum of signed terms: ints, label names and ``$`` (this instruction's address)."""

    terms: tuple[tuple[int, int | str], ...]


@attrs.frozen
class _Mem:
    size: int | None
    seg: int | None
    base: _Reg | None
    index: _Reg | None
    scale: int
    disp: _Expr
    rip: str | None  # "rip" or "eip"


@attrs.frozen
class _Imm:
    expr: _Expr
    size: int | None = None  # only "push word 0x10" and the like give one


_SIZE_RE = re.compile(r"(byte|word|dword|qword)\s+(?:ptr\b\s*)?", re.IGNORECASE)
_SEG_RE = re.compile(r"(es|cs|ss|ds|fs|gs)\s*:\s*", re.IGNORECASE)
_LABEL_RE = re.compile(r"\s*([A-Za-z_.][\w.@$]*)\s*:(?!\s*\[)")
_NAME_RE = re.compile(r"[A-Za-z_.][\w.@$]*\Z")


def _number(tok: str) -> int | None:
    t = tok.lower().replace("_", "")
    try:
        if t.startswith("0x"):
            return int(t[2:], 16)
        if t.startswith("0b"):
            return int(t[2:], 2)
        if t.isdigit():
            return int(t, 10)
    except ValueError:
        return None
    return None


def _split_terms(text: str) -> list[tuple[int, str]]:
    """``a+b*4-8`` -> [(+1, "a"), (+1, "b*4"), (-1, "8")]."""
    terms: list[tuple[int, str]] = []
    sign = 1
    cur = ""
    for ch in text.replace(" ", "").replace("\t", ""):
        if ch in "+-":
            if cur:
                terms.append((sign, cur))
                cur = ""
                sign = 1
            if ch == "-":
                sign = -sign
        else:
            cur += ch
    if not cur:
        raise AsmError(f"incomplete expression {text.strip()!r}")
    terms.append((sign, cur))
    return terms


def _term(tok: str, whole: str) -> int | str:
    value = _number(tok)
    if value is not None:
        return value
    if tok == "$":
        return "$"
    if _NAME_RE.match(tok) and tok.lower() not in _REGS and tok.lower() not in SREG_INDEX:
        return tok
    raise AsmError(f"bad operand {whole.strip()!r}: cannot read {tok!r}")


def _expr(text: str) -> _Expr:
    return _Expr(tuple((sign, _term(tok, text)) for sign, tok in _split_terms(text)))


def _mem_inner(text: str, size: int | None, seg: int | None) -> _Mem:
    base = index = None
    scale = 1
    rip = None
    disp: list[tuple[int, int | str]] = []
    for sign, tok in _split_terms(text):
        low = tok.lower()
        if "*" in low:
            a, _, b = low.partition("*")
            if a in _REGS and _number(b) is not None:
                reg, factor = a, _number(b)
            elif b in _REGS and _number(a) is not None:
                reg, factor = b, _number(a)
            else:
                raise AsmError(f"bad memory operand [{text}]: cannot read {tok!r}")
            if sign < 0 or index is not None:
                raise AsmError(f"bad memory operand [{text}]: bad index {tok!r}")
            if factor not in _SCALE_BITS:
                raise AsmError(f"bad memory operand [{text}]: scale must be 1, 2, 4 or 8")
            index = _Reg(*_REGS[reg], reg)
            scale = factor
        elif low in ("rip", "eip"):
            if sign < 0 or rip or base is not None:
                raise AsmError(f"bad memory operand [{text}]: bad use of {low}")
            rip = low
        elif low in _REGS:
            if sign < 0:
                raise AsmError(f"bad memory operand [{text}]: a register cannot be subtracted")
            reg = _Reg(*_REGS[low], low)
            if base is None:
                base = reg
            elif index is None:
                index = reg
            else:
                raise AsmError(f"bad memory operand [{text}]: too many registers")
        else:
            disp.append((sign, _term(tok, text)))
    if rip and (index is not None or base is not None):
        raise AsmError(f"bad memory operand [{text}]: {rip} takes no other register")
    return _Mem(size, seg, base, index, scale, _Expr(tuple(disp)), rip)


def _operand(text: str):
    t = text.strip()
    if not t:
        raise AsmError("empty operand")
    size = None
    m = _SIZE_RE.match(t)
    if m:
        size = _SIZES[m.group(1).lower()]
        t = t[m.end() :]
    seg = None
    m = _SEG_RE.match(t)
    if m:
        seg = SREG_INDEX[m.group(1).lower()]
        t = t[m.end() :].strip()
    if t.startswith("["):
        if not t.endswith("]"):
            raise AsmError(f"bad memory operand {text.strip()!r}: missing ']'")
        return _mem_inner(t[1:-1], size, seg)
    if seg is not None:  # objdump's fs:0x28
        return _Mem(size, seg, None, None, 1, _expr(t), None)
    low = t.lower()
    if size is not None:
        if low in _REGS or low in SREG_INDEX:
            raise AsmError(f"bad operand {text.strip()!r}: a size needs a memory operand")
        return _Imm(_expr(t), size)
    if low in _REGS:
        return _Reg(*_REGS[low], low)
    if low in SREG_INDEX:
        return _Sreg(SREG_INDEX[low])
    return _Imm(_expr(t))


def _split_operands(text: str) -> list[str]:
    out: list[str] = []
    depth = 0
    cur = ""
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip() or out:
        out.append(cur)
    return out


@attrs.frozen
class _Stmt:
    line: int
    text: str
    labels: tuple[str, ...]
    prefixes: tuple[int, ...]
    mnemonic: str | None
    operands: tuple


def _parse(text: str) -> list[_Stmt]:
    stmts: list[_Stmt] = []
    pending: list[str] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        code = line.split("#", 1)[0]
        for piece in code.split(";"):
            src = piece.strip()
            try:
                rest = piece
                while True:
                    m = _LABEL_RE.match(rest)
                    if not m or m.group(1).lower() in _REGS or m.group(1).lower() in SREG_INDEX:
                        break
                    pending.append(m.group(1))
                    rest = rest[m.end() :]
                words = rest.strip().split(None, 1)
                prefixes: list[int] = []
                while words and words[0].lower() in _PREFIXES:
                    prefixes.append(_PREFIXES[words[0].lower()])
                    words = words[1].split(None, 1) if len(words) > 1 else []
                if not words:
                    if prefixes:
                        raise AsmError("a prefix needs an instruction")
                    continue
                mnemonic = words[0].lower()
                ops = (
                    tuple(_operand(o) for o in _split_operands(words[1])) if len(words) > 1 else ()
                )
            except AsmError as err:
                raise ValueError(f"line {lineno}: {src!r}: {err}") from None
            stmts.append(_Stmt(lineno, src, tuple(pending), tuple(prefixes), mnemonic, ops))
            pending = []
    if pending:
        stmts.append(_Stmt(0, "", tuple(pending), (), None, ()))
    return stmts


# ------------------------------------------------------------------ encoding


def _fits(value: int, bits: int) -> bool:
    return -(1 << (bits - 1)) <= value < (1 << (bits - 1))


def _le(value: int, n: int) -> bytes:
    return (value & ((1 << (8 * n)) - 1)).to_bytes(n, "little")


class _Enc:
    """One instruction being encoded."""

    def __init__(self, mode: int, address: int, labels: dict[str, int], final: bool) -> None:
        self.mode = mode
        self.address = address
        self.labels = labels
        self.final = final
        self.seg: int | None = None
        self.p67 = False
        self.p66 = False
        self.rex_w = False
        self.rex = 0  # R X B bits
        self.force_rex = False
        self.high = False
        self.opcode = b""
        self.modrm = b""
        self.imm = b""

    # ------------------------------------------------------------ values

    def value(self, expr: _Expr) -> int:
        total = 0
        for sign, term in expr.terms:
            if type(term) is int:
                v = term
            elif term == "$":
                v = self.address
            elif term in self.labels:
                v = self.labels[term]
            elif self.final:
                raise AsmError(f"unknown label {term!r}")
            else:
                v = self.address
            total += sign * v
        return total

    def imm_value(self, op, size: int) -> int:
        """An immediate for a ``size``-byte operand, as an unsigned ``size``-byte value."""
        if type(op) is not _Imm:
            raise AsmError("expected an immediate")
        if op.size is not None and op.size != size:
            raise AsmError(f"operand size mismatch ({8 * op.size} and {8 * size} bits)")
        v = self.value(op.expr)
        bits = 8 * size
        if not -(1 << (bits - 1)) <= v < (1 << bits):
            raise AsmError(f"immediate {v:#x} out of range for {bits} bits")
        return v & ((1 << bits) - 1)

    # ------------------------------------------------------------ registers

    def use_reg(self, r: _Reg) -> None:
        if r.num >= 8 or r.size == 8 or (r.size == 1 and r.num >= 4 and not r.high):
            if self.mode != 64:
                raise AsmError(f"register {r.name} is only available in 64-bit mode")
            if r.size == 1 and not r.high:
                self.force_rex = True
        if r.high:
            self.high = True

    def opsize(self, size: int) -> None:
        if size == 1:
            return
        if size == 2:
            self.p66 = self.mode != 16
        elif size == 4:
            self.p66 = self.mode == 16
        elif size == 8:
            if self.mode != 64:
                raise AsmError(f"64-bit operand size is not available in {self.mode}-bit mode")
            self.rex_w = True
        else:
            raise AsmError(f"bad operand size {size}")

    def stack_size(self, size: int) -> None:
        """Operand size of push/pop/near branches: 64 by default in 64-bit mode."""
        if self.mode == 64:
            if size not in (2, 8):
                raise AsmError(f"{8 * size}-bit operand is not encodable in 64-bit mode")
            self.p66 = size == 2
        else:
            if size not in (2, 4):
                raise AsmError(f"{8 * size}-bit operand is not valid here")
            self.opsize(size)

    # ------------------------------------------------------------ ModRM

    def rm(self, reg_field: int, op) -> None:
        self.rex |= (reg_field >> 3) << 2
        if type(op) is _Reg:
            self.use_reg(op)
            self.rex |= op.num >> 3
            self.modrm = bytes([0xC0 | ((reg_field & 7) << 3) | (op.num & 7)])
            return
        if type(op) is not _Mem:
            raise AsmError("expected a register or memory operand")
        self.mem(reg_field & 7, op)

    def mem(self, reg3: int, m: _Mem) -> None:
        mode = self.mode
        regs = [r for r in (m.base, m.index) if r is not None]
        sizes = {r.size for r in regs}
        if m.rip:
            sizes = {8 if m.rip == "rip" else 4}
            if mode != 64:
                raise AsmError("rip-relative addressing needs 64-bit mode")
        if len(sizes) > 1:
            raise AsmError("memory operand mixes register sizes")
        default = {64: 8, 32: 4, 16: 2}[mode]
        asz = sizes.pop() if sizes else default
        if not regs and not m.rip:
            # An absolute address that only the other address size can hold takes a 67.
            disp = self.value(m.disp)
            if (mode == 16 and not -(1 << 15) <= disp < (1 << 16)) or (
                mode == 64 and (1 << 31) <= disp < (1 << 32)
            ):
                asz = 4
        if asz == 1 or (asz == 8 and mode != 64) or (asz == 2 and mode == 64):
            raise AsmError(f"{8 * asz}-bit address registers are not valid in {mode}-bit mode")
        for r in regs:
            if r.num >= 8 and mode != 64:
                raise AsmError(f"register {r.name} is only available in 64-bit mode")
        self.p67 = asz != default
        if m.seg is not None:
            self.seg = m.seg
        disp = self.value(m.disp)
        if asz == 2:
            self._mem16(reg3, m, disp)
            return
        # Displacements are 32 bits, sign-extended to the address size: a 32-bit
        # address may be written unsigned, and so may a 64-bit absolute one.
        if asz == 4:
            if -(1 << 31) <= disp < (1 << 32) and disp >> 31 == 1:
                disp -= 1 << 32
        elif m.base is None and m.index is None and not m.rip and disp >= (1 << 64) - (1 << 31):
            disp -= 1 << 64
        if not _fits(disp, 32):
            raise AsmError(f"displacement {disp:#x} does not fit 32 bits")
        rex = 0
        if m.rip:
            out = bytes([(reg3 << 3) | 5]) + _le(disp, 4)
        elif m.base is None and m.index is None:
            if mode == 64:  # mod=00 rm=101 is RIP-relative there: absolute needs a SIB
                out = bytes([(reg3 << 3) | 4, 0x25]) + _le(disp, 4)
            else:
                out = bytes([(reg3 << 3) | 5]) + _le(disp, 4)
        else:
            base = m.base
            if m.index is not None:
                if m.index.num == 4:
                    raise AsmError(f"{m.index.name} cannot be an index register")
                rex |= (m.index.num >> 3) << 1
            if m.index is None and base is not None and base.num & 7 != 4:
                rex |= base.num >> 3
                modbits, dbytes = self._disp_form(disp, base.num & 7 == 5)
                out = bytes([modbits | (reg3 << 3) | (base.num & 7)]) + dbytes
            else:
                idx = 4 if m.index is None else m.index.num & 7
                sib_scale = _SCALE_BITS[m.scale] << 6
                if base is None:
                    out = bytes([(reg3 << 3) | 4, sib_scale | (idx << 3) | 5]) + _le(disp, 4)
                else:
                    rex |= base.num >> 3
                    modbits, dbytes = self._disp_form(disp, base.num & 7 == 5)
                    sib = sib_scale | (idx << 3) | (base.num & 7)
                    out = bytes([modbits | (reg3 << 3) | 4, sib]) + dbytes
        self.rex |= rex
        self.modrm = out

    @staticmethod
    def _disp_form(disp: int, needs_disp: bool) -> tuple[int, bytes]:
        if disp == 0 and not needs_disp:
            return 0x00, b""
        if _fits(disp, 8):
            return 0x40, _le(disp, 1)
        return 0x80, _le(disp, 4)

    def _mem16(self, reg3: int, m: _Mem, disp: int) -> None:
        if m.index is not None and m.scale != 1:
            raise AsmError("16-bit addressing has no scale")
        if not -(1 << 15) <= disp < (1 << 16):
            raise AsmError(f"displacement {disp:#x} does not fit 16 bits")
        disp &= 0xFFFF
        if disp >> 15:
            disp -= 1 << 16
        nums = frozenset(r.num for r in (m.base, m.index) if r is not None)
        if not nums:
            self.modrm = bytes([(reg3 << 3) | 6]) + _le(disp, 2)
            return
        rm = _RM16.get(nums)
        if rm is None or len(nums) != len([r for r in (m.base, m.index) if r is not None]):
            raise AsmError("16-bit addressing allows only bx/bp plus si/di")
        if disp == 0 and rm != 6:
            self.modrm = bytes([(reg3 << 3) | rm])
        elif _fits(disp, 8):
            self.modrm = bytes([0x40 | (reg3 << 3) | rm]) + _le(disp, 1)
        else:
            self.modrm = bytes([0x80 | (reg3 << 3) | rm]) + _le(disp, 2)

    # ------------------------------------------------------------ output

    def emit(self, prefixes: tuple[int, ...]) -> bytes:
        out = bytearray()
        if self.seg is not None:
            out.append((0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65)[self.seg])
        if self.p67:
            out.append(0x67)
        if self.p66:
            out.append(0x66)
        out += bytes(p for p in prefixes if p != 0xF0)
        if 0xF0 in prefixes:
            out.append(0xF0)
        rex = self.rex | (8 if self.rex_w else 0)
        if rex or self.force_rex:
            if self.high:
                raise AsmError("ah, ch, dh and bh cannot be used with a REX prefix")
            out.append(0x40 | rex)
        out += self.opcode + self.modrm + self.imm
        if len(out) > 15:
            raise AsmError("instruction longer than 15 bytes")
        return bytes(out)


def _size_of(op) -> int | None:
    if type(op) is _Reg:
        return op.size
    if type(op) is _Mem:
        return op.size
    return None


def _common_size(a, b) -> int:
    sa, sb = _size_of(a), _size_of(b)
    if sa is not None and sb is not None and sa != sb:
        raise AsmError(f"operand size mismatch ({8 * sa} and {8 * sb} bits)")
    size = sa if sa is not None else sb
    if size is None:
        raise AsmError("operand size not specified (use byte, word, dword or qword ptr)")
    return size


def _one_size(op) -> int:
    size = _size_of(op)
    if size is None:
        raise AsmError("operand size not specified (use byte, word, dword or qword ptr)")
    return size


def _nops(ops: tuple, n: int, name: str) -> None:
    if len(ops) != n:
        raise AsmError(f"{name} takes {n} operand{'s' if n != 1 else ''}, got {len(ops)}")


class _Ctx:
    """What encoding needs beyond the statement: mode, labels, the long-branch choices."""

    def __init__(self, mode: int, labels: dict[str, int], final: bool, long: set[int]) -> None:
        self.mode = mode
        self.labels = labels
        self.final = final
        self.long = long


def _encode(st: _Stmt, idx: int, address: int, ctx: _Ctx) -> bytes:
    e = _Enc(ctx.mode, address, ctx.labels, ctx.final)
    name = st.mnemonic
    ops = st.operands
    mode = ctx.mode
    for op in ops:
        if (
            type(op) is _Reg
            and mode != 64
            and (op.num >= 8 or op.size == 8 or op.name in _REX_BYTE)
        ):
            raise AsmError(f"register {op.name} is only available in 64-bit mode")
    if name in _FIXED:
        code, wide = _FIXED[name]
        _nops(ops, 0, name)
        if wide:
            e.opsize(8)
        e.opcode = code
    elif name in _ALU:
        _nops(ops, 2, name)
        _alu(e, _ALU[name], ops[0], ops[1])
    elif name == "test":
        _nops(ops, 2, name)
        _test(e, ops[0], ops[1])
    elif name in ("mov", "movabs"):
        _nops(ops, 2, name)
        _mov(e, ops[0], ops[1], name == "movabs")
    elif name == "movzx":
        _nops(ops, 2, name)
        dst, src = ops
        if type(dst) is not _Reg or dst.size == 1:
            raise AsmError("movzx needs a 16-, 32- or 64-bit register destination")
        ssize = _one_size(src)
        if ssize not in (1, 2) or ssize > dst.size:
            raise AsmError("movzx needs a byte or word source no wider than the destination")
        e.use_reg(dst)
        e.opsize(dst.size)
        e.opcode = b"\x0f\xb6" if ssize == 1 else b"\x0f\xb7"
        e.rm(dst.num, src)
    elif name == "lea":
        _nops(ops, 2, name)
        dst, src = ops
        if type(dst) is not _Reg or dst.size == 1 or type(src) is not _Mem:
            raise AsmError("lea needs a 16-, 32- or 64-bit register and a memory operand")
        e.use_reg(dst)
        e.opsize(dst.size)
        e.opcode = b"\x8d"
        e.rm(dst.num, src)
    elif name in ("inc", "dec"):
        _nops(ops, 1, name)
        (dst,) = ops
        size = _one_size(dst)
        e.opsize(size)
        if type(dst) is _Reg and mode != 64 and size != 1:
            e.use_reg(dst)
            e.opcode = bytes([(0x40 if name == "inc" else 0x48) + dst.num])
        else:
            e.opcode = b"\xfe" if size == 1 else b"\xff"
            e.rm(0 if name == "inc" else 1, dst)
    elif name in _UNARY:
        _nops(ops, 1, name)
        size = _one_size(ops[0])
        e.opsize(size)
        e.opcode = b"\xf6" if size == 1 else b"\xf7"
        e.rm(_UNARY[name], ops[0])
    elif name in _SHIFT:
        if len(ops) == 1:
            ops = (*ops, _Imm(_Expr(((1, 1),))))
        _nops(ops, 2, name)
        _shift(e, _SHIFT[name], ops[0], ops[1])
    elif name in ("push", "pop"):
        _nops(ops, 1, name)
        _push_pop(e, name, ops[0])
    elif name in ("call", "jmp") or name in _COND:
        _nops(ops, 1, name)
        return _branch(e, st, idx, ctx, name, ops[0])
    elif name == "ret":
        if ops:
            _nops(ops, 1, name)
            e.opcode = b"\xc2"
            e.imm = _le(e.imm_value(ops[0], 2), 2)
        else:
            e.opcode = b"\xc3"
    elif name == "int":
        _nops(ops, 1, name)
        e.opcode = b"\xcd"
        e.imm = bytes([e.imm_value(ops[0], 1)])
    elif name == "into":
        _nops(ops, 0, name)
        if mode == 64:
            raise AsmError("into is invalid in 64-bit mode")
        e.opcode = b"\xce"
    elif name in ("iret", "iretw", "iretd", "iretq"):
        _nops(ops, 0, name)
        default = 2 if mode == 16 else 4
        e.opsize({"iret": default, "iretw": 2, "iretd": 4, "iretq": 8}[name])
        e.opcode = b"\xcf"
    elif name == "swapgs":
        _nops(ops, 0, name)
        if mode != 64:
            raise AsmError("swapgs is only valid in 64-bit mode")
        e.opcode = b"\x0f\x01\xf8"
    elif name == "nop":
        if not ops:
            e.opcode = b"\x90"
        else:
            _nops(ops, 1, name)
            size = _one_size(ops[0])
            if size == 1:
                raise AsmError("nop takes a 16-, 32- or 64-bit operand")
            e.opsize(size)
            e.opcode = b"\x0f\x1f"
            e.rm(0, ops[0])
    elif name in ("lgdt", "lidt"):
        _nops(ops, 1, name)
        if type(ops[0]) is not _Mem:
            raise AsmError(f"{name} needs a memory operand")
        e.opcode = b"\x0f\x01"
        e.rm(2 if name == "lgdt" else 3, ops[0])
    elif name == "ltr":
        _nops(ops, 1, name)
        size = _size_of(ops[0])
        if size not in (None, 2) or type(ops[0]) is _Imm:
            raise AsmError("ltr takes a 16-bit register or memory operand")
        e.opcode = b"\x0f\x00"
        e.rm(3, ops[0])
    elif name == "lsl":
        _nops(ops, 2, name)
        dst, src = ops
        if type(dst) is not _Reg or dst.size == 1:
            raise AsmError("lsl needs a 16-, 32- or 64-bit register destination")
        if (type(src) is _Reg and src.size == 1) or (
            type(src) is _Mem and src.size not in (None, 2)
        ):
            raise AsmError("lsl takes a word register or memory source")
        if type(src) not in (_Reg, _Mem):
            raise AsmError("lsl takes a register or memory source")
        e.use_reg(dst)
        e.opsize(dst.size)
        e.opcode = b"\x0f\x03"
        e.rm(dst.num, src)
    else:
        raise AsmError(f"unknown mnemonic {name!r}")
    return e.emit(st.prefixes)


def _alu(e: _Enc, k: int, dst, src) -> None:
    if type(src) is _Imm:
        size = _one_size(dst)
        e.opsize(size)
        v = e.imm_value(src, size)
        is_acc = type(dst) is _Reg and dst.num == 0 and not dst.high
        if size == 1:
            if is_acc:
                e.opcode = bytes([8 * k + 4])
            else:
                e.opcode = b"\x80"
                e.rm(k, dst)
            e.imm = bytes([v])
            return
        if _sext_fits(v, size, 8):
            e.opcode = b"\x83"
            e.rm(k, dst)
            e.imm = _le(v, 1)
            return
        e.imm = _imm_z(v, size)
        if is_acc:
            e.use_reg(dst)
            e.opcode = bytes([8 * k + 5])
        else:
            e.opcode = b"\x81"
            e.rm(k, dst)
        return
    size = _common_size(dst, src)
    e.opsize(size)
    byte = size == 1
    if type(src) is _Reg:
        e.use_reg(src)
        e.opcode = bytes([8 * k + (0 if byte else 1)])
        e.rm(src.num, dst)
    elif type(dst) is _Reg and type(src) is _Mem:
        e.use_reg(dst)
        e.opcode = bytes([8 * k + (2 if byte else 3)])
        e.rm(dst.num, src)
    else:
        raise AsmError("bad operand combination")


def _sext_fits(v: int, size: int, bits: int) -> bool:
    """Whether unsigned ``size``-byte ``v`` is the sign-extension of its low ``bits`` bits."""
    total = 8 * size
    if v >> (total - 1):
        v -= 1 << total
    return _fits(v, bits)


def _imm_z(v: int, size: int) -> bytes:
    """imm16 for a word operand, else imm32 (which must sign-extend to a qword)."""
    if size == 2:
        return _le(v, 2)
    if size == 8 and not _sext_fits(v, 8, 32):
        raise AsmError(f"immediate {v:#x} does not fit a sign-extended 32-bit field")
    return _le(v, 4)


def _test(e: _Enc, a, b) -> None:
    if type(b) is _Imm:
        size = _one_size(a)
        e.opsize(size)
        v = e.imm_value(b, size)
        if type(a) is _Reg and a.num == 0 and not a.high:
            e.use_reg(a)
            e.opcode = b"\xa8" if size == 1 else b"\xa9"
        else:
            e.opcode = b"\xf6" if size == 1 else b"\xf7"
            e.rm(0, a)
        e.imm = bytes([v]) if size == 1 else _imm_z(v, size)
        return
    size = _common_size(a, b)
    if type(a) is _Reg and type(b) is _Mem:
        a, b = b, a
    if type(b) is not _Reg:
        raise AsmError("bad operand combination")
    e.opsize(size)
    e.use_reg(b)
    e.opcode = b"\x84" if size == 1 else b"\x85"
    e.rm(b.num, a)


def _mov(e: _Enc, dst, src, movabs: bool) -> None:
    if type(src) is _Sreg or type(dst) is _Sreg:
        _mov_sreg(e, dst, src)
        return
    if type(src) is _Imm:
        size = _one_size(dst)
        v = e.imm_value(src, size)
        e.opsize(size)
        if type(dst) is _Reg:
            e.use_reg(dst)
            e.rex |= dst.num >> 3
            if movabs and size != 8:
                raise AsmError("movabs needs a 64-bit register")
            if size == 8 and not movabs and _sext_fits(v, 8, 32):
                e.opcode = b"\xc7"
                e.modrm = bytes([0xC0 | (dst.num & 7)])
                e.imm = _le(v, 4)
            else:
                e.opcode = bytes([(0xB0 if size == 1 else 0xB8) + (dst.num & 7)])
                e.imm = _le(v, size)
            return
        if movabs:
            raise AsmError("movabs needs a 64-bit register")
        e.opcode = b"\xc6" if size == 1 else b"\xc7"
        e.rm(0, dst)
        e.imm = bytes([v]) if size == 1 else _imm_z(v, size)
        return
    if movabs:
        raise AsmError("movabs needs an immediate source")
    size = _common_size(dst, src)
    e.opsize(size)
    byte = size == 1
    if type(src) is _Reg:
        e.use_reg(src)
        e.opcode = b"\x88" if byte else b"\x89"
        e.rm(src.num, dst)
    elif type(dst) is _Reg and type(src) is _Mem:
        e.use_reg(dst)
        e.opcode = b"\x8a" if byte else b"\x8b"
        e.rm(dst.num, src)
    else:
        raise AsmError("bad operand combination")


def _mov_sreg(e: _Enc, dst, src) -> None:
    if type(dst) is _Sreg:
        sreg, other, opcode = dst.sreg, src, b"\x8e"
        if sreg == CS:
            raise AsmError("mov to cs is invalid")
    else:
        sreg, other, opcode = src.sreg, dst, b"\x8c"
    if type(other) is _Reg:
        if other.size == 1:
            raise AsmError("a segment register moves with a 16-, 32- or 64-bit register")
        if opcode == b"\x8c":
            e.opsize(other.size)
        else:  # MOV Sreg, r/m16 reads a word whatever the register is written as
            e.use_reg(other)
    elif type(other) is _Mem:
        if other.size not in (None, 2):
            raise AsmError("a segment register moves with a word in memory")
    else:
        raise AsmError("bad operand combination")
    e.opcode = opcode
    e.rm(sreg, other)


def _shift(e: _Enc, k: int, dst, count) -> None:
    size = _one_size(dst)
    e.opsize(size)
    byte = size == 1
    if type(count) is _Reg:
        if count.name != "cl":
            raise AsmError("a shift count is an immediate or cl")
        e.opcode = b"\xd2" if byte else b"\xd3"
        e.rm(k, dst)
        return
    v = e.imm_value(count, 1)
    if v == 1:
        e.opcode = b"\xd0" if byte else b"\xd1"
        e.rm(k, dst)
        return
    e.opcode = b"\xc0" if byte else b"\xc1"
    e.rm(k, dst)
    e.imm = bytes([v])


def _push_pop(e: _Enc, name: str, op) -> None:
    mode = e.mode
    default = 8 if mode == 64 else (4 if mode == 32 else 2)
    if type(op) is _Imm:
        if name == "pop":
            raise AsmError("pop needs a register or memory operand")
        size = op.size if op.size is not None else default
        if op.size is None and mode == 16 and not -(1 << 15) <= e.value(op.expr) < (1 << 16):
            size = 4  # a value only a dword push can hold
        e.stack_size(size)
        v = e.imm_value(op, size)
        if _sext_fits(v, size, 8):
            e.opcode = b"\x6a"
            e.imm = _le(v, 1)
        else:
            e.opcode = b"\x68"
            e.imm = _imm_z(v, size)
        return
    if type(op) is _Reg:
        e.stack_size(op.size)
        e.use_reg(op)
        e.rex |= op.num >> 3
        e.opcode = bytes([(0x50 if name == "push" else 0x58) + (op.num & 7)])
        return
    if type(op) is not _Mem:
        raise AsmError(f"{name} of a segment register is not in the modelled subset")
    e.stack_size(op.size if op.size is not None else default)
    e.opcode = b"\xff" if name == "push" else b"\x8f"
    e.rm(6 if name == "push" else 0, op)


def _branch(e: _Enc, st: _Stmt, idx: int, ctx: _Ctx, name: str, op) -> bytes:
    mode = ctx.mode
    if type(op) is not _Imm:
        if name not in ("call", "jmp"):
            raise AsmError(f"{name} needs a target address or label")
        default = 8 if mode == 64 else (4 if mode == 32 else 2)
        size = op.size if type(op) in (_Reg, _Mem) and op.size is not None else default
        if mode == 64:
            if size != 8:
                raise AsmError("an indirect near branch is 64-bit in 64-bit mode")
        else:
            e.stack_size(size)
        e.opcode = b"\xff"
        e.rm(2 if name == "call" else 4, op)
        return e.emit(st.prefixes)
    target = e.value(op.expr)
    bits = mode
    wide = 2 if mode == 16 else 4

    if mode == 16 and target >> 16:
        if target >> 32:
            raise AsmError(f"branch target {target:#x} is outside the 32-bit address space")
        e.p66 = True  # a 32-bit target from 16-bit code: operand size 32, rel32
        wide = 4
    if not 0 <= target < (1 << bits) and not (mode == 16 and wide == 4):
        raise AsmError(f"branch target {target:#x} is outside the {mode}-bit address space")

    def disp_for(length: int) -> int:
        # The instruction pointer wraps at the operand size (SDM Vol. 2A JMP, Operation).
        span = 8 * wide if mode != 64 else 64
        d = (target - (e.address + length)) % (1 << span)
        return d - (1 << span) if d >> (span - 1) else d

    head = e.emit(st.prefixes)  # prefixes only: no opcode set yet
    if name != "call" and idx not in ctx.long:
        d = disp_for(len(head) + 2)
        if _fits(d, 8):
            short = bytes([0xEB if name == "jmp" else 0x70 + _COND[name]])
            return head + short + _le(d, 1)
        ctx.long.add(idx)
    if name == "call":
        opcode = b"\xe8"
    elif name == "jmp":
        opcode = b"\xe9"
    else:
        opcode = bytes([0x0F, 0x80 + _COND[name]])
    d = disp_for(len(head) + len(opcode) + wide)
    if not _fits(d, 8 * wide):
        raise AsmError(f"branch target {target:#x} is out of range")
    return head + opcode + _le(d, wide)


# ------------------------------------------------------------------ entry points


def _check(mode: int, address: int) -> None:
    if isinstance(mode, bool) or not isinstance(mode, int):
        raise TypeError(f"mode: expected one of 16, 32, 64, received {type(mode).__name__}")
    if mode not in _MODES:
        raise ValueError(f"mode: expected one of 16, 32, 64, received {mode!r}")
    if isinstance(address, bool) or not isinstance(address, int):
        raise TypeError(f"address: expected an int, received {type(address).__name__}")
    if not 0 <= address < (1 << mode):
        raise ValueError(
            f"address: expected 0 .. {(1 << mode) - 1:#x} in {mode}-bit mode, received {address:#x}"
        )


def assemble(text: str, *, mode: int = 64, address: int = 0) -> bytes:
    """Assemble Intel-syntax ``text`` for a ``mode``-bit code segment loaded at ``address``."""
    if not isinstance(text, str):
        raise TypeError(f"text: expected a str, received {type(text).__name__}")
    _check(mode, address)
    stmts = _parse(text)
    seen: set[str] = set()
    for st in stmts:
        for label in st.labels:
            if label in seen:
                raise ValueError(f"line {st.line}: {st.text!r}: label {label!r} defined twice")
            seen.add(label)
    long: set[int] = set()
    labels: dict[str, int] = {}
    for _ in range(32):
        new_labels: dict[str, int] = {}
        out = bytearray()
        final = False
        for idx, st in enumerate(stmts):
            here = address + len(out)
            for label in st.labels:
                new_labels[label] = here
            if st.mnemonic is None:
                continue
            try:
                out += _encode(st, idx, here, _Ctx(mode, {**labels, **new_labels}, final, long))
            except AsmError as err:
                raise ValueError(f"line {st.line}: {st.text!r}: {err}") from None
        if new_labels == labels:
            break
        labels = new_labels
    else:  # pragma: no cover - the long set only grows, so this converges
        raise ValueError("assembly did not converge: branch sizes keep changing")
    # One last pass with every label known, so an unknown one is reported.
    out = bytearray()
    for idx, st in enumerate(stmts):
        if st.mnemonic is None:
            continue
        try:
            out += _encode(st, idx, address + len(out), _Ctx(mode, labels, True, long))
        except AsmError as err:
            raise ValueError(f"line {st.line}: {st.text!r}: {err}") from None
    return bytes(out)


def assemble_one(text: str, *, mode: int = 64, address: int = 0) -> bytes:
    """Assemble exactly one instruction (no labels): its bytes."""
    if not isinstance(text, str):
        raise TypeError(f"text: expected a str, received {type(text).__name__}")
    _check(mode, address)
    stmts = [st for st in _parse(text) if st.mnemonic is not None]
    if len(stmts) != 1:
        raise ValueError(f"text: expected exactly one instruction, received {len(stmts)}")
    return assemble(text, mode=mode, address=address)
