"""Unit tests for GDT/IDT/TSS encodings in simulator.cpu.descriptors, pinned to the Intel SDM."""

from __future__ import annotations

from typing import Any

import pytest

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


class TestTypeConstants:
    def test_code_data_type_bits(self) -> None:
        """Code/data type bits are A=1, W/R=2, E/C=4, code=8 (SDM Vol. 3A §3.4.5.1 Table 3-1)."""
        assert d.TYPE_ACCESSED == 0x1
        assert d.TYPE_WRITABLE == 0x2
        assert d.TYPE_READABLE == 0x2
        assert d.TYPE_EXPAND_DOWN == 0x4
        assert d.TYPE_CONFORMING == 0x4
        assert d.TYPE_CODE == 0x8

    def test_system_types(self) -> None:
        """System types match SDM Vol. 3A §3.5 Table 3-2 (System-Segment and Gate Types)."""
        assert d.TYPE_TSS16_AVAILABLE == 0x1
        assert d.TYPE_LDT == 0x2
        assert d.TYPE_TSS16_BUSY == 0x3
        assert d.TYPE_CALL_GATE16 == 0x4
        assert d.TYPE_TASK_GATE == 0x5
        assert d.TYPE_INTERRUPT_GATE16 == 0x6
        assert d.TYPE_TRAP_GATE16 == 0x7
        assert d.TYPE_TSS_AVAILABLE == 0x9
        assert d.TYPE_TSS_BUSY == 0xB
        assert d.TYPE_CALL_GATE == 0xC
        assert d.TYPE_INTERRUPT_GATE == 0xE
        assert d.TYPE_TRAP_GATE == 0xF

    def test_tss_busy_flag(self) -> None:
        """The TSS busy flag B is type bit 1: 0x9 | B = 0xB (SDM Vol. 3A §7.2.2)."""
        assert d.TYPE_TSS_AVAILABLE | d.TYPE_TSS_BUSY_FLAG == d.TYPE_TSS_BUSY
        assert d.TYPE_TSS16_AVAILABLE | d.TYPE_TSS_BUSY_FLAG == d.TYPE_TSS16_BUSY

    def test_code_data_table(self) -> None:
        """CODE_DATA_TYPES lists the 16 rows of SDM Vol. 3A §3.4.5.1 Table 3-1."""
        assert sorted(d.CODE_DATA_TYPES) == list(range(16))
        assert d.CODE_DATA_TYPES[0x3] == "Data Read/Write, accessed"
        assert d.CODE_DATA_TYPES[0x6] == "Data Read/Write, expand-down"
        assert d.CODE_DATA_TYPES[0xB] == "Code Execute/Read, accessed"
        assert d.CODE_DATA_TYPES[0xC] == "Code Execute-Only, conforming"

    def test_system_tables_ia32_and_ia32e_columns(self) -> None:
        """SYSTEM_TYPES_* hold the 32-bit and IA-32e columns of SDM Vol. 3A Table 3-2."""
        assert d.SYSTEM_TYPES_IA32[0x5] == "Task Gate"
        assert d.SYSTEM_TYPES_IA32[0x9] == "32-bit TSS (Available)"
        assert d.SYSTEM_TYPES_IA32[0xE] == "32-bit Interrupt Gate"
        assert d.SYSTEM_TYPES_IA32E[0x0] == "Upper 8 bytes of a 16-byte descriptor"
        assert d.SYSTEM_TYPES_IA32E[0x9] == "64-bit TSS (Available)"
        assert d.SYSTEM_TYPES_IA32E[0xF] == "64-bit Trap Gate"
        reserved_ia32 = {t for t, name in d.SYSTEM_TYPES_IA32.items() if name == "Reserved"}
        reserved_ia32e = {t for t, name in d.SYSTEM_TYPES_IA32E.items() if name == "Reserved"}
        assert reserved_ia32 == {0x0, 0x8, 0xA, 0xD}
        assert reserved_ia32e == {0x1, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8, 0xA, 0xD}

    def test_tables_are_read_only(self) -> None:
        """The type tables cannot be mutated (no module state that changes)."""
        with pytest.raises(TypeError):
            d.SYSTEM_TYPES_IA32[0] = "x"  # type: ignore[index]

    def test_gate_and_system_type_sets(self) -> None:
        """Legal IDT gate types are 5/6/7/E/F legacy, E/F IA-32e (SDM Vol. 3A §6.11, §6.14.1)."""
        assert d.GATE32_TYPES == (0x5, 0x6, 0x7, 0xE, 0xF)
        assert d.GATE64_TYPES == (0xE, 0xF)
        assert d.SYSTEM_DESCRIPTOR_TYPES == (0x2, 0x9, 0xB)


# Linux 3.16 arch/x86/kernel/cpu/common.c, gdt_page (GDT_ENTRY_INIT flags, base 0, limit 0xfffff).
LINUX_GDT = {
    "kernel32_cs": 0x00CF9B000000FFFF,
    "kernel_cs": 0x00AF9B000000FFFF,
    "kernel_ds": 0x00CF93000000FFFF,
    "user32_cs": 0x00CFFB000000FFFF,
    "user_ds": 0x00CFF3000000FFFF,
    "user_cs": 0x00AFFB000000FFFF,
}


def _flat(**fields: Any) -> SegmentDescriptor:
    """A present flat (base 0, 4 GiB) code or data descriptor with ``fields`` on top."""
    return SegmentDescriptor(base=0, limit=0xFFFFF, s=True, present=True, g=True, **fields)


class TestSegmentDescriptor:
    def test_linux_kernel32_cs(self) -> None:
        """0x00CF9B000000FFFF is flat 32-bit ring-0 code (Linux 3.16 GDT_ENTRY_INIT)."""
        desc = SegmentDescriptor.from_raw(LINUX_GDT["kernel32_cs"])
        assert desc == _flat(type=0xB, dpl=0, db=True)

    def test_linux_kernel_cs(self) -> None:
        """0x00AF9B000000FFFF is flat 64-bit (L=1, D=0) ring-0 code (Linux 3.16 GDT_ENTRY_INIT)."""
        desc = SegmentDescriptor.from_raw(LINUX_GDT["kernel_cs"])
        assert desc == _flat(type=0xB, dpl=0, l=True)

    def test_linux_kernel_ds(self) -> None:
        """0x00CF93000000FFFF is flat ring-0 read/write data (Linux 3.16 GDT_ENTRY_INIT)."""
        desc = SegmentDescriptor.from_raw(LINUX_GDT["kernel_ds"])
        assert desc == _flat(type=0x3, dpl=0, db=True)

    def test_linux_user32_cs(self) -> None:
        """0x00CFFB000000FFFF is flat 32-bit ring-3 code (Linux 3.16 GDT_ENTRY_INIT)."""
        desc = SegmentDescriptor.from_raw(LINUX_GDT["user32_cs"])
        assert desc == _flat(type=0xB, dpl=3, db=True)

    def test_linux_user_ds(self) -> None:
        """0x00CFF3000000FFFF is flat ring-3 read/write data (Linux 3.16 GDT_ENTRY_INIT)."""
        desc = SegmentDescriptor.from_raw(LINUX_GDT["user_ds"])
        assert desc == _flat(type=0x3, dpl=3, db=True)

    def test_linux_user_cs(self) -> None:
        """0x00AFFB000000FFFF is flat 64-bit ring-3 code (Linux 3.16 GDT_ENTRY_INIT)."""
        desc = SegmentDescriptor.from_raw(LINUX_GDT["user_cs"])
        assert desc == _flat(type=0xB, dpl=3, l=True)

    @pytest.mark.parametrize("raw", sorted(LINUX_GDT.values()))
    def test_linux_entries_reencode(self, raw: int) -> None:
        """Each Linux GDT entry encodes back to its own 8 little-endian bytes."""
        desc = SegmentDescriptor.decode(raw.to_bytes(8, "little"))
        assert desc.encode() == raw.to_bytes(8, "little")
        assert desc.raw == raw
        assert desc.byte_limit == 0xFFFFFFFF

    def test_byte_layout(self) -> None:
        """Fields land at the bytes of SDM Vol. 3A §3.4.5 Figure 3-8."""
        desc = SegmentDescriptor(
            base=0x89ABCDEF,
            limit=0x5_1234,
            type=0xA,
            s=True,
            dpl=2,
            present=True,
            avl=True,
            l=False,
            db=True,
            g=False,
        )
        assert desc.encode() == bytes([0x34, 0x12, 0xEF, 0xCD, 0xAB, 0xDA, 0x55, 0x89])
        assert desc.access_byte == 0xDA

    def test_access_byte_of_linux_code(self) -> None:
        """Byte 5 of the kernel code descriptor is 0x9B: P, DPL 0, S, type 0xB."""
        assert SegmentDescriptor.from_raw(LINUX_GDT["kernel_cs"]).access_byte == 0x9B

    def test_byte_limit_scales_with_g(self) -> None:
        """With G=1 the limit counts 4 KiB units: (limit << 12) | 0xFFF (SDM Vol. 3A §3.4.5)."""
        assert SegmentDescriptor(limit=0x67).byte_limit == 0x67
        assert SegmentDescriptor(limit=0x67, g=True).byte_limit == 0x67FFF
        assert SegmentDescriptor(limit=0, g=True).byte_limit == 0xFFF

    def test_code_properties(self) -> None:
        """Code type bits give conforming, readable and accessed (SDM Vol. 3A Table 3-1)."""
        code = SegmentDescriptor(s=True, type=0xF)
        assert (code.is_code, code.is_data, code.is_system) == (True, False, False)
        assert (code.conforming, code.readable, code.accessed) == (True, True, True)
        assert (code.writable, code.expand_down) == (False, False)
        exec_only = SegmentDescriptor(s=True, type=0x8)
        assert (exec_only.conforming, exec_only.readable, exec_only.accessed) == (False,) * 3

    def test_data_properties(self) -> None:
        """Data type bits give writable, expand-down and accessed; data is always readable."""
        data = SegmentDescriptor(s=True, type=0x7)
        assert (data.is_code, data.is_data, data.is_system) == (False, True, False)
        assert (data.writable, data.expand_down, data.accessed, data.readable) == (True,) * 4
        assert data.conforming is False
        read_only = SegmentDescriptor(s=True, type=0x0)
        assert (read_only.writable, read_only.expand_down, read_only.accessed) == (False,) * 3
        assert read_only.readable is True

    def test_system_properties(self) -> None:
        """With S=0 the type is a system type: no code/data property applies."""
        tss = SegmentDescriptor(s=False, type=0xB)
        assert (tss.is_system, tss.is_code, tss.is_data) == (True, False, False)
        assert (tss.readable, tss.writable, tss.accessed, tss.conforming) == (False,) * 4

    @pytest.mark.parametrize("type_", [0x1, 0x2, 0x3, 0x9, 0xB])
    def test_legacy_system_descriptor(self, type_: int) -> None:
        """Legacy 8-byte LDT and 16/32-bit TSS descriptors are SegmentDescriptors with S=0."""
        tss = SegmentDescriptor(base=0xC1000000, limit=0x67, type=type_, present=True)
        assert tss.access_byte == 0x80 | type_
        assert SegmentDescriptor.decode(tss.encode()) == tss

    def test_null_descriptor_is_default(self) -> None:
        """The default descriptor is the all-zero null descriptor."""
        assert SegmentDescriptor().encode() == bytes(8)

    def test_accepts_bytearray_and_memoryview(self) -> None:
        """decode takes bytes, bytearray and memoryview alike."""
        blob = LINUX_GDT["user_cs"].to_bytes(8, "little")
        assert SegmentDescriptor.decode(bytearray(blob)) == SegmentDescriptor.decode(blob)
        assert SegmentDescriptor.decode(memoryview(blob)) == SegmentDescriptor.decode(blob)

    def test_decode_wrong_length(self) -> None:
        """decode refuses anything but 8 bytes, naming data and both lengths."""
        with pytest.raises(ValueError, match=r"SegmentDescriptor\.decode data: expected 8 bytes"):
            SegmentDescriptor.decode(bytes(7))

    def test_decode_wrong_type(self) -> None:
        """decode refuses a non-bytes argument with TypeError."""
        with pytest.raises(TypeError, match=r"SegmentDescriptor\.decode data"):
            SegmentDescriptor.decode(0x00CF9B000000FFFF)  # type: ignore[arg-type]

    def test_from_raw_range(self) -> None:
        """from_raw refuses a value wider than 64 bits."""
        with pytest.raises(ValueError, match=r"SegmentDescriptor\.raw"):
            SegmentDescriptor.from_raw(1 << 64)

    def test_field_errors_name_the_field(self) -> None:
        """Out-of-range fields raise ValueError naming field, expected and received value."""
        with pytest.raises(
            ValueError, match=r"SegmentDescriptor\.limit: expected .*received 0x100000"
        ):
            SegmentDescriptor(limit=0x100000)
        with pytest.raises(ValueError, match=r"SegmentDescriptor\.dpl: expected 0 \.\. 3"):
            SegmentDescriptor(dpl=4)
        with pytest.raises(TypeError, match=r"SegmentDescriptor\.g"):
            SegmentDescriptor(g="yes")

    def test_frozen(self) -> None:
        """Descriptors are immutable values."""
        desc = SegmentDescriptor()
        with pytest.raises(AttributeError):
            desc.dpl = 3  # type: ignore[misc]


class TestSystemDescriptor:
    def test_byte_layout(self) -> None:
        """Base[63:32] is in bytes 8-11, bytes 12-15 are zero (SDM Vol. 3A §7.2.3 Figure 7-4)."""
        desc = SystemDescriptor(
            base=0xFFFF_8800_1234_5678, limit=0x2067, type=0x9, dpl=0, present=True, g=False
        )
        assert desc.encode() == bytes.fromhex("67207856348900120088ffff00000000")
        assert desc.access_byte == 0x89

    def test_low_half_matches_segment_descriptor(self) -> None:
        """The low 8 bytes are the legacy layout of a system segment descriptor."""
        desc = SystemDescriptor(
            base=0x1_2345_6789, limit=0xFFFFF, type=0x2, dpl=3, avl=True, g=True
        )
        low = SegmentDescriptor.decode(desc.encode()[:8])
        assert (low.base, low.limit, low.type, low.s, low.dpl) == (
            0x2345_6789,
            0xFFFFF,
            2,
            False,
            3,
        )
        assert (low.avl, low.g, low.l, low.db) == (True, True, False, False)

    def test_properties(self) -> None:
        """is_ldt, is_tss and busy follow the type; byte_limit follows G."""
        assert SystemDescriptor(type=0x2).is_ldt
        assert SystemDescriptor(type=0x9).is_tss and not SystemDescriptor(type=0x9).busy
        assert SystemDescriptor(type=0xB).busy
        assert SystemDescriptor(type=0x9, limit=0x67, g=True).byte_limit == 0x67FFF

    @pytest.mark.parametrize("type_", [0x0, 0x1, 0x3, 0xC, 0xE, 0xF])
    def test_type_refused(self, type_: int) -> None:
        """Only 0x2, 0x9 and 0xB are LDT/TSS types in IA-32e mode, and the message says so."""
        with pytest.raises(ValueError, match=r"SystemDescriptor\.type: .*0x2 LDT, 0x9 avail"):
            SystemDescriptor(type=type_)

    def test_decode_refuses_s_bit(self) -> None:
        """A lower half with S=1 is a code/data segment, refused naming the S bit."""
        blob = bytearray(SystemDescriptor(type=0x9).encode())
        blob[5] |= 0x10
        with pytest.raises(ValueError, match=r"SystemDescriptor\.s: expected 0"):
            SystemDescriptor.decode(blob)

    def test_decode_refuses_bad_type(self) -> None:
        """A lower-half type that is no LDT/TSS type is refused naming the type."""
        blob = bytearray(SystemDescriptor(type=0x9).encode())
        blob[5] = (blob[5] & 0xF0) | 0xC
        with pytest.raises(ValueError, match=r"SystemDescriptor\.type.*received 0xc"):
            SystemDescriptor.decode(blob)

    def test_decode_refuses_upper_type(self) -> None:
        """Bits 12:8 of bytes 12-15 (the upper half's type) must be zero (SDM Figure 7-4)."""
        blob = bytearray(SystemDescriptor(type=0x9).encode())
        blob[13] = 0x01
        with pytest.raises(ValueError, match=r"upper type \(bytes 12-15 bits 12:8\)"):
            SystemDescriptor.decode(blob)

    def test_decode_refuses_other_reserved(self) -> None:
        """The remaining reserved bits of bytes 12-15 are refused as reserved."""
        blob = bytearray(SystemDescriptor(type=0x9).encode())
        blob[15] = 0x80
        with pytest.raises(ValueError, match=r"SystemDescriptor reserved \(bytes 12-15"):
            SystemDescriptor.decode(blob)

    def test_decode_refuses_l_and_db(self) -> None:
        """Byte 6 bits 6:5 (L and D/B in code segments) are zero in an LDT/TSS descriptor."""
        blob = bytearray(SystemDescriptor(type=0x9).encode())
        blob[6] |= 0x20
        with pytest.raises(ValueError, match=r"byte 6 bits 6:5"):
            SystemDescriptor.decode(blob)

    def test_type_is_required(self) -> None:
        """There is no default type: a descriptor must say whether it is an LDT or a TSS."""
        with pytest.raises(TypeError):
            SystemDescriptor()  # type: ignore[call-arg]


class TestGate32:
    def test_ring0_interrupt_gate_attr(self) -> None:
        """A present DPL-0 32-bit interrupt gate has type-attribute byte 0x8E (SDM Figure 6-2)."""
        assert Gate32(type=0xE, present=True).access_byte == 0x8E

    def test_ring3_interrupt_gate_attr(self) -> None:
        """A present DPL-3 32-bit interrupt gate (Linux's int 0x80) has byte 0xEE."""
        assert Gate32(type=0xE, dpl=3, present=True).access_byte == 0xEE

    def test_ring3_trap_gate_attr(self) -> None:
        """A present DPL-3 32-bit trap gate has byte 0xEF."""
        assert Gate32(type=0xF, dpl=3, present=True).access_byte == 0xEF

    def test_task_gate_attr(self) -> None:
        """A present DPL-0 task gate has byte 0x85."""
        assert Gate32(type=0x5, selector=0x28, present=True).access_byte == 0x85

    def test_byte_layout(self) -> None:
        """Offset splits over bytes 0-1 and 6-7, selector in 2-3, byte 4 zero (SDM Figure 6-2)."""
        gate = Gate32(offset=0xC1234567, selector=0x0060, type=0xE, dpl=3, present=True)
        assert gate.encode() == bytes([0x67, 0x45, 0x60, 0x00, 0x00, 0xEE, 0x23, 0xC1])
        assert gate.raw == 0xC123EE0000604567

    def test_kinds_and_sizes(self) -> None:
        """Type bit 3 is the gate size D; types 6/E are interrupt gates, 7/F trap gates."""
        kinds = {
            t: (g.is_interrupt_gate, g.is_trap_gate, g.is_task_gate, g.gate_size)
            for t in d.GATE32_TYPES
            for g in [Gate32(type=t)]
        }
        assert kinds == {
            0x5: (False, False, True, None),
            0x6: (True, False, False, 16),
            0x7: (False, True, False, 16),
            0xE: (True, False, False, 32),
            0xF: (False, True, False, 32),
        }

    @pytest.mark.parametrize("type_", [0x0, 0x4, 0x9, 0xC])
    def test_type_refused(self, type_: int) -> None:
        """A type that is not a task, interrupt or trap gate is refused naming the type."""
        with pytest.raises(ValueError, match=r"Gate32\.type: expected one of 0x5, 0x6, 0x7, 0xe"):
            Gate32(type=type_)

    def test_task_gate_offset_refused(self) -> None:
        """A task gate's offset fields are reserved: a nonzero offset is refused."""
        with pytest.raises(ValueError, match=r"Gate32\.offset: expected 0 for a task gate"):
            Gate32(type=0x5, offset=1)

    def test_decode_task_gate_with_offset_bytes(self) -> None:
        """Decoding a task gate with nonzero offset bytes is refused naming offset."""
        with pytest.raises(ValueError, match=r"Gate32\.offset"):
            Gate32.from_raw(0x0001_8500_0028_0000)

    def test_decode_refuses_byte4_high_bits(self) -> None:
        """Byte 4 bits 7:5 must be zero in an interrupt or trap gate (SDM Figure 6-2)."""
        with pytest.raises(ValueError, match=r"Gate32 reserved \(byte 4 bits 7:5\)"):
            Gate32.from_raw(0x0000_8E20_0008_0000)

    def test_decode_ignores_byte4_low_bits(self) -> None:
        """Byte 4 bits 4:0 are unused: decode ignores them, encode writes zero."""
        gate = Gate32.from_raw(0x0000_8E1F_0008_0000)
        assert gate == Gate32(selector=8, type=0xE, present=True)
        assert gate.encode()[4] == 0

    def test_decode_refuses_s_bit(self) -> None:
        """An IDT gate with S=1 is refused naming the S bit."""
        with pytest.raises(ValueError, match=r"Gate32\.s: expected 0"):
            Gate32.from_raw(0x0000_9E00_0008_0000)


class TestGate64:
    def test_byte_layout(self) -> None:
        """Offset in bytes 0-1, 6-7, 8-11; IST in byte 4; bytes 12-15 zero (SDM Figure 6-8)."""
        gate = Gate64(
            offset=0xFFFF_FFFF_8123_4567, selector=0x10, ist=3, type=0xE, dpl=3, present=True
        )
        assert gate.encode() == bytes.fromhex("6745100003ee2381ffffffff00000000")

    def test_access_bytes(self) -> None:
        """Type-attribute bytes: 0x8E for a ring-0 interrupt gate, 0xEF for a ring-3 trap gate."""
        assert Gate64(type=0xE, present=True).access_byte == 0x8E
        assert Gate64(type=0xF, dpl=3, present=True).access_byte == 0xEF

    def test_kinds(self) -> None:
        """0xE is an interrupt gate (clears IF on delivery), 0xF a trap gate."""
        assert Gate64(type=0xE).is_interrupt_gate and not Gate64(type=0xE).is_trap_gate
        assert Gate64(type=0xF).is_trap_gate and not Gate64(type=0xF).is_interrupt_gate

    @pytest.mark.parametrize("type_", [0x5, 0x6, 0x7, 0xC])
    def test_type_refused(self, type_: int) -> None:
        """Task, 16-bit and call-gate types are refused: only 0xE/0xF are valid in a 64-bit IDT."""
        with pytest.raises(ValueError, match=r"Gate64\.type: .*only 0xe .* 0xf .* 64-bit IDT"):
            Gate64(type=type_)

    def test_ist_range(self) -> None:
        """IST is 0..7 (3 bits of byte 4)."""
        with pytest.raises(ValueError, match=r"Gate64\.ist: expected 0 \.\. 7, received 0x8"):
            Gate64(type=0xE, ist=8)

    def test_decode_refuses_reserved_dword(self) -> None:
        """Bytes 12-15 are reserved: a nonzero value is refused naming them."""
        raw = Gate64(type=0xE, present=True).raw | 1 << 120
        with pytest.raises(ValueError, match=r"Gate64 reserved \(bytes 12-15\)"):
            Gate64.from_raw(raw)

    def test_decode_refuses_byte4_high_bits(self) -> None:
        """Byte 4 bits 7:3 are reserved zero."""
        raw = Gate64(type=0xE, present=True).raw | 1 << 35
        with pytest.raises(ValueError, match=r"Gate64 reserved \(byte 4 bits 7:3\)"):
            Gate64.from_raw(raw)

    def test_decode_refuses_s_bit(self) -> None:
        """An IDT gate with S=1 is refused naming the S bit."""
        raw = Gate64(type=0xE, present=True).raw | 1 << 44
        with pytest.raises(ValueError, match=r"Gate64\.s: expected 0"):
            Gate64.from_raw(raw)


TSS32_FIGURE_7_2 = {
    "link": 0x00,
    "esp0": 0x04,
    "ss0": 0x08,
    "esp1": 0x0C,
    "ss1": 0x10,
    "esp2": 0x14,
    "ss2": 0x18,
    "cr3": 0x1C,
    "eip": 0x20,
    "eflags": 0x24,
    "eax": 0x28,
    "ecx": 0x2C,
    "edx": 0x30,
    "ebx": 0x34,
    "esp": 0x38,
    "ebp": 0x3C,
    "esi": 0x40,
    "edi": 0x44,
    "es": 0x48,
    "cs": 0x4C,
    "ss": 0x50,
    "ds": 0x54,
    "fs": 0x58,
    "gs": 0x5C,
    "ldt": 0x60,
    "t": 0x64,
    "iomap_base": 0x66,
}


class TestTSS32:
    def test_offsets(self) -> None:
        """TSS32_OFFSETS match SDM Vol. 3A §7.2.1 Figure 7-2 (32-Bit Task-State Segment)."""
        assert dict(d.TSS32_OFFSETS) == TSS32_FIGURE_7_2
        assert [f.name for f in TSS32.__attrs_attrs__] == list(TSS32_FIGURE_7_2)

    def test_field_bits(self) -> None:
        """Selectors are 16 bits, registers 32, T one bit, the I/O map base 16."""
        bits = d.TSS32_FIELD_BITS
        assert {n for n, b in bits.items() if b == 16} == {
            "link", "ss0", "ss1", "ss2", "es", "cs", "ss", "ds", "fs", "gs", "ldt", "iomap_base"
        }  # fmt: skip
        assert bits["t"] == 1
        assert sum(1 for b in bits.values() if b == 32) == 14

    def test_stack_offsets(self) -> None:
        """ESPn is at 8n+4 and SSn at 8n+8 (SDM Vol. 3A §7.2.1; INT n pseudocode)."""
        assert [d.tss32_esp_offset(n) for n in range(3)] == [0x04, 0x0C, 0x14]
        assert [d.tss32_ss_offset(n) for n in range(3)] == [0x08, 0x10, 0x18]
        for n in range(3):
            assert d.TSS32_OFFSETS[f"esp{n}"] == d.tss32_esp_offset(n)
            assert d.TSS32_OFFSETS[f"ss{n}"] == d.tss32_ss_offset(n)

    def test_ring3_has_no_stack(self) -> None:
        """There is no ring-3 stack in the TSS: ring 3 is refused naming ring."""
        with pytest.raises(ValueError, match=r"ring: expected 0 \.\. 2, received 0x3"):
            d.tss32_esp_offset(3)

    def test_every_field_at_its_offset(self) -> None:
        """Each field's value is found little-endian at its offset and nowhere else."""
        for name, off in TSS32_FIGURE_7_2.items():
            value = 1 if name == "t" else 0xBEEF
            blob = TSS32(**{name: value}).encode()
            width = 2 if d.TSS32_FIELD_BITS[name] <= 16 else 4
            assert blob[off : off + width] == value.to_bytes(width, "little"), name
            assert blob[:off] + blob[off + width :] == bytes(104 - width), name

    def test_size_and_defaults(self) -> None:
        """A TSS32 is 104 bytes (limit 0x67) and every field defaults to zero."""
        assert TSS32.SIZE == 104
        assert TSS32().encode() == bytes(104)

    def test_stack_accessor(self) -> None:
        """stack(n) returns the (SSn, ESPn) pair."""
        tss = TSS32(ss0=0x68, esp0=0xC0001000, ss1=0x11, esp1=0x2000, ss2=0x12, esp2=0x3000)
        assert [tss.stack(n) for n in range(3)] == [
            (0x68, 0xC0001000),
            (0x11, 0x2000),
            (0x12, 0x3000),
        ]

    def test_decode_refuses_selector_upper_half(self) -> None:
        """The upper half of a selector dword is reserved; decode names the field."""
        blob = bytearray(104)
        blob[0x0A] = 1
        with pytest.raises(ValueError, match=r"TSS32\.ss0 reserved upper half \(bytes 0x0a-0x0b\)"):
            TSS32.decode(blob)

    def test_decode_refuses_t_word_bits(self) -> None:
        """Bits 15:1 of the word at 0x64 are reserved."""
        blob = bytearray(104)
        blob[0x64] = 0x03
        with pytest.raises(ValueError, match=r"TSS32\.t reserved"):
            TSS32.decode(blob)

    def test_field_range(self) -> None:
        """A selector wider than 16 bits is refused naming the field."""
        with pytest.raises(ValueError, match=r"TSS32\.ss0: expected 0 \.\. 0xffff"):
            TSS32(ss0=0x10000)


class TestTSS64:
    def test_offsets(self) -> None:
        """TSS64_OFFSETS match SDM Vol. 3A §7.7 Figure 7-11 (64-Bit TSS Format)."""
        assert dict(d.TSS64_OFFSETS) == {
            "rsp0": 0x04,
            "rsp1": 0x0C,
            "rsp2": 0x14,
            "ist1": 0x24,
            "ist2": 0x2C,
            "ist3": 0x34,
            "ist4": 0x3C,
            "ist5": 0x44,
            "ist6": 0x4C,
            "ist7": 0x54,
            "iomap_base": 0x66,
        }
        assert d.TSS64_FIELD_BITS["iomap_base"] == 16
        assert all(b == 64 for n, b in d.TSS64_FIELD_BITS.items() if n != "iomap_base")

    def test_rsp_and_ist_helpers(self) -> None:
        """RSPn is at 8n+4 and ISTn at 8n+0x1C, IST1 0x24 .. IST7 0x54 (SDM §6.14.5, §7.7)."""
        assert [d.tss64_rsp_offset(n) for n in range(3)] == [0x04, 0x0C, 0x14]
        assert [d.tss64_ist_offset(n) for n in range(1, 8)] == list(range(0x24, 0x55, 8))
        with pytest.raises(ValueError, match=r"ist: expected 1 \.\. 7"):
            d.tss64_ist_offset(0)

    def test_layout(self) -> None:
        """RSP0 and IST7 land at 0x04 and 0x54, unaligned, little-endian."""
        blob = TSS64(rsp0=0xFFFF_C900_0000_4000, ist7=0x1122_3344_5566_7788).encode()
        assert blob[0x04:0x0C] == (0xFFFF_C900_0000_4000).to_bytes(8, "little")
        assert blob[0x54:0x5C] == (0x1122_3344_5566_7788).to_bytes(8, "little")
        rest = blob[:0x04] + blob[0x0C:0x54] + blob[0x5C:]
        assert rest == bytes(104 - 16)

    def test_accessors(self) -> None:
        """rsp(n) and ist(n) read the stack pointers by number."""
        tss = TSS64(rsp1=1, rsp2=2, ist1=11, ist7=17)
        assert [tss.rsp(n) for n in range(3)] == [0, 1, 2]
        assert (tss.ist(1), tss.ist(7)) == (11, 17)

    @pytest.mark.parametrize("offset", [0x00, 0x1C, 0x23, 0x5C, 0x63, 0x64, 0x65])
    def test_decode_refuses_reserved(self, offset: int) -> None:
        """Reserved bytes are "Set to 0" in Figure 7-11; decode names the reserved range."""
        blob = bytearray(104)
        blob[offset] = 0x40
        with pytest.raises(ValueError, match=r"TSS64 reserved \(bytes"):
            TSS64.decode(blob)

    def test_decode_wrong_length(self) -> None:
        """A TSS64 is exactly 104 bytes."""
        with pytest.raises(ValueError, match=r"TSS64\.decode data: expected 104 bytes"):
            TSS64.decode(bytes(103))


class TestTableRegister:
    def test_entry_address(self) -> None:
        """Entry n of a table is at base + n*size (legacy 8 bytes, IA-32e IDT 16 bytes)."""
        idtr = TableRegister(base=0xFFFF_FFFF_FF57_A000, limit=0xFFF)
        assert idtr.entry_address(0x80, 16) == 0xFFFF_FFFF_FF57_A800
        assert idtr.entry_address(0x80, 8) == 0xFFFF_FFFF_FF57_A400

    def test_entry_address_wraps(self) -> None:
        """Linear address arithmetic wraps at 2**64."""
        assert TableRegister(base=(1 << 64) - 8).entry_address(2, 8) == 8

    def test_entry_size_domain(self) -> None:
        """Entry sizes are 4 (IVT), 8 or 16 bytes."""
        with pytest.raises(ValueError, match=r"size: expected one of 0x4, 0x8, 0x10"):
            TableRegister().entry_address(1, 12)

    def test_covers(self) -> None:
        """An access fits when offset + size - 1 <= limit (SDM Vol. 3A §6.10, §3.5.1)."""
        idtr = TableRegister(limit=0x80 * 8 + 7)
        assert idtr.covers(0x80 * 8, 8)
        assert not idtr.covers(0x80 * 8, 16)
        assert TableRegister(limit=0).covers(0, 1)
        assert not TableRegister(limit=0).covers(0, 2)

    def test_pseudo_descriptor(self) -> None:
        """The 10-byte pseudo-descriptor is limit then base (SDM Vol. 3A Figure 3-11)."""
        gdtr = TableRegister(base=0xFFFF_8800_0000_1000, limit=0x7F)
        assert gdtr.encode() == bytes.fromhex("7f00001000000088ffff")
        assert TableRegister.decode(gdtr.encode()) == gdtr


class TestSelectors:
    def test_fields(self) -> None:
        """Bits 15:3 are the index, bit 2 TI, bits 1:0 RPL (SDM Vol. 3A §3.4.2 Figure 3-6)."""
        assert (d.selector_index(0x33), d.selector_ti(0x33), d.selector_rpl(0x33)) == (6, 0, 3)
        assert (d.selector_index(0x0F), d.selector_ti(0x0F), d.selector_rpl(0x0F)) == (1, 1, 3)

    def test_make_selector(self) -> None:
        """make_selector builds Linux's __USER_CS 0x33 and __KERNEL_CS 0x10."""
        assert d.make_selector(6, 0, 3) == 0x33
        assert d.make_selector(2, False, 0) == 0x10
        assert d.make_selector(8191, True, 3) == 0xFFFF

    def test_make_selector_domain(self) -> None:
        """Index is 13 bits and RPL 0..3, each refused by name."""
        with pytest.raises(ValueError, match=r"index"):
            d.make_selector(8192, 0, 0)
        with pytest.raises(ValueError, match=r"rpl"):
            d.make_selector(1, 0, 4)

    def test_null_selector(self) -> None:
        """Selectors 0-3 are null whatever the RPL; 4 (LDT index 0) is not (SDM Vol. 3A §3.4.2)."""
        assert all(d.is_null_selector(s) for s in range(4))
        assert not d.is_null_selector(4)
        assert not d.is_null_selector(8)

    def test_selector_range(self) -> None:
        """A selector wider than 16 bits is refused naming selector."""
        with pytest.raises(ValueError, match=r"selector: expected 0 \.\. 0xffff"):
            d.selector_index(0x10000)


class TestErrorCodes:
    def test_error_code_bits(self) -> None:
        """Error-code bits are EXT=1, IDT=2, TI=4 (SDM Vol. 3A §6.13 Figure 6-7)."""
        assert (d.ERROR_CODE_EXT, d.ERROR_CODE_IDT, d.ERROR_CODE_TI) == (1, 2, 4)

    def test_int80_through_bad_gate(self) -> None:
        """INT 0x80 through a bad or too-privileged gate faults with #GP(0x402)."""
        assert d.idt_error_code(0x80) == 0x402

    def test_idt_error_code_ext(self) -> None:
        """A hardware-delivered event sets EXT: vector*8 + 2 + 1."""
        assert d.idt_error_code(0x0E, ext=True) == 0x73
        assert d.idt_error_code(255) == 0x7FA

    def test_idt_error_code_is_index_times_8_for_16_byte_gates(self) -> None:
        """The IDT index is vector << 3 even with 16-byte IA-32e gates (not vector << 4)."""
        assert d.idt_error_code(0x80) >> 3 == 0x80

    def test_selector_error_code(self) -> None:
        """A selector error code clears the RPL bits and ORs EXT: (sel & 0xFFFC) | ext."""
        assert d.selector_error_code(0x33) == 0x30
        assert d.selector_error_code(0x2B, ext=True) == 0x29
        assert d.selector_error_code(0x0F) == 0x0C

    def test_vector_range(self) -> None:
        """Vectors are 0..255, refused by name."""
        with pytest.raises(ValueError, match=r"vector: expected 0 \.\. 255"):
            d.idt_error_code(256)
