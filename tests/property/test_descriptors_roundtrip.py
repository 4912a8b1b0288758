"""Property tests: descriptor encodings round-trip, reserved bits are refused, bad fields named."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.cpu import descriptors as d
from simulator.cpu.descriptors import (
    TSS32,
    TSS64,
    Gate32,
    Gate64,
    SegmentDescriptor,
    SystemDescriptor,
    TableRegister,
)


def uints(bits: int) -> st.SearchStrategy[int]:
    return st.integers(min_value=0, max_value=(1 << bits) - 1)


dpls = st.integers(min_value=0, max_value=3)

segment_descriptors = st.builds(
    SegmentDescriptor,
    base=uints(32),
    limit=uints(20),
    type=uints(4),
    s=st.booleans(),
    dpl=dpls,
    present=st.booleans(),
    avl=st.booleans(),
    l=st.booleans(),
    db=st.booleans(),
    g=st.booleans(),
)
system_descriptors = st.builds(
    SystemDescriptor,
    base=uints(64),
    limit=uints(20),
    type=st.sampled_from(d.SYSTEM_DESCRIPTOR_TYPES),
    dpl=dpls,
    present=st.booleans(),
    avl=st.booleans(),
    g=st.booleans(),
)


@st.composite
def gate32s(draw: st.DrawFn) -> Gate32:
    type_ = draw(st.sampled_from(d.GATE32_TYPES))
    offset = 0 if type_ == d.TYPE_TASK_GATE else draw(uints(32))
    return Gate32(
        offset=offset,
        selector=draw(uints(16)),
        type=type_,
        dpl=draw(dpls),
        present=draw(st.booleans()),
    )


gate64s = st.builds(
    Gate64,
    offset=uints(64),
    selector=uints(16),
    ist=st.integers(min_value=0, max_value=7),
    type=st.sampled_from(d.GATE64_TYPES),
    dpl=dpls,
    present=st.booleans(),
)
tss32s = st.builds(
    TSS32,
    **{
        name: st.booleans() if bits == 1 else uints(bits)
        for name, bits in d.TSS32_FIELD_BITS.items()
    },
)
tss64s = st.builds(TSS64, **{name: uints(bits) for name, bits in d.TSS64_FIELD_BITS.items()})
table_registers = st.builds(TableRegister, base=uints(64), limit=uints(16))

VALUES = st.one_of(
    segment_descriptors, system_descriptors, gate32s(), gate64s, tss32s, tss64s, table_registers
)


class TestRoundTrip:
    @given(VALUES)
    def test_decode_encode(self, value: Any) -> None:
        """For every valid field combination decode(encode(x)) == x."""
        blob = value.encode()
        assert len(blob) == value.SIZE
        assert type(value).decode(blob) == value

    @given(VALUES)
    def test_raw_is_little_endian_bytes(self, value: Any) -> None:
        """raw is the little-endian integer of the encoding, and from_raw inverts it."""
        assert value.raw == int.from_bytes(value.encode(), "little")
        assert type(value).from_raw(value.raw) == value

    @given(st.binary(min_size=8, max_size=8))
    def test_every_segment_descriptor_byte_pattern(self, blob: bytes) -> None:
        """Every 8-byte value decodes as a SegmentDescriptor and encodes back to itself."""
        assert SegmentDescriptor.decode(blob).encode() == blob

    @given(st.binary(min_size=10, max_size=10))
    def test_every_pseudo_descriptor(self, blob: bytes) -> None:
        """Every 10-byte pseudo-descriptor decodes and encodes back to itself."""
        assert TableRegister.decode(blob).encode() == blob

    @given(uints(16))
    def test_selector_parts(self, selector: int) -> None:
        """A selector is rebuilt from its index, TI and RPL; null iff index and TI are 0."""
        index, ti, rpl = (
            d.selector_index(selector),
            d.selector_ti(selector),
            d.selector_rpl(selector),
        )
        assert d.make_selector(index, ti, rpl) == selector
        assert d.is_null_selector(selector) == (index == 0 and ti == 0)
        assert d.selector_error_code(selector) == selector - rpl

    @given(st.integers(min_value=0, max_value=255), st.booleans())
    def test_idt_error_code(self, vector: int, ext: bool) -> None:
        """The IDT error code has IDT=1, EXT as given and the vector as index."""
        code = d.idt_error_code(vector, ext=ext)
        assert (code >> 3, code & 2, code & 1) == (vector, 2, int(ext))


# -- raw 16-byte (and 8-byte gate) values with reserved bits clear or set -----------------------

# Bit positions (in the little-endian integer) and the name the refusal must carry.
SYSTEM_RESERVED = [
    *((b, "SystemDescriptor upper type (bytes 12-15 bits 12:8)") for b in range(104, 109)),
    *((b, "SystemDescriptor reserved (bytes 12-15") for b in [*range(96, 104), *range(109, 128)]),
    *((b, "SystemDescriptor reserved (byte 6 bits 6:5") for b in (53, 54)),
    (44, "SystemDescriptor.s"),
]
GATE64_RESERVED = [
    *((b, "Gate64 reserved (bytes 12-15)") for b in range(96, 128)),
    *((b, "Gate64 reserved (byte 4 bits 7:3)") for b in range(35, 40)),
    (44, "Gate64.s"),
]
GATE32_RESERVED = [
    *((b, "Gate32 reserved (byte 4 bits 7:5)") for b in range(37, 40)),
    (44, "Gate32.s"),
]
TYPE_BITS = 0xF << 40


def _clear(raw: int, reserved: list[tuple[int, str]]) -> int:
    for bit, _ in reserved:
        raw &= ~(1 << bit)
    return raw


@st.composite
def raw_system_descriptors(draw: st.DrawFn) -> int:
    raw = _clear(draw(uints(128)), SYSTEM_RESERVED) & ~TYPE_BITS
    return raw | draw(st.sampled_from(d.SYSTEM_DESCRIPTOR_TYPES)) << 40


@st.composite
def raw_gate64s(draw: st.DrawFn) -> int:
    raw = _clear(draw(uints(128)), GATE64_RESERVED) & ~TYPE_BITS
    return raw | draw(st.sampled_from(d.GATE64_TYPES)) << 40


@st.composite
def raw_gate32s(draw: st.DrawFn) -> int:
    """Interrupt/trap gates with byte 4 bits 7:5 clear (bits 4:0 are tested separately)."""
    raw = _clear(draw(uints(64)), GATE32_RESERVED) & ~TYPE_BITS & ~(0x1F << 32)
    return raw | draw(st.sampled_from((0x6, 0x7, 0xE, 0xF))) << 40


CASES = [
    (SystemDescriptor, raw_system_descriptors(), SYSTEM_RESERVED, 16),
    (Gate64, raw_gate64s(), GATE64_RESERVED, 16),
    (Gate32, raw_gate32s(), GATE32_RESERVED, 8),
]
CASE_IDS = ["SystemDescriptor", "Gate64", "Gate32"]


class TestReservedBits:
    @pytest.mark.parametrize(("cls", "raws", "reserved", "size"), CASES, ids=CASE_IDS)
    @given(data=st.data())
    def test_clear_reserved_round_trips(
        self, cls: Any, raws: Any, reserved: Any, size: int, data: st.DataObject
    ) -> None:
        """With the reserved bits clear, every raw value decodes and encodes back to its bytes."""
        blob = data.draw(raws).to_bytes(size, "little")
        assert cls.decode(blob).encode() == blob

    @pytest.mark.parametrize(("cls", "raws", "reserved", "size"), CASES, ids=CASE_IDS)
    @given(data=st.data())
    def test_one_reserved_bit_is_refused_by_name(
        self, cls: Any, raws: Any, reserved: Any, size: int, data: st.DataObject
    ) -> None:
        """Setting any one reserved bit is refused with a message naming that field."""
        bit, name = data.draw(st.sampled_from(reserved))
        blob = (data.draw(raws) | 1 << bit).to_bytes(size, "little")
        with pytest.raises(ValueError, match=re.escape(name)):
            cls.decode(blob)

    @pytest.mark.parametrize(("cls", "raws", "reserved", "size"), CASES, ids=CASE_IDS)
    @given(data=st.data())
    def test_any_reserved_bits_are_refused(
        self, cls: Any, raws: Any, reserved: Any, size: int, data: st.DataObject
    ) -> None:
        """Any nonempty set of reserved bits is refused."""
        bits = data.draw(st.sets(st.sampled_from([b for b, _ in reserved]), min_size=1))
        raw = data.draw(raws)
        for bit in bits:
            raw |= 1 << bit
        with pytest.raises(ValueError, match=rf"{cls.__name__}[ .]"):
            cls.decode(raw.to_bytes(size, "little"))

    @given(raw_gate32s(), uints(5))
    def test_gate32_unused_byte4_bits_are_ignored(self, raw: int, low: int) -> None:
        """Gate32 byte 4 bits 4:0 are unused: decode ignores them and encode writes zero."""
        blob = (raw | low << 32).to_bytes(8, "little")
        assert Gate32.decode(blob).encode() == raw.to_bytes(8, "little")

    @given(uints(64))
    def test_gate32_types(self, raw: int) -> None:
        """A Gate32 decodes exactly when S=0, the type is an IDT gate type and the rest fits."""
        blob = raw.to_bytes(8, "little")
        type_, s = (raw >> 40) & 0xF, (raw >> 44) & 1
        task = type_ == d.TYPE_TASK_GATE
        valid = (
            not s
            and type_ in d.GATE32_TYPES
            and (not task or raw & 0xFFFF_0000_0000_FFFF == 0)
            and (task or (raw >> 37) & 0x7 == 0)
        )
        if valid:
            assert Gate32.decode(blob).type == type_
        else:
            with pytest.raises(ValueError, match=r"Gate32[ .]"):
                Gate32.decode(blob)

    @given(st.data())
    def test_tss_reserved_bytes_are_refused(self, data: st.DataObject) -> None:
        """A nonzero byte outside every TSS field is refused, naming the reserved part."""
        cls, bits, offsets = data.draw(
            st.sampled_from(
                [
                    (TSS32, d.TSS32_FIELD_BITS, d.TSS32_OFFSETS),
                    (TSS64, d.TSS64_FIELD_BITS, d.TSS64_OFFSETS),
                ]
            )
        )
        used = set()
        for name, off in offsets.items():
            used.update(range(off, off + max(bits[name] // 8, 1)))
        offset = data.draw(st.sampled_from(sorted(set(range(104)) - used)))
        blob = bytearray(data.draw(tss32s if cls is TSS32 else tss64s).encode())
        blob[offset] |= data.draw(st.integers(min_value=1, max_value=255))
        with pytest.raises(ValueError, match=rf"{cls.__name__}\S* reserved"):
            cls.decode(blob)


# -- out-of-range and ill-typed fields -------------------------------------------------------------

# (class, required keyword arguments, field, lowest, highest); highest None marks a bool field.
FIELDS: list[tuple[type, dict[str, int], str, int, int | None]] = [
    (SegmentDescriptor, {}, "base", 0, 0xFFFF_FFFF),
    (SegmentDescriptor, {}, "limit", 0, 0xF_FFFF),
    (SegmentDescriptor, {}, "type", 0, 0xF),
    (SegmentDescriptor, {}, "dpl", 0, 3),
    *((SegmentDescriptor, {}, f, 0, None) for f in ("s", "present", "avl", "l", "db", "g")),
    (SystemDescriptor, {"type": 9}, "base", 0, (1 << 64) - 1),
    (SystemDescriptor, {"type": 9}, "limit", 0, 0xF_FFFF),
    (SystemDescriptor, {}, "type", 0, 0xF),
    (SystemDescriptor, {"type": 9}, "dpl", 0, 3),
    *((SystemDescriptor, {"type": 9}, f, 0, None) for f in ("present", "avl", "g")),
    (Gate32, {"type": 0xE}, "offset", 0, 0xFFFF_FFFF),
    (Gate32, {"type": 0xE}, "selector", 0, 0xFFFF),
    (Gate32, {}, "type", 0, 0xF),
    (Gate32, {"type": 0xE}, "dpl", 0, 3),
    (Gate32, {"type": 0xE}, "present", 0, None),
    (Gate64, {"type": 0xE}, "offset", 0, (1 << 64) - 1),
    (Gate64, {"type": 0xE}, "selector", 0, 0xFFFF),
    (Gate64, {"type": 0xE}, "ist", 0, 7),
    (Gate64, {}, "type", 0, 0xF),
    (Gate64, {"type": 0xE}, "dpl", 0, 3),
    (Gate64, {"type": 0xE}, "present", 0, None),
    *(
        (TSS32, {}, name, 0, None if bits == 1 else (1 << bits) - 1)
        for name, bits in d.TSS32_FIELD_BITS.items()
    ),
    *((TSS64, {}, name, 0, (1 << bits) - 1) for name, bits in d.TSS64_FIELD_BITS.items()),
    (TableRegister, {}, "base", 0, (1 << 64) - 1),
    (TableRegister, {}, "limit", 0, 0xFFFF),
]
FIELD_IDS = [f"{cls.__name__}.{field}" for cls, _, field, _, _ in FIELDS]
NON_INTS = st.one_of(st.none(), st.floats(), st.text(max_size=3), st.binary(max_size=2))


class TestFieldErrors:
    @pytest.mark.parametrize(("cls", "required", "field", "low", "high"), FIELDS, ids=FIELD_IDS)
    @given(data=st.data())
    def test_out_of_range(
        self,
        cls: type,
        required: dict[str, int],
        field: str,
        low: int,
        high: int | None,
        data: st.DataObject,
    ) -> None:
        """An int outside the field's domain raises ValueError (TypeError for a bool field)."""
        top = 1 if high is None else high
        value = data.draw(st.one_of(st.integers(max_value=low - 1), st.integers(min_value=top + 1)))
        error = TypeError if high is None else ValueError
        with pytest.raises(error, match=re.escape(f"{cls.__name__}.{field}:")):
            cls(**{**required, field: value})

    @pytest.mark.parametrize(("cls", "required", "field", "low", "high"), FIELDS, ids=FIELD_IDS)
    @given(value=NON_INTS)
    def test_not_an_int(
        self,
        cls: type,
        required: dict[str, int],
        field: str,
        low: int,
        high: int | None,
        value: object,
    ) -> None:
        """A value that is not an int raises TypeError naming the field."""
        with pytest.raises(TypeError, match=re.escape(f"{cls.__name__}.{field}:")):
            cls(**{**required, field: value})

    @pytest.mark.parametrize(
        ("cls", "required", "field", "low", "high"),
        [f for f in FIELDS if f[4] is not None],
        ids=[i for i, f in zip(FIELD_IDS, FIELDS, strict=True) if f[4] is not None],
    )
    def test_bool_is_not_an_int(
        self, cls: type, required: dict[str, int], field: str, low: int, high: int | None
    ) -> None:
        """True is refused where a number is expected: a flag is no field value."""
        with pytest.raises(TypeError, match=re.escape(f"{cls.__name__}.{field}:")):
            cls(**{**required, field: True})

    @given(uints(32).filter(bool))
    def test_task_gate_offset(self, offset: int) -> None:
        """A task gate with any nonzero offset is refused naming offset."""
        with pytest.raises(ValueError, match=r"Gate32\.offset:"):
            Gate32(type=d.TYPE_TASK_GATE, offset=offset)

    @given(st.integers(min_value=0, max_value=15).filter(lambda t: t not in d.GATE64_TYPES))
    def test_gate64_type_message(self, type_: int) -> None:
        """Every other Gate64 type is refused saying only 0xE/0xF are valid in a 64-bit IDT."""
        with pytest.raises(ValueError, match=r"only 0xe .*and 0xf .*64-bit IDT"):
            Gate64(type=type_)
