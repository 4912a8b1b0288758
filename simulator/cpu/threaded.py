"""Threaded code: a handler specialised to one decoded instruction.

The generic handlers of :mod:`simulator.cpu.execute` read their operands through
``CPU._get``/``CPU._put``, look the flag rules up by size and compute the flags through
:mod:`simulator.cpu.alu`: seven or eight Python calls for ``xor eax, eax``. An
instruction at a given address decodes the same way every time it runs, so the forms
that loops spend their time in (register and immediate moves, the arithmetic and logic
operations on registers; in 64-bit mode relative jumps, pushes and pops of registers,
SYSCALL and SYSRETQ) get a closure here with the operands, masks and sign bits bound
once, when the instruction first runs (CPU._run_fast and CPU._step use them).

Each closure does exactly what the generic handler does for that form, fault for fault
and flag for flag (the SDM pages are those of the generic handlers; the arithmetic is
:mod:`simulator.cpu.alu`'s, written out; a refusal is left to the generic handler, which
raises it with its reason). ``tests/unit/test_threaded.py`` runs both on random and
corner operands and states and compares every register, flag, stack byte and fault.
Anything not listed here runs its generic handler.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import and_, or_, xor
from typing import TYPE_CHECKING

from simulator.cpu.alu import _COND_FLAGS, _CONDITIONS, _PARITY, ARITH_FLAGS
from simulator.cpu.control import CR0_PE
from simulator.cpu.faults import GP, Fault, FaultSignal
from simulator.cpu.flags import AF, CF, FIXED1, OF, RF, SF, ZF
from simulator.cpu.instruction import Imm, Instruction, Reg, Rel
from simulator.cpu.memory import READ
from simulator.cpu.msr import EFER_SCE, IA32_EFER, IA32_FMASK, IA32_LSTAR, IA32_STAR
from simulator.cpu.registers import R11, RCX, RFLAGS, RIP, RSP
from simulator.cpu.segments import (
    CS,
    FLAT_CODE64_RING0,
    FLAT_CODE64_RING3,
    FLAT_STACK_RING0,
    FLAT_STACK_RING3,
    SS,
)

if TYPE_CHECKING:
    from simulator.cpu.execute import CPU

Handler = Callable[["CPU", Instruction, int], None]

_M64 = (1 << 64) - 1
_MASKS = {4: 0xFFFF_FFFF, 8: _M64}
_SIGNS = {4: 0x8000_0000, 8: 1 << 63}
_CANON = 1 << 47
_NOT_ARITH = ~ARITH_FLAGS
_NOT_ARITH_KEEP_CF = ~(ARITH_FLAGS & ~CF)


# What CPU._run_fast may run as part of a straight run of instructions, checked once for
# the run (CPU._block): a closure marked SEQUENTIAL changes registers only (no memory, no
# fault) and falls through to the next instruction; one marked BRANCH changes RIP only and
# may fault (#GP on a non-canonical target), so it ends a run.
SEQUENTIAL = 1
BRANCH = 2


def _sequential(fn: Handler) -> Handler:
    fn.block = SEQUENTIAL  # type: ignore[attr-defined]
    return fn


def _branch(fn: Handler) -> Handler:
    fn.block = BRANCH  # type: ignore[attr-defined]
    return fn


def _wide_reg(op: object) -> bool:
    """A 32- or 64-bit general register operand (AH..BH and 8/16-bit writes merge: generic)."""
    return type(op) is Reg and op.size >= 4 and not op.high


def specialise(ins: Instruction, bits: int, generic: Handler) -> Handler:
    """The handler to run ``ins`` with (decoded for ``bits``-bit code): a closure for the
    forms above, else ``generic`` itself."""
    if ins.lock or ins.rep is not None:
        return generic
    make = _MAKERS.get(ins.mnemonic)
    if make is None:
        return generic
    fn = make(ins, bits, generic)
    return generic if fn is None else fn


# ---------------------------------------------------------------- moves


def _mov(ins: Instruction, bits: int, generic: Handler) -> Handler | None:
    dst, src = ins.operands
    if not _wide_reg(dst):
        return None
    d = dst.reg
    mask = _MASKS[dst.size]
    if _wide_reg(src) and src.size == dst.size:
        s = src.reg

        def mov_reg(cpu: CPU, ins: Instruction, start: int) -> None:
            r = cpu.r
            r[d] = r[s] & mask

        return _sequential(mov_reg)
    if type(src) is Imm:
        value = src.value & mask

        def mov_imm(cpu: CPU, ins: Instruction, start: int) -> None:
            cpu.r[d] = value

        return _sequential(mov_imm)
    return None


# ---------------------------------------------------------------- arithmetic and logic


def _binary(ins: Instruction, bits: int, generic: Handler) -> Handler | None:
    dst, src = ins.operands
    if not _wide_reg(dst):
        return None
    size = dst.size
    if _wide_reg(src) and src.size == size:
        s = src.reg
        imm = None
    elif type(src) is Imm:
        s = -1
        imm = src.value
    else:
        return None
    return _ALU_MAKERS[ins.mnemonic](dst.reg, s, imm, _MASKS[size], _SIGNS[size])


def _logic(op: str, writes: bool):
    fn = {"and": and_, "or": or_, "xor": xor}[op]

    def make(d: int, s: int, imm: int | None, mask: int, sign: int) -> Handler:
        # Bitwise operations commute with the mask: (a & m) op (b & m) == (a op b) & m, and
        # an immediate already fits the operand size.
        def run(cpu: CPU, ins: Instruction, start: int) -> None:
            r = cpu.r
            v = fn(r[d], imm if s < 0 else r[s]) & mask
            if writes:
                r[d] = v
            r[RFLAGS] = (
                (r[RFLAGS] & _NOT_ARITH)
                | _PARITY[v & 0xFF]
                | (ZF if v == 0 else 0)
                | (SF if v & sign else 0)
            )

        return _sequential(run)

    return make


def _arith(subtract: bool, writes: bool):
    def make(d: int, s: int, imm: int | None, mask: int, sign: int) -> Handler:
        def run(cpu: CPU, ins: Instruction, start: int) -> None:
            r = cpu.r
            a = r[d] & mask
            b = imm if s < 0 else r[s] & mask
            if subtract:
                v = (a - b) & mask
                f = CF if a < b else 0
                if ((a ^ b) & (a ^ v)) & sign:
                    f |= OF
            else:
                full = a + b
                v = full & mask
                f = CF if full > mask else 0
                if (~(a ^ b) & (a ^ v)) & sign:
                    f |= OF
            if (a ^ b ^ v) & 0x10:
                f |= AF
            if writes:
                r[d] = v
            r[RFLAGS] = (
                (r[RFLAGS] & _NOT_ARITH)
                | f
                | _PARITY[v & 0xFF]
                | (ZF if v == 0 else 0)
                | (SF if v & sign else 0)
            )

        return _sequential(run)

    return make


_ALU_MAKERS = {
    "add": _arith(False, True),
    "sub": _arith(True, True),
    "cmp": _arith(True, False),
    "and": _logic("and", True),
    "test": _logic("and", False),
    "or": _logic("or", True),
    "xor": _logic("xor", True),
}


def _incdec(ins: Instruction, bits: int, generic: Handler) -> Handler | None:
    (dst,) = ins.operands
    if not _wide_reg(dst):
        return None
    d = dst.reg
    mask = _MASKS[dst.size]
    sign = _SIGNS[dst.size]
    inc = ins.mnemonic == "inc"

    def run(cpu: CPU, ins: Instruction, start: int) -> None:
        r = cpu.r
        a = r[d] & mask
        if inc:
            v = (a + 1) & mask
            f = OF if (~(a ^ 1) & (a ^ v)) & sign else 0
        else:
            v = (a - 1) & mask
            f = OF if ((a ^ 1) & (a ^ v)) & sign else 0
        if (a ^ 1 ^ v) & 0x10:
            f |= AF
        r[d] = v
        r[RFLAGS] = (
            (r[RFLAGS] & _NOT_ARITH_KEEP_CF)
            | f
            | _PARITY[v & 0xFF]
            | (ZF if v == 0 else 0)
            | (SF if v & sign else 0)
        )

    return _sequential(run)


# ---------------------------------------------------------------- branches (64-bit mode)


def _gp_branch(target: int) -> FaultSignal:
    return FaultSignal(Fault(GP, 0, None, f"branch to non-canonical {target:#x}"))


def _jcc(ins: Instruction, bits: int, generic: Handler) -> Handler | None:
    if bits != 64 or ins.op_size != 8 or ins.cond is None:
        return None
    table = _CONDITIONS[ins.cond]
    disp = ins.operands[0].disp

    def jcc(cpu: CPU, ins: Instruction, start: int) -> None:
        r = cpu.r
        if table[r[RFLAGS] & _COND_FLAGS]:
            target = (r[RIP] + disp) & _M64
            if ((target + _CANON) & _M64) >> 48:
                raise _gp_branch(target)
            r[RIP] = target

    return _branch(jcc)


def _jmp(ins: Instruction, bits: int, generic: Handler) -> Handler | None:
    (target,) = ins.operands
    if bits != 64 or ins.op_size != 8 or type(target) is not Rel:
        return None
    disp = target.disp

    def jmp(cpu: CPU, ins: Instruction, start: int) -> None:
        r = cpu.r
        dest = (r[RIP] + disp) & _M64
        if ((dest + _CANON) & _M64) >> 48:
            raise _gp_branch(dest)
        r[RIP] = dest

    return _branch(jmp)


# ---------------------------------------------------------------- the stack (64-bit mode)


def _push(ins: Instruction, bits: int, generic: Handler) -> Handler | None:
    (src,) = ins.operands
    if bits != 64 or ins.op_size != 8 or not (_wide_reg(src) and src.size == 8):
        return None
    s = src.reg

    def push(cpu: CPU, ins: Instruction, start: int) -> None:
        r = cpu.r
        sp = (r[RSP] - 8) & _M64
        cpu._write_bytes(sp, (r[s] & _M64).to_bytes(8, "little"), stack=True)
        r[RSP] = sp

    return push


def _pop(ins: Instruction, bits: int, generic: Handler) -> Handler | None:
    (dst,) = ins.operands
    if bits != 64 or ins.op_size != 8 or not (_wide_reg(dst) and dst.size == 8):
        return None
    d = dst.reg

    def pop(cpu: CPU, ins: Instruction, start: int) -> None:
        r = cpu.r
        sp = r[RSP]
        value = int.from_bytes(cpu._read_bytes(sp, 8, READ, stack=True), "little")
        r[RSP] = (sp + 8) & _M64
        r[d] = value

    return pop


# ---------------------------------------------------------------- SYSCALL and SYSRETQ (64-bit mode)
# The generic handlers first work out the mode (real, protected, compatibility, 64-bit);
# an instruction decoded for 64-bit code runs only in 64-bit mode (CS.L = 1 with
# EFER.LMA = 1), so these skip that, keeping every check that remains (CR0.PE is still
# read: a CPU loaded by hand with LMA but not PE is in real mode, and the generic handler
# says what that means).


def _syscall(ins: Instruction, bits: int, generic: Handler) -> Handler | None:
    if bits != 64:
        return None

    def syscall64(cpu: CPU, ins: Instruction, start: int) -> None:
        msrs = cpu.msr.values
        if not (msrs[IA32_EFER] & EFER_SCE and cpu._cr0 & CR0_PE):
            generic(cpu, ins, start)  # the #UD, with its reason
            return
        r = cpu.r
        star = msrs[IA32_STAR]
        flags = r[RFLAGS]
        r[RCX] = r[RIP]
        r[R11] = flags & ~RF
        r[RFLAGS] = (flags & ~msrs[IA32_FMASK] & ~RF) | FIXED1
        cpu.sel[CS] = (star >> 32) & 0xFFFC
        cpu.cache[CS] = FLAT_CODE64_RING0
        cpu.sel[SS] = (((star >> 32) & 0xFFFF) + 8) & 0xFFFF
        cpu.cache[SS] = FLAT_STACK_RING0
        cpu.cpl = 0
        r[RIP] = msrs[IA32_LSTAR]

    return syscall64


def _sysret(ins: Instruction, bits: int, generic: Handler) -> Handler | None:
    if bits != 64 or ins.op_size != 8:
        return None

    def sysretq(cpu: CPU, ins: Instruction, start: int) -> None:
        msrs = cpu.msr.values
        r = cpu.r
        v = cpu.vendor
        target = r[RCX]
        if (
            not msrs[IA32_EFER] & EFER_SCE
            or cpu.cpl != 0
            or not cpu._cr0 & CR0_PE
            or (v.sysret_canonical_fault and ((target + _CANON) & _M64) >> 48)
        ):
            generic(cpu, ins, start)  # the #UD or #GP(0), with its reason
            return
        base = (msrs[IA32_STAR] >> 48) & 0xFFFF
        r[RFLAGS] = (r[R11] & 0x3C7FD7) | FIXED1
        cpu.sel[CS] = ((base + 16) | 3) & 0xFFFF
        cpu.cache[CS] = FLAT_CODE64_RING3
        cpu.sel[SS] = ((base + 8) | 3 if v.sysret_ss_rpl3 else base + 8) & 0xFFFF
        if v.sysret_loads_ss_cache:
            cpu.cache[SS] = FLAT_STACK_RING3
        cpu.cpl = 3
        r[RIP] = target

    return sysretq


def _nop(ins: Instruction, bits: int, generic: Handler) -> Handler | None:
    return _nothing


def _nothing(cpu: CPU, ins: Instruction, start: int) -> None:
    return None


_sequential(_nothing)


_MAKERS: dict[str, Callable[[Instruction, int, Handler], Handler | None]] = {
    "mov": _mov,
    "add": _binary,
    "sub": _binary,
    "cmp": _binary,
    "and": _binary,
    "test": _binary,
    "or": _binary,
    "xor": _binary,
    "inc": _incdec,
    "dec": _incdec,
    "jcc": _jcc,
    "jmp": _jmp,
    "push": _push,
    "pop": _pop,
    "nop": _nop,
    "syscall": _syscall,
    "sysret": _sysret,
}
