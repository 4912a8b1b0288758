"""The CPU's architectural state: registers, segments, CPL, control registers, MSRs, memory."""

from __future__ import annotations

from itertools import compress
from operator import ne
from typing import Any

import attrs

from simulator.cpu import control as C
from simulator.cpu import flags as F
from simulator.cpu import msr as M
from simulator.cpu._validate import check_choice, check_int, check_range
from simulator.cpu.descriptors import (
    SegmentDescriptor,
    TableRegister,
    is_null_selector,
    selector_error_code,
    selector_index,
    selector_rpl,
    selector_ti,
)
from simulator.cpu.faults import GP, NP, PF, SS, Fault, FaultSignal, NotModeled
from simulator.cpu.memory import (
    ACCESS_NAMES,
    FETCH,
    PAGE_MASK,
    PAGE_SHIFT,
    PAGE_SIZE,
    READ,
    WRITE,
    AddressSpace,
    page_fault_error_code,
)
from simulator.cpu.registers import FULL_NAMES, RFLAGS, RIP, Registers, view
from simulator.cpu.segments import (
    CS,
    FS,
    GS,
    NULL_CACHE,
    SREG_NAMES,
    DescriptorCache,
    cache_from_descriptor,
    real_mode_cache,
    sreg_index,
)
from simulator.cpu.segments import SS as SS_REG
from simulator.cpu.vendor import VENDORS, Vendor

_CANON_BIAS = 1 << 47
_MASK64 = (1 << 64) - 1
_KIND = {"read": READ, "write": WRITE, "fetch": FETCH}


# The #PF tables of _rebuild_permissions, per (WP, SMEP, SMAP, NXE, PAE): a pure function
# of those five bits, shared by every CPU (never mutated).
_PERM_TABLES: dict[tuple[bool, ...], tuple[tuple[int, ...], ...]] = {}


@attrs.frozen
class Change:
    """One difference between two snapshots: a name and its two values."""

    name: str
    before: Any
    after: Any

    def __str__(self) -> str:
        def show(v: Any) -> str:
            return f"{v:#x}" if isinstance(v, int) and not isinstance(v, bool) else str(v)

        return f"{self.name}: {show(self.before)} -> {show(self.after)}"


@attrs.frozen
class Snapshot:
    """The whole CPU state at one moment, frozen and comparable.

    Taking one copies flat tuples; names are attached only when someone reads
    them (:meth:`reg`, :meth:`diff`). Memory is not part of it: address spaces
    have their own snapshots (:meth:`AddressSpace.snapshot`).
    """

    regs: tuple[int, ...]
    selectors: tuple[int, ...]
    caches: tuple[DescriptorCache, ...]
    cpl: int
    crs: tuple[int, int, int, int]  # cr0, cr2, cr3, cr4
    msrs: tuple[tuple[int, int], ...]
    gdtr: TableRegister
    idtr: TableRegister
    ldtr: tuple[int, DescriptorCache]
    tr: tuple[int, DescriptorCache]

    def reg(self, name: str) -> int:
        """A register or register part by name (``eax``, ``r8w``, ``rflags``)."""
        v = view(name)
        return (self.regs[v.index] >> v.shift) & ((1 << v.width) - 1)

    def segment(self, name: str) -> tuple[int, DescriptorCache]:
        """A segment register's selector and cache."""
        i = sreg_index(name)
        return self.selectors[i], self.caches[i]

    def msr(self, name_or_number: str | int) -> int:
        number = M.msr_number(name_or_number)
        if number == M.IA32_FS_BASE:
            return self.caches[FS].base
        if number == M.IA32_GS_BASE:
            return self.caches[GS].base
        return dict(self.msrs)[number]

    @property
    def mode(self) -> str:
        return _mode(self.crs[0], self.regs[RFLAGS], dict(self.msrs)[M.IA32_EFER], self.caches[CS])

    def named(self) -> dict[str, Any]:
        """Every field by its name, in a fixed order."""
        out: dict[str, Any] = dict(zip(FULL_NAMES, self.regs, strict=True))
        for i, name in enumerate(SREG_NAMES):
            out[name] = self.selectors[i]
            out[f"{name}.cache"] = self.caches[i]
        out["cpl"] = self.cpl
        for n, value in zip(("cr0", "cr2", "cr3", "cr4"), self.crs, strict=True):
            out[n] = value
        for number, value in self.msrs:
            out[M.NAMES[number]] = value
        out["gdtr"] = self.gdtr
        out["idtr"] = self.idtr
        out["ldtr"] = self.ldtr[0]
        out["ldtr.cache"] = self.ldtr[1]
        out["tr"] = self.tr[0]
        out["tr.cache"] = self.tr[1]
        return out

    def _repr_html_(self) -> str:
        """For notebooks: mode and CPL, the registers, the segment registers with their
        hidden caches, the control registers and the MSRs, as tables."""
        from html import escape

        def table(title: str, rows: list[tuple[str, str]]) -> str:
            cells = "".join(
                f"<tr><td>{escape(n)}</td><td><code>{escape(v)}</code></td></tr>" for n, v in rows
            )
            return (
                f'<table class="ringsim-cpu"><tr><th colspan="2">{title}</th></tr>{cells}</table>'
            )

        regs = [(n, f"{v:#x}") for n, v in zip(FULL_NAMES, self.regs, strict=True)]
        segs = [
            (name, f"{self.selectors[i]:#06x}  {self.caches[i].describe()}")
            for i, name in enumerate(SREG_NAMES)
        ]
        segs += [
            ("ldtr", f"{self.ldtr[0]:#06x}  {self.ldtr[1].describe()}"),
            ("tr", f"{self.tr[0]:#06x}  {self.tr[1].describe()}"),
            ("gdtr", f"base {self.gdtr.base:#x} limit {self.gdtr.limit:#x}"),
            ("idtr", f"base {self.idtr.base:#x} limit {self.idtr.limit:#x}"),
        ]
        crs = [(n, f"{v:#x}") for n, v in zip(("cr0", "cr2", "cr3", "cr4"), self.crs, strict=True)]
        msrs = [(f"{M.NAMES[n]} ({n:#x})", f"{v:#x}") for n, v in self.msrs]
        head = f"<p><b>CPU: {escape(self.mode)}, CPL {self.cpl}</b></p>"
        tables = (
            table(t, r)
            for t, r in (
                ("registers", regs),
                ("segments", segs),
                ("control registers", crs),
                ("MSRs", msrs),
            )
        )
        return (
            head + '<div style="display:flex;gap:1em;flex-wrap:wrap">' + "".join(tables) + "</div>"
        )

    def diff(self, later: Snapshot) -> tuple[Change, ...]:
        """What changed from this snapshot to ``later``, in a fixed order (``named()``'s).

        Compares the flat tuples first and names only what differs: a step changes a few
        registers, and a trace diffs every step."""
        return tuple(Change(name, a, b) for name, a, b in self.diff_items(later))

    def diff_items(self, later: Snapshot, *, hidden: bool = True) -> list[tuple[str, Any, Any]]:
        """``diff`` as plain (name, before, after) tuples (what a trace event stores).

        With ``hidden`` false, RIP (which every step changes) and the hidden descriptor
        caches are left out, as a trace's CPU step shows them."""
        out: list[tuple[str, Any, Any]] = []
        if self.regs != later.regs:
            out += register_changes(self.regs, later.regs, rip=hidden)
        if self.selectors != later.selectors or (hidden and self.caches != later.caches):
            for i, name in enumerate(SREG_NAMES):
                if self.selectors[i] != later.selectors[i]:
                    out.append((name, self.selectors[i], later.selectors[i]))
                if hidden and self.caches[i] != later.caches[i]:
                    out.append((f"{name}.cache", self.caches[i], later.caches[i]))
        if self.cpl != later.cpl:
            out.append(("cpl", self.cpl, later.cpl))
        if self.crs != later.crs:
            for name, a, b in zip(("cr0", "cr2", "cr3", "cr4"), self.crs, later.crs, strict=True):
                if a != b:
                    out.append((name, a, b))
        if self.msrs != later.msrs:
            a_msrs, b_msrs = dict(self.msrs), dict(later.msrs)
            for number in a_msrs:
                if a_msrs[number] != b_msrs[number]:
                    out.append((M.NAMES[number], a_msrs[number], b_msrs[number]))
        if (
            self.gdtr is not later.gdtr
            or self.idtr is not later.idtr
            or self.ldtr is not later.ldtr
            or self.tr is not later.tr
        ):
            for name, a, b in (
                ("gdtr", self.gdtr, later.gdtr),
                ("idtr", self.idtr, later.idtr),
                ("ldtr", self.ldtr[0], later.ldtr[0]),
                ("ldtr.cache", self.ldtr[1], later.ldtr[1]),
                ("tr", self.tr[0], later.tr[0]),
                ("tr.cache", self.tr[1], later.tr[1]),
            ):
                if (hidden or not name.endswith(".cache")) and a is not b and a != b:
                    out.append((name, a, b))
        return out

    def diff_slow(self, later: Snapshot) -> tuple[Change, ...]:
        """``diff`` by comparing every named field (the definition; tests check the two
        agree)."""
        a, b = self.named(), later.named()
        return tuple(Change(k, a[k], b[k]) for k in a if a[k] != b[k])


def visible_changes(before: tuple, after: tuple) -> list[tuple[str, Any, Any]]:
    """(name, before, after) for what differs between two ``CPUState.visible_state``
    tuples, named and ordered as ``Snapshot.diff_items(hidden=False)`` names them after the
    registers: selectors, CPL, control registers, MSRs, GDTR, IDTR, LDTR, TR."""
    if before == after:
        return []
    out: list[tuple[str, Any, Any]] = []
    a, b = before[0], after[0]
    if a != b:  # the indexes that differ, found in C (map and compress), then named
        out += [(SREG_NAMES[i], a[i], b[i]) for i in compress(_SIX, map(ne, a, b))]
    if before[1] != after[1]:
        out.append(("cpl", before[1], after[1]))
    a, b = before[2], after[2]
    if a != b:
        out += [(_CR_NAMES[i], a[i], b[i]) for i in compress(_FOUR, map(ne, a, b))]
    a, b = before[4], after[4]
    if a is not b and a != b:
        keys = before[3]
        if keys is after[3] or keys == after[3]:  # the same MSRs in one order: by index
            out += [
                (M.NAMES[keys[i]], a[i], b[i]) for i in compress(range(len(keys)), map(ne, a, b))
            ]
        else:
            later = dict(zip(after[3], b, strict=True))
            out += [
                (M.NAMES[n], v, later[n]) for n, v in zip(keys, a, strict=True) if v != later[n]
            ]
    if before[5:] != after[5:]:
        for name, a, b in zip(_TABLE_NAMES, before[5:], after[5:], strict=True):
            if a is not b and a != b:
                out.append((name, a, b))
    return out


_SIX = range(6)
_FOUR = range(4)
_CR_NAMES = ("cr0", "cr2", "cr3", "cr4")
_TABLE_NAMES = ("gdtr", "idtr", "ldtr", "tr")


def register_changes(
    before: tuple[int, ...], after: tuple[int, ...], *, rip: bool = False
) -> list[tuple[str, int, int]]:
    """(name, before, after) for each general register, RIP (when ``rip``) and RFLAGS that
    differs between two ``Snapshot.regs`` tuples, in register order."""
    # The indexes that differ, found in C (map and compress), then named.
    return [
        (FULL_NAMES[i], before[i], after[i])
        for i in compress(range(len(before)), map(ne, before, after))
        if rip or i != RIP
    ]


def _mode(cr0: int, rflags: int, efer: int, cs: DescriptorCache) -> str:
    if not cr0 & C.CR0_PE:
        return C.REAL
    if efer & M.EFER_LMA:
        return C.LONG64 if cs.l else C.COMPATIBILITY
    if rflags & F.VM:
        return C.VIRTUAL_8086
    return C.PROTECTED


class CPUState:
    """One x86 logical processor's state, with checked access to its memory.

    Registers are named at the interface (``cpu.regs.read("eax")``); the hot
    path indexes ``cpu.r`` with the constants of :mod:`simulator.cpu.registers`.
    An architectural refusal comes back as a :class:`Fault` value; misuse of
    the Python API raises ValueError or TypeError.
    """

    __slots__ = (
        "_cr0",
        "_cr4",
        "_msr_items",
        "_perm",
        "cache",
        "cpl",
        "cr2",
        "cr3",
        "gdtr",
        "idtr",
        "ldtr",
        "msr",
        "physical",
        "r",
        "regs",
        "sel",
        "space",
        "spaces",
        "tr",
        "vendor",
    )

    def __init__(self, vendor: str | Vendor = "intel") -> None:
        if isinstance(vendor, str):
            vendor = VENDORS[check_choice("vendor", vendor, tuple(VENDORS))]
        elif not isinstance(vendor, Vendor):
            raise TypeError(f"vendor: expected 'intel', 'amd' or a Vendor, received {vendor!r}")
        self.vendor: Vendor = vendor
        self.regs = Registers()
        self.r = self.regs.r
        self.sel: list[int] = [0] * 6
        # Power-up state is real mode; SDM Vol. 3A §10.1.1 Table 10-1 gives
        # CS F000 with base FFFF0000; ringsim starts every segment at 0 and
        # lets the loader set what it needs.
        self.cache: list[DescriptorCache] = [real_mode_cache(0, code=(i == CS)) for i in range(6)]
        self.cpl = 0
        self._cr0 = 0
        self.cr2 = 0
        self.cr3 = 0
        self._cr4 = 0
        self.msr = M.MSRFile(vendor.msr_rules)
        self.gdtr = TableRegister(base=0, limit=0xFFFF)
        self.idtr = TableRegister(base=0, limit=0xFFFF)
        self.ldtr: tuple[int, DescriptorCache] = (0, NULL_CACHE)
        self.tr: tuple[int, DescriptorCache] = (0, NULL_CACHE)
        self.physical = AddressSpace("physical memory")
        self.spaces: dict[int, AddressSpace] = {}
        self.space = AddressSpace("no address space at this CR3")
        self._perm: tuple[tuple[int, ...], ...] = ()
        # The last MSR tuples made (_msr_view), reused while the values stay the same: (the
        # values dict, its values, the (number, value) pairs, its numbers). The dict keeps
        # its keys: MSRFile never adds or removes one, and restore() puts in a new dict.
        self._msr_items: tuple[object, tuple, tuple, tuple] | None = None
        self._rebuild_permissions()

    # ------------------------------------------------------------------ modes

    @property
    def mode(self) -> str:
        """real, protected, virtual-8086, compatibility or 64-bit (SDM Vol. 3A §2.2)."""
        return _mode(self._cr0, self.r[RFLAGS], self.msr.values[M.IA32_EFER], self.cache[CS])

    @property
    def efer(self) -> int:
        return self.msr.values[M.IA32_EFER]

    @efer.setter
    def efer(self, value: int) -> None:
        """Load EFER directly (LMA included), as a test fixture or a VM entry would."""
        value = check_int("efer", value, 64)
        if value & ~self.vendor.msr_rules.efer_defined:
            raise ValueError(
                f"efer: expected only defined bits {self.vendor.msr_rules.efer_defined:#x}, "
                f"received {value:#x}"
            )
        self.msr.values[M.IA32_EFER] = value
        self._rebuild_permissions()

    @property
    def long_mode_active(self) -> bool:
        return bool(self.msr.values[M.IA32_EFER] & M.EFER_LMA)

    @property
    def cr0(self) -> int:
        return self._cr0

    @cr0.setter
    def cr0(self, value: int) -> None:
        self._cr0 = check_int("cr0", value, 64)
        self._rebuild_permissions()

    @property
    def cr4(self) -> int:
        return self._cr4

    @cr4.setter
    def cr4(self, value: int) -> None:
        self._cr4 = check_int("cr4", value, 64)
        self._rebuild_permissions()

    def set_cr3(self, value: int) -> None:
        """Load CR3, selecting the address space registered for it (an empty one if none)."""
        self.cr3 = check_int("cr3", value, 64)
        self.space = self.spaces.get(self.cr3) or AddressSpace(
            f"no address space registered for CR3 {self.cr3:#x}"
        )

    def add_address_space(self, cr3: int, space: AddressSpace) -> None:
        """Register ``space`` as the one CR3 value ``cr3`` selects."""
        cr3 = check_int("cr3", cr3, 64)
        if not isinstance(space, AddressSpace):
            raise TypeError(f"space: expected an AddressSpace, received {space!r}")
        self.spaces[cr3] = space
        if cr3 == self.cr3:
            self.space = space

    # -------------------------------------------------------------- segments

    def segment(self, name: str) -> tuple[int, DescriptorCache]:
        """The selector and descriptor cache of segment register ``name``."""
        i = sreg_index(name)
        return self.sel[i], self.cache[i]

    def set_segment(
        self, name: str, selector: int, cache: DescriptorCache | None = None
    ) -> Fault | None:
        """Load a segment register without privilege checks (a loader's or a test's load).

        With ``cache`` given, it is installed as is; otherwise the descriptor
        is read from the GDT/LDT (or, in real and virtual-8086 mode, made from
        the selector). Setting CS also sets CPL to the selector's RPL (0 in
        real mode, 3 in virtual-8086 mode). A descriptor that cannot be read
        comes back as the fault the read raised.
        """
        i = sreg_index(name)
        selector = check_int("selector", selector, 16)
        if cache is None:
            mode = self.mode
            if mode in (C.REAL, C.VIRTUAL_8086):
                cache = real_mode_cache(selector, code=(i == CS), dpl=3 if mode != C.REAL else 0)
            elif is_null_selector(selector):
                cache = NULL_CACHE
            else:
                got = self._read_descriptor(selector)
                if isinstance(got, Fault):
                    return got
                cache = cache_from_descriptor(got[0])
        elif not isinstance(cache, DescriptorCache):
            raise TypeError(f"cache: expected a DescriptorCache, received {cache!r}")
        self.sel[i] = selector
        self.cache[i] = cache
        if i == CS:
            mode = self.mode
            self.cpl = 0 if mode == C.REAL else 3 if mode == C.VIRTUAL_8086 else selector & 3
        return None

    def load_segment(self, name: str, selector: int) -> Fault | None:
        """Load DS, ES, FS, GS or SS as MOV and POP do, with every check of the SDM.

        SDM Vol. 2B MOV "Operation" and "Protected Mode Exceptions": for SS a
        null selector is #GP(0) (allowed in 64-bit mode at CPL < 3 when RPL =
        CPL), a selector outside the table, RPL ≠ CPL, a segment that is not
        writable data or DPL ≠ CPL is #GP(selector), and not present is
        #SS(selector); for DS/ES/FS/GS a null selector loads an unusable
        segment, outside the table or not data/readable code or (data or
        non-conforming code with RPL > DPL or CPL > DPL) is #GP(selector), and
        not present is #NP(selector). The accessed bit is set in the
        descriptor (§3.4.5.1). CS cannot be loaded this way (MOV to CS is #UD).
        """
        i = sreg_index(name)
        if i == CS:
            raise ValueError(
                "name: expected ds, es, fs, gs or ss (MOV cannot load CS), received 'cs'"
            )
        selector = check_int("selector", selector, 16)
        mode = self.mode
        if mode in (C.REAL, C.VIRTUAL_8086):
            return self.set_segment(name, selector)
        cpl = self.cpl
        rpl = selector_rpl(selector)
        err = selector_error_code(selector)
        if is_null_selector(selector):
            if i != SS_REG:
                self.sel[i] = selector
                self.cache[i] = NULL_CACHE
                return None
            if mode == C.LONG64 and cpl < 3 and rpl == cpl:
                self.sel[i] = selector
                self.cache[i] = NULL_CACHE
                return None
            return Fault(GP, 0, None, "MOV SS with a null selector")
        got = self._read_descriptor(selector)
        if isinstance(got, Fault):
            return got
        d, address = got
        if i == SS_REG:
            writable_data = d.s and not d.type & 8 and d.type & 2
            if rpl != cpl or not writable_data or d.dpl != cpl:
                return Fault(
                    GP,
                    err,
                    None,
                    f"MOV SS: needs RPL = DPL = CPL {cpl} and writable data "
                    f"(RPL {rpl}, DPL {d.dpl}, type {d.type:#x}, S={int(d.s)})",
                )
            if not d.present:
                return Fault(SS, err, None, "MOV SS: segment not present")
        else:
            code = d.s and bool(d.type & 8)
            if not d.s or (code and not d.type & 2):
                return Fault(GP, err, None, "not a data or readable code segment")
            conforming_code = code and bool(d.type & 4)
            if not conforming_code and (rpl > d.dpl or cpl > d.dpl):
                return Fault(
                    GP, err, None, f"RPL {rpl} or CPL {cpl} above the descriptor's DPL {d.dpl}"
                )
            if not d.present:
                return Fault(NP, err, None, "segment not present")
        fault = self._set_accessed(d, address)
        if fault is not None:
            return fault
        self.sel[i] = selector
        self.cache[i] = cache_from_descriptor(d, accessed=True)
        return None

    def _read_descriptor(self, selector: int) -> tuple[SegmentDescriptor, int] | Fault:
        """The 8-byte descriptor ``selector`` names, and its linear address."""
        err = selector_error_code(selector)
        if selector_ti(selector):
            ldt = self.ldtr[1]
            if not ldt.usable:
                return Fault(GP, err, None, "selector names the LDT but LDTR is null")
            base, limit = ldt.base, ldt.limit
        else:
            base, limit = self.gdtr.base, self.gdtr.limit
        offset = selector_index(selector) * 8
        if offset + 7 > limit:
            table = "LDT" if selector_ti(selector) else "GDT"
            return Fault(
                GP, err, None, f"selector {selector:#x} lies beyond the {table} limit {limit:#x}"
            )
        address = (base + offset) & self._linear_mask()
        try:
            raw = self._read_bytes(address, 8, READ, implicit=True)
        except FaultSignal as signal:
            return signal.fault  # type: ignore[return-value]
        return SegmentDescriptor.decode(raw), address

    def _set_accessed(self, d: SegmentDescriptor, address: int) -> Fault | None:
        if d.type & 1:
            return None
        try:
            byte = self._read_bytes(address + 5, 1, READ, implicit=True)[0]
            self._write_bytes(address + 5, bytes([byte | 1]), implicit=True)
        except FaultSignal as signal:
            return signal.fault  # type: ignore[return-value]
        return None

    def _check_linear(self, address: int) -> int:
        """A linear address for the current mode: 64 bits in IA-32e mode, else 32."""
        return check_int("address", address, 64 if self.long_mode_active else 32)

    def _linear_mask(self) -> int:
        return _MASK64 if self.long_mode_active else 0xFFFF_FFFF

    # ------------------------------------------------------------------- MSRs

    def read_msr(self, name_or_number: str | int) -> int | Fault:
        """An MSR's value, or #GP(0) for one that does not exist (RDMSR's refusal)."""
        number = M.msr_number(name_or_number)
        if number == M.IA32_FS_BASE:
            return self.cache[FS].base
        if number == M.IA32_GS_BASE:
            return self.cache[GS].base
        if number not in self.msr.values:
            return Fault(GP, 0, None, f"RDMSR of an MSR that does not exist here: {number:#x}")
        return self.msr.values[number]

    def write_msr(self, name_or_number: str | int, value: int) -> Fault | None:
        """Write an MSR as WRMSR does once its CPL check has passed.

        Refusals are #GP(0) values (SDM Vol. 2B WRMSR): an MSR that does not
        exist, a non-canonical address for FS_BASE, GS_BASE, KERNEL_GS_BASE,
        LSTAR, SYSENTER_EIP or SYSENTER_ESP, a reserved EFER bit, or EFER.LME
        changing while CR0.PG=1. Nothing changes when a write is refused.
        """
        number = M.msr_number(name_or_number)
        value = check_int("value", value, 64)
        result = self.msr.check_write(number, value, paging=bool(self._cr0 & C.CR0_PG))
        if isinstance(result, Fault):
            return result
        if number in (M.IA32_FS_BASE, M.IA32_GS_BASE):
            i = FS if number == M.IA32_FS_BASE else GS
            self.cache[i] = attrs.evolve(self.cache[i], base=result)
            return None
        self.msr.values[number] = result
        if number == M.IA32_EFER:
            self._rebuild_permissions()
        return None

    # ----------------------------------------------------------------- memory

    def _rebuild_permissions(self) -> None:
        """Precompute, for the current CR0/CR4/EFER, the #PF error code of every access.

        ``_perm[k]`` maps a page's rights (0..15) to -1 (allowed) or the error
        code; k = kind*4 + user_mode*2 + AC for explicit accesses and 12 + kind
        for implicit supervisor accesses. The rule itself is
        :func:`~simulator.cpu.memory.page_fault_error_code`.
        """
        key = (
            bool(self._cr0 & C.CR0_WP),
            bool(self._cr4 & C.CR4_SMEP),
            bool(self._cr4 & C.CR4_SMAP),
            bool(self.msr.values[M.IA32_EFER] & M.EFER_NXE),
            bool(self._cr4 & C.CR4_PAE),
        )
        cached = _PERM_TABLES.get(key)
        if cached is not None:
            self._perm = cached
            return
        ctx = dict(zip(("wp", "smep", "smap", "nxe", "pae"), key, strict=True))
        tables: list[tuple[int, ...]] = []
        for kind in (READ, WRITE, FETCH):
            for user_mode in (False, True):
                for ac in (False, True):
                    tables.append(self._perm_table(kind, user_mode, False, ac, ctx))
        for kind in (READ, WRITE, FETCH):
            tables.append(self._perm_table(kind, False, True, False, ctx))
        self._perm = _PERM_TABLES[key] = tuple(tables)

    @staticmethod
    def _perm_table(
        kind: int, user_mode: bool, implicit: bool, ac: bool, ctx: dict[str, bool]
    ) -> tuple[int, ...]:
        out = []
        for flags in range(16):
            e = page_fault_error_code(
                flags, kind, user_mode=user_mode, implicit=implicit, ac=ac, **ctx
            )
            out.append(-1 if e is None else e)
        return tuple(out)

    def _perm_index(self, kind: int, implicit: bool) -> int:
        if implicit:
            return 12 + kind
        return kind * 4 + (2 if self.cpl == 3 else 0) + ((self.r[RFLAGS] >> 18) & 1)

    def _page_for(self, address: int, kind: int, implicit: bool, stack: bool) -> bytearray:
        """The bytes of the page holding ``address`` after every check (raises FaultSignal)."""
        if not self._cr0 & C.CR0_PG:
            page = self.physical.pages.get(address >> PAGE_SHIFT)
            if page is None:
                raise FaultSignal(
                    NotModeled(
                        f"{ACCESS_NAMES[kind]} of physical address {address:#x}, "
                        "which no memory backs"
                    )
                )
            return page.data
        page = self.space.lookup(address >> PAGE_SHIFT)
        error = self._perm[self._perm_index(kind, implicit)][page.flags if page else 0]
        if error >= 0:
            self.cr2 = address
            raise FaultSignal(Fault(PF, error, address, f"{ACCESS_NAMES[kind]} refused by paging"))
        return page.data  # type: ignore[union-attr]

    def _check_canonical(self, address: int, size: int, stack: bool) -> None:
        if self.msr.values[M.IA32_EFER] & M.EFER_LMA:
            last = (address + size - 1) & _MASK64
            if ((address + _CANON_BIAS) & _MASK64) >> 48 or ((last + _CANON_BIAS) & _MASK64) >> 48:
                vector = SS if stack else GP
                raise FaultSignal(Fault(vector, 0, None, f"non-canonical address {address:#x}"))

    def _read_bytes(
        self, address: int, size: int, kind: int, *, implicit: bool = False, stack: bool = False
    ) -> bytes:
        off = address & PAGE_MASK
        if off + size <= PAGE_SIZE and self._cr0 & C.CR0_PG:
            # One page, paging on: the checks of _check_canonical and _page_for, inlined.
            if self.msr.values[M.IA32_EFER] & M.EFER_LMA and (
                ((address + _CANON_BIAS) & _MASK64) >> 48
                or ((address + size - 1 + _CANON_BIAS) & _MASK64) >> 48
            ):
                self._check_canonical(address, size, stack)  # raises #GP or #SS
            page = self.space.lookup(address >> PAGE_SHIFT)
            if implicit:
                index = 12 + kind
            else:
                index = kind * 4 + (2 if self.cpl == 3 else 0) + ((self.r[RFLAGS] >> 18) & 1)
            if page is None or self._perm[index][page.flags] >= 0:
                self._page_for(address, kind, implicit, stack)  # raises the #PF
            return bytes(page.data[off : off + size])  # type: ignore[union-attr]
        self._check_canonical(address, size, stack)
        if off + size <= PAGE_SIZE:
            data = self._page_for(address, kind, implicit, stack)
            return bytes(data[off : off + size])
        first = PAGE_SIZE - off
        a = self._page_for(address, kind, implicit, stack)
        b = self._page_for((address + first) & self._linear_mask(), kind, implicit, stack)
        return bytes(a[off:]) + bytes(b[: size - first])

    def _write_bytes(
        self, address: int, data: bytes, *, implicit: bool = False, stack: bool = False
    ) -> None:
        size = len(data)
        off = address & PAGE_MASK
        if off + size <= PAGE_SIZE and self._cr0 & C.CR0_PG:
            # One page, paging on: the checks of _check_canonical, _page_for and
            # _code_written, inlined.
            if self.msr.values[M.IA32_EFER] & M.EFER_LMA and (
                ((address + _CANON_BIAS) & _MASK64) >> 48
                or ((address + size - 1 + _CANON_BIAS) & _MASK64) >> 48
            ):
                self._check_canonical(address, size, stack)  # raises #GP or #SS
            vpn = address >> PAGE_SHIFT
            space = self.space
            shared = space.shared
            owner = shared if shared is not None and vpn >= space.split_vpn else space
            page = owner.pages.get(vpn)
            if implicit:
                index = 12 + WRITE
            else:
                index = WRITE * 4 + (2 if self.cpl == 3 else 0) + ((self.r[RFLAGS] >> 18) & 1)
            if page is None or self._perm[index][page.flags] >= 0:
                self._page_for(address, WRITE, implicit, stack)  # raises the #PF
            page.data[off : off + size] = data  # type: ignore[union-attr]
            code = owner.code_vpns
            if code and (vpn in code or (vpn - 1) in code):
                owner.code_changed(vpn)
            return
        self._check_canonical(address, size, stack)
        if off + size <= PAGE_SIZE:
            self._page_for(address, WRITE, implicit, stack)[off : off + size] = data
            self._code_written(address)
            return
        first = PAGE_SIZE - off
        # Check both pages before writing either: a refused access writes nothing.
        second = (address + first) & self._linear_mask()
        a = self._page_for(address, WRITE, implicit, stack)
        b = self._page_for(second, WRITE, implicit, stack)
        a[off:] = data[:first]
        b[: size - first] = data[first:]
        self._code_written(address)
        self._code_written(second)

    def _code_written(self, address: int) -> None:
        """Drop decoded instructions of a page that was just written."""
        space = self.space if self._cr0 & C.CR0_PG else self.physical
        owner = space.code_space(address >> PAGE_SHIFT)
        if owner.code_vpns:
            owner.code_changed(address >> PAGE_SHIFT)

    def read(
        self,
        address: int,
        size: int,
        *,
        kind: str = "read",
        implicit: bool = False,
        stack: bool = False,
    ) -> bytes | Fault | NotModeled:
        """Read ``size`` bytes at a linear address with every architectural check.

        Returns the bytes, or the fault: #GP(0) (#SS(0) for a stack reference)
        for a non-canonical address in IA-32e mode, #PF with its error code
        (CR2 is set) when paging refuses. ``kind`` is read or fetch; an
        ``implicit`` access is the CPU's own (GDT, LDT, IDT, TSS), a
        supervisor-mode access at any CPL. Outside IA-32e mode linear
        addresses have 32 bits (a wider one is a ValueError) and an access
        that runs past 0xFFFFFFFF wraps to 0.
        """
        address = self._check_linear(address)
        size = check_range("size", size, 1, PAGE_SIZE)
        k = _KIND[check_choice("kind", kind, ("read", "fetch"))]
        try:
            return self._read_bytes(address, size, k, implicit=implicit, stack=stack)
        except FaultSignal as signal:
            return signal.fault

    def write(
        self, address: int, data: bytes, *, implicit: bool = False, stack: bool = False
    ) -> Fault | NotModeled | None:
        """Write bytes at a linear address with every architectural check (None on success)."""
        address = self._check_linear(address)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data: expected bytes, received {type(data).__name__}")
        check_range("len(data)", len(data), 1, PAGE_SIZE)
        try:
            self._write_bytes(address, bytes(data), implicit=implicit, stack=stack)
        except FaultSignal as signal:
            return signal.fault
        return None

    # -------------------------------------------------------------- snapshots

    def _msr_view(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[tuple[int, int], ...]]:
        """The MSRs as (numbers, values, (number, value) pairs); the numbers and the pairs
        are the last ones made while no MSR changed (the numbers while the dict is the
        same one)."""
        values = self.msr.values
        current = tuple(values.values())
        last = self._msr_items
        if last is not None and last[0] is values:
            if last[1] == current:
                return last[3], last[1], last[2]
            keys = last[3]
        else:
            keys = tuple(values)
        pairs = tuple(values.items())
        self._msr_items = (values, current, pairs, keys)
        return keys, current, pairs

    def snapshot(self) -> Snapshot:
        """The whole CPU state as a frozen, comparable value (cheap: flat copies; the MSR
        pairs are shared with the last snapshot while no MSR has changed)."""
        return Snapshot(
            tuple(self.r),
            tuple(self.sel),
            tuple(self.cache),
            self.cpl,
            (self._cr0, self.cr2, self.cr3, self._cr4),
            self._msr_view()[2],
            self.gdtr,
            self.idtr,
            self.ldtr,
            self.tr,
        )

    def visible_state(self) -> tuple:
        """What a trace's CPU step shows of the CPU besides the registers, as one flat tuple:
        selectors, CPL, control registers, MSR numbers and values, GDTR, IDTR, and the
        LDTR and TR selectors (the hidden caches left out). :func:`visible_changes` diffs two."""
        keys, values, _ = self._msr_view()
        return (
            tuple(self.sel),
            self.cpl,
            (self._cr0, self.cr2, self.cr3, self._cr4),
            keys,
            values,
            self.gdtr,
            self.idtr,
            self.ldtr[0],
            self.tr[0],
        )

    def restore(self, snap: Snapshot) -> None:
        """Put the CPU back in the state ``snap`` recorded."""
        if not isinstance(snap, Snapshot):
            raise TypeError(f"snap: expected a Snapshot, received {type(snap).__name__}")
        self.r[:] = snap.regs
        self.sel[:] = snap.selectors
        self.cache[:] = snap.caches
        self.cpl = snap.cpl
        self._cr0, self.cr2, cr3, self._cr4 = snap.crs
        self.msr.values = dict(snap.msrs)
        self.gdtr, self.idtr, self.ldtr, self.tr = snap.gdtr, snap.idtr, snap.ldtr, snap.tr
        self.set_cr3(cr3)
        self._rebuild_permissions()
