"""The cost model: relative units for each step of a trace. A model, not a measurement.

Each hardware transition is charged by the instruction the CPU executed (SYSCALL, SYSRET,
SYSENTER, SYSEXIT, INT n, IRET, an exception delivered through the IDT), each step of the
entry routine by what it does (saving pt_regs, the table call, the handler, ...), and, as a
"what if" overlay, the CR3 switches that page-table isolation adds at every entry and exit
(a Linux 4.15+ feature: the 3.16 kernel ringsim models has none). The units were calibrated
on published round trips; docs/cost-model.md cites them and says what the model cannot say.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from simulator.cpu.execute import DELIVERY_SECTION
from simulator.trace import CPU, KERNEL, Event, Trace

#: Shown wherever an estimate is: in ``render()``, ``to_dict()`` and the HTML.
LABEL = "a model, not a measurement"

#: The name and version of ``CostEstimate.to_dict``'s layout.
SCHEMA = "ringsim-cost/1"


# ---------------------------------------------------------------------------- the sources


@attrs.frozen
class Figure:
    """A published figure the model was calibrated on or checked against.

    ``checked`` says how it was read: at its primary source, at a mirror of it, or only
    as quoted by someone else (weaker; said so).
    """

    key: str
    source: str
    setting: str
    figure: str
    url: str
    use: str
    checked: str


FIGURES: tuple[Figure, ...] = (
    Figure(
        key="kml",
        source="Toshiyuki Maeda, 'Kernel Mode Linux', Linux Journal article 6516 (2003), table 2",
        setting="Linux using SYSENTER (the CPU is not named in the table)",
        figure="getpid 432 cycles (12 in Kernel Mode Linux, with no ring change)",
        url="https://www.linuxjournal.com/article/6516",
        use="the absolute scale: an i386 SYSENTER getpid round trip is 43 units",
        checked="table read at a mirror: https://linuxjournal.cn/files/linuxjournal.com/"
        "linuxjournal/articles/065/6516/6516t2.html",
    ),
    Figure(
        key="gnu-mach",
        source="Justus Winter, bug-hurd mailing list, 'sysenter is twice as fast as a trap gate'",
        setting="GNU Mach on i386, 2**28 calls each",
        figure="mach_print: trap gate 171.2 ns, SYSENTER 76.7 ns (x2.23); "
        "mach_msg: 167.0 ns vs 74.7 ns (x2.24)",
        url="https://go.mail-archive.com/bug-hurd@gnu.org/msg26749.html",
        use="the ratio: an INT 0x80 round trip costs about 2.2 SYSENTER round trips",
        checked="primary (the list archive)",
    ),
    Figure(
        key="dillon",
        source="Matthew Dillon, DragonFly kernel list, July 2003 (quoted in Bill Huey's reply)",
        setting="1 GHz Pentium III",
        figure="SYSENTER 'about twice as fast as a trap gate'; INT 0x80 'about 100ns to get in "
        "and 100ns to get out'",
        url="https://lists.dragonflybsd.org/pipermail/kernel/2003-July/320590.html",
        use="a second source for the ratio; its absolute figure is far below the model's",
        checked="primary (the list archive; Dillon's words as quoted in the thread)",
    ),
    Figure(
        key="lutomirski",
        source="Andy Lutomirski, commit 4214a16b0297 'x86/asm/entry/64/compat: Use SYSRETL to "
        "return from compat mode SYSENTER' (2015)",
        setting="Intel, 64-bit kernel, returning to a 32-bit process",
        figure="the SYSRETL exit is '30 cycles or so faster' than the SYSEXIT one; avoiding "
        "POPFQ and STI accounts for 'under half of that'",
        url="https://github.com/torvalds/linux/commit/4214a16b02971c60960afd675d03544e109e0d75",
        use="SYSEXIT is charged 2 units (about 20 cycles) more than SYSRET",
        checked="commit message read at mirrors (git.lede-project.org, "
        "gerrit-public.fairphone.software)",
    ),
    Figure(
        key="uarch-bench",
        source="Travis Downs, travisdowns/uarch-bench issue #34 (comment of 2018-08-16)",
        setting="Skylake, Linux of 2018, all cycles counted (UNHALTED_CORE_CYCLES); whether "
        "PTI was on is not stated",
        figure="SYSCALL to a nonexistent number 632 cycles; getuid 693 cycles; "
        "41 of them in user mode",
        url="https://github.com/travisdowns/uarch-bench/issues/34",
        use="a check: SYSCALL getpid with the PTI overlay lands at 63 units (~630 cycles); "
        "693 - 632 prices a trivial handler and its table call (6 units)",
        checked="primary (the issue thread)",
    ),
    Figure(
        key="pti",
        source="Linux Documentation/arch/x86/pti.rst, 'Runtime Cost'",
        setting="x86_64 kernels with page-table isolation",
        figure="'Moves to CR3 are on the order of a hundred cycles, and are required at "
        "every entry and exit'",
        url="https://github.com/torvalds/linux/blob/master/Documentation/arch/x86/pti.rst",
        use="the PTI overlay: 10 units per CR3 switch, one at each entry and each exit",
        checked="primary (the kernel tree)",
    ),
    Figure(
        key="lwn-2002",
        source="LWN, 'How to speed up system calls' (December 2002)",
        setting="Linux 2.5.53: the vsyscall page chooses SYSENTER over int $0x80",
        figure="'sysenter is quite a bit faster on modern Pentium processors' (no number)",
        url="https://lwn.net/Articles/18411/",
        use="history: why Linux moved off INT 0x80",
        checked="primary",
    ),
    Figure(
        key="p4",
        source="Andries Brouwer, 'The Linux kernel', section 4.6 (2003), as quoted on "
        "Reverse Engineering Stack Exchange",
        setting="2 GHz Pentium 4 vs 850 MHz Pentium III",
        figure="the P4 'much slower' on some tasks, from 'the very large overhead of the "
        "traditional int 0x80 interrupt' (no number)",
        url="https://reverseengineering.stackexchange.com/questions/16702",
        use="history only; not used for any unit",
        checked="quoted only: the original notes were not read",
    ),
)


# ---------------------------------------------------------------------------- the model


def _units(_instance: object, attribute: attrs.Attribute, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{attribute.name}: expected an int number of units >= 0, received "
            f"{type(value).__name__} {value!r}"
        )
    if value < 0:
        raise ValueError(f"{attribute.name}: expected units >= 0, received {value}")


def _positive(_instance: object, attribute: attrs.Attribute, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{attribute.name}: expected an int > 0, received {type(value).__name__} {value!r}"
        )
    if value <= 0:
        raise ValueError(f"{attribute.name}: expected an int > 0, received {value}")


@attrs.frozen
class Calibration:
    """How units map to cycles, and on what that rests."""

    cycles_per_unit: int = attrs.field(default=10, validator=_positive)
    basis: str = (
        "an i386 SYSENTER getpid round trip = 43 units ~ the 432 cycles of Kernel Mode Linux's "
        "table 2 (Linux Journal 6516, 2003); INT 0x80 / SYSENTER ~ 2.2 (GNU Mach, bug-hurd); "
        "SYSEXIT - SYSRET = 2 units (Lutomirski); a CR3 switch = 10 units (pti.rst)"
    )
    doc: str = "docs/cost-model.md"

    def cycles(self, units: int) -> int:
        """``units`` in model cycles (a scale, not a prediction for any one CPU)."""
        return units * self.cycles_per_unit


@attrs.frozen
class Charge:
    """One row of the unit table."""

    name: str
    units: int
    covers: str
    why: str


def _unit(default: int) -> Any:
    return attrs.field(default=default, validator=_units)


@attrs.frozen(kw_only=True)
class CostModel:
    """The units charged for each kind of step; ``DEFAULT`` is the calibrated one.

    ``attrs.evolve(DEFAULT, sysexit=13)`` makes a variant to ask "what if".
    """

    # Hardware transitions, by the instruction the CPU executed.
    syscall: int = _unit(13)
    sysret: int = _unit(13)
    sysenter: int = _unit(13)
    sysexit: int = _unit(15)
    int_gate: int = _unit(42)
    iret: int = _unit(38)
    exception: int = _unit(42)
    swapgs: int = _unit(1)
    instruction: int = _unit(0)
    # The entry routine's software steps, by what they do.
    save_regs: int = _unit(3)
    restore_regs: int = _unit(3)
    build_frame: int = _unit(2)
    dispatch: int = _unit(2)
    handler: int = _unit(4)
    kernel_step: int = _unit(1)
    other: int = _unit(0)
    # The "what if" overlay: page-table isolation (Linux 4.15+, not 3.16).
    pti_cr3: int = _unit(10)
    calibration: Calibration = attrs.field(factory=Calibration)

    @calibration.validator
    def _check_calibration(self, attribute: attrs.Attribute, value: object) -> None:
        if not isinstance(value, Calibration):
            raise TypeError(
                f"calibration: expected a Calibration, received {type(value).__name__} {value!r}"
            )

    def charges(self) -> tuple[Charge, ...]:
        """Every kind of step with its units, what it covers and why it costs that."""
        return tuple(Charge(name, getattr(self, name), *WHY[name]) for name in CHARGE_NAMES)


#: What each charge covers (shown on every step it is charged to), and why it costs what it
#: does (the unit table; the sources are in FIGURES and docs/cost-model.md).
WHY: dict[str, tuple[str, str]] = {
    "syscall": (
        "SYSCALL",
        "target, selectors and flag mask come from MSRs: no descriptor read, no memory touched",
    ),
    "sysret": ("SYSRET", "RIP from RCX, RFLAGS from R11, fixed selectors, nothing popped"),
    "sysenter": (
        "SYSENTER",
        "like SYSCALL, from the IA32_SYSENTER MSRs; it saves nothing, so software builds the frame",
    ),
    "sysexit": (
        "SYSEXIT",
        "2 units over SYSRET: Lutomirski found the SYSRETL exit ~30 cycles faster, under half "
        "of it from POPFQ and STI",
    ),
    "int_gate": (
        "INT n through an IDT gate",
        "reads the gate and the code descriptor, checks DPL, takes SS0:ESP0 from the TSS, "
        "switches stacks and pushes SS, ESP, EFLAGS, CS, EIP",
    ),
    "iret": (
        "IRET",
        "pops EIP, CS, EFLAGS, ESP, SS and checks both selectors and their descriptors",
    ),
    "exception": (
        "an exception delivered through the IDT",
        "the same gate walk and stack switch as INT n",
    ),
    "swapgs": ("SWAPGS", "swaps the GS base with IA32_KERNEL_GS_BASE"),
    "instruction": (
        "an ordinary instruction",
        "about a cycle (call, push, mov, sti, ...): under the model's resolution",
    ),
    "save_regs": (
        "saving pt_regs",
        "SAVE_ALL, SAVE_ARGS, SAVE_REST: a dozen stores, and on i386 segment-register loads",
    ),
    "restore_regs": (
        "restoring pt_regs",
        "RESTORE_REGS, RESTORE_ARGS, RESTORE_REST: the loads that undo the save",
    ),
    "build_frame": (
        "building the frame SYSENTER did not push",
        "user SS, ESP, EFLAGS, CS and the return address: what INT's microcode pushes",
    ),
    "dispatch": (
        "the call through the syscall table",
        "an indirect call; with a trivial handler, uarch-bench's getuid - nonexistent = 61 cycles",
    ),
    "handler": (
        "the handler's body, priced as a trivial one",
        "sys_*, compat_sys_*, once per entry: the model does not price what a handler does",
    ),
    "kernel_step": ("a step of kernel code", "a check, a move, a store: a few instructions"),
    "other": (
        "a record, not work",
        "a fault's record, a user-level note, a step not modeled: a fault's delivery is "
        "charged on the CPU step that delivered it",
    ),
    "pti_cr3": (
        "what if PTI: a MOV to CR3",
        "page-table isolation (Linux 4.15+, not 3.16) switches CR3 at every entry and exit; "
        "pti.rst: 'on the order of a hundred cycles'",
    ),
}

#: The charges in table order.
CHARGE_NAMES: tuple[str, ...] = tuple(WHY)

#: The calibrated model.
DEFAULT = CostModel()

# Which charge an executed instruction gets, by its mnemonic as the trace shows it.
_INSTRUCTIONS: dict[str, str] = {
    "syscall": "syscall",
    "sysret": "sysret",
    "sysretq": "sysret",
    "sysretl": "sysret",
    "sysenter": "sysenter",
    "sysexit": "sysexit",
    "sysexitq": "sysexit",
    "int": "int_gate",
    "int1": "int_gate",
    "int3": "int_gate",
    "into": "int_gate",
    "iret": "iret",
    "iretw": "iret",
    "iretd": "iret",
    "iretq": "iret",
    "swapgs": "swapgs",
}
_SAVES = ("SAVE_ALL", "SAVE_ARGS", "SAVE_REST")
_TABLES = ("sys_call_table", "ia32_sys_call_table")
_HANDLER = re.compile(r"(sys|SyS|compat_sys)_\w+")
_PTI_ENTRY = "SWITCH_TO_KERNEL_CR3 (what if: PTI, Linux 4.15+; Linux 3.16 has none)"
_PTI_EXIT = "SWITCH_TO_USER_CR3 (what if: PTI, Linux 4.15+; Linux 3.16 has none)"


# ---------------------------------------------------------------------------- the estimate


@attrs.frozen
class StepCost:
    """What one step of the trace was charged.

    ``step`` is the trace's step number (1-based) and ``ring`` the step's ring; a PTI row
    carries the number of the transition it goes with, at ring 0 (the kernel switches CR3
    right after entering and right before leaving). ``charge`` names the ``CostModel``
    field charged.
    """

    step: int
    ring: int
    where: str
    what: str
    charge: str
    units: int
    why: str


@attrs.frozen
class CostEstimate:
    """A trace's cost in the model's units: per step, in total, and in model cycles."""

    steps: tuple[StepCost, ...]
    total: int
    pti: bool
    calibration: Calibration
    entries: int
    exits: int

    label = LABEL

    @property
    def cycles(self) -> int:
        """The total in model cycles: a scale, not a measurement."""
        return self.calibration.cycles(self.total)

    def units_of(self, charge: str) -> int:
        """The units charged under one ``CostModel`` field, summed over the steps."""
        if charge not in WHY:
            raise ValueError(
                f"charge: expected one of {', '.join(CHARGE_NAMES)}, received {charge!r}"
            )
        return sum(s.units for s in self.steps if s.charge == charge)

    def summary(self) -> str:
        """One line: the total, in units and model cycles, and the PTI overlay."""
        pti = (
            f"; PTI what-if on: +{self.units_of('pti_cr3')} units for "
            f"{self.entries + self.exits} CR3 switches"
            if self.pti
            else ""
        )
        return (
            f"{self.total} units ~ {self.cycles} model cycles "
            f"({self.calibration.cycles_per_unit} cycles a unit){pti}"
        )

    def render(self) -> str:
        """The estimate as text; the first line says what it is."""
        lines = [f"Cost estimate: {LABEL} (relative units; {self.calibration.doc})"]
        lines.append(f"{'step':>4}  ring  {'units':>5}  {'what':<24}  why")
        for s in self.steps:
            lines.append(f"{s.step:>4}  {s.ring:>4}  {s.units:>5}  {_name(s):<24}  {s.why}")
        lines.append(f"total: {self.summary()}")
        lines.append(f"calibration: {self.calibration.basis}")
        if self.pti:
            lines.append(
                "PTI is a what-if overlay: Linux 3.16 (2014) predates page-table isolation "
                "(Linux 4.15, 2018); the CR3 switches are added, nothing else changes."
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()

    def to_dict(self) -> dict[str, Any]:
        """The estimate as JSON-ready data; ``label`` comes first."""
        return {
            "label": LABEL,
            "schema": SCHEMA,
            "pti": self.pti,
            "total_units": self.total,
            "model_cycles": self.cycles,
            "entries": self.entries,
            "exits": self.exits,
            "calibration": {
                "cycles_per_unit": self.calibration.cycles_per_unit,
                "basis": self.calibration.basis,
                "doc": self.calibration.doc,
            },
            "steps": [
                {
                    "step": s.step,
                    "ring": s.ring,
                    "where": s.where,
                    "what": s.what,
                    "charge": s.charge,
                    "units": s.units,
                    "why": s.why,
                }
                for s in self.steps
            ],
        }

    def to_html(self) -> str:
        """The estimate as an HTML table for notebooks, captioned with the label; escaped."""
        from html import escape

        rows = "".join(
            f"<tr><td>{s.step}</td><td>{s.ring}</td><td>{s.units}</td>"
            f"<td><code>{escape(_name(s))}</code></td>"
            f"<td>{escape(s.where)}</td><td>{escape(s.why)}</td></tr>"
            for s in self.steps
        )
        head = (
            "<tr><th>step</th><th>ring</th><th>units</th><th>what</th><th>where</th>"
            "<th>why</th></tr>"
        )
        caption = f"Cost estimate: {escape(LABEL)}. Total: {escape(self.summary())}"
        foot = f"<p>calibration: {escape(self.calibration.basis)}</p>"
        return f'<table class="ringsim-cost"><caption>{caption}</caption>{head}{rows}</table>{foot}'

    def _repr_html_(self) -> str:
        return self.to_html()


def _name(s: StepCost) -> str:
    """An instruction as the trace shows it; a kernel step by its symbol."""
    if s.charge == "pti_cr3":
        return s.where.split(" (", 1)[0]
    return s.what if s.where.startswith(("Intel SDM", "AMD APM")) else s.where.split(" (", 1)[0]


def estimate(trace: Trace, *, pti: bool = False, model: CostModel = DEFAULT) -> CostEstimate:
    """What ``trace`` costs in ``model``'s units, with PTI's CR3 switches if ``pti``.

    ``trace`` is a ``SyscallResult.trace`` (``Process.syscall(..., trace=True)``) or a
    ``RunResult.trace``. Deterministic: the same trace, the same estimate.
    """
    _check_trace(trace)
    if not isinstance(pti, bool):
        raise TypeError(f"pti: expected a bool, received {type(pti).__name__} {pti!r}")
    if not isinstance(model, CostModel):
        raise TypeError(
            f"model: expected a CostModel (simulator.cost.DEFAULT or a variant of it), "
            f"received {type(model).__name__} {model!r:.60}"
        )
    steps: list[StepCost] = []
    entries = exits = 0
    handled = False  # one handler body per entry into the kernel
    for number, event in enumerate(trace, 1):
        if event.kind == CPU:
            charge, detail = _instruction(event)
            crossing = _crossing(event)
            if crossing == "exit":
                exits += 1
                if pti:
                    steps.append(_pti_row(model, number, _PTI_EXIT, event))
            steps.append(_row(model, number, event, charge, detail))
            if crossing == "entry":
                entries += 1
                handled = False
                if pti:
                    steps.append(_pti_row(model, number, _PTI_ENTRY, event))
        elif event.kind == KERNEL:
            charge = _kernel_step(event, handled)
            handled = handled or charge == "handler"
            steps.append(_row(model, number, event, charge, ""))
        else:
            steps.append(_row(model, number, event, "other", f" (a {event.kind} event)"))
    return CostEstimate(
        steps=tuple(steps),
        total=sum(s.units for s in steps),
        pti=pti,
        calibration=model.calibration,
        entries=entries,
        exits=exits,
    )


def _check_trace(trace: object) -> None:
    if isinstance(trace, Trace):
        if len(trace) == 0:
            raise ValueError(
                "trace: expected a Trace with at least one event, received an empty one"
            )
        return
    if trace is None:
        raise TypeError(
            "trace: expected a Trace (SyscallResult.trace), received None: "
            "make the call with trace=True"
        )
    if isinstance(getattr(trace, "trace", None), Trace):
        raise TypeError(
            f"trace: expected a Trace, received a {type(trace).__name__}: pass its .trace"
        )
    raise TypeError(f"trace: expected a Trace, received {type(trace).__name__} {trace!r:.60}")


def _row(model: CostModel, number: int, event: Event, charge: str, detail: str) -> StepCost:
    return StepCost(
        step=number,
        ring=event.ring,
        where=event.where,
        what=event.what,
        charge=charge,
        units=getattr(model, charge),
        why=WHY[charge][0] + detail,
    )


def _pti_row(model: CostModel, number: int, where: str, event: Event) -> StepCost:
    return StepCost(
        step=number,
        ring=0,
        where=where,
        what=f"mov cr3 (around {event.what})",
        charge="pti_cr3",
        units=model.pti_cr3,
        why=WHY["pti_cr3"][0] + " (Linux 4.15+, not 3.16)",
    )


def _cpl(event: Event) -> tuple[int, int] | None:
    for name, before, after in event.changes:
        if name == "cpl":
            return before, after
    return None


def _crossing(event: Event) -> str | None:
    """'entry' for a step from ring 3 into ring 0, 'exit' for one back out, else None."""
    cpl = _cpl(event)
    if cpl is None or cpl[0] == cpl[1]:
        return None
    return "entry" if cpl[1] < cpl[0] else "exit"


def _instruction(event: Event) -> tuple[str, str]:
    cpl = _cpl(event)
    rings = f" (ring {cpl[0]} -> {cpl[1]})" if cpl and cpl[0] != cpl[1] else ""
    if event.where == DELIVERY_SECTION:
        return "exception", rings
    mnemonic = event.what.split(" ", 1)[0].lower()
    charge = _INSTRUCTIONS.get(mnemonic, "instruction")
    if charge in ("int_gate", "iret") and not rings:
        rings = " (same ring: charged as the ring-crossing one)"
    return charge, rings


def _kernel_step(event: Event, handled: bool) -> str:
    text = f"{event.where} {event.what}"
    symbol = event.where.split(" (", 1)[0]
    if any(save in text for save in _SAVES):
        return "save_regs"
    if "RESTORE_" in text:
        return "restore_regs"
    if symbol in _TABLES:
        return "dispatch"
    if not handled and _HANDLER.fullmatch(symbol):
        return "handler"
    if "sysenter_return" in text and "push" in text:
        return "build_frame"
    return "kernel_step"
