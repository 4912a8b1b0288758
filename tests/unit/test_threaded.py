"""The handlers simulator.cpu.threaded makes for single decoded instructions do exactly what
the generic handlers of simulator.cpu.execute do: every register, every flag, the bytes on
the stack and the fault raised (vector, error code and text), on random operands and states.

The generic handlers are the reference: each models its SDM Vol. 2 page (ADD, SUB, CMP,
AND, OR, XOR, TEST, INC, DEC, MOV, Jcc, JMP, PUSH, POP, NOP), and tests/property/test_alu.py
pins their flags against the definitions.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator import Machine
from simulator.cpu import execute as E
from simulator.cpu.assembler import assemble
from simulator.cpu.decoder import decode
from simulator.cpu.faults import FaultSignal
from simulator.cpu.msr import EFER_SCE, IA32_EFER
from simulator.cpu.registers import R11, RCX, RFLAGS, RIP, RSP
from simulator.cpu.threaded import specialise

REG64 = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", *[f"r{i}" for i in range(8, 16)]]
REG32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", *[f"r{i}d" for i in range(8, 16)]]
LEGACY32 = REG32[:8]
CONDITIONS = ["jo", "jno", "jb", "jae", "jz", "jnz", "jbe", "ja"]
CONDITIONS += ["js", "jns", "jp", "jnp", "jl", "jge", "jle", "jg"]
ALU = ["add", "sub", "cmp", "and", "or", "xor", "test"]
# Interesting values: around the sign and carry boundaries of 32 and 64 bits.
EDGES = [0, 1, 2, 0xF, 0x10, 0x7F, 0x80, 0xFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF]
EDGES += [0x1_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, 1 << 63, (1 << 64) - 1]
values = st.sampled_from(EDGES) | st.integers(0, (1 << 64) - 1)
ARITH = 0x8D5  # CF PF AF ZF SF OF
_M64 = (1 << 64) - 1
AT = 0x10_0000  # where the instructions are assembled (branch targets are absolute)


def forms(bits: int) -> st.SearchStrategy[str]:
    """Instructions in the forms threaded.py specialises, and neighbours it must leave to the
    generic handler (8- and 16-bit registers, memory operands)."""
    regs = REG64 + REG32 if bits == 64 else LEGACY32
    wide = st.sampled_from(regs)
    imm = st.sampled_from([0, 1, -1, 5, 0x7F, -0x80, 0x1234_5678, -0x8000_0000, 0x7FFF_FFFF])
    same_size = st.sampled_from(
        [(a, b) for a in regs for b in regs if (a in REG64) == (b in REG64)]
    )
    out = [
        st.builds(
            lambda op, ab: f"{op} {ab[0]}, {ab[1]}", st.sampled_from([*ALU, "mov"]), same_size
        ),
        st.builds(lambda op, r, i: f"{op} {r}, {i}", st.sampled_from(ALU), wide, imm),
        st.builds(
            lambda r, v: f"mov {r}, {v & (_M64 if r in REG64 else 0xFFFF_FFFF):#x}", wide, values
        ),
        st.builds(lambda op, r: f"{op} {r}", st.sampled_from(["inc", "dec"]), wide),
        st.builds(
            lambda op, r: f"{op} {r}, 3", st.sampled_from(ALU), st.sampled_from(["al", "cx"])
        ),
        st.just("nop"),
    ]
    if bits == 64:
        out += [
            st.builds(
                lambda j, t: f"{j} {AT + t:#x}",
                st.sampled_from([*CONDITIONS, "jmp"]),
                st.integers(-0x80, 0x1000),
            ),
            st.builds(
                lambda op, r: f"{op} {r}", st.sampled_from(["push", "pop"]), st.sampled_from(REG64)
            ),
            st.builds(lambda op: f"{op} qword ptr [rsp + 8]", st.sampled_from(["push", "pop"])),
            st.just("add qword ptr [rsp], 1"),
        ]
    return st.one_of(out)


@pytest.fixture(scope="module")
def machine():
    """A 64-bit process in user mode (its stack mapped), and a 32-bit one."""
    m = Machine.boot()
    p64 = m.spawn("x86_64")
    p32 = m.spawn("i386")
    return m, p64, p32


def _outcome(cpu, fn, ins, start, stack):
    try:
        fn(cpu, ins, start)
        fault = None
    except FaultSignal as signal:
        fault = repr(signal.fault)
    data = bytes(cpu.space.lookup(stack >> 12).data) if stack is not None else b""
    return cpu.snapshot(), fault, data


def _compare(machine, bits: int, text: str, regs: list[int], rip: int, flags: int) -> None:
    """Run ``text`` from the same state through the generic and the specialised handler;
    ``regs[RSP]`` None puts RSP in the middle of the process's stack page."""
    m, p64, p32 = machine
    p = p64 if bits == 64 else p32
    ins = decode(assemble(text, mode=bits, address=AT), mode=bits)
    generic = E.HANDLERS[ins.mnemonic]
    fn = specialise(ins, bits, generic)
    p.run("nop", trace=False)  # the CPU in this process's user mode
    cpu = m.cpu
    stack_page = (cpu.r[RSP] & ~0xFFF) if bits == 64 else None
    regs = list(regs)
    if regs[RSP] is None:
        regs[RSP] = (cpu.r[RSP] & ~0xFFF) + 0x800
    if bits == 32:
        regs = [v & 0xFFFF_FFFF for v in regs]
    for i, v in enumerate(regs):
        cpu.r[i] = v
    cpu.r[RIP] = (rip + ins.length) & ((1 << 64) - 1 if bits == 64 else 0xFFFF_FFFF)
    cpu.r[RFLAGS] = flags
    page = cpu.space.lookup(stack_page >> 12) if stack_page is not None else None
    saved = (cpu.snapshot(), bytes(page.data) if page is not None else b"")
    expected = _outcome(cpu, generic, ins, rip, stack_page)
    cpu.restore(saved[0])
    if page is not None:
        page.data[:] = saved[1]
    got = _outcome(cpu, fn, ins, rip, stack_page)
    if page is not None:
        page.data[:] = saved[1]
    assert got == expected, text


@given(data=st.data())
@pytest.mark.parametrize("bits", [64, 32])
def test_specialised_handler_is_the_generic_one(machine, bits, data):
    text = data.draw(forms(bits), label="instruction")
    regs = data.draw(st.lists(values, min_size=16, max_size=16), label="registers")
    rsp_kind = data.draw(st.sampled_from(["stack", "stack", "unmapped", "non-canonical", "any"]))
    if rsp_kind == "stack":
        regs[RSP] = None
    elif rsp_kind == "unmapped":
        regs[RSP] = 0x10
    elif rsp_kind == "non-canonical":
        regs[RSP] = 0x8000_0000_0000_0000 + data.draw(st.integers(0, 16))
    rip = data.draw(
        st.sampled_from([0x1000, 0x7FFF_FFFF_FF00, 0xFFFF_8000_0000_0010]) | st.integers(0, 1 << 47)
    )
    flags = 0x202 | (data.draw(st.integers(0, 0xFFF)) & ARITH)
    _compare(machine, bits, text, regs, rip, flags)


# Corners a random draw rarely meets: RSP as the operand of its own push and pop, carries
# and borrows out of bit 3 (AF), 31 and 63 (CF, OF), branches that leave the canonical
# range, every condition with every flag set and with none.
_CORNER_REGS = [0x0F, 0x1F, 0x7FFF_FFFF, 0x8000_0000, None, 1 << 63, 0, 1]  # RSP: the stack
_CORNER_REGS += [
    0xFFFF_FFFF,
    (1 << 64) - 1,
    0x10,
    0x8F,
    0x7FFF_FFFF_FFFF_FFFF,
    2,
    0xFFFF_FFFF_0000_0000,
    0xF0,
]
CORNERS = [
    "pop rsp",
    "push rsp",
    "pop rax",
    "push r15",
    *[
        f"{op} {r}, {imm}"
        for op in ALU
        for r in ("rax", "eax", "rcx", "ecx", "rbp", "ebp", "r9d", "r12d", "r14d")
        for imm in (0, 1)
    ],
    *[
        f"{op} {a}, {b}"
        for op in ALU
        for a, b in (("rax", "rcx"), ("ecx", "eax"), ("rbx", "rdx"), ("r9d", "r12d"), ("r12", "r9"))
    ],
    *[
        f"{op} {r}"
        for op in ("inc", "dec")
        for r in ("rax", "eax", "rcx", "ecx", "rbp", "ebx", "r9d", "r12")
    ],
    *[f"{j} {AT + 0x100:#x}" for j in CONDITIONS],
    f"jmp {AT + 0x100:#x}",
    f"jmp {AT - 0x200:#x}",
]


@pytest.mark.parametrize("text", CORNERS)
@pytest.mark.parametrize("rip", [0x1000, 0x7FFF_FFFF_FFF0, 0xFFFF_8000_0000_0010])
@pytest.mark.parametrize("flags", [0x202, 0x202 | ARITH])
def test_specialised_handler_corners(machine, text, rip, flags):
    _compare(machine, 64, text, _CORNER_REGS, rip, flags)


@pytest.mark.parametrize(
    ("text", "bits", "special"),
    [
        ("xor eax, eax", 64, True),
        ("sub r12, 1", 64, True),
        ("mov esi, 0x1000", 64, True),
        ("cmp rax, rbx", 64, True),
        ("test ecx, ecx", 32, True),
        ("inc r9d", 64, True),
        ("jnz 0x10", 64, True),
        ("jmp 0x10", 64, True),
        ("push rbx", 64, True),
        ("pop r15", 64, True),
        ("jnz 0x10", 32, False),  # the CS limit is checked by the generic handler
        ("push ebx", 32, False),
        ("add al, 1", 64, False),  # an 8-bit register merges: generic
        ("mov ah, bl", 64, False),
        ("add qword ptr [rsp], 1", 64, False),
        ("mov eax, dword ptr [rbx]", 64, False),
        ("adc eax, ebx", 64, False),
    ],
)
def test_which_forms_are_specialised(text, bits, special):
    """The forms the fast loop spends its time in get their own closure (so the comparison
    above compares two different pieces of code); the rest keep the generic handler."""
    ins = decode(assemble(text, mode=bits, address=0), mode=bits)
    generic = E.HANDLERS[ins.mnemonic]
    assert (specialise(ins, bits, generic) is not generic) is special


@pytest.fixture(scope="module", params=["intel", "amd"])
def vendor_machine(request):
    m = Machine.boot(cpu=request.param)
    return m, m.spawn("x86_64")


@pytest.mark.parametrize("text", ["syscall", "sysretq", "sysret"])
@pytest.mark.parametrize("cpl", [0, 3])
@pytest.mark.parametrize("sce", [True, False])
@pytest.mark.parametrize("pe", [True, False])
@pytest.mark.parametrize("rcx", [0x40_1000, 0x0000_8000_0000_0000, 0xFFFF_8000_0000_1000])
def test_specialised_syscall_and_sysret(vendor_machine, text, cpl, sce, pe, rcx):
    """SYSCALL and SYSRETQ decoded for 64-bit code skip working out the mode: the same state
    after them as the generic handlers (SDM Vol. 2B SYSCALL, SYSRET; AMD APM Vol. 3), and
    the same fault, for each vendor, CPL, EFER.SCE, CR0.PE (a CPU loaded with LMA but not
    PE is in real mode) and canonical or not RCX (Intel raises #GP(0) at CPL 0 for SYSRETQ
    to a non-canonical RCX; AMD does not)."""
    m, p = vendor_machine
    p.run("nop", trace=False)
    cpu = m.cpu
    ins = decode(assemble(text, mode=64, address=AT), mode=64)
    generic = E.HANDLERS[ins.mnemonic]
    fn = specialise(ins, 64, generic)
    assert fn is not generic or text == "sysret"  # SYSRET without REX.W: generic
    saved = cpu.snapshot()
    try:
        cpu.cpl = cpl
        cpu.r[RCX] = rcx
        cpu.r[R11] = 0x3C_7FD7 | 0x202
        cpu.r[RIP] = AT + ins.length
        cpu.r[RFLAGS] = 0x1_0A93  # RF, OF, SF, AF, CF, IF: what SYSCALL masks and saves
        values = cpu.msr.values
        values[IA32_EFER] = values[IA32_EFER] | EFER_SCE if sce else values[IA32_EFER] & ~EFER_SCE
        cpu._cr0 = cpu._cr0 | 1 if pe else cpu._cr0 & ~1
        state = cpu.snapshot()
        expected = _outcome(cpu, generic, ins, AT, None)
        cpu.restore(state)
        cpu._cr0 = cpu._cr0 | 1 if pe else cpu._cr0 & ~1
        got = _outcome(cpu, fn, ins, AT, None)
        assert got == expected
    finally:
        cpu.restore(saved)
