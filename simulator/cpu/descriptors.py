"""GDT, IDT and TSS structures with their exact byte encodings (Intel SDM Vol. 3A ch. 3, 6, 7)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import attrs

from simulator.cpu._validate import check_bool, check_choice, check_int, check_range

__all__ = [
    "CODE_DATA_TYPES",
    "ERROR_CODE_EXT",
    "ERROR_CODE_IDT",
    "ERROR_CODE_TI",
    "GATE32_TYPES",
    "GATE64_TYPES",
    "SYSTEM_DESCRIPTOR_TYPES",
    "SYSTEM_TYPES_IA32",
    "SYSTEM_TYPES_IA32E",
    "TSS32",
    "TSS32_FIELD_BITS",
    "TSS32_OFFSETS",
    "TSS64",
    "TSS64_FIELD_BITS",
    "TSS64_OFFSETS",
    "TYPE_ACCESSED",
    "TYPE_CALL_GATE",
    "TYPE_CALL_GATE16",
    "TYPE_CODE",
    "TYPE_CONFORMING",
    "TYPE_EXPAND_DOWN",
    "TYPE_INTERRUPT_GATE",
    "TYPE_INTERRUPT_GATE16",
    "TYPE_LDT",
    "TYPE_READABLE",
    "TYPE_TASK_GATE",
    "TYPE_TRAP_GATE",
    "TYPE_TRAP_GATE16",
    "TYPE_TSS16_AVAILABLE",
    "TYPE_TSS16_BUSY",
    "TYPE_TSS_AVAILABLE",
    "TYPE_TSS_BUSY",
    "TYPE_TSS_BUSY_FLAG",
    "TYPE_WRITABLE",
    "Gate32",
    "Gate64",
    "SegmentDescriptor",
    "SystemDescriptor",
    "TableRegister",
    "idt_error_code",
    "is_null_selector",
    "make_selector",
    "selector_error_code",
    "selector_index",
    "selector_rpl",
    "selector_ti",
    "tss32_esp_offset",
    "tss32_ss_offset",
    "tss64_ist_offset",
    "tss64_rsp_offset",
]

# Code- and data-segment type bits (S=1), SDM Vol. 3A §3.4.5.1 Table 3-1.
TYPE_ACCESSED = 0x1
TYPE_WRITABLE = 0x2  # data segments
TYPE_READABLE = 0x2  # code segments
TYPE_EXPAND_DOWN = 0x4  # data segments
TYPE_CONFORMING = 0x4  # code segments
TYPE_CODE = 0x8

# System-segment and gate types (S=0), SDM Vol. 3A §3.5 Table 3-2.
TYPE_TSS16_AVAILABLE = 0x1
TYPE_LDT = 0x2
TYPE_TSS16_BUSY = 0x3
TYPE_CALL_GATE16 = 0x4
TYPE_TASK_GATE = 0x5
TYPE_INTERRUPT_GATE16 = 0x6
TYPE_TRAP_GATE16 = 0x7
TYPE_TSS_AVAILABLE = 0x9  # 32-bit TSS in IA-32, 64-bit TSS in IA-32e mode
TYPE_TSS_BUSY = 0xB
TYPE_CALL_GATE = 0xC
TYPE_INTERRUPT_GATE = 0xE
TYPE_TRAP_GATE = 0xF
# The B flag that LTR and task switches set in a TSS descriptor's type, SDM Vol. 3A §7.2.2.
TYPE_TSS_BUSY_FLAG = 0x2

CODE_DATA_TYPES: Mapping[int, str] = MappingProxyType(
    {
        0x0: "Data Read-Only",
        0x1: "Data Read-Only, accessed",
        0x2: "Data Read/Write",
        0x3: "Data Read/Write, accessed",
        0x4: "Data Read-Only, expand-down",
        0x5: "Data Read-Only, expand-down, accessed",
        0x6: "Data Read/Write, expand-down",
        0x7: "Data Read/Write, expand-down, accessed",
        0x8: "Code Execute-Only",
        0x9: "Code Execute-Only, accessed",
        0xA: "Code Execute/Read",
        0xB: "Code Execute/Read, accessed",
        0xC: "Code Execute-Only, conforming",
        0xD: "Code Execute-Only, conforming, accessed",
        0xE: "Code Execute/Read, conforming",
        0xF: "Code Execute/Read, conforming, accessed",
    }
)
SYSTEM_TYPES_IA32: Mapping[int, str] = MappingProxyType(
    {
        0x0: "Reserved",
        0x1: "16-bit TSS (Available)",
        0x2: "LDT",
        0x3: "16-bit TSS (Busy)",
        0x4: "16-bit Call Gate",
        0x5: "Task Gate",
        0x6: "16-bit Interrupt Gate",
        0x7: "16-bit Trap Gate",
        0x8: "Reserved",
        0x9: "32-bit TSS (Available)",
        0xA: "Reserved",
        0xB: "32-bit TSS (Busy)",
        0xC: "32-bit Call Gate",
        0xD: "Reserved",
        0xE: "32-bit Interrupt Gate",
        0xF: "32-bit Trap Gate",
    }
)
SYSTEM_TYPES_IA32E: Mapping[int, str] = MappingProxyType(
    {
        0x0: "Upper 8 bytes of a 16-byte descriptor",
        0x1: "Reserved",
        0x2: "LDT",
        0x3: "Reserved",
        0x4: "Reserved",
        0x5: "Reserved",
        0x6: "Reserved",
        0x7: "Reserved",
        0x8: "Reserved",
        0x9: "64-bit TSS (Available)",
        0xA: "Reserved",
        0xB: "64-bit TSS (Busy)",
        0xC: "64-bit Call Gate",
        0xD: "Reserved",
        0xE: "64-bit Interrupt Gate",
        0xF: "64-bit Trap Gate",
    }
)

GATE32_TYPES: tuple[int, ...] = (
    TYPE_TASK_GATE,
    TYPE_INTERRUPT_GATE16,
    TYPE_TRAP_GATE16,
    TYPE_INTERRUPT_GATE,
    TYPE_TRAP_GATE,
)
GATE64_TYPES: tuple[int, ...] = (TYPE_INTERRUPT_GATE, TYPE_TRAP_GATE)
SYSTEM_DESCRIPTOR_TYPES: tuple[int, ...] = (TYPE_LDT, TYPE_TSS_AVAILABLE, TYPE_TSS_BUSY)

# Error-code bits for #GP/#NP/#SS/#TS, SDM Vol. 3A §6.13 Figure 6-7.
ERROR_CODE_EXT = 0x1
ERROR_CODE_IDT = 0x2
ERROR_CODE_TI = 0x4

_MASK64 = (1 << 64) - 1


# -- field conversion -------------------------------------------------------------------------


def _uint(field: str, bits: int, default: int = 0) -> Any:
    def convert(value: Any) -> int:
        return check_int(field, value, bits)

    return attrs.field(default=default, converter=convert)


def _ranged(field: str, low: int, high: int) -> Any:
    def convert(value: Any) -> int:
        return check_range(field, value, low, high)

    return attrs.field(default=low, converter=convert)


def _dpl(field: str) -> Any:
    return _ranged(field, 0, 3)


def _flag(field: str) -> Any:
    def convert(value: Any) -> bool:
        return check_bool(field, value)

    return attrs.field(default=False, converter=convert)


def _type_converter(field: str, choices: tuple[int, ...], note: str) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        value = check_int(field, value, 4)
        try:
            return int(check_choice(field, value, choices))
        except ValueError as error:
            raise ValueError(f"{error} ({note})") from None

    return convert


def _raw_of(owner: str, data: Any, size: int) -> int:
    """Return the little-endian integer of ``data``, which must be exactly ``size`` bytes."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"{owner}.decode data: expected bytes, bytearray or memoryview of {size} bytes, "
            f"received {type(data).__name__} {data!r}"
        )
    blob = bytes(data)
    if len(blob) != size:
        raise ValueError(f"{owner}.decode data: expected {size} bytes, received {len(blob)}")
    return int.from_bytes(blob, "little")


def _require_zero(field: str, value: int, why: str) -> None:
    if value:
        raise ValueError(f"{field}: expected 0 ({why}), received {value:#x}")


def _access_byte(type_: int, s: bool, dpl: int, present: bool) -> int:
    return type_ | s << 4 | dpl << 5 | present << 7


# -- segment descriptors -----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SegmentDescriptor:
    """An 8-byte GDT/LDT descriptor (SDM Vol. 3A §3.4.5 Figure 3-8); every bit pattern is one.

    With ``s`` false it also expresses the legacy 8-byte system descriptors (LDT, 16- and
    32-bit TSS, call gates): their layout is the same.
    """

    SIZE: ClassVar[int] = 8

    base: int = _uint("SegmentDescriptor.base", 32)
    limit: int = _uint("SegmentDescriptor.limit", 20)
    type: int = _uint("SegmentDescriptor.type", 4)
    s: bool = _flag("SegmentDescriptor.s")
    dpl: int = _dpl("SegmentDescriptor.dpl")
    present: bool = _flag("SegmentDescriptor.present")
    avl: bool = _flag("SegmentDescriptor.avl")
    l: bool = _flag("SegmentDescriptor.l")  # noqa: E741 (the SDM's name for the bit)
    db: bool = _flag("SegmentDescriptor.db")
    g: bool = _flag("SegmentDescriptor.g")

    @property
    def access_byte(self) -> int:
        """Byte 5: type | S << 4 | DPL << 5 | P << 7."""
        return _access_byte(self.type, self.s, self.dpl, self.present)

    @property
    def byte_limit(self) -> int:
        """The limit in bytes after G scaling (4 KiB units with the low 12 bits set)."""
        return (self.limit << 12) | 0xFFF if self.g else self.limit

    @property
    def is_system(self) -> bool:
        return not self.s

    @property
    def is_code(self) -> bool:
        return self.s and bool(self.type & TYPE_CODE)

    @property
    def is_data(self) -> bool:
        return self.s and not self.type & TYPE_CODE

    @property
    def conforming(self) -> bool:
        return self.is_code and bool(self.type & TYPE_CONFORMING)

    @property
    def readable(self) -> bool:
        """Data segments are always readable; code segments when the R bit is set."""
        return self.is_data or (self.is_code and bool(self.type & TYPE_READABLE))

    @property
    def writable(self) -> bool:
        return self.is_data and bool(self.type & TYPE_WRITABLE)

    @property
    def accessed(self) -> bool:
        return self.s and bool(self.type & TYPE_ACCESSED)

    @property
    def expand_down(self) -> bool:
        return self.is_data and bool(self.type & TYPE_EXPAND_DOWN)

    @property
    def raw(self) -> int:
        """The descriptor as the little-endian integer of its 8 bytes."""
        flags = self.avl | self.l << 1 | self.db << 2 | self.g << 3
        return (
            (self.limit & 0xFFFF)
            | (self.base & 0xFFFFFF) << 16
            | self.access_byte << 40
            | (self.limit >> 16) << 48
            | flags << 52
            | (self.base >> 24) << 56
        )

    def encode(self) -> bytes:
        return self.raw.to_bytes(8, "little")

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> SegmentDescriptor:
        return cls.from_raw(_raw_of("SegmentDescriptor", data, 8))

    @classmethod
    def from_raw(cls, raw: int) -> SegmentDescriptor:
        raw = check_int("SegmentDescriptor.raw", raw, 64)
        access = (raw >> 40) & 0xFF
        flags = (raw >> 52) & 0xF
        return cls(
            base=((raw >> 16) & 0xFFFFFF) | (raw >> 56) << 24,
            limit=(raw & 0xFFFF) | ((raw >> 48) & 0xF) << 16,
            type=access & 0xF,
            s=bool(access & 0x10),
            dpl=(access >> 5) & 3,
            present=bool(access & 0x80),
            avl=bool(flags & 1),
            l=bool(flags & 2),
            db=bool(flags & 4),
            g=bool(flags & 8),
        )


_SYSTEM_TYPE_NOTE = "0x2 LDT, 0x9 available 64-bit TSS, 0xb busy 64-bit TSS"


@attrs.frozen(kw_only=True)
class SystemDescriptor:
    """A 16-byte IA-32e LDT or TSS descriptor (SDM Vol. 3A §7.2.3 Figure 7-4).

    Decoding is strict: every bit the figure shows as zero or reserved must be zero (bytes
    12-15, and bits 6:5 of byte 6 where code segments keep L and D/B), so that every accepted
    encoding round-trips. Hardware itself checks only the upper-half type (bits 12:8 of bytes
    12-15); the message says which part was set.
    """

    SIZE: ClassVar[int] = 16

    base: int = _uint("SystemDescriptor.base", 64)
    limit: int = _uint("SystemDescriptor.limit", 20)
    type: int = attrs.field(
        converter=_type_converter(
            "SystemDescriptor.type", SYSTEM_DESCRIPTOR_TYPES, _SYSTEM_TYPE_NOTE
        )
    )
    dpl: int = _dpl("SystemDescriptor.dpl")
    present: bool = _flag("SystemDescriptor.present")
    avl: bool = _flag("SystemDescriptor.avl")
    g: bool = _flag("SystemDescriptor.g")

    @property
    def access_byte(self) -> int:
        """Byte 5: type | S=0 | DPL << 5 | P << 7."""
        return _access_byte(self.type, False, self.dpl, self.present)

    @property
    def byte_limit(self) -> int:
        return (self.limit << 12) | 0xFFF if self.g else self.limit

    @property
    def is_ldt(self) -> bool:
        return self.type == TYPE_LDT

    @property
    def is_tss(self) -> bool:
        return self.type in (TYPE_TSS_AVAILABLE, TYPE_TSS_BUSY)

    @property
    def busy(self) -> bool:
        return self.type == TYPE_TSS_BUSY

    @property
    def raw(self) -> int:
        """The descriptor as the little-endian integer of its 16 bytes."""
        return (
            (self.limit & 0xFFFF)
            | (self.base & 0xFFFFFF) << 16
            | self.access_byte << 40
            | (self.limit >> 16) << 48
            | (self.avl | self.g << 3) << 52
            | (self.base >> 24) << 56  # base[63:24] fills byte 7 and bytes 8-11
        )

    def encode(self) -> bytes:
        return self.raw.to_bytes(16, "little")

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> SystemDescriptor:
        return cls.from_raw(_raw_of("SystemDescriptor", data, 16))

    @classmethod
    def from_raw(cls, raw: int) -> SystemDescriptor:
        raw = check_int("SystemDescriptor.raw", raw, 128)
        access = (raw >> 40) & 0xFF
        flags = (raw >> 52) & 0xF
        upper = raw >> 96
        if access & 0x10:
            raise ValueError(
                "SystemDescriptor.s: expected 0 (an LDT or TSS descriptor is a system "
                "descriptor; S=1 is a code or data segment), received 1"
            )
        _require_zero(
            "SystemDescriptor upper type (bytes 12-15 bits 12:8)",
            (upper >> 8) & 0x1F,
            "the type field of the upper half of a 16-byte descriptor",
        )
        _require_zero(
            "SystemDescriptor reserved (bytes 12-15 bits 31:13 and 7:0)",
            upper & 0xFFFFE0FF,
            "reserved",
        )
        _require_zero(
            "SystemDescriptor reserved (byte 6 bits 6:5, L and D/B)",
            (flags >> 1) & 0x3,
            "zero in an LDT or TSS descriptor",
        )
        return cls(
            base=((raw >> 16) & 0xFFFFFF) | ((raw >> 56) & 0xFF_FFFF_FFFF) << 24,
            limit=(raw & 0xFFFF) | ((raw >> 48) & 0xF) << 16,
            type=access & 0xF,
            dpl=(access >> 5) & 3,
            present=bool(access & 0x80),
            avl=bool(flags & 1),
            g=bool(flags & 8),
        )


# -- IDT gates ---------------------------------------------------------------------------------

_GATE32_TYPE_NOTE = (
    "IDT gate types: 0x5 task, 0x6/0x7 16-bit interrupt/trap, 0xe/0xf 32-bit interrupt/trap"
)
_GATE64_TYPE_NOTE = (
    "only 0xe (interrupt gate) and 0xf (trap gate) are valid in a 64-bit IDT; "
    "0xc is an IA-32e call gate, not an IDT gate"
)


@attrs.frozen(kw_only=True)
class Gate32:
    """An 8-byte legacy IDT gate: task, interrupt or trap (SDM Vol. 3A §6.11 Figure 6-2).

    Byte 4 bits 4:0 (all of byte 4 in a task gate) are unused: decode ignores them and encode
    writes zero there, so they are the one part of an accepted encoding that does not
    round-trip. Bits 7:5 must be zero in interrupt and trap gates.
    """

    SIZE: ClassVar[int] = 8

    offset: int = _uint("Gate32.offset", 32)
    selector: int = _uint("Gate32.selector", 16)
    type: int = attrs.field(
        converter=_type_converter("Gate32.type", GATE32_TYPES, _GATE32_TYPE_NOTE)
    )
    dpl: int = _dpl("Gate32.dpl")
    present: bool = _flag("Gate32.present")

    def __attrs_post_init__(self) -> None:
        if self.type == TYPE_TASK_GATE and self.offset:
            raise ValueError(
                f"Gate32.offset: expected 0 for a task gate (its offset fields are reserved), "
                f"received {self.offset:#x}"
            )

    @property
    def access_byte(self) -> int:
        """Byte 5: type | S=0 | DPL << 5 | P << 7 (0x8E, 0xEE, 0xEF, 0x85, ...)."""
        return _access_byte(self.type, False, self.dpl, self.present)

    @property
    def is_task_gate(self) -> bool:
        return self.type == TYPE_TASK_GATE

    @property
    def is_interrupt_gate(self) -> bool:
        return self.type in (TYPE_INTERRUPT_GATE16, TYPE_INTERRUPT_GATE)

    @property
    def is_trap_gate(self) -> bool:
        return self.type in (TYPE_TRAP_GATE16, TYPE_TRAP_GATE)

    @property
    def gate_size(self) -> int | None:
        """16 or 32 (the D bit, type bit 3) for interrupt/trap gates; None for a task gate.

        A task gate's frame size comes from the TSS it switches to, not from the gate.
        """
        if self.is_task_gate:
            return None
        return 32 if self.type & 0x8 else 16

    @property
    def raw(self) -> int:
        """The gate as the little-endian integer of its 8 bytes."""
        return (
            (self.offset & 0xFFFF)
            | self.selector << 16
            | self.access_byte << 40
            | (self.offset >> 16) << 48
        )

    def encode(self) -> bytes:
        return self.raw.to_bytes(8, "little")

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> Gate32:
        return cls.from_raw(_raw_of("Gate32", data, 8))

    @classmethod
    def from_raw(cls, raw: int) -> Gate32:
        raw = check_int("Gate32.raw", raw, 64)
        access = (raw >> 40) & 0xFF
        if access & 0x10:
            raise ValueError(
                "Gate32.s: expected 0 (an IDT gate is a system descriptor), received 1"
            )
        type_ = access & 0xF
        if type_ != TYPE_TASK_GATE:
            _require_zero(
                "Gate32 reserved (byte 4 bits 7:5)",
                (raw >> 37) & 0x7,
                "zero in an interrupt or trap gate",
            )
        return cls(
            offset=(raw & 0xFFFF) | (raw >> 48) << 16,
            selector=(raw >> 16) & 0xFFFF,
            type=type_,
            dpl=(access >> 5) & 3,
            present=bool(access & 0x80),
        )


@attrs.frozen(kw_only=True)
class Gate64:
    """A 16-byte IA-32e IDT gate: interrupt or trap (SDM Vol. 3A §6.14.1 Figure 6-8)."""

    SIZE: ClassVar[int] = 16

    offset: int = _uint("Gate64.offset", 64)
    selector: int = _uint("Gate64.selector", 16)
    ist: int = _ranged("Gate64.ist", 0, 7)
    type: int = attrs.field(
        converter=_type_converter("Gate64.type", GATE64_TYPES, _GATE64_TYPE_NOTE)
    )
    dpl: int = _dpl("Gate64.dpl")
    present: bool = _flag("Gate64.present")

    @property
    def access_byte(self) -> int:
        """Byte 5: type | S=0 | DPL << 5 | P << 7."""
        return _access_byte(self.type, False, self.dpl, self.present)

    @property
    def is_interrupt_gate(self) -> bool:
        return self.type == TYPE_INTERRUPT_GATE

    @property
    def is_trap_gate(self) -> bool:
        return self.type == TYPE_TRAP_GATE

    @property
    def raw(self) -> int:
        """The gate as the little-endian integer of its 16 bytes."""
        return (
            (self.offset & 0xFFFF)
            | self.selector << 16
            | self.ist << 32
            | self.access_byte << 40
            | (self.offset >> 16) << 48
        )

    def encode(self) -> bytes:
        return self.raw.to_bytes(16, "little")

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> Gate64:
        return cls.from_raw(_raw_of("Gate64", data, 16))

    @classmethod
    def from_raw(cls, raw: int) -> Gate64:
        raw = check_int("Gate64.raw", raw, 128)
        access = (raw >> 40) & 0xFF
        _require_zero("Gate64 reserved (bytes 12-15)", raw >> 96, "reserved")
        _require_zero("Gate64 reserved (byte 4 bits 7:3)", (raw >> 35) & 0x1F, "reserved")
        if access & 0x10:
            raise ValueError(
                "Gate64.s: expected 0 (an IDT gate is a system descriptor), received 1"
            )
        return cls(
            offset=(raw & 0xFFFF) | ((raw >> 48) & 0xFFFF_FFFF_FFFF) << 16,
            selector=(raw >> 16) & 0xFFFF,
            ist=(raw >> 32) & 0x7,
            type=access & 0xF,
            dpl=(access >> 5) & 3,
            present=bool(access & 0x80),
        )


# -- task-state segments -----------------------------------------------------------------------

# (field, byte offset, bits); a 16-bit selector sits in the low half of its dword.
_TSS32_LAYOUT: tuple[tuple[str, int, int], ...] = (
    ("link", 0x00, 16),
    ("esp0", 0x04, 32),
    ("ss0", 0x08, 16),
    ("esp1", 0x0C, 32),
    ("ss1", 0x10, 16),
    ("esp2", 0x14, 32),
    ("ss2", 0x18, 16),
    ("cr3", 0x1C, 32),
    ("eip", 0x20, 32),
    ("eflags", 0x24, 32),
    ("eax", 0x28, 32),
    ("ecx", 0x2C, 32),
    ("edx", 0x30, 32),
    ("ebx", 0x34, 32),
    ("esp", 0x38, 32),
    ("ebp", 0x3C, 32),
    ("esi", 0x40, 32),
    ("edi", 0x44, 32),
    ("es", 0x48, 16),
    ("cs", 0x4C, 16),
    ("ss", 0x50, 16),
    ("ds", 0x54, 16),
    ("fs", 0x58, 16),
    ("gs", 0x5C, 16),
    ("ldt", 0x60, 16),
    ("t", 0x64, 1),
    ("iomap_base", 0x66, 16),
)
# (what, byte offset, size in bytes, mask of the reserved bits there)
_TSS32_RESERVED: tuple[tuple[str, int, int, int], ...] = (
    *(
        (
            f"TSS32.{name} reserved upper half (bytes {off + 2:#04x}-{off + 3:#04x})",
            off + 2,
            2,
            0xFFFF,
        )
        for name, off, bits in _TSS32_LAYOUT
        if bits == 16 and name != "iomap_base"
    ),
    ("TSS32.t reserved (word at 0x64 bits 15:1)", 0x64, 2, 0xFFFE),
)
_TSS64_LAYOUT: tuple[tuple[str, int, int], ...] = (
    ("rsp0", 0x04, 64),
    ("rsp1", 0x0C, 64),
    ("rsp2", 0x14, 64),
    *((f"ist{n}", 0x24 + 8 * (n - 1), 64) for n in range(1, 8)),
    ("iomap_base", 0x66, 16),
)
_TSS64_RESERVED: tuple[tuple[str, int, int, int], ...] = (
    ("TSS64 reserved (bytes 0x00-0x03)", 0x00, 4, 0xFFFF_FFFF),
    ("TSS64 reserved (bytes 0x1c-0x23)", 0x1C, 8, _MASK64),
    ("TSS64 reserved (bytes 0x5c-0x63)", 0x5C, 8, _MASK64),
    ("TSS64 reserved (bytes 0x64-0x65)", 0x64, 2, 0xFFFF),
)

TSS32_OFFSETS: Mapping[str, int] = MappingProxyType({n: o for n, o, _ in _TSS32_LAYOUT})
TSS32_FIELD_BITS: Mapping[str, int] = MappingProxyType({n: b for n, _, b in _TSS32_LAYOUT})
TSS64_OFFSETS: Mapping[str, int] = MappingProxyType({n: o for n, o, _ in _TSS64_LAYOUT})
TSS64_FIELD_BITS: Mapping[str, int] = MappingProxyType({n: b for n, _, b in _TSS64_LAYOUT})


def tss32_esp_offset(ring: int) -> int:
    """Offset of ESPn in a 32-bit TSS (8n+4), SDM Vol. 3A §7.2.1 Figure 7-2."""
    return 8 * check_range("ring", ring, 0, 2) + 4


def tss32_ss_offset(ring: int) -> int:
    """Offset of SSn in a 32-bit TSS (8n+8), SDM Vol. 3A §7.2.1 Figure 7-2."""
    return 8 * check_range("ring", ring, 0, 2) + 8


def tss64_rsp_offset(ring: int) -> int:
    """Offset of RSPn in a 64-bit TSS (8n+4), SDM Vol. 3A §7.7 Figure 7-11."""
    return 8 * check_range("ring", ring, 0, 2) + 4


def tss64_ist_offset(n: int) -> int:
    """Offset of ISTn in a 64-bit TSS (8n+0x1C), SDM Vol. 3A §7.7 Figure 7-11."""
    return 8 * check_range("ist", n, 1, 7) + 0x1C


def _encode_tss(tss: Any, layout: tuple[tuple[str, int, int], ...]) -> bytes:
    out = bytearray(104)
    for name, off, bits in layout:
        size = max(bits // 8, 2)
        out[off : off + size] = int(getattr(tss, name)).to_bytes(size, "little")
    return bytes(out)


def _decode_tss(
    owner: str,
    data: Any,
    layout: tuple[tuple[str, int, int], ...],
    reserved: tuple[tuple[str, int, int, int], ...],
) -> dict[str, int]:
    blob = _raw_of(owner, data, 104).to_bytes(104, "little")
    for what, off, size, mask in reserved:
        _require_zero(what, int.from_bytes(blob[off : off + size], "little") & mask, "reserved")
    return {
        name: int.from_bytes(blob[off : off + max(bits // 8, 2)], "little") & ((1 << bits) - 1)
        for name, off, bits in layout
    }


@attrs.frozen(kw_only=True)
class TSS32:
    """The 104-byte 32-bit task-state segment (SDM Vol. 3A §7.2.1 Figure 7-2).

    Decoding refuses nonzero reserved bits (the upper half of each selector dword, bits 15:1
    of the word at 0x64), so every accepted encoding round-trips.
    """

    SIZE: ClassVar[int] = 104

    link: int = _uint("TSS32.link", 16)
    esp0: int = _uint("TSS32.esp0", 32)
    ss0: int = _uint("TSS32.ss0", 16)
    esp1: int = _uint("TSS32.esp1", 32)
    ss1: int = _uint("TSS32.ss1", 16)
    esp2: int = _uint("TSS32.esp2", 32)
    ss2: int = _uint("TSS32.ss2", 16)
    cr3: int = _uint("TSS32.cr3", 32)
    eip: int = _uint("TSS32.eip", 32)
    eflags: int = _uint("TSS32.eflags", 32)
    eax: int = _uint("TSS32.eax", 32)
    ecx: int = _uint("TSS32.ecx", 32)
    edx: int = _uint("TSS32.edx", 32)
    ebx: int = _uint("TSS32.ebx", 32)
    esp: int = _uint("TSS32.esp", 32)
    ebp: int = _uint("TSS32.ebp", 32)
    esi: int = _uint("TSS32.esi", 32)
    edi: int = _uint("TSS32.edi", 32)
    es: int = _uint("TSS32.es", 16)
    cs: int = _uint("TSS32.cs", 16)
    ss: int = _uint("TSS32.ss", 16)
    ds: int = _uint("TSS32.ds", 16)
    fs: int = _uint("TSS32.fs", 16)
    gs: int = _uint("TSS32.gs", 16)
    ldt: int = _uint("TSS32.ldt", 16)
    t: bool = _flag("TSS32.t")
    iomap_base: int = _uint("TSS32.iomap_base", 16)

    def stack(self, ring: int) -> tuple[int, int]:
        """The (SSn, ESPn) pair the CPU loads for a switch to ``ring`` (0..2)."""
        ring = check_range("ring", ring, 0, 2)
        return (
            (self.ss0, self.ss1, self.ss2)[ring],
            (self.esp0, self.esp1, self.esp2)[ring],
        )

    @property
    def raw(self) -> int:
        """The TSS as the little-endian integer of its 104 bytes."""
        return int.from_bytes(self.encode(), "little")

    def encode(self) -> bytes:
        return _encode_tss(self, _TSS32_LAYOUT)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> TSS32:
        fields = _decode_tss("TSS32", data, _TSS32_LAYOUT, _TSS32_RESERVED)
        return cls(**fields)

    @classmethod
    def from_raw(cls, raw: int) -> TSS32:
        return cls.decode(check_int("TSS32.raw", raw, 104 * 8).to_bytes(104, "little"))


@attrs.frozen(kw_only=True)
class TSS64:
    """The 104-byte 64-bit task-state segment (SDM Vol. 3A §7.7 Figure 7-11).

    Decoding refuses nonzero reserved bytes ("Reserved bits. Set to 0."), so every accepted
    encoding round-trips.
    """

    SIZE: ClassVar[int] = 104

    rsp0: int = _uint("TSS64.rsp0", 64)
    rsp1: int = _uint("TSS64.rsp1", 64)
    rsp2: int = _uint("TSS64.rsp2", 64)
    ist1: int = _uint("TSS64.ist1", 64)
    ist2: int = _uint("TSS64.ist2", 64)
    ist3: int = _uint("TSS64.ist3", 64)
    ist4: int = _uint("TSS64.ist4", 64)
    ist5: int = _uint("TSS64.ist5", 64)
    ist6: int = _uint("TSS64.ist6", 64)
    ist7: int = _uint("TSS64.ist7", 64)
    iomap_base: int = _uint("TSS64.iomap_base", 16)

    def rsp(self, ring: int) -> int:
        """RSPn, the stack pointer loaded for a switch to ``ring`` (0..2)."""
        return (self.rsp0, self.rsp1, self.rsp2)[check_range("ring", ring, 0, 2)]

    def ist(self, n: int) -> int:
        """ISTn (1..7), the stack pointer a gate with IST n switches to."""
        n = check_range("ist", n, 1, 7)
        return (self.ist1, self.ist2, self.ist3, self.ist4, self.ist5, self.ist6, self.ist7)[n - 1]

    @property
    def raw(self) -> int:
        """The TSS as the little-endian integer of its 104 bytes."""
        return int.from_bytes(self.encode(), "little")

    def encode(self) -> bytes:
        return _encode_tss(self, _TSS64_LAYOUT)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> TSS64:
        fields = _decode_tss("TSS64", data, _TSS64_LAYOUT, _TSS64_RESERVED)
        return cls(**fields)

    @classmethod
    def from_raw(cls, raw: int) -> TSS64:
        return cls.decode(check_int("TSS64.raw", raw, 104 * 8).to_bytes(104, "little"))


# -- descriptor-table registers and selectors ----------------------------------------------------

_ENTRY_SIZES = (4, 8, 16)  # real-mode IVT, legacy descriptors and gates, IA-32e 16-byte ones


@attrs.frozen(kw_only=True)
class TableRegister:
    """GDTR or IDTR: a 64-bit linear base and a 16-bit limit (SDM Vol. 3A §2.4.1, §2.4.3).

    Its encoding is the 10-byte pseudo-descriptor of LGDT/LIDT in 64-bit mode (SDM Vol. 3A
    §3.5.1 Figure 3-11): limit in bytes 0-1, base in bytes 2-9.
    """

    SIZE: ClassVar[int] = 10

    base: int = _uint("TableRegister.base", 64)
    limit: int = _uint("TableRegister.limit", 16)

    def entry_address(self, index: int, size: int) -> int:
        """Linear address of entry ``index`` of ``size`` bytes each (wrapping at 2**64)."""
        index = check_int("index", index, 16)
        size = check_choice("size", check_int("size", size, 8), _ENTRY_SIZES)
        return (self.base + index * size) & _MASK64

    def covers(self, offset: int, size: int) -> bool:
        """Whether bytes ``offset`` .. ``offset + size - 1`` lie within the limit."""
        offset = check_int("offset", offset, 64)
        size = check_range("size", size, 1, _MASK64)
        return offset + size - 1 <= self.limit

    @property
    def raw(self) -> int:
        return self.limit | self.base << 16

    def encode(self) -> bytes:
        return self.raw.to_bytes(10, "little")

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> TableRegister:
        return cls.from_raw(_raw_of("TableRegister", data, 10))

    @classmethod
    def from_raw(cls, raw: int) -> TableRegister:
        raw = check_int("TableRegister.raw", raw, 80)
        return cls(base=raw >> 16, limit=raw & 0xFFFF)


def selector_index(selector: int) -> int:
    """Bits 15:3 of a selector: the descriptor index (SDM Vol. 3A §3.4.2 Figure 3-6)."""
    return check_int("selector", selector, 16) >> 3


def selector_ti(selector: int) -> int:
    """Bit 2 of a selector: 0 for the GDT, 1 for the LDT."""
    return (check_int("selector", selector, 16) >> 2) & 1


def selector_rpl(selector: int) -> int:
    """Bits 1:0 of a selector: the requested privilege level."""
    return check_int("selector", selector, 16) & 3


def make_selector(index: int, ti: int | bool, rpl: int) -> int:
    """The selector for descriptor ``index`` in the GDT (ti 0) or LDT (ti 1) with ``rpl``."""
    index = check_int("index", index, 13)
    table = check_bool("ti", ti)
    rpl = check_range("rpl", rpl, 0, 3)
    return index << 3 | table << 2 | rpl


def is_null_selector(selector: int) -> bool:
    """Index 0 in the GDT is the null selector, whatever the RPL (SDM Vol. 3A §3.4.2)."""
    return check_int("selector", selector, 16) & 0xFFFC == 0


def selector_error_code(selector: int, *, ext: bool = False) -> int:
    """The error code naming a segment selector: (selector & 0xFFFC) | EXT (SDM §6.13)."""
    return check_int("selector", selector, 16) & 0xFFFC | check_bool("ext", ext)


def idt_error_code(vector: int, *, ext: bool = False) -> int:
    """The error code naming IDT entry ``vector``: vector*8 + IDT(2) + EXT (SDM §6.13).

    The index is vector << 3 even for 16-byte IA-32e gates.
    """
    vector = check_range("vector", vector, 0, 255)
    return vector << 3 | ERROR_CODE_IDT | check_bool("ext", ext)
