"""Segment registers: the visible selector and the hidden descriptor cache."""

from __future__ import annotations

import attrs

from simulator.cpu._validate import check_bool, check_int, check_range
from simulator.cpu.descriptors import SegmentDescriptor

# Segment register numbers as instructions encode them (the "Sreg" field,
# Intel SDM Vol. 2A §3.1.1.3, Table 3-1 footnote / Vol. 2B MOV: ES=0, CS=1,
# SS=2, DS=3, FS=4, GS=5).
ES, CS, SS, DS, FS, GS = range(6)
SREG_NAMES: tuple[str, ...] = ("es", "cs", "ss", "ds", "fs", "gs")
SREG_INDEX: dict[str, int] = {name: i for i, name in enumerate(SREG_NAMES)}

# Code- and data-segment type bits, SDM Vol. 3A §3.4.5.1 Table 3-1.
TYPE_ACCESSED = 1
TYPE_WRITABLE = 2  # data
TYPE_READABLE = 2  # code
TYPE_EXPAND_DOWN = 4  # data
TYPE_CONFORMING = 4  # code
TYPE_CODE = 8


def sreg_index(name: str) -> int:
    """The number of segment register ``name`` (``cs``...), or ValueError."""
    if not isinstance(name, str):
        raise TypeError(
            f"segment: expected one of {', '.join(SREG_NAMES)}, received "
            f"{type(name).__name__} {name!r}"
        )
    try:
        return SREG_INDEX[name.lower()]
    except KeyError:
        raise ValueError(
            f"segment: expected one of {', '.join(SREG_NAMES)}, received {name!r}"
        ) from None


def _u64(value: int) -> int:
    return check_int("base", value, 64)


_WITH_BASE: dict[tuple[int, int], tuple[DescriptorCache, DescriptorCache]] = {}


@attrs.frozen
class DescriptorCache:
    """The hidden part of a segment register (SDM Vol. 3A §3.4.3).

    ``limit`` is in bytes after G scaling (a flat segment's is 0xFFFFFFFF).
    ``usable`` is false for a null selector's cache (the "unusable" bit of
    VMX's access rights): a null SS in 64-bit mode, or a null data segment.
    """

    base: int = attrs.field(default=0, converter=_u64)
    limit: int = attrs.field(default=0, converter=lambda v: check_int("limit", v, 32))
    type: int = attrs.field(default=0, converter=lambda v: check_range("type", v, 0, 15))
    s: bool = attrs.field(default=True, converter=lambda v: check_bool("s", v))
    dpl: int = attrs.field(default=0, converter=lambda v: check_range("dpl", v, 0, 3))
    present: bool = attrs.field(default=True, converter=lambda v: check_bool("present", v))
    l: bool = attrs.field(default=False, converter=lambda v: check_bool("l", v))  # noqa: E741
    db: bool = attrs.field(default=False, converter=lambda v: check_bool("db", v))
    g: bool = attrs.field(default=False, converter=lambda v: check_bool("g", v))
    avl: bool = attrs.field(default=False, converter=lambda v: check_bool("avl", v))
    usable: bool = attrs.field(default=True, converter=lambda v: check_bool("usable", v))

    def with_base(self, base: int) -> DescriptorCache:
        """The same cache with another base (SWAPGS, WRMSR to FS/GS_BASE, a GS reload).

        SWAPGS runs twice on every 64-bit system call and flips between the same two
        caches, so recent results are kept (by the identity of the cache they came from):
        values are immutable, so sharing them is safe."""
        key = (id(self), base)
        hit = _WITH_BASE.get(key)
        if hit is not None and hit[0] is self:
            return hit[1]
        new = attrs.evolve(self, base=base)
        if len(_WITH_BASE) >= 64:
            _WITH_BASE.clear()
        _WITH_BASE[key] = (self, new)
        _WITH_BASE[(id(new), self.base)] = (new, self)  # and the way back
        return new

    @property
    def is_code(self) -> bool:
        return self.s and bool(self.type & TYPE_CODE)

    @property
    def is_data(self) -> bool:
        return self.s and not self.type & TYPE_CODE

    @property
    def writable(self) -> bool:
        return self.is_data and bool(self.type & TYPE_WRITABLE)

    @property
    def readable(self) -> bool:
        return self.is_data or bool(self.type & TYPE_READABLE)

    @property
    def conforming(self) -> bool:
        return self.is_code and bool(self.type & TYPE_CONFORMING)

    def describe(self) -> str:
        """A one-line summary as a trace shows it."""
        if not self.usable:
            return "unusable (null)"
        kind = "code" if self.is_code else "data" if self.s else f"system type {self.type:#x}"
        bits = "64-bit" if self.l else "32-bit" if self.db else "16-bit"
        return (
            f"{kind} {bits} dpl={self.dpl} base={self.base:#x} limit={self.limit:#x} "
            f"type={self.type:#x}{'' if self.present else ' not-present'}"
        )


NULL_CACHE = DescriptorCache(present=False, usable=False)

# The fixed caches that SYSCALL, SYSRET, SYSENTER and SYSEXIT load without
# reading the GDT (SDM Vol. 2B SYSCALL/SYSENTER/SYSRET/SYSEXIT "Operation"):
# base 0, limit FFFFFH with G=1, S=1, P=1; code type 11 (execute/read,
# accessed), stack type 3 (read/write, accessed) with B=1.
_FLAT = {"base": 0, "limit": 0xFFFF_FFFF, "s": True, "present": True, "g": True}
FLAT_CODE64_RING0 = DescriptorCache(type=11, dpl=0, l=True, db=False, **_FLAT)
FLAT_CODE32_RING0 = DescriptorCache(type=11, dpl=0, l=False, db=True, **_FLAT)
FLAT_STACK_RING0 = DescriptorCache(type=3, dpl=0, db=True, **_FLAT)
FLAT_CODE64_RING3 = DescriptorCache(type=11, dpl=3, l=True, db=False, **_FLAT)
FLAT_CODE32_RING3 = DescriptorCache(type=11, dpl=3, l=False, db=True, **_FLAT)
FLAT_STACK_RING3 = DescriptorCache(type=3, dpl=3, db=True, **_FLAT)


def real_mode_cache(selector: int, *, code: bool = False, dpl: int = 0) -> DescriptorCache:
    """The cache real mode and virtual-8086 mode load: base = selector × 16, limit 0xFFFF.

    SDM Vol. 3A §20.1.1 (real mode) and §20.2.1 (virtual-8086 mode, where
    segments have DPL 3). Code is execute/read accessed (type 11), data
    read/write accessed (type 3), 16-bit.
    """
    selector = check_int("selector", selector, 16)
    return DescriptorCache(
        base=selector << 4,
        limit=0xFFFF,
        type=11 if code else 3,
        dpl=check_range("dpl", dpl, 0, 3),
        s=True,
        present=True,
    )


def cache_from_descriptor(d: SegmentDescriptor, *, accessed: bool = False) -> DescriptorCache:
    """The cache a descriptor loads; ``accessed`` sets the type's accessed bit.

    A load sets the accessed bit of a code or data descriptor (SDM Vol. 3A
    §3.4.5.1), so the cache holds the type with that bit set.
    """
    type_ = d.type | TYPE_ACCESSED if accessed and d.s else d.type
    return DescriptorCache(
        base=d.base,
        limit=d.byte_limit,
        type=type_,
        s=d.s,
        dpl=d.dpl,
        present=d.present,
        l=d.l,
        db=d.db,
        g=d.g,
        avl=d.avl,
    )
