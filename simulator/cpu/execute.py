"""Instruction execution: fetch and decode, the ring transitions, event delivery, step and run.

Every handler models the "Operation" and "Exceptions" sections of its SDM
Vol. 2 page (and the AMD APM where the vendors differ). A handler checks
everything before it commits; a fault leaves the state as it was before the
instruction (RIP included), as the manuals require of faults.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from simulator.cpu import alu
from simulator.cpu import control as C
from simulator.cpu import flags as F
from simulator.cpu import msr as M
from simulator.cpu.descriptors import SegmentDescriptor, TableRegister
from simulator.cpu.faults import (
    AC,
    BP,
    CP,
    DB,
    DE,
    DF,
    ERROR_CODE_VECTORS,
    GP,
    MC,
    NM,
    NMI,
    NP,
    OF,
    PF,
    SS,
    TS,
    UD,
    VE,
    Fault,
    FaultSignal,
    NotModeled,
)
from simulator.cpu.instruction import (
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
from simulator.cpu.memory import FETCH, PAGE_MASK, PAGE_SHIFT, PAGE_SIZE, READ
from simulator.cpu.registers import R11, RAX, RBP, RCX, RDX, RFLAGS, RIP, RSP
from simulator.cpu.segments import (
    CS,
    DS,
    ES,
    FLAT_CODE32_RING0,
    FLAT_CODE32_RING3,
    FLAT_CODE64_RING0,
    FLAT_CODE64_RING3,
    FLAT_STACK_RING0,
    FLAT_STACK_RING3,
    FS,
    GS,
    NULL_CACHE,
    DescriptorCache,
    cache_from_descriptor,
)
from simulator.cpu.segments import SS as SS_REG
from simulator.cpu.state import CPUState, Snapshot
from simulator.cpu.threaded import SEQUENTIAL, specialise

_M64 = (1 << 64) - 1
_M32 = 0xFFFF_FFFF
_SIZE_MASK = {1: 0xFF, 2: 0xFFFF, 4: _M32, 8: _M64}
_CANON = 1 << 47

# Outcome kinds of one step.
COMPLETED = "completed"
HOOK = "hook"  # what the fast loop tells its trace_step when a hook ran in place of code
FAULTED = "faulted"  # the fault was reported, not delivered; state as before
DELIVERED = "delivered"  # a fault was delivered through the IDT
HALTED = "halted"
SHUTDOWN = "shutdown"
NOT_MODELED = "not modeled"

# Exception classes for double-fault detection, SDM Vol. 3A §6.15
# Interrupt 8 Table 6-4 ("Interrupt and Exception Classes"): contributory
# exceptions and the page-fault class; every other event is benign.
CONTRIBUTORY: frozenset[int] = frozenset({DE, TS, NP, SS, GP, CP})
PAGE_FAULT_CLASS: frozenset[int] = frozenset({PF, VE})
BENIGN: frozenset[int] = frozenset({DB, NMI, BP, OF, 5, UD, NM, 16, AC, MC, 19})

# Fault-class exceptions (SDM Vol. 3A §6.15, "Exception Class" of each vector):
# when one is delivered the processor sets RF in the RFLAGS image it pushes,
# so that the faulting instruction restarts without an instruction
# breakpoint firing again (SDM Vol. 3A §18.3.1.1). #DF is an abort whose saved
# state the SDM calls undefined; ringsim pushes it like a fault (RF set), as
# QEMU and Bochs do.
FAULT_CLASS: frozenset[int] = frozenset({DE, 5, UD, NM, DF, TS, NP, SS, GP, PF, 16, AC, 19, VE, CP})


def double_fault_combines(first: int, second: int) -> bool:
    """Whether ``second`` raised while delivering ``first`` becomes #DF.

    SDM Vol. 3A §6.15 Interrupt 8 Table 6-5 ("Conditions for Generating a
    Double Fault"): contributory then contributory, #PF then #PF, and #PF then
    contributory give #DF; every other pair is handled serially (the second
    exception is delivered). A first event that is a software interrupt
    (INT n, INT3, INTO) is benign.
    """
    if first in CONTRIBUTORY:
        return second in CONTRIBUTORY
    if first in PAGE_FAULT_CLASS:
        return second in CONTRIBUTORY or second in PAGE_FAULT_CLASS
    return False


# The manual page each instruction's semantics come from, for traces.
_VOL2A = "Intel SDM Vol. 2A"
_VOL2B = "Intel SDM Vol. 2B"
MANUAL_PAGES: dict[str, str] = {
    "syscall": f"{_VOL2B} SYSCALL",
    "sysret": f"{_VOL2B} SYSRET",
    "sysenter": f"{_VOL2B} SYSENTER",
    "sysexit": f"{_VOL2B} SYSEXIT",
    "int": f"{_VOL2A} INT n/INTO/INT3/INT1",
    "int3": f"{_VOL2A} INT n/INTO/INT3/INT1",
    "into": f"{_VOL2A} INT n/INTO/INT3/INT1",
    "iret": f"{_VOL2A} IRET/IRETD/IRETQ",
    "swapgs": f"{_VOL2B} SWAPGS",
    "rdmsr": f"{_VOL2B} RDMSR",
    "wrmsr": f"{_VOL2B} WRMSR",
    "lgdt": f"{_VOL2A} LGDT/LIDT",
    "lidt": f"{_VOL2A} LGDT/LIDT",
    "ltr": f"{_VOL2A} LTR",
    "cli": f"{_VOL2A} CLI",
    "sti": f"{_VOL2B} STI",
    "hlt": f"{_VOL2A} HLT",
}
DELIVERY_SECTION = "Intel SDM Vol. 3A §6.12, §6.14 (exception and interrupt delivery)"


# Instructions whose AMD behaviour differs, and the APM page that says how.
AMD_PAGES: dict[str, str] = {
    "syscall": "AMD APM Vol. 3 SYSCALL",
    "sysret": "AMD APM Vol. 3 SYSRET",
    "sysenter": "AMD APM Vol. 3 SYSENTER",
    "sysexit": "AMD APM Vol. 3 SYSEXIT",
}


def manual_page(mnemonic: str, vendor: str = "intel") -> str:
    """The manual page that defines ``mnemonic``: the SDM Vol. 2 page, or the APM's on AMD.

    Vol. 2A holds A-L, Vol. 2B M-U and Vol. 2C V-Z.
    """
    if vendor == "amd" and mnemonic in AMD_PAGES:
        return AMD_PAGES[mnemonic]
    if mnemonic in MANUAL_PAGES:
        return MANUAL_PAGES[mnemonic]
    first = mnemonic[:1]
    volume = _VOL2A if first <= "l" else _VOL2B if first <= "u" else "Intel SDM Vol. 2C"
    name = "Jcc" if mnemonic == "jcc" else mnemonic.upper()
    return f"{volume} {name}"


@attrs.frozen
class StepResult:
    """What one instruction did.

    ``outcome`` is completed, faulted (reported, state as before), delivered
    (a fault went through the IDT), halted, shutdown (a triple fault) or not
    modeled. ``fault`` is the fault raised (for delivered, the first one;
    ``delivered`` lists what reached the IDT, #DF included). ``before`` and
    ``after`` are snapshots; :meth:`changes` diffs them.
    """

    outcome: str
    rip: int
    instruction: Instruction | None
    fault: Fault | None
    before: Snapshot
    after: Snapshot
    delivered: tuple[Fault, ...] = ()
    detail: str = ""
    source: str = ""

    def changes(self) -> tuple:
        return self.before.diff(self.after)

    def __str__(self) -> str:
        text = f"{self.rip:#x}: {self.outcome}"
        if self.fault is not None:
            text += f" {self.fault}"
        if self.detail:
            text += f" ({self.detail})"
        return text


@attrs.frozen
class RunResult:
    """How a run ended: the stop reason, the steps taken and the last fault."""

    stop: str  # halted, shutdown, faulted, not modeled, budget
    steps: int
    fault: Fault | None = None
    detail: str = ""
    delivered: tuple[Fault, ...] = ()


class _Stop(Exception):
    """Internal: an instruction stops the run without an architectural event."""

    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


Handler = Callable[["CPU", Instruction, int], None]
HANDLERS: dict[str, Handler] = {}
ROLLBACK: set[str] = set()


def handler(*mnemonics: str, rollback: bool = False) -> Callable[[Handler], Handler]:
    """Register an instruction handler; names are checked for duplicates as they come."""

    def register(fn: Handler) -> Handler:
        for m in mnemonics:
            if m in HANDLERS:
                raise ValueError(f"handler for {m!r} registered twice")
            HANDLERS[m] = fn
            if rollback:
                ROLLBACK.add(m)
        return fn

    return register


_HOOK_RAN = (COMPLETED, None, None, (), "hook")

# The handler _step runs for a decoded instruction (simulator.cpu.threaded's, or the
# generic one), by the instruction's identity: the entry holds the instruction, so its id
# cannot be reused while it is here.
_SPECIALISED: dict[int, tuple[Instruction, Handler]] = {}

# Instructions whose handlers change nothing but the general registers, RIP, RFLAGS and
# memory (a MOV or POP whose destination is a segment register excepted): a traced step
# of one need not snapshot the rest of the CPU (see registers_only).
_REGISTERS_ONLY = frozenset(
    (
        "adc", "add", "and", "call", "cli", "cmp", "dec", "inc", "jcc", "jmp", "lea", "lsl",
        "mov", "movzx", "mul", "neg", "nop", "not", "or", "pop", "push", "rdmsr", "rdtsc",
        "rdtscp", "ret", "sar", "sbb", "shl", "shr", "sti", "sub", "test", "xor",
    )
)  # fmt: skip

# Instructions that cannot change what the fast loop read once for its fetches: CS, the
# CPL, EFER, CR0/CR3/CR4 and the rights tables, RFLAGS.AC, halted. After any other one the
# loop reads them again. Those above, and SWAPGS, which changes GS only (a MOV or POP to
# SS/DS/ES/FS/GS, which registers_only refuses, loads a data segment, never CS).
_KEEPS_CONTEXT = _REGISTERS_ONLY | {"swapgs"}


def registers_only(ins: Instruction) -> bool:
    """Whether a completed ``ins`` can have changed only the general registers, RIP, RFLAGS
    and memory: no selector, descriptor cache, CPL, control register, MSR or table
    register."""
    if ins.mnemonic not in _REGISTERS_ONLY:
        return False
    return not (ins.mnemonic in ("mov", "pop") and type(ins.operands[0]) is SegReg)


def _thread(owner, key: int, start: int) -> tuple | None:
    """The fast loop's entry for the instruction the decode cache holds at ``key`` (64-bit
    code): its specialised handler, the instruction, its length, whether it is plain (no
    rollback snapshot, not IRET, cannot change the fetch context), whether it is an HLT,
    its handler's block kind (threaded.SEQUENTIAL, BRANCH or 0) and a slot for the
    straight run that starts there (_block).
    None when the cache has none there, the instruction runs onto the next page (its second
    page must be checked on every fetch), or no handler executes it: the slow path says
    why."""
    ins = owner.decoded.get(key)
    if ins is None or (start & PAGE_MASK) + ins.length > PAGE_SIZE:
        return None
    mnemonic = ins.mnemonic
    generic = HANDLERS.get(mnemonic)
    if generic is None:
        return None
    plain = mnemonic in _KEEPS_CONTEXT and mnemonic not in ROLLBACK and mnemonic != "iret"
    fn = specialise(ins, 64, generic)
    kind = getattr(fn, "block", 0)
    # the last slot holds the straight run that starts here, once CPU._block has made it
    entry = (fn, ins, ins.length, plain, mnemonic == "hlt", kind, [None])
    owner.threaded[key] = entry
    return entry


def _block(owner, start: int, first: tuple, hooks: Hooks) -> tuple | bool | None:
    """The straight run of instructions from ``start`` (whose entry is ``first``, marked
    SEQUENTIAL): each following instruction on the same page, already in the fast loop's
    entries, marked SEQUENTIAL (registers only, no fault, falls through), with no hook at
    its address, up to and including a BRANCH. As (the hooks' version, the number of
    instructions, the address of the last, ((handler, instruction, address, next), ...)).
    False when the next instruction cannot join (nothing to gain, ever); None when it is
    not decoded yet (try again later)."""
    steps = []
    at, entry = start, first
    vpn = start >> PAGE_SHIFT
    while True:
        fn, ins, length, _, _, kind, _ = entry
        following = at + length
        steps.append((fn, ins, at, following))
        if kind != SEQUENTIAL or following >> PAGE_SHIFT != vpn:
            break
        entry = owner.threaded.get((following << 2) | 2)
        if entry is None:
            if len(steps) == 1:
                return None
            break
        if not entry[5] or following in hooks:
            break
        at = following
    if len(steps) == 1:
        return False
    return (hooks.version, len(steps), steps[-1][2], tuple(steps))


def _hlt_at(owner, vpn: int, address: int) -> bool:
    """Whether the byte at ``address`` (on page ``vpn`` of ``owner``) is an HLT opcode."""
    page = owner.pages.get(vpn)
    return page is not None and page.data[address & PAGE_MASK] == 0xF4


def _gp(code: int = 0, detail: str = "") -> FaultSignal:
    return FaultSignal(Fault(GP, code, None, detail))


def _ud(detail: str) -> FaultSignal:
    return FaultSignal(Fault(UD, None, None, detail))


class Hooks(dict):
    """CPU.hooks: address -> the Python run in place of the instruction there. A dict that
    counts its changes in ``version``, so that a run of instructions checked once for hooks
    (CPU._block) knows when to check again."""

    __slots__ = ("version",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.version = 0

    def __setitem__(self, key: int, value: Callable[[CPU], bool | None]) -> None:
        self.version += 1
        super().__setitem__(key, value)

    def __delitem__(self, key: int) -> None:
        self.version += 1
        super().__delitem__(key)

    def pop(self, *args: Any) -> Any:
        self.version += 1
        return super().pop(*args)

    def popitem(self) -> Any:
        self.version += 1
        return super().popitem()

    def clear(self) -> None:
        self.version += 1
        super().clear()

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.version += 1
        super().update(*args, **kwargs)

    def setdefault(self, key: int, default: Any = None) -> Any:
        self.version += 1
        return super().setdefault(key, default)


class CPU(CPUState):
    """A CPU that executes instructions: :meth:`step`, :meth:`run` and event delivery."""

    __slots__ = ("_fetch_bits", "halted", "hooks", "retired", "shadow", "shutdown", "tsc_offset")

    def __init__(self, vendor: str = "intel") -> None:
        super().__init__(vendor)
        self.retired = 0  # instructions completed; the TSC advances one cycle for each
        self.tsc_offset = 0
        self.halted = False
        self.shutdown = False
        self.shadow = False  # MOV SS / POP SS / STI interrupt shadow
        # Python run in place of the instruction at an address; a hook returns True to ask
        # for the run to end (the fast loop then hands back at once).
        self.hooks: Hooks = Hooks()
        self._fetch_bits = 64  # the code size of the last fetch (16, 32 or 64)

    # ------------------------------------------------------------ fetch, decode

    def _fetch(self) -> Instruction | Unmodeled:
        """The instruction at CS:RIP, decoded once and cached per linear address and mode.

        Every fetch is checked: the canonical RIP (64-bit) or the CS limit, and the page's
        rights for an instruction fetch at this CPL. The cached path below makes the same
        checks as the first decode, only with the page lookup inlined."""
        rip = self.r[RIP]
        cs = self.cache[CS]
        if cs.l and self.msr.values[M.IA32_EFER] & M.EFER_LMA:
            bits = 64
            linear = rip
            if ((rip + _CANON) & _M64) >> 48:
                raise _gp(0, f"instruction fetch at non-canonical RIP {rip:#x}")
        else:
            bits = 32 if cs.db else 16
            rip &= _M32 if bits == 32 else 0xFFFF  # EIP or IP: no upper bits outside 64-bit mode
            if rip > cs.limit:
                raise _gp(0, f"EIP {rip:#x} beyond the CS limit {cs.limit:#x}")
            linear = (cs.base + rip) & _M32
        self._fetch_bits = bits
        vpn = linear >> PAGE_SHIFT
        if self._cr0 & C.CR0_PG:
            space = self.space
            shared = space.shared
            owner = shared if shared is not None and vpn >= space.split_vpn else space
            ins = owner.decoded.get((linear << 2) | (bits >> 5))
            if ins is not None:
                page = owner.pages.get(vpn)
                index = FETCH * 4 + (2 if self.cpl == 3 else 0) + ((self.r[RFLAGS] >> 18) & 1)
                if self._perm[index][page.flags if page is not None else 0] >= 0:
                    self._page_for(linear, FETCH, False, False)  # raises the #PF
                if (linear & PAGE_MASK) + ins.length > PAGE_SIZE:
                    self._page_for(
                        (linear + ins.length - 1) & self._linear_mask(), FETCH, False, False
                    )
                if bits != 64 and rip + ins.length - 1 > cs.limit:
                    raise _gp(0, "instruction runs past the CS limit")
                return ins
        return self._fetch_and_decode(rip, linear, bits, cs)

    def _fetch_and_decode(
        self, rip: int, linear: int, bits: int, cs: DescriptorCache
    ) -> Instruction | Unmodeled:
        from simulator.cpu.decoder import decode

        paging = self._cr0 & C.CR0_PG
        space = self.space if paging else self.physical
        vpn = linear >> PAGE_SHIFT
        owner = space.code_space(vpn)
        key = (linear << 2) | (bits >> 5)
        page = self._page_for(linear, FETCH, False, False)
        ins = owner.decoded.get(key)
        if ins is None:
            off = linear & PAGE_MASK
            data = bytes(page[off : off + 15])
            pending: FaultSignal | None = None
            if len(data) < 15:
                try:
                    nxt = self._page_for(
                        (linear + len(data)) & self._linear_mask(), FETCH, False, False
                    )
                    data += bytes(nxt[: 15 - len(data)])
                except FaultSignal as signal:
                    pending = signal
            ins = decode(data, mode=bits)
            if isinstance(ins, Truncated):
                if pending is not None:
                    raise pending
                raise FaultSignal(NotModeled("instruction runs past the end of memory"))
            if isinstance(ins, Undefined):
                code = 0 if ins.vector == GP else None
                raise FaultSignal(
                    Fault(ins.vector, code, None, f"{ins.reason} ({ins.raw.hex(' ')})")
                )
            if isinstance(ins, Unmodeled):
                return ins
            owner.decoded[key] = ins
            owner.code_vpns.add(vpn)
        elif (linear & PAGE_MASK) + ins.length > PAGE_SIZE:
            self._page_for((linear + ins.length - 1) & self._linear_mask(), FETCH, False, False)
        if bits != 64 and rip + ins.length - 1 > cs.limit:
            raise _gp(0, "instruction runs past the CS limit")
        return ins

    # ------------------------------------------------------------ step and run

    def step(self, *, deliver: bool = True) -> StepResult:
        """Run one instruction and report what it did.

        With ``deliver`` a fault is delivered through the IDT (and the step's
        outcome is ``delivered``); without it the fault is only reported and
        the state stays as it was before the instruction.
        """
        before = self.snapshot()
        rip = self.r[RIP]
        outcome, ins, fault, delivered, detail = self._step(deliver)
        if outcome in (DELIVERED, SHUTDOWN):
            source = DELIVERY_SECTION
        elif ins is not None:
            source = manual_page(ins.mnemonic, self.vendor.name)
        else:
            source = ""
        return StepResult(
            outcome, rip, ins, fault, before, self.snapshot(), delivered, detail, source
        )

    def run(self, max_steps: int = 100_000, *, deliver: bool = True) -> RunResult:
        """Run until HLT, shutdown, a not-modeled stop, a reported fault, or ``max_steps``."""
        steps = 0
        delivered: list[Fault] = []
        while steps < max_steps:
            steps += 1
            outcome, _, fault, dl, detail = self._step(deliver)
            delivered.extend(dl)
            if outcome in (COMPLETED, DELIVERED):
                continue
            return RunResult(outcome, steps, fault, detail, tuple(delivered))
        return RunResult("budget", steps, None, f"stopped after {steps} steps", tuple(delivered))

    def _step(
        self, deliver: bool
    ) -> tuple[str, Instruction | None, Fault | None, tuple[Fault, ...], str]:
        if self.shutdown:
            return SHUTDOWN, None, None, (), "the processor is in shutdown (triple fault)"
        if self.halted:
            return HALTED, None, None, (), "the processor is halted"
        r = self.r
        start = r[RIP]
        hook = self.hooks.get(start)
        if hook is not None:
            hook(self)
            return COMPLETED, None, None, (), "hook"
        ins: Instruction | None = None
        snap = None
        owner = None
        if (
            self.cache[CS].l
            and self._cr0 & C.CR0_PG
            and self.msr.values[M.IA32_EFER] & M.EFER_LMA
            and not ((start + _CANON) & _M64) >> 48
        ):
            # 64-bit code: the fast loop's entry for this instruction, once there is one
            # (_thread), after the fetch checks _fetch makes on its cached path.
            vpn = start >> PAGE_SHIFT
            space = self.space
            shared = space.shared
            owner = shared if shared is not None and vpn >= space.split_vpn else space
            entry = owner.threaded.get((start << 2) | 2)
            if entry is not None:
                page = owner.pages.get(vpn)
                index = FETCH * 4 + (2 if self.cpl == 3 else 0) + ((r[RFLAGS] >> 18) & 1)
                if page is not None and self._perm[index][page.flags] < 0:
                    return self._step_entry(entry, start, deliver)
        try:
            got = self._fetch()
            if isinstance(got, Unmodeled):
                return (
                    NOT_MODELED,
                    None,
                    None,
                    (),
                    f"instruction {got.mnemonic} ({got.raw.hex(' ')}) is not modeled by ringsim",
                )
            if owner is not None:  # 64-bit code: its entry, for this time and the next
                entry = _thread(owner, (start << 2) | 2, start)
                if entry is not None:
                    return self._step_entry(entry, start, deliver)
            ins = got
            mnemonic = ins.mnemonic
            known = _SPECIALISED.get(id(ins))
            if known is not None and known[0] is ins:
                fn = known[1]
            else:
                fn = HANDLERS.get(mnemonic)
                if fn is None:
                    return NOT_MODELED, ins, None, (), f"{mnemonic} is decoded but not executed"
                fn = specialise(ins, self._fetch_bits, fn)
                if len(_SPECIALISED) >= 4096:
                    _SPECIALISED.clear()
                _SPECIALISED[id(ins)] = (ins, fn)
            if mnemonic in ROLLBACK:
                snap = self.snapshot()
            bits = self._fetch_bits
            r[RIP] = (start + ins.length) & (_M64 if bits == 64 else _M32 if bits == 32 else 0xFFFF)
            self.shadow = False
            rf = r[RFLAGS] & F.RF
            fn(self, ins, start)
            if rf and mnemonic != "iret":
                # RF suppresses instruction breakpoints for one instruction and is cleared
                # when it completes (SDM Vol. 3B §18.3.1.1).
                r[RFLAGS] &= ~F.RF
            self.retired += 1
            return (HALTED if self.halted else COMPLETED), ins, None, (), ""
        except (_Stop, FaultSignal) as stop:
            return self._step_failed(stop, snap, start, ins, deliver)

    def _step_entry(
        self, entry: tuple, start: int, deliver: bool
    ) -> tuple[str, Instruction | None, Fault | None, tuple[Fault, ...], str]:
        """:meth:`_step` for 64-bit code whose fetch has been checked, from its fast-loop
        entry (the specialised handler, the instruction, its length, whether it is plain)."""
        fn, ins, length, plain = entry[:4]
        r = self.r
        mnemonic = ins.mnemonic
        snap = None if plain or mnemonic not in ROLLBACK else self.snapshot()
        r[RIP] = (start + length) & _M64
        self.shadow = False
        rf = r[RFLAGS] & F.RF
        try:
            fn(self, ins, start)
        except (_Stop, FaultSignal) as stop:
            return self._step_failed(stop, snap, start, ins, deliver)
        if rf and mnemonic != "iret":
            r[RFLAGS] &= ~F.RF
        self.retired += 1
        return (HALTED if self.halted else COMPLETED), ins, None, (), ""

    def _step_failed(
        self,
        stop: _Stop | FaultSignal,
        snap: Snapshot | None,
        start: int,
        ins: Instruction | None,
        deliver: bool,
    ) -> tuple[str, Instruction | None, Fault | None, tuple[Fault, ...], str]:
        """An instruction stopped or faulted: put the state back as it was before it (RIP
        included), then report the stop, or report or deliver the fault."""
        if snap is not None:
            self.restore(snap)
        self.r[RIP] = start
        if isinstance(stop, _Stop):
            return stop.outcome, ins, None, (), stop.detail
        fault = stop.fault
        if isinstance(fault, NotModeled):
            return NOT_MODELED, ins, None, (), fault.what
        if not deliver:
            return FAULTED, ins, fault, (), ""
        return self._deliver_exception(fault, start, ins)

    def _run_fast(
        self,
        budget: int,
        stop_at: int,
        lo: int,
        hi: int,
        whole: bool,
        trace_step: Callable[[Instruction, int, int, str, tuple[Fault, ...]], None] | None = None,
    ) -> tuple[int, object]:
        """Up to ``budget`` steps of 64-bit code with paging on: the steps :meth:`_step`
        would take (``deliver`` on), with less work each.

        What the fetches depend on (CS, CPL, EFER, CR0, CR3, the rights tables, RFLAGS.AC)
        is read once, and read again after any instruction that can change it (one not in
        ``_KEEPS_CONTEXT``). Each instruction runs the handler that
        :func:`simulator.cpu.threaded.specialise` made for it from the decode cache, and
        every fetch still makes the canonical and page-rights checks (the rights when the
        fetch moves to another page). A straight run of register-only instructions
        (:func:`_block`) is checked once and run together.

        Before each instruction, at CPL 3, the loop stops (answer True) when RIP is
        ``stop_at`` or the byte at RIP, within ``[lo, hi)``, is an HLT. It hands back
        (answer None) before anything it does not take: an instruction that faults on its
        fetch, is not modeled or crosses a page; another mode; a halted processor. After a step
        that ended other than completed (a fault, delivered or not; a stop), and, unless
        ``whole`` (the caller's end test is all in ``stop_at``, ``lo`` and ``hi``), after a
        hook or an instruction that can change the mode, it hands back that step's result as
        :meth:`_step` gives it. A hook that returns true (the kernel's, when the run must
        end) hands back too. Returns (steps taken, answer).

        ``trace_step``, when given, is called after each instruction the loop ran with the
        instruction, its address, the CPL it ran at, its outcome and the faults it
        delivered (a traced run records the step there), and after each hook with no
        instruction and the outcome HOOK."""
        n = 0
        r = self.r
        hooks = self.hooks
        rf_bit = F.RF
        while True:
            if self.shutdown or self.halted or not self._cr0 & C.CR0_PG:
                return n, None
            cs = self.cache[CS]
            if not (cs.l and self.msr.values[M.IA32_EFER] & M.EFER_LMA):
                return n, None
            ring = self.cpl
            user = ring == 3
            space = self.space
            shared = space.shared
            split = space.split_vpn if shared is not None else 1 << 64
            perm = self._perm[FETCH * 4 + (2 if user else 0) + ((r[RFLAGS] >> 18) & 1)]
            # The page the last fetch was allowed from: mappings and rights cannot change
            # until the loop reads its context again (only hooks, which end this inner
            # loop, change them).
            allowed = -1
            while True:
                if n >= budget:
                    return n, None
                start = r[RIP]
                vpn = start >> PAGE_SHIFT
                owner = shared if vpn >= split else space
                key = (start << 2) | 2
                entry = owner.threaded.get(key)  # type: ignore[union-attr]
                if user and (
                    start == stop_at
                    or (
                        lo <= start < hi
                        and (
                            entry[4]  # an HLT is decoded here
                            if entry is not None
                            else _hlt_at(owner, vpn, start)
                        )
                    )
                ):
                    return n, True
                hook = hooks.get(start)
                if hook is not None:
                    n += 1
                    stop = hook(self)
                    if trace_step is not None:
                        trace_step(None, start, ring, HOOK, ())
                    if stop or not whole:
                        return n, _HOOK_RAN
                    break  # the hook may have changed anything: read the context again
                if entry is None:
                    if key not in owner.decoded:  # type: ignore[union-attr]
                        # First time here: decode it the long way, with every check. A fault
                        # or an instruction ringsim does not run is left to _step, which
                        # meets it again (the same fault, CR2 set to the same address).
                        try:
                            self._fetch()
                        except FaultSignal:
                            return n, None
                    entry = _thread(owner, key, start)
                    if entry is None:
                        return n, None
                if vpn != allowed:
                    page = owner.pages.get(vpn)  # type: ignore[union-attr]
                    if page is None or perm[page.flags] >= 0:
                        return n, None
                    allowed = vpn
                fn, ins, length, plain, _, kind, slot = entry
                if kind == SEQUENTIAL:
                    block = slot[0]
                    if block is None:
                        block = slot[0] = _block(owner, start, entry, hooks)
                    if (
                        block
                        and block[0] == hooks.version
                        and n + block[1] <= budget
                        and not (start < stop_at <= block[2])
                        and not r[RFLAGS] & rf_bit
                    ):
                        # A straight run: what each instruction's own step would check (the
                        # page, hooks, the end of the run, the budget, RF) holds for all of
                        # it, and nothing in it can change that until its last instruction.
                        self.shadow = False
                        if trace_step is None:
                            ran = 0
                            try:
                                for fn, ins, start, following in block[3]:
                                    r[RIP] = following
                                    fn(self, ins, start)
                                    ran += 1
                            except (_Stop, FaultSignal) as stop:  # only the closing branch
                                n += ran + 1
                                self.retired += ran
                                return n, self._step_failed(stop, None, start, ins, True)
                            n += ran
                            self.retired += ran
                            continue
                        for fn, ins, start, following in block[3]:  # each step recorded
                            r[RIP] = following
                            n += 1
                            try:
                                fn(self, ins, start)
                            except (_Stop, FaultSignal) as stop:
                                failed = self._step_failed(stop, None, start, ins, True)
                                trace_step(ins, start, ring, failed[0], failed[3])
                                return n, failed
                            self.retired += 1
                            trace_step(ins, start, ring, COMPLETED, ())
                        continue
                    if block is not None and block is not False and block[0] != hooks.version:
                        slot[0] = None  # the hooks changed: make it again next time
                if plain:  # not in ROLLBACK, not IRET, in _KEEPS_CONTEXT: _step_entry inlined
                    r[RIP] = (start + length) & _M64
                    self.shadow = False
                    rf = r[RFLAGS] & rf_bit
                    n += 1
                    try:
                        fn(self, ins, start)
                    except (_Stop, FaultSignal) as stop:
                        failed = self._step_failed(stop, None, start, ins, True)
                        if trace_step is not None:
                            trace_step(ins, start, ring, failed[0], failed[3])
                        return n, failed
                    if rf:
                        r[RFLAGS] &= ~rf_bit
                    self.retired += 1
                    if trace_step is not None:
                        trace_step(ins, start, ring, COMPLETED, ())
                    continue
                # Not plain: it can change the fetch context (or needs a rollback snapshot,
                # or is IRET), so the loop reads the context again after it.
                n += 1
                result = self._step_entry(entry, start, True)
                if trace_step is not None:
                    trace_step(ins, start, ring, result[0], result[3])
                if result[0] != COMPLETED or not whole:
                    return n, result
                break

    def _deliver_exception(
        self, fault: Fault, return_rip: int, ins: Instruction | None
    ) -> tuple[str, Instruction | None, Fault | None, tuple[Fault, ...], str]:
        """Deliver ``fault`` through the IDT, combining nested faults as Table 6-5 says."""
        current = fault
        delivered: list[Fault] = []
        while True:
            try:
                code = current.error_code if current.vector in ERROR_CODE_VECTORS else None
                self._deliver_event(current.vector, code, software=False, return_rip=return_rip)
                delivered.append(current)
                return DELIVERED, ins, fault, tuple(delivered), ""
            except FaultSignal as signal:
                second = signal.fault
                if isinstance(second, NotModeled):
                    return NOT_MODELED, ins, fault, tuple(delivered), second.what
                delivered.append(current)
                if current.vector == DF:
                    self.shutdown = True
                    return (
                        SHUTDOWN,
                        ins,
                        fault,
                        tuple(delivered),
                        f"triple fault: {second} while delivering #DF",
                    )
                if double_fault_combines(current.vector, second.vector):
                    current = Fault(DF, 0, None, f"{second} while delivering {current.mnemonic}")
                else:
                    current = second

    def raise_exception(self, fault: Fault) -> StepResult:
        """Deliver ``fault`` now, as if the instruction at RIP had raised it."""
        before = self.snapshot()
        outcome, ins, f, dl, detail = self._deliver_exception(fault, self.r[RIP], None)
        return StepResult(outcome, before.regs[RIP], ins, f, before, self.snapshot(), dl, detail)

    # ------------------------------------------------------------ event delivery

    def _deliver_event(
        self, vector: int, error_code: int | None, *, software: bool, return_rip: int
    ) -> None:
        """Deliver interrupt or exception ``vector`` through the IDT (SDM Vol. 2A INT n).

        Raises FaultSignal for a fault met on the way; commits nothing then.
        ``software`` marks INT n, INT3 and INTO: EXT = 0 in error codes, the
        gate-DPL check applies and no error code is pushed.
        """
        ext = 0 if software else 1
        idt_code = vector * 8 + 2 + ext
        if not self._cr0 & C.CR0_PE:
            self._deliver_real_mode(vector, return_rip)
            return
        if self.r[RFLAGS] & F.VM:
            raise FaultSignal(NotModeled("interrupt delivery from virtual-8086 mode"))
        long_mode = bool(self.msr.values[M.IA32_EFER] & M.EFER_LMA)
        idtr = self.idtr
        entry = 16 if long_mode else 8
        if vector * entry + entry - 1 > idtr.limit:
            raise _gp(idt_code, f"vector {vector:#x} lies beyond the IDT limit {idtr.limit:#x}")
        raw = int.from_bytes(
            self._read_bytes(
                (idtr.base + vector * entry) & self._linear_mask(), entry, READ, implicit=True
            ),
            "little",
        )
        access = (raw >> 40) & 0xFF
        gate_type = access & 0xF
        gate_dpl = (access >> 5) & 3
        present = bool(access & 0x80)
        valid = (0xE, 0xF) if long_mode else (0x5, 0x6, 0x7, 0xE, 0xF)
        if access & 0x10 or gate_type not in valid:
            raise _gp(
                idt_code,
                f"IDT entry {vector:#x} is not an interrupt or trap gate (type {gate_type:#x})",
            )
        if software and gate_dpl < self.cpl:
            raise _gp(
                vector * 8 + 2,
                f"software interrupt through a DPL {gate_dpl} gate at CPL {self.cpl}",
            )
        if not present:
            raise FaultSignal(Fault(NP, idt_code, None, f"IDT gate {vector:#x} not present"))
        if gate_type == 0x5:
            raise FaultSignal(NotModeled("task gates and task switches"))
        selector = (raw >> 16) & 0xFFFF
        offset = (raw & 0xFFFF) | ((raw >> 48) & 0xFFFF) << 16
        if long_mode:
            offset |= ((raw >> 64) & _M32) << 32
            ist = (raw >> 32) & 7
        else:
            ist = 0
        if selector & 0xFFFC == 0:
            raise _gp(ext, "null code selector in the gate")
        d = self._descriptor(selector, ext)
        sel_code = (selector & 0xFFFC) | ext
        if not d.is_code or d.dpl > self.cpl:
            raise _gp(sel_code, "gate's target is not a code segment with DPL <= CPL")
        if long_mode and (not d.l or d.db):
            raise _gp(sel_code, "the gate's target is not a 64-bit code segment")
        if not d.present:
            raise FaultSignal(Fault(NP, sel_code, None, "gate's code segment not present"))
        new_cpl = self.cpl if d.conforming else d.dpl
        inter = new_cpl < self.cpl
        interrupt_gate = gate_type in (0x6, 0xE)
        old_flags = self.r[RFLAGS]
        pushed_flags = old_flags | F.RF if not software and vector in FAULT_CLASS else old_flags
        with_code = error_code is not None and not software
        if long_mode:
            self._deliver64(
                vector,
                selector,
                d,
                offset,
                ist,
                new_cpl,
                inter,
                return_rip,
                pushed_flags,
                error_code if with_code else None,
                ext,
            )
        else:
            self._deliver32(
                selector,
                d,
                offset,
                new_cpl,
                inter,
                return_rip,
                pushed_flags,
                error_code if with_code else None,
                ext,
                gate_type in (0xE, 0xF),
            )
        flags = old_flags & ~(F.TF | F.NT | F.RF | F.VM)
        if interrupt_gate:
            flags &= ~F.IF
        self.r[RFLAGS] = flags
        self.halted = False

    def _deliver64(
        self, vector, selector, d, offset, ist, new_cpl, inter, return_rip, old_flags, code, ext
    ) -> None:
        r = self.r
        if inter or ist:
            tr_sel, tr = self.tr
            field = 8 * ist + 0x1C if ist else 8 * new_cpl + 4
            if not tr.usable or field + 7 > tr.limit:
                raise FaultSignal(
                    Fault(TS, (tr_sel & 0xFFFC) | ext, None, "TSS too short for the stack pointer")
                )
            new_rsp = int.from_bytes(
                self._read_bytes((tr.base + field) & _M64, 8, READ, implicit=True), "little"
            )
            if ((new_rsp + _CANON) & _M64) >> 48:
                raise FaultSignal(
                    Fault(SS, ext, None, f"TSS stack pointer {new_rsp:#x} not canonical")
                )
        else:
            new_rsp = r[RSP]
        new_rsp &= ~0xF
        if ((offset + _CANON) & _M64) >> 48:
            raise _gp(ext, f"gate offset {offset:#x} not canonical")
        items = [self.sel[SS_REG], r[RSP], old_flags, self.sel[CS], return_rip]
        if code is not None:
            items.append(code)
        frame = b"".join(v.to_bytes(8, "little") for v in reversed(items))
        top = (new_rsp - len(frame)) & _M64
        saved_cpl = self.cpl
        self.cpl = new_cpl  # the pushes are made at the new privilege level
        try:
            self._write_bytes(top, frame, stack=True)
        finally:
            self.cpl = saved_cpl
        if inter:
            self.sel[SS_REG] = new_cpl
            self.cache[SS_REG] = attrs.evolve(NULL_CACHE, dpl=new_cpl)
        self.sel[CS] = (selector & 0xFFFC) | new_cpl
        self.cache[CS] = cache_from_descriptor(d, accessed=True)
        self.cpl = new_cpl
        r[RSP] = top
        r[RIP] = offset

    def _deliver32(
        self, selector, d, offset, new_cpl, inter, return_rip, old_flags, code, ext, gate32
    ) -> None:
        r = self.r
        size = 4 if gate32 else 2
        if inter:
            tr_sel, tr = self.tr
            esp_off, ss_off = 8 * new_cpl + 4, 8 * new_cpl + 8
            if not tr.usable or ss_off + 1 > tr.limit:
                raise FaultSignal(Fault(TS, (tr_sel & 0xFFFC) | ext, None, "TSS too short"))
            new_esp = int.from_bytes(
                self._read_bytes(tr.base + esp_off, 4, READ, implicit=True), "little"
            )
            new_ss = int.from_bytes(
                self._read_bytes(tr.base + ss_off, 2, READ, implicit=True), "little"
            )
            if new_ss & 0xFFFC == 0:
                raise FaultSignal(Fault(TS, ext, None, "null SS in the TSS"))
            ss_code = (new_ss & 0xFFFC) | ext
            sd = self._descriptor(new_ss, ext, fault_vector=TS)
            if new_ss & 3 != new_cpl or sd.dpl != new_cpl or not sd.writable:
                raise FaultSignal(
                    Fault(TS, ss_code, None, "TSS's SS is not writable data at the new CPL")
                )
            if not sd.present:
                raise FaultSignal(Fault(SS, ss_code, None, "TSS's SS not present"))
            ss_cache = cache_from_descriptor(sd, accessed=True)
            items = [self.sel[SS_REG], r[RSP] & _M32, old_flags & _M32, self.sel[CS], return_rip]
            stack_sel, stack_cache, sp = new_ss, ss_cache, new_esp
        else:
            items = [old_flags & _M32, self.sel[CS], return_rip]
            stack_sel, stack_cache = self.sel[SS_REG], self.cache[SS_REG]
            sp = r[RSP] & (_M32 if stack_cache.db else 0xFFFF)
        if code is not None:
            items.append(code)
        frame = b"".join((v & _SIZE_MASK[size]).to_bytes(size, "little") for v in reversed(items))
        top = (sp - len(frame)) & (_M32 if stack_cache.db else 0xFFFF)
        if top + len(frame) - 1 > stack_cache.limit or sp < len(frame):
            raise FaultSignal(
                Fault(
                    SS, ((stack_sel & 0xFFFC) | ext) if inter else ext, None, "no room on the stack"
                )
            )
        if offset > d.byte_limit:
            raise _gp(0, "gate offset beyond the code segment limit")
        saved_cpl = self.cpl
        self.cpl = new_cpl
        try:
            self._write_bytes((stack_cache.base + top) & _M32, frame, stack=True)
        finally:
            self.cpl = saved_cpl
        if inter:
            self.sel[SS_REG] = stack_sel
            self.cache[SS_REG] = stack_cache
        self.sel[CS] = (selector & 0xFFFC) | new_cpl
        self.cache[CS] = cache_from_descriptor(d, accessed=True)
        self.cpl = new_cpl
        r[RSP] = top if (inter or stack_cache.db) else (r[RSP] & ~0xFFFF) | top
        r[RIP] = offset & (_M32 if gate32 else 0xFFFF)

    def _deliver_real_mode(self, vector: int, return_rip: int) -> None:
        """Real-mode delivery through the IVT (SDM Vol. 2A INT n, REAL-ADDRESS-MODE)."""
        if vector * 4 + 3 > self.idtr.limit:
            raise _gp(0, "vector beyond the IVT limit")
        entry = self._read_bytes(self.idtr.base + vector * 4, 4, READ, implicit=True)
        ip = int.from_bytes(entry[:2], "little")
        cs = int.from_bytes(entry[2:], "little")
        r = self.r
        sp = r[RSP] & 0xFFFF
        frame = b"".join(
            (v & 0xFFFF).to_bytes(2, "little") for v in (return_rip, self.sel[CS], r[RFLAGS])
        )
        top = (sp - 6) & 0xFFFF
        self._write_bytes(self.cache[SS_REG].base + top, frame, stack=True)
        r[RSP] = (r[RSP] & ~0xFFFF) | top
        r[RFLAGS] &= ~(F.IF | F.TF | F.AC)
        self.set_segment("cs", cs)
        r[RIP] = ip

    def _descriptor(self, selector: int, ext: int, *, fault_vector: int = GP) -> SegmentDescriptor:
        """The descriptor ``selector`` names, or the fault (error code selector|EXT)."""
        code = (selector & 0xFFFC) | ext
        if selector & 4:
            ldt = self.ldtr[1]
            if not ldt.usable:
                raise FaultSignal(Fault(fault_vector, code, None, "LDT selector with a null LDTR"))
            base, limit = ldt.base, ldt.limit
        else:
            base, limit = self.gdtr.base, self.gdtr.limit
        off = selector & 0xFFF8
        if off + 7 > limit:
            raise FaultSignal(
                Fault(fault_vector, code, None, f"selector {selector:#x} beyond the table limit")
            )
        raw = self._read_bytes((base + off) & self._linear_mask(), 8, READ, implicit=True)
        return SegmentDescriptor.decode(raw)

    # ------------------------------------------------------------ operands

    def _long64(self) -> bool:
        return bool(self.msr.values[M.IA32_EFER] & M.EFER_LMA) and self.cache[CS].l

    def _linear(self, m: Mem, size: int, write: bool) -> tuple[int, bool]:
        """The linear address of a memory operand, after the segment checks of its mode."""
        r = self.r
        ea = m.disp
        if m.rip:
            ea += r[RIP]
        else:
            if m.base is not None:
                ea += r[m.base]
            if m.index is not None:
                ea += r[m.index] * m.scale
        ea &= _SIZE_MASK[m.addr_size]
        seg = m.seg
        if seg is None:
            seg = SS_REG if (m.base == RSP or m.base == RBP) and not m.rip else DS
        stack = seg == SS_REG
        if self._long64():
            if seg >= FS:
                ea = (ea + self.cache[seg].base) & _M64
            return ea, stack
        cache = self.cache[seg]
        vector = SS if stack else GP
        if not cache.usable:
            raise FaultSignal(Fault(vector, 0, None, "memory access through a null segment"))
        if write and not cache.writable:
            raise FaultSignal(Fault(vector, 0, None, "write to a segment that is not writable"))
        if not write and cache.is_code and not cache.readable:
            raise FaultSignal(Fault(vector, 0, None, "read of an execute-only segment"))
        last = ea + max(size, 1) - 1
        if cache.is_data and cache.type & 4:  # expand-down
            top = _M32 if cache.db else 0xFFFF
            if ea <= cache.limit or last > top:
                raise FaultSignal(Fault(vector, 0, None, "offset outside an expand-down segment"))
        elif last > cache.limit:
            raise FaultSignal(
                Fault(vector, 0, None, f"offset {ea:#x} beyond the limit {cache.limit:#x}")
            )
        return (cache.base + ea) & _M32, stack

    def _get(self, op, size: int) -> int:
        t = type(op)
        if t is Reg:
            v = self.r[op.reg]
            return (v >> 8) & 0xFF if op.high else v & _SIZE_MASK[size]
        if t is Imm:
            return op.value
        if t is Mem:
            linear, stack = self._linear(op, size, False)
            return int.from_bytes(self._read_bytes(linear, size, READ, stack=stack), "little")
        if t is SegReg:
            return self.sel[op.sreg]
        raise FaultSignal(NotModeled(f"operand {op!r}"))

    def _put(self, op, value: int, size: int) -> None:
        t = type(op)
        if t is Reg:
            r = self.r
            if size >= 4:
                r[op.reg] = value & _SIZE_MASK[size]
            elif op.high:
                r[op.reg] = (r[op.reg] & ~0xFF00) | ((value & 0xFF) << 8)
            else:
                mask = _SIZE_MASK[size]
                r[op.reg] = (r[op.reg] & ~mask) | (value & mask)
        elif t is Mem:
            linear, stack = self._linear(op, size, True)
            self._write_bytes(
                linear, (value & _SIZE_MASK[size]).to_bytes(size, "little"), stack=stack
            )
        else:
            raise FaultSignal(NotModeled(f"destination operand {op!r}"))

    def _stack_mask(self) -> int:
        if self._long64():
            return _M64
        return _M32 if self.cache[SS_REG].db else 0xFFFF

    def _stack_linear(self, sp: int, size: int) -> int:
        if self._long64():
            return sp
        cache = self.cache[SS_REG]
        if sp + size - 1 > cache.limit:
            raise FaultSignal(Fault(SS, 0, None, f"stack offset {sp:#x} beyond the SS limit"))
        return (cache.base + sp) & _M32

    def _push(self, value: int, size: int) -> None:
        r = self.r
        mask = self._stack_mask()
        sp = (r[RSP] - size) & mask
        self._write_bytes(
            self._stack_linear(sp, size),
            (value & _SIZE_MASK[size]).to_bytes(size, "little"),
            stack=True,
        )
        r[RSP] = (r[RSP] & ~mask & _M64) | sp

    def _pop(self, size: int) -> int:
        r = self.r
        mask = self._stack_mask()
        sp = r[RSP] & mask
        value = int.from_bytes(
            self._read_bytes(self._stack_linear(sp, size), size, READ, stack=True), "little"
        )
        r[RSP] = (r[RSP] & ~mask & _M64) | ((sp + size) & mask)
        return value

    def _branch(self, target: int, size: int) -> None:
        if self._long64():
            if size == 2:
                target &= 0xFFFF
            if ((target + _CANON) & _M64) >> 48:
                raise _gp(0, f"branch to non-canonical {target:#x}")
        else:
            target &= _SIZE_MASK[size]
            if target > self.cache[CS].limit:
                raise _gp(0, f"branch target {target:#x} beyond the CS limit")
        self.r[RIP] = target

    def _set_arith(self, f: int, keep_cf: bool = False) -> None:
        r = self.r
        mask = alu.ARITH_FLAGS & ~F.CF if keep_cf else alu.ARITH_FLAGS
        r[RFLAGS] = (r[RFLAGS] & ~mask) | (f & mask)

    def read_msr(self, name_or_number: str | int) -> int | Fault:
        if M.msr_number(name_or_number) == M.IA32_TIME_STAMP_COUNTER:
            return self.read_tsc()
        return super().read_msr(name_or_number)

    def write_msr(self, name_or_number: str | int, value: int) -> Fault | None:
        """WRMSR's refusals; a write to IA32_TIME_STAMP_COUNTER sets the TSC."""
        if M.msr_number(name_or_number) == M.IA32_TIME_STAMP_COUNTER:
            value = _check_u64(value)
            self.tsc_offset = (value - self.retired) & _M64
            return None
        return super().write_msr(name_or_number, value)

    def read_tsc(self) -> int:
        """The time-stamp counter: ``tsc_offset`` plus one cycle per completed instruction."""
        return (self.tsc_offset + self.retired) & _M64

    def _require_cpl0(self, what: str) -> None:
        if self.cpl != 0:
            raise _gp(0, f"{what} at CPL {self.cpl}")


def _mode_now(cpu: CPU, efer: int) -> str:
    """CPU.mode, with 64-bit mode (where every system call runs) answered first."""
    if efer & M.EFER_LMA and cpu.cache[CS].l and cpu._cr0 & C.CR0_PE:
        return C.LONG64
    return cpu.mode


def _check_u64(value: int) -> int:
    from simulator.cpu._validate import check_int

    return check_int("value", value, 64)


def _is_canonical(v: int) -> bool:
    return not ((v + _CANON) & _M64) >> 48


# ---------------------------------------------------------------- user subset


@handler("mov")
def _mov(cpu: CPU, ins: Instruction, start: int) -> None:
    dst, src = ins.operands
    if type(dst) is SegReg:
        name = ("es", "cs", "ss", "ds", "fs", "gs")[dst.sreg]
        if dst.sreg == CS:
            raise _ud("MOV to CS")
        fault = cpu.load_segment(name, cpu._get(src, 2) & 0xFFFF)
        if fault is not None:
            raise FaultSignal(fault)
        if dst.sreg == SS_REG:
            cpu.shadow = True
        return
    if type(src) is SegReg:
        size = 2 if type(dst) is Mem else ins.op_size
        cpu._put(dst, cpu.sel[src.sreg], size)
        return
    size = dst.size
    cpu._put(dst, cpu._get(src, size), size)


@handler("movzx")
def _movzx(cpu: CPU, ins: Instruction, start: int) -> None:
    dst, src = ins.operands
    cpu._put(dst, cpu._get(src, src.size), dst.size)


@handler("lea")
def _lea(cpu: CPU, ins: Instruction, start: int) -> None:
    dst, m = ins.operands
    r = cpu.r
    ea = m.disp + (r[RIP] if m.rip else 0)
    if m.base is not None and not m.rip:
        ea += r[m.base]
    if m.index is not None:
        ea += r[m.index] * m.scale
    cpu._put(dst, ea & _SIZE_MASK[m.addr_size], dst.size)


@handler("push")
def _push(cpu: CPU, ins: Instruction, start: int) -> None:
    (src,) = ins.operands
    size = ins.op_size
    cpu._push(cpu._get(src, size), size)


@handler("pop")
def _pop(cpu: CPU, ins: Instruction, start: int) -> None:
    (dst,) = ins.operands
    size = ins.op_size
    saved = cpu.r[RSP]
    value = cpu._pop(size)
    try:
        cpu._put(dst, value, size)
    except FaultSignal:
        cpu.r[RSP] = saved
        raise


@handler("call")
def _call(cpu: CPU, ins: Instruction, start: int) -> None:
    (target,) = ins.operands
    size = ins.op_size
    r = cpu.r
    ret = r[RIP]
    dest = (ret + target.disp) if type(target) is Rel else cpu._get(target, size)
    saved_rsp = r[RSP]
    cpu._push(ret, size)
    try:
        cpu._branch(dest & _M64, size)
    except FaultSignal:
        r[RSP] = saved_rsp
        raise


@handler("ret")
def _ret(cpu: CPU, ins: Instruction, start: int) -> None:
    size = ins.op_size
    r = cpu.r
    saved_rsp = r[RSP]
    target = cpu._pop(size)
    try:
        cpu._branch(target, size)
    except FaultSignal:
        r[RSP] = saved_rsp
        raise
    if ins.operands:
        mask = cpu._stack_mask()
        r[RSP] = (r[RSP] & ~mask & _M64) | ((r[RSP] + ins.operands[0].value) & mask)


@handler("jmp")
def _jmp(cpu: CPU, ins: Instruction, start: int) -> None:
    (target,) = ins.operands
    size = ins.op_size
    dest = (cpu.r[RIP] + target.disp) if type(target) is Rel else cpu._get(target, size)
    cpu._branch(dest & _M64, size)


@handler("jcc")
def _jcc(cpu: CPU, ins: Instruction, start: int) -> None:
    if alu.condition(ins.cond or 0, cpu.r[RFLAGS]):
        cpu._branch((cpu.r[RIP] + ins.operands[0].disp) & _M64, ins.op_size)


def _binary(name: str) -> Handler:
    """ADD, ADC, SUB, SBB, CMP, AND, OR, XOR, TEST: one handler per mnemonic, chosen here
    rather than by comparing the name on every execution."""
    writes = name not in ("cmp", "test")

    if name in ("add", "adc", "sub", "sbb", "cmp"):
        arith = alu.add if name in ("add", "adc") else alu.sub
        with_carry = name in ("adc", "sbb")

        def run(cpu: CPU, ins: Instruction, start: int) -> None:
            dst, src = ins.operands
            size = dst.size
            a = cpu._get(dst, size)
            b = cpu._get(src, size)
            carry = cpu.r[RFLAGS] & F.CF if with_carry else 0
            result, f = arith(a, b, size, carry)
            if writes:
                cpu._put(dst, result, size)
            cpu._set_arith(f)

        return run

    op = {"and": int.__and__, "test": int.__and__, "or": int.__or__, "xor": int.__xor__}[name]

    def run_logic(cpu: CPU, ins: Instruction, start: int) -> None:
        dst, src = ins.operands
        size = dst.size
        result = op(cpu._get(dst, size), cpu._get(src, size))
        if writes:
            cpu._put(dst, result, size)
        cpu._set_arith(alu.logic(result, size))

    return run_logic


for _name in ("add", "adc", "sub", "sbb", "cmp", "and", "or", "xor", "test"):
    handler(_name)(_binary(_name))


@handler("inc", "dec")
def _incdec(cpu: CPU, ins: Instruction, start: int) -> None:
    (dst,) = ins.operands
    size = dst.size
    result, f = alu.incdec(cpu._get(dst, size), size, 1 if ins.mnemonic == "inc" else -1)
    cpu._put(dst, result, size)
    cpu._set_arith(f, keep_cf=True)


@handler("neg")
def _neg(cpu: CPU, ins: Instruction, start: int) -> None:
    (dst,) = ins.operands
    size = dst.size
    result, f = alu.sub(0, cpu._get(dst, size), size)
    cpu._put(dst, result, size)
    cpu._set_arith(f)


@handler("not")
def _not(cpu: CPU, ins: Instruction, start: int) -> None:
    (dst,) = ins.operands
    size = dst.size
    cpu._put(dst, ~cpu._get(dst, size) & _SIZE_MASK[size], size)


@handler("shl", "shr", "sar")
def _shift(cpu: CPU, ins: Instruction, start: int) -> None:
    dst, count = ins.operands
    size = dst.size
    n = cpu._get(count, 1)
    got = alu.shift(ins.mnemonic, cpu._get(dst, size), n, size)
    if got is None:
        return
    result, f = got
    cpu._put(dst, result, size)
    cpu._set_arith(f)


@handler("mul")
def _mul(cpu: CPU, ins: Instruction, start: int) -> None:
    (src,) = ins.operands
    size = src.size
    r = cpu.r
    a = r[RAX] & _SIZE_MASK[size]
    lo, hi, f = alu.mul(a, cpu._get(src, size), size)
    if size == 1:
        r[RAX] = (r[RAX] & ~0xFFFF) | (hi << 8) | lo
    else:
        cpu._put(Reg(RAX, size), lo, size)
        cpu._put(Reg(RDX, size), hi, size)
    cpu._set_arith(f)


@handler("nop")
def _nop(cpu: CPU, ins: Instruction, start: int) -> None:
    return None


@handler("ud2")
def _ud2(cpu: CPU, ins: Instruction, start: int) -> None:
    raise _ud("UD2 raises #UD by definition")


@handler("hlt")
def _hlt(cpu: CPU, ins: Instruction, start: int) -> None:
    """HLT: #GP(0) at CPL > 0 (SDM Vol. 2A HLT); otherwise the processor halts."""
    cpu._require_cpl0("HLT")
    cpu.halted = True


@handler("cli", "sti")
def _cli_sti(cpu: CPU, ins: Instruction, start: int) -> None:
    """CLI/STI: allowed when CPL <= IOPL (IOPL = 3 in virtual-8086 mode), else #GP(0).

    SDM Vol. 2A CLI and Vol. 2B STI, with CR4.PVI and CR4.VME clear. STI
    that sets IF inhibits interrupts for one instruction.
    """
    r = cpu.r
    flags = r[RFLAGS]
    if cpu._cr0 & C.CR0_PE:
        iopl = F.iopl(flags)
        allowed = iopl == 3 if flags & F.VM else cpu.cpl <= iopl
        if not allowed:
            raise _gp(0, f"{ins.mnemonic.upper()} at CPL {cpu.cpl} with IOPL {iopl}")
    if ins.mnemonic == "cli":
        r[RFLAGS] = flags & ~F.IF
    else:
        if not flags & F.IF:
            cpu.shadow = True
        r[RFLAGS] = flags | F.IF


# ---------------------------------------------------------------- ring transitions


@handler("syscall")
def _syscall(cpu: CPU, ins: Instruction, start: int) -> None:
    """SYSCALL (SDM Vol. 2B SYSCALL; AMD APM Vol. 3 SYSCALL for the legacy path)."""
    v = cpu.vendor
    efer = cpu.msr.values[M.IA32_EFER]
    mode = _mode_now(cpu, efer)
    if mode in (C.REAL, C.VIRTUAL_8086):
        raise _ud(f"SYSCALL in {mode} mode")
    if mode == C.PROTECTED and not v.syscall_legacy:
        raise _ud("SYSCALL outside IA-32e mode (Intel)")
    if mode == C.COMPATIBILITY and not v.syscall_compat:
        raise _ud("SYSCALL in compatibility mode (Intel)")
    if not efer & M.EFER_SCE:
        raise _ud("SYSCALL with IA32_EFER.SCE = 0")
    r = cpu.r
    star = cpu.msr.values[M.IA32_STAR]
    cs_sel = (star >> 32) & 0xFFFC
    ss_sel = (((star >> 32) & 0xFFFF) + 8) & 0xFFFF
    flags = r[RFLAGS]
    if mode == C.PROTECTED:
        # AMD legacy mode: ECX <- next EIP, EIP <- STAR[31:0]; VM, IF, RF cleared.
        r[RCX] = r[RIP] & _M32
        r[RFLAGS] = flags & ~(F.VM | F.IF | F.RF)
        code, target = FLAT_CODE32_RING0, star & _M32
    else:
        r[RCX] = r[RIP]
        r[R11] = flags & ~F.RF
        fmask = cpu.msr.values[M.IA32_FMASK]
        r[RFLAGS] = (flags & ~fmask & ~F.RF) | F.FIXED1
        code = FLAT_CODE64_RING0
        target = cpu.msr.values[M.IA32_LSTAR if mode == C.LONG64 else M.IA32_CSTAR]
    cpu.sel[CS], cpu.cache[CS] = cs_sel, code
    cpu.sel[SS_REG], cpu.cache[SS_REG] = ss_sel, FLAT_STACK_RING0
    cpu.cpl = 0
    r[RIP] = target


@handler("sysret")
def _sysret(cpu: CPU, ins: Instruction, start: int) -> None:
    """SYSRET/SYSRETQ (SDM Vol. 2B SYSRET; AMD APM Vol. 3 SYSRET), checks in the SDM's order.

    Every check comes before the first change of state, so a fault needs no rollback."""
    v = cpu.vendor
    efer = cpu.msr.values[M.IA32_EFER]
    mode = _mode_now(cpu, efer)
    if not efer & M.EFER_SCE:
        raise _ud("SYSRET with IA32_EFER.SCE = 0")
    if mode != C.LONG64 and not v.sysret_outside_64:
        raise _ud(f"SYSRET outside 64-bit mode ({mode} mode, Intel)")
    if mode in (C.REAL, C.VIRTUAL_8086) or cpu.cpl != 0:
        raise _gp(0, f"SYSRET at CPL {cpu.cpl} in {mode} mode")
    r = cpu.r
    base = (cpu.msr.values[M.IA32_STAR] >> 48) & 0xFFFF
    ss_sel = ((base + 8) | 3 if v.sysret_ss_rpl3 else base + 8) & 0xFFFF
    if mode == C.LONG64:
        if ins.op_size == 8:
            target = r[RCX]
            if v.sysret_canonical_fault and not _is_canonical(target):
                raise _gp(0, f"SYSRETQ to non-canonical RCX {target:#x} (raised at CPL 0)")
            cs_sel, code = ((base + 16) | 3) & 0xFFFF, FLAT_CODE64_RING3
        else:
            target = r[RCX] & _M32
            cs_sel, code = base | 3, FLAT_CODE32_RING3
        r[RFLAGS] = (r[R11] & 0x3C7FD7) | F.FIXED1
    else:
        # AMD outside 64-bit mode: EIP <- ECX, IF <- 1, nothing else in EFLAGS.
        target = r[RCX] & _M32
        cs_sel, code = base | 3, FLAT_CODE32_RING3
        r[RFLAGS] |= F.IF
    cpu.sel[CS], cpu.cache[CS] = cs_sel, code
    cpu.sel[SS_REG] = ss_sel
    if v.sysret_loads_ss_cache:
        cpu.cache[SS_REG] = FLAT_STACK_RING3
    cpu.cpl = 3
    r[RIP] = target


@handler("sysenter")
def _sysenter(cpu: CPU, ins: Instruction, start: int) -> None:
    """SYSENTER (SDM Vol. 2B SYSENTER); #UD in long mode on AMD (APM Vol. 3 SYSENTER)."""
    lma = cpu.msr.values[M.IA32_EFER] & M.EFER_LMA
    if lma and not cpu.vendor.sysenter_long_mode:
        raise _ud("SYSENTER in long mode (AMD)")
    cs_msr = cpu.msr.values[M.IA32_SYSENTER_CS] & 0xFFFF
    if not cpu._cr0 & C.CR0_PE:
        raise _gp(0, "SYSENTER in real mode")
    if cs_msr & 0xFFFC == 0:
        raise _gp(0, "SYSENTER with a null IA32_SYSENTER_CS")
    r = cpu.r
    r[RFLAGS] &= ~(F.VM | F.IF | F.RF)
    esp = cpu.msr.values[M.IA32_SYSENTER_ESP]
    eip = cpu.msr.values[M.IA32_SYSENTER_EIP]
    cs_sel = cs_msr & 0xFFFC
    if lma:
        code = FLAT_CODE64_RING0
        r[RSP], r[RIP] = esp, eip
    else:
        code = FLAT_CODE32_RING0
        r[RSP], r[RIP] = esp & _M32, eip & _M32
    cpu.sel[CS], cpu.cache[CS] = cs_sel, code
    cpu.sel[SS_REG], cpu.cache[SS_REG] = cs_sel + 8, FLAT_STACK_RING0
    cpu.cpl = 0


@handler("sysexit")
def _sysexit(cpu: CPU, ins: Instruction, start: int) -> None:
    """SYSEXIT/SYSEXITQ (SDM Vol. 2B SYSEXIT); #UD in long mode on AMD."""
    lma = cpu.msr.values[M.IA32_EFER] & M.EFER_LMA
    if lma and not cpu.vendor.sysenter_long_mode:
        raise _ud("SYSEXIT in long mode (AMD)")
    cs_msr = cpu.msr.values[M.IA32_SYSENTER_CS] & 0xFFFF
    if cs_msr & 0xFFFC == 0 or not cpu._cr0 & C.CR0_PE or cpu.cpl != 0:
        raise _gp(0, "SYSEXIT with a null IA32_SYSENTER_CS, in real mode, or at CPL > 0")
    r = cpu.r
    if ins.op_size == 8:
        rsp, rip = r[RCX], r[RDX]
        if not _is_canonical(rsp) or not _is_canonical(rip):
            raise _gp(0, "SYSEXITQ with a non-canonical RCX or RDX")
        cs_sel, code = ((cs_msr + 32) | 3) & 0xFFFF, FLAT_CODE64_RING3
    else:
        rsp, rip = r[RCX] & _M32, r[RDX] & _M32
        cs_sel, code = ((cs_msr + 16) | 3) & 0xFFFF, FLAT_CODE32_RING3
    r[RSP], r[RIP] = rsp, rip
    cpu.sel[CS], cpu.cache[CS] = cs_sel, code
    cpu.sel[SS_REG], cpu.cache[SS_REG] = (cs_sel + 8) & 0xFFFF, FLAT_STACK_RING3
    cpu.cpl = 3


@handler("int", "int3", "into")
def _int(cpu: CPU, ins: Instruction, start: int) -> None:
    """INT n, INT3 and INTO: software interrupts delivered through the IDT (SDM Vol. 2A INT n)."""
    r = cpu.r
    if ins.mnemonic == "int":
        vector = ins.operands[0].value
        flags = r[RFLAGS]
        if flags & F.VM and F.iopl(flags) < 3:
            raise _gp(0, "INT n in virtual-8086 mode with IOPL < 3")
    elif ins.mnemonic == "int3":
        vector = BP
    else:
        if not r[RFLAGS] & F.OF:
            return
        vector = OF
    cpu._deliver_event(vector, None, software=True, return_rip=r[RIP])


@handler("iret", rollback=True)
def _iret(cpu: CPU, ins: Instruction, start: int) -> None:
    """IRET/IRETD/IRETQ in protected and IA-32e mode (SDM Vol. 2A IRET)."""
    r = cpu.r
    size = ins.op_size
    mask = _SIZE_MASK[size]
    flags = r[RFLAGS]
    long_mode = bool(cpu.msr.values[M.IA32_EFER] & M.EFER_LMA)
    if not cpu._cr0 & C.CR0_PE:
        _iret_real(cpu, size)
        return
    if flags & F.VM:
        _iret_v86(cpu, size)
        return
    if flags & F.NT:
        if long_mode:
            raise _gp(0, "IRET with NT=1 in IA-32e mode")
        raise FaultSignal(NotModeled("IRET task return (NT=1)"))
    began64 = cpu._long64()
    new_ip = cpu._pop(size)
    new_cs = cpu._pop(size) & 0xFFFF
    temp_flags = cpu._pop(size)
    if not long_mode and temp_flags & F.VM and cpu.cpl == 0 and size == 4:
        raise FaultSignal(NotModeled("IRET to virtual-8086 mode"))
    rpl = new_cs & 3
    if new_cs & 0xFFFC == 0:
        raise _gp(0, "IRET to a null CS")
    d = cpu._descriptor(new_cs, 0)
    code = new_cs & 0xFFFC
    if not d.is_code:
        raise _gp(code, "IRET: CS is not a code segment")
    if rpl < cpu.cpl:
        raise _gp(code, f"IRET: CS.RPL {rpl} below CPL {cpu.cpl}")
    if (d.conforming and d.dpl > rpl) or (not d.conforming and d.dpl != rpl):
        raise _gp(code, "IRET: CS DPL does not fit its RPL")
    if long_mode and d.l and d.db:
        raise _gp(code, "IRET: CS has L=1 and D=1")
    if not d.present:
        raise FaultSignal(Fault(NP, code, None, "IRET: CS not present"))
    to64 = long_mode and d.l
    outer = rpl > cpu.cpl
    new_sp = new_ss = None
    if began64 or outer:
        new_sp = cpu._pop(size)
        new_ss = cpu._pop(size) & 0xFFFF
    ss_cache = None
    if new_ss is not None and (outer or began64):
        ss_cache = _iret_check_ss(cpu, new_ss, rpl, to64)
    if to64:
        if not _is_canonical(new_ip):
            raise _gp(0, f"IRET to non-canonical RIP {new_ip:#x}")
    elif new_ip & mask > d.byte_limit:
        raise _gp(0, "IRET: EIP beyond the CS limit")
    # Commit.
    old_cpl = cpu.cpl
    keep = F.CF | F.PF | F.AF | F.ZF | F.SF | F.TF | F.DF | F.OF | F.NT
    if size >= 4:
        keep |= F.RF | F.AC | F.ID
    if old_cpl <= F.iopl(flags):
        keep |= F.IF
    if old_cpl == 0:
        keep |= F.IOPL
        if size >= 4:
            keep |= F.VIF | F.VIP
    if size == 2:
        keep &= 0xFFFF
    r[RFLAGS] = (flags & ~keep) | (temp_flags & keep) | F.FIXED1
    cpu.sel[CS] = new_cs
    cpu.cache[CS] = cache_from_descriptor(d, accessed=True)
    cpu.cpl = rpl
    r[RIP] = new_ip if to64 else new_ip & mask
    if new_ss is not None:
        cpu.sel[SS_REG] = new_ss
        cpu.cache[SS_REG] = ss_cache
        r[RSP] = new_sp if (to64 or size == 8) else new_sp & mask
    if outer:
        for seg in (ES, DS, FS, GS):
            c = cpu.cache[seg]
            if c.usable and (c.is_data or not c.conforming) and c.dpl < rpl:
                cpu.sel[seg] = 0
                cpu.cache[seg] = attrs.evolve(NULL_CACHE, base=c.base) if seg >= FS else NULL_CACHE


def _iret_check_ss(cpu: CPU, selector: int, rpl: int, to64: bool) -> DescriptorCache:
    """IRET's checks on the popped SS (SDM Vol. 2A IRET, RETURN-TO-OUTER/SAME-PRIVILEGE)."""
    if selector & 0xFFFC == 0:
        if to64 and rpl < 3 and selector & 3 == rpl:
            return attrs.evolve(NULL_CACHE, dpl=rpl)
        raise _gp(0, "IRET: null SS")
    code = selector & 0xFFFC
    d = cpu._descriptor(selector, 0)
    if selector & 3 != rpl or not d.writable or d.dpl != rpl:
        raise _gp(code, "IRET: SS is not writable data at the new CPL")
    if not d.present:
        raise FaultSignal(Fault(SS, code, None, "IRET: SS not present"))
    return cache_from_descriptor(d, accessed=True)


def _iret_v86(cpu: CPU, size: int) -> None:
    """IRET in virtual-8086 mode: #GP(0) unless IOPL = 3 (SDM Vol. 2A IRET, VIRTUAL-8086-MODE).

    With IOPL 3 it pops (E)IP, CS and (E)FLAGS and stays in virtual-8086 mode;
    VM, IOPL, VIP and VIF are not changed by the popped image.
    """
    r = cpu.r
    if F.iopl(r[RFLAGS]) != 3:
        raise _gp(0, "IRET in virtual-8086 mode with IOPL < 3")
    ip = cpu._pop(size)
    cs = cpu._pop(size) & 0xFFFF
    fl = cpu._pop(size)
    keep = F.VM | F.IOPL | F.VIP | F.VIF
    if size == 2:
        new = (r[RFLAGS] & ~0xFFFF) | (fl & 0xFFFF)
        new = (new & ~F.IOPL) | (r[RFLAGS] & F.IOPL)
    else:
        new = (fl & ~keep) | (r[RFLAGS] & keep)
    r[RFLAGS] = (new & ~F.RESERVED) | F.FIXED1
    cpu.set_segment("cs", cs)
    r[RIP] = ip & _SIZE_MASK[size]


def _iret_real(cpu: CPU, size: int) -> None:
    """IRET in real mode: pop IP, CS and FLAGS (SDM Vol. 2A IRET, REAL-ADDRESS-MODE)."""
    ip = cpu._pop(size)
    cs = cpu._pop(size) & 0xFFFF
    fl = cpu._pop(size)
    r = cpu.r
    if size == 2:
        r[RFLAGS] = (r[RFLAGS] & ~0xFFFF) | (fl & 0xFFFF & ~0x8028) | F.FIXED1
    else:
        r[RFLAGS] = ((fl & 0x257FD5) | (r[RFLAGS] & 0x1A0000)) | F.FIXED1
    cpu.set_segment("cs", cs)
    r[RIP] = ip & _SIZE_MASK[size]


# ---------------------------------------------------------------- system instructions


@handler("swapgs")
def _swapgs(cpu: CPU, ins: Instruction, start: int) -> None:
    """SWAPGS: #UD outside 64-bit mode, #GP(0) at CPL > 0 (SDM Vol. 2B SWAPGS)."""
    msrs = cpu.msr.values
    if not (msrs[M.IA32_EFER] & M.EFER_LMA and cpu.cache[CS].l):
        raise _ud("SWAPGS outside 64-bit mode")
    if cpu.cpl:
        cpu._require_cpl0("SWAPGS")
    kernel = msrs[M.IA32_KERNEL_GS_BASE]
    gs = cpu.cache[GS]
    msrs[M.IA32_KERNEL_GS_BASE] = gs.base
    cpu.cache[GS] = gs.with_base(kernel)


@handler("rdmsr")
def _rdmsr(cpu: CPU, ins: Instruction, start: int) -> None:
    """RDMSR: #GP(0) at CPL > 0 or for an MSR that does not exist (SDM Vol. 2B RDMSR)."""
    cpu._require_cpl0("RDMSR")
    r = cpu.r
    value = cpu.read_msr(r[RCX] & _M32)
    if isinstance(value, Fault):
        raise FaultSignal(value)
    r[RAX] = value & _M32
    r[RDX] = value >> 32


@handler("wrmsr")
def _wrmsr(cpu: CPU, ins: Instruction, start: int) -> None:
    """WRMSR: #GP(0) at CPL > 0 and for every refusal of the MSR file (SDM Vol. 2B WRMSR)."""
    cpu._require_cpl0("WRMSR")
    r = cpu.r
    fault = cpu.write_msr(r[RCX] & _M32, (r[RDX] & _M32) << 32 | (r[RAX] & _M32))
    if fault is not None:
        raise FaultSignal(fault)


@handler("lgdt", "lidt")
def _lgdt(cpu: CPU, ins: Instruction, start: int) -> None:
    """LGDT/LIDT: #GP(0) at CPL > 0; a 6-byte (10 in 64-bit mode) pseudo-descriptor.

    SDM Vol. 2A LGDT/LIDT: with a 16-bit operand only 24 bits of the base are
    used; in 64-bit mode the base is 8 bytes and must be canonical.
    """
    if cpu._cr0 & C.CR0_PE:
        cpu._require_cpl0(ins.mnemonic.upper())
    (m,) = ins.operands
    wide = cpu._long64()
    size = 10 if wide else 6
    linear, stack = cpu._linear(m, size, False)
    raw = cpu._read_bytes(linear, size, READ, stack=stack)
    limit = int.from_bytes(raw[:2], "little")
    base = int.from_bytes(raw[2:], "little")
    if wide and not _is_canonical(base):
        raise _gp(0, f"{ins.mnemonic.upper()} with a non-canonical base {base:#x}")
    if not wide and ins.op_size == 2:
        base &= 0xFF_FFFF
    value = TableRegister(base=base, limit=limit)
    if ins.mnemonic == "lgdt":
        cpu.gdtr = value
    else:
        cpu.idtr = value


@handler("rdtsc", "rdtscp")
def _rdtsc(cpu: CPU, ins: Instruction, start: int) -> None:
    """RDTSC/RDTSCP: EDX:EAX = TSC (RDTSCP also ECX = IA32_TSC_AUX); #GP(0) when CR4.TSD=1
    at CPL > 0 in protected mode (SDM Vol. 2B RDTSC, RDTSCP)."""
    if cpu._cr4 & C.CR4_TSD and cpu.cpl != 0 and cpu._cr0 & C.CR0_PE:
        raise _gp(0, f"{ins.mnemonic.upper()} with CR4.TSD=1 at CPL {cpu.cpl}")
    r = cpu.r
    tsc = cpu.read_tsc()
    r[RAX] = tsc & _M32
    r[RDX] = tsc >> 32
    if ins.mnemonic == "rdtscp":
        r[RCX] = cpu.msr.values[M.IA32_TSC_AUX] & _M32


# Descriptor types LSL accepts besides code and data (SDM Vol. 2A LSL, Table 3-xx
# "Segment and Gate Types Checked by the LSL Instruction").
_LSL_SYSTEM_LEGACY = frozenset({0x1, 0x2, 0x3, 0x9, 0xB})
_LSL_SYSTEM_IA32E = frozenset({0x2, 0x9, 0xB})


@handler("lsl")
def _lsl(cpu: CPU, ins: Instruction, start: int) -> None:
    """LSL: the byte-granular limit of the segment a selector names, with ZF=1, or ZF=0 when
    the selector is null, past the table, of a type LSL refuses, or not visible at CPL/RPL
    (SDM Vol. 2A LSL). The getcpu of 3.16's vDSO reads the per-CPU segment this way."""
    if not cpu._cr0 & C.CR0_PE or cpu.r[RFLAGS] & F.VM:
        raise _ud("LSL outside protected mode")
    dst, src = ins.operands
    selector = cpu._get(src, 2) & 0xFFFF
    r = cpu.r
    ok = False
    limit = 0
    if selector & 0xFFFC:
        base, table_limit = (
            (cpu.ldtr[1].base, cpu.ldtr[1].limit)
            if selector & 4
            else (cpu.gdtr.base, cpu.gdtr.limit)
        )
        usable = not (selector & 4) or cpu.ldtr[1].usable
        if usable and (selector & 0xFFF8) + 7 <= table_limit:
            raw = cpu._read_bytes(
                (base + (selector & 0xFFF8)) & cpu._linear_mask(), 8, READ, implicit=True
            )
            d = SegmentDescriptor.decode(raw)
            if d.s:
                visible = d.conforming or (d.dpl >= cpu.cpl and d.dpl >= selector & 3)
                ok = visible
            else:
                types = _LSL_SYSTEM_IA32E if cpu.long_mode_active else _LSL_SYSTEM_LEGACY
                ok = d.type in types and d.dpl >= cpu.cpl and d.dpl >= selector & 3
            limit = d.byte_limit
    if ok:
        cpu._put(dst, limit, dst.size)
        r[RFLAGS] |= F.ZF
    else:
        r[RFLAGS] &= ~F.ZF


@handler("ltr", rollback=True)
def _ltr(cpu: CPU, ins: Instruction, start: int) -> None:
    """LTR (SDM Vol. 2A LTR): load TR from an available TSS descriptor and mark it busy."""
    if not cpu._cr0 & C.CR0_PE or cpu.r[RFLAGS] & F.VM:
        raise _ud("LTR outside protected mode")
    cpu._require_cpl0("LTR")
    selector = cpu._get(ins.operands[0], 2) & 0xFFFF
    if selector & 0xFFFC == 0:
        raise _gp(0, "LTR with a null selector")
    code = selector & 0xFFFC
    if selector & 4:
        raise _gp(code, "LTR with a selector in the LDT")
    long_mode = bool(cpu.msr.values[M.IA32_EFER] & M.EFER_LMA)
    entry = 16 if long_mode else 8
    off = selector & 0xFFF8
    if off + entry - 1 > cpu.gdtr.limit:
        raise _gp(code, "LTR: selector beyond the GDT limit")
    address = (cpu.gdtr.base + off) & cpu._linear_mask()
    raw = int.from_bytes(cpu._read_bytes(address, entry, READ, implicit=True), "little")
    access = (raw >> 40) & 0xFF
    type_ = access & 0xF
    allowed = (0x9,) if long_mode else (0x1, 0x9)
    if access & 0x10 or type_ not in allowed:
        raise _gp(code, f"LTR: descriptor type {type_:#x} is not an available TSS")
    if long_mode and (raw >> 104) & 0x1F:
        raise _gp(code, "LTR: upper half of the 16-byte descriptor has a type")
    if not access & 0x80:
        raise FaultSignal(Fault(NP, code, None, "LTR: TSS not present"))
    d = SegmentDescriptor.from_raw(raw & _M64)
    base = d.base | (((raw >> 64) & _M32) << 32 if long_mode else 0)
    if long_mode and not _is_canonical(base):
        raise _gp(code, "LTR: TSS base not canonical")
    cpu._write_bytes(address + 5, bytes([access | 0x2]), implicit=True)
    cpu.tr = (
        selector,
        DescriptorCache(
            base=base,
            limit=d.byte_limit,
            type=type_ | 0x2,
            s=False,
            dpl=d.dpl,
            present=True,
            g=d.g,
            avl=d.avl,
        ),
    )
