"""Assembler, decoder and disassembler agree: text -> bytes -> Instruction -> text -> same bytes."""

from hypothesis import given
from hypothesis import strategies as st

from simulator.cpu.assembler import assemble
from simulator.cpu.decoder import decode
from simulator.cpu.disassembler import disassemble, format_instruction
from simulator.cpu.instruction import Instruction, Truncated, Undefined, Unmodeled

MODES = (16, 32, 64)
SIZE_WORD = {1: "byte", 2: "word", 4: "dword", 8: "qword"}
LEGACY = ("ax", "cx", "dx", "bx", "sp", "bp", "si", "di")


def reg_names(mode: int, size: int) -> list[str]:
    """Register names usable in ``mode`` (no ah..bh in 64-bit mode, where REX may be needed)."""
    if size == 8:
        return [f"r{n}" for n in LEGACY] + [f"r{n}" for n in range(8, 16)]
    if size == 4:
        names = [f"e{n}" for n in LEGACY]
        return names + [f"r{n}d" for n in range(8, 16)] if mode == 64 else names
    if size == 2:
        return list(LEGACY) + ([f"r{n}w" for n in range(8, 16)] if mode == 64 else [])
    if mode == 64:
        return ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil"] + [
            f"r{n}b" for n in range(8, 16)
        ]
    return ["al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"]


def sizes(mode: int) -> list[int]:
    return [1, 2, 4, 8] if mode == 64 else [1, 2, 4]


def hexnum(value: int) -> str:
    return f"{value:#x}" if value >= 0 else f"-{-value:#x}"


@st.composite
def mems(draw, mode: int, size: int | None) -> str:
    """A memory operand in any addressing form valid in ``mode``."""
    kinds = ["abs", "a32", "a32", "a32"]
    if mode == 64:
        kinds += ["a64", "a64", "a64", "rip"]
    else:
        kinds += ["a16", "a16"]
    kind = draw(st.sampled_from(kinds))
    if kind == "abs":
        top = {16: 0xFFFF, 32: 0xFFFF_FFFF, 64: 0x7FFF_FFFF}[mode]
        inner = f"{draw(st.integers(0, top)):#x}"
    elif kind == "rip":
        inner = "rip" + _disp(draw, 32, zero_ok=True)
    elif kind == "a16":
        base = draw(st.sampled_from(["bx", "bp", None]))
        index = draw(st.sampled_from(["si", "di", None]))
        parts = [r for r in (base, index) if r]
        if not parts:
            parts = ["bx"]
        inner = "+".join(parts) + _disp(draw, 16, zero_ok=True)
    else:
        prefix = "r" if kind == "a64" else "e"
        pool = [f"{prefix}{n}" for n in LEGACY]
        if mode == 64:
            pool += [f"r{n}" if kind == "a64" else f"r{n}d" for n in range(8, 16)]
        base = draw(st.sampled_from([*pool, None]))
        index = draw(st.sampled_from([*[r for r in pool if not r.endswith("sp")], None]))
        parts = []
        if base:
            parts.append(base)
        if index:
            parts.append(f"{index}*{draw(st.sampled_from([1, 2, 4, 8]))}")
        if not parts:
            parts = [pool[0]]
        inner = "+".join(parts) + _disp(draw, 32, zero_ok=True)
    segs = ["fs", "gs"] if mode == 64 else ["es", "cs", "ss", "ds", "fs", "gs"]
    seg = draw(st.sampled_from([None, None, *segs]))
    text = f"{seg}:[{inner}]" if seg else f"[{inner}]"
    if size is not None:
        text = f"{SIZE_WORD[size]} ptr {text}"
    return text


def _disp(draw, bits: int, zero_ok: bool) -> str:
    disp = draw(
        st.one_of(
            st.just(0),
            st.integers(-128, 127),
            st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1),
        )
    )
    if disp == 0:
        return ""
    return f"+{disp:#x}" if disp > 0 else f"-{-disp:#x}"


def imms(size: int, signed_32: bool = False) -> st.SearchStrategy[str]:
    bits = 8 * size
    if signed_32 or size == 8:
        lo, hi = -(1 << 31), (1 << 31) - 1
    else:
        lo, hi = -(1 << (bits - 1)), (1 << bits) - 1
    return st.one_of(st.integers(-128, 127), st.integers(lo, hi)).map(hexnum)


@st.composite
def instructions(draw, mode: int) -> str:
    kind = draw(
        st.sampled_from(
            [
                "alu",
                "alu",
                "mov",
                "mov",
                "test",
                "unary",
                "shift",
                "push",
                "pop",
                "lea",
                "movzx",
                "branch",
                "indirect",
                "fixed",
                "int",
                "ret",
                "sreg",
                "system",
                "lock",
            ]
        )
    )
    size = draw(st.sampled_from(sizes(mode)))
    reg = st.sampled_from(reg_names(mode, size))
    if kind in ("alu", "mov", "test"):
        name = draw(
            st.sampled_from(
                ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"] if kind == "alu" else [kind]
            )
        )
        form = draw(st.sampled_from(["rr", "rm", "mr", "ri", "mi"]))
        if form == "rr":
            return f"{name} {draw(reg)}, {draw(reg)}"
        if form == "rm":
            return f"{name} {draw(reg)}, {draw(mems(mode, None))}"
        if form == "mr":
            return f"{name} {draw(mems(mode, size))}, {draw(reg)}"
        if form == "ri":
            if name == "mov" and size == 8:
                value = draw(st.integers(-(1 << 63), (1 << 64) - 1))
                return f"{draw(st.sampled_from(['mov', 'movabs']))} {draw(reg)}, {hexnum(value)}"
            return f"{name} {draw(reg)}, {draw(imms(size))}"
        return f"{name} {draw(mems(mode, size))}, {draw(imms(size))}"
    if kind == "unary":
        name = draw(st.sampled_from(["inc", "dec", "neg", "not", "mul"]))
        target = draw(st.one_of(reg, mems(mode, size)))
        return f"{name} {target}"
    if kind == "shift":
        name = draw(st.sampled_from(["shl", "shr", "sar", "sal"]))
        target = draw(st.one_of(reg, mems(mode, size)))
        count = draw(st.sampled_from(["1", "cl", "0x3", "0x1f", "0"]))
        return f"{name} {target}, {count}"
    if kind in ("push", "pop"):
        ssize = draw(st.sampled_from([8, 2] if mode == 64 else [4, 2]))
        choices = [
            st.sampled_from(reg_names(mode, ssize)),
            mems(mode, ssize),
        ]
        if kind == "push":
            choices.append(imms(8 if mode == 64 else mode // 8, signed_32=mode == 64))
        return f"{kind} {draw(st.one_of(choices))}"
    if kind == "lea":
        lsize = draw(st.sampled_from([s for s in sizes(mode) if s > 1]))
        return f"lea {draw(st.sampled_from(reg_names(mode, lsize)))}, {draw(mems(mode, None))}"
    if kind == "movzx":
        dsize = draw(st.sampled_from([s for s in sizes(mode) if s > 1]))
        ssize = draw(st.sampled_from([s for s in (1, 2) if s < dsize]))
        src = draw(st.one_of(st.sampled_from(reg_names(mode, ssize)), mems(mode, ssize)))
        return f"movzx {draw(st.sampled_from(reg_names(mode, dsize)))}, {src}"
    if kind == "branch":
        name = draw(st.sampled_from(["jmp", "call", "je", "jne", "jb", "jae", "jg", "jle", "jo"]))
        return f"{name} TARGET{draw(st.integers(-40000, 40000)):+d}"
    if kind == "indirect":
        bsize = 8 if mode == 64 else draw(st.sampled_from([mode // 8, 2]))
        target = draw(st.one_of(st.sampled_from(reg_names(mode, bsize)), mems(mode, bsize)))
        return f"{draw(st.sampled_from(['call', 'jmp', 'push']))} {target}"
    if kind == "fixed":
        names = ["hlt", "cli", "sti", "int3", "syscall", "sysret", "sysenter", "sysexit"]
        names += ["rdmsr", "wrmsr", "rdtsc", "rdtscp", "ud2", "nop", "iret", "iretw", "iretd"]
        names += ["ret"]
        if mode == 64:
            names += ["swapgs", "sysretq", "sysexitq", "iretq"]
        else:
            names += ["into"]
        return draw(st.sampled_from(names))
    if kind == "int":
        return f"int {draw(st.integers(0, 255)):#x}"
    if kind == "ret":
        return f"ret {draw(st.integers(0, 0xFFFF)):#x}"
    if kind == "sreg":
        rsize = draw(st.sampled_from([s for s in sizes(mode) if s > 1]))
        r = draw(st.sampled_from(reg_names(mode, rsize)))
        sreg = draw(st.sampled_from(["es", "cs", "ss", "ds", "fs", "gs"]))
        form = draw(st.integers(0, 3))
        if form == 0:
            return f"mov {r}, {sreg}"
        if form == 1:
            return f"mov {draw(mems(mode, 2))}, {sreg}"
        sreg = "ds" if sreg == "cs" else sreg
        if form == 2:
            return f"mov {sreg}, {draw(st.sampled_from(reg_names(mode, 2)))}"
        return f"mov {sreg}, {draw(mems(mode, 2))}"
    if kind == "system":
        form = draw(st.integers(0, 4))
        if form == 0:
            return f"{draw(st.sampled_from(['lgdt', 'lidt']))} {draw(mems(mode, None))}"
        if form == 1:
            return f"ltr {draw(st.one_of(st.sampled_from(reg_names(mode, 2)), mems(mode, 2)))}"
        if form == 2:
            dsize = draw(st.sampled_from([s for s in sizes(mode) if s > 1]))
            src = draw(
                st.one_of(st.sampled_from(reg_names(mode, 2 if dsize == 2 else 4)), mems(mode, 2))
            )
            return f"lsl {draw(st.sampled_from(reg_names(mode, dsize)))}, {src}"
        nsize = draw(st.sampled_from([s for s in sizes(mode) if s > 1]))
        return f"nop {draw(st.one_of(st.sampled_from(reg_names(mode, nsize)), mems(mode, nsize)))}"
    name = draw(st.sampled_from(["add", "or", "adc", "sbb", "and", "sub", "xor"]))
    if draw(st.booleans()):
        return f"lock {name} {draw(mems(mode, size))}, {draw(reg)}"
    unary = draw(st.sampled_from(["inc", "dec", "neg", "not"]))
    return f"lock {unary} {draw(mems(mode, size))}"


@st.composite
def programs(draw):
    mode = draw(st.sampled_from(MODES))
    address = draw(st.integers(0x20000, 0x30000)) if mode != 16 else draw(st.integers(0, 0xFF00))
    text = draw(instructions(mode))
    if "TARGET" in text:
        head, _, offset = text.partition("TARGET")
        target = address + int(offset)
        if mode == 16:
            target &= 0xFFFF
        text = f"{head}{target:#x}"
    return mode, address, text


class TestRoundTrip:
    @given(programs())
    def test_text_bytes_text_bytes(self, program):
        """assemble(format(decode(assemble(t)))) gives the same bytes, of the decoded length."""
        mode, address, text = program
        code = assemble(text, mode=mode, address=address)
        ins = decode(code, mode=mode)
        assert isinstance(ins, Instruction), (text, code.hex(" "), ins)
        assert ins.length == len(code)
        assert ins.raw == code
        again = format_instruction(ins, address=address)
        assert assemble(again, mode=mode, address=address) == code, (text, again)


class TestDecodeTotal:
    @given(st.sampled_from(MODES), st.binary(min_size=0, max_size=15))
    def test_random_bytes_decode_to_a_result(self, mode, data):
        """Any 15 bytes decode to one of the four result types, never a Python exception."""
        result = decode(data, mode=mode)
        assert type(result) in (Instruction, Undefined, Unmodeled, Truncated)
        if type(result) is Instruction:
            assert result.raw == data[: result.length]
            format_instruction(result, address=0x1000)

    @given(st.sampled_from(MODES), st.binary(min_size=0, max_size=64))
    def test_random_bytes_disassemble(self, mode, data):
        """A listing of any bytes covers them exactly, in order."""
        listing = disassemble(data, mode=mode, address=0x400000)
        assert b"".join(raw for _, raw, _ in listing) == data
