"""Segment registers: fixed caches, modes, CPL, and the checks of a segment load."""

import pytest

from scenarios.cpu_foundations import GDT_ADDRESS, boot_long_mode_cpu
from simulator.cpu import (
    CPU,
    FLAT_CODE32_RING0,
    FLAT_CODE64_RING0,
    FLAT_CODE64_RING3,
    FLAT_STACK_RING0,
    FLAT_STACK_RING3,
    NULL_CACHE,
    AddressSpace,
    DescriptorCache,
    Fault,
    SegmentDescriptor,
    TableRegister,
    control,
    msr,
)
from simulator.cpu import segments as S

# Linux 3.16 x86_64 GDT selectors (arch/x86/include/asm/segment.h).
KERNEL_CS, KERNEL_DS, USER32_CS, USER_DS, USER_CS = 0x10, 0x18, 0x23, 0x2B, 0x33


def _fault(result, vector, error_code):
    return isinstance(result, Fault) and (result.vector, result.error_code) == (vector, error_code)


class TestSregNumbers:
    def test_sreg_encoding(self):
        """ES=0, CS=1, SS=2, DS=3, FS=4, GS=5 as the Sreg field encodes them (SDM Vol. 2B MOV)."""
        assert (S.ES, S.CS, S.SS, S.DS, S.FS, S.GS) == (0, 1, 2, 3, 4, 5)

    def test_unknown_segment_name(self):
        """An unknown segment register name is refused with the known ones listed."""
        with pytest.raises(ValueError, match="segment: expected one of es, cs, ss, ds, fs, gs"):
            CPU().segment("xs")


class TestFixedCaches:
    def test_syscall_code_cache(self):
        """SYSCALL's CS: base 0, limit FFFFFH, G=1, type 11, S=1, DPL 0, P=1, L=1, D=0.

        Source: SDM Vol. 2B SYSCALL, Operation.
        """
        c = FLAT_CODE64_RING0
        assert (c.base, c.limit, c.type, c.s, c.dpl, c.present, c.l, c.db, c.g) == (
            0,
            0xFFFF_FFFF,
            11,
            True,
            0,
            True,
            True,
            False,
            True,
        )

    def test_syscall_stack_cache(self):
        """SYSCALL's SS: base 0, limit FFFFFH with G=1, type 3, S=1, DPL 0, P=1, B=1 (SDM Vol. 2B
        SYSCALL).
        """
        c = FLAT_STACK_RING0
        assert (c.base, c.limit, c.type, c.s, c.dpl, c.present, c.db, c.g) == (
            0,
            0xFFFF_FFFF,
            3,
            True,
            0,
            True,
            True,
            True,
        )

    def test_ring3_caches(self):
        """SYSRET's caches are the same with DPL 3 (SDM Vol. 2B SYSRET)."""
        assert FLAT_CODE64_RING3.dpl == 3 and FLAT_STACK_RING3.dpl == 3
        assert FLAT_CODE64_RING3.l and not FLAT_CODE64_RING3.db

    def test_legacy_code_cache(self):
        """SYSENTER outside IA-32e mode loads a 32-bit code cache, L=0 D=1 (SDM Vol. 2B)."""
        assert not FLAT_CODE32_RING0.l and FLAT_CODE32_RING0.db

    def test_null_cache_unusable(self):
        """A null selector's cache is unusable."""
        assert not NULL_CACHE.usable

    def test_cache_field_validation(self):
        """A cache field out of range is refused with its name."""
        with pytest.raises(ValueError, match="dpl"):
            DescriptorCache(dpl=4)


class TestModes:
    @pytest.mark.parametrize(
        ("cr0", "efer", "rflags", "cs_cache", "mode"),
        [
            (0, 0, 2, FLAT_CODE32_RING0, "real"),
            (control.CR0_PE, 0, 2, FLAT_CODE32_RING0, "protected"),
            (control.CR0_PE, 0, 0x20002, FLAT_CODE32_RING0, "virtual-8086"),
            (
                control.CR0_PE | control.CR0_PG,
                msr.EFER_LME | msr.EFER_LMA,
                2,
                FLAT_CODE32_RING0,
                "compatibility",
            ),
            (
                control.CR0_PE | control.CR0_PG,
                msr.EFER_LME | msr.EFER_LMA,
                2,
                FLAT_CODE64_RING0,
                "64-bit",
            ),
        ],
    )
    def test_mode_derivation(self, cr0, efer, rflags, cs_cache, mode):
        """The mode follows CR0.PE, EFER.LMA, RFLAGS.VM and CS.L (SDM Vol. 3A §2.2)."""
        cpu = CPU()
        cpu.efer = efer
        cpu.cr0 = cr0
        cpu.regs.write("rflags", rflags)
        cpu.set_segment("cs", 0x10, cs_cache)
        assert cpu.mode == mode
        assert cpu.snapshot().mode == mode

    def test_cpl_follows_cs_rpl(self):
        """Loading CS sets CPL to its RPL in protected mode (SDM Vol. 3A §5.5)."""
        cpu = boot_long_mode_cpu()
        assert cpu.cpl == 0
        assert cpu.set_segment("cs", USER_CS) is None
        assert cpu.cpl == 3 and cpu.mode == "64-bit"
        assert cpu.set_segment("cs", USER32_CS) is None
        assert cpu.mode == "compatibility"


class TestLoadSegment:
    def test_load_ds_at_cpl0(self):
        """MOV DS, __KERNEL_DS at CPL 0 loads the descriptor's cache."""
        cpu = boot_long_mode_cpu()
        assert cpu.load_segment("ds", KERNEL_DS) is None
        sel, cache = cpu.segment("ds")
        assert sel == KERNEL_DS and cache.dpl == 0 and cache.writable

    def test_null_ds_is_unusable(self):
        """A null selector loads DS with an unusable cache, no fault (SDM Vol. 2B MOV)."""
        cpu = boot_long_mode_cpu()
        assert cpu.load_segment("ds", 0) is None
        assert cpu.segment("ds") == (0, NULL_CACHE)

    def test_null_ss_is_gp0_at_cpl3(self):
        """MOV SS with a null selector at CPL 3 is #GP(0) (SDM Vol. 2B MOV)."""
        cpu = boot_long_mode_cpu()
        cpu.set_segment("cs", USER_CS)
        assert _fault(cpu.load_segment("ss", 0), 13, 0)

    def test_null_ss_allowed_in_64_bit_ring0(self):
        """In 64-bit mode a null SS with RPL = CPL < 3 loads (SDM Vol. 2B MOV, 64-bit mode)."""
        cpu = boot_long_mode_cpu()
        assert cpu.load_segment("ss", 0) is None
        assert cpu.segment("ss")[1].usable is False

    def test_null_ss_refused_in_compatibility_mode(self):
        """Outside 64-bit mode a null SS is #GP(0) even at CPL 0."""
        cpu = boot_long_mode_cpu()
        cpu.set_segment("cs", 0x08)
        assert cpu.mode == "compatibility"
        assert _fault(cpu.load_segment("ss", 0), 13, 0)

    def test_kernel_data_at_cpl3_is_gp(self):
        """DS <- a DPL 0 data segment at CPL 3 is #GP(selector) (SDM Vol. 2B MOV)."""
        cpu = boot_long_mode_cpu()
        cpu.set_segment("cs", USER_CS)
        assert _fault(cpu.load_segment("ds", KERNEL_DS), 13, KERNEL_DS)

    def test_rpl_above_dpl_is_gp(self):
        """DS <- __KERNEL_DS with RPL 3 at CPL 0 is #GP(selector): RPL > DPL."""
        cpu = boot_long_mode_cpu()
        assert _fault(cpu.load_segment("ds", KERNEL_DS | 3), 13, KERNEL_DS)

    def test_ss_needs_rpl_equal_cpl(self):
        """SS <- __USER_DS at CPL 0 is #GP(selector): RPL and DPL must equal CPL."""
        cpu = boot_long_mode_cpu()
        assert _fault(cpu.load_segment("ss", USER_DS), 13, USER_DS & ~3)

    def test_ss_needs_writable_data(self):
        """SS <- a code segment is #GP(selector)."""
        cpu = boot_long_mode_cpu()
        assert _fault(cpu.load_segment("ss", KERNEL_CS), 13, KERNEL_CS)

    def test_ds_accepts_readable_code(self):
        """DS may hold a readable code segment (SDM Vol. 2B MOV)."""
        cpu = boot_long_mode_cpu()
        assert cpu.load_segment("ds", KERNEL_CS) is None

    def test_beyond_gdt_limit(self):
        """A selector past the GDT limit is #GP(selector) (SDM Vol. 2B MOV)."""
        cpu = boot_long_mode_cpu()
        assert _fault(cpu.load_segment("ds", 0x80), 13, 0x80)

    def test_ldt_selector_without_ldt(self):
        """A TI=1 selector with a null LDTR is #GP(selector)."""
        cpu = boot_long_mode_cpu()
        assert _fault(cpu.load_segment("ds", 0x0C), 13, 0x0C)

    def test_error_code_keeps_ti_drops_rpl(self):
        """The error code is the selector with RPL cleared (SDM Vol. 3A §6.13)."""
        cpu = boot_long_mode_cpu()
        cpu.set_segment("cs", USER_CS)
        assert _fault(cpu.load_segment("ds", 0x0F), 13, 0x0C)

    def test_not_present_ds_is_np(self):
        """A not-present data segment is #NP(selector); not-present SS is #SS(selector)."""
        cpu = _cpu_with_gdt(
            {
                1: SegmentDescriptor.from_raw(0x00CF13000000FFFF),  # DPL 0 data, P=0
            }
        )
        assert _fault(cpu.load_segment("ds", 0x08), 11, 0x08)
        assert _fault(cpu.load_segment("ss", 0x08), 12, 0x08)

    def test_accessed_bit_set(self):
        """A load sets a clear accessed bit in memory (SDM Vol. 3A §3.4.5.1)."""
        cpu = _cpu_with_gdt({1: SegmentDescriptor.from_raw(0x00CF92000000FFFF)})
        assert cpu.load_segment("ds", 0x08) is None
        raw = cpu.read(GDT_ADDRESS + 8, 8, implicit=True)
        assert raw[5] == 0x93
        assert cpu.segment("ds")[1].type == 3

    def test_real_mode_load(self):
        """In real mode a load makes base = selector × 16 and limit 0xFFFF (SDM Vol. 3A §20.1.1)."""
        cpu = CPU()
        assert cpu.load_segment("ds", 0x1234) is None
        cache = cpu.segment("ds")[1]
        assert (cache.base, cache.limit) == (0x12340, 0xFFFF)

    def test_cs_cannot_be_loaded_by_mov(self):
        """Loading CS this way is API misuse, a ValueError (MOV to CS is #UD)."""
        with pytest.raises(ValueError, match="MOV cannot load CS"):
            CPU().load_segment("cs", 0x10)

    def test_gdt_on_unmapped_page_faults(self):
        """A GDT on an unmapped page gives the #PF of the implicit read (U/S clear)."""
        cpu = boot_long_mode_cpu()
        cpu.gdtr = TableRegister(base=0x0000_1000_0000_0000, limit=0xFFFF)
        result = cpu.load_segment("ds", 0x18)
        assert _fault(result, 14, 0)
        assert cpu.cr2 == 0x0000_1000_0000_0018


def _cpu_with_gdt(entries: dict[int, SegmentDescriptor]) -> CPU:
    cpu = CPU()
    space = AddressSpace("gdt")
    gdt = bytearray(8 * 8)
    for index, d in entries.items():
        gdt[index * 8 : index * 8 + 8] = d.encode()
    space.map(GDT_ADDRESS, 4096, user=False, data=bytes(gdt), zero=True)
    cpu.add_address_space(0x2000, space)
    cpu.set_cr3(0x2000)
    cpu.cr4 = control.CR4_PAE
    cpu.efer = msr.EFER_LME | msr.EFER_LMA
    cpu.cr0 = control.CR0_PE | control.CR0_PG | control.CR0_WP
    cpu.gdtr = TableRegister(base=GDT_ADDRESS, limit=len(gdt) - 1)
    cpu.set_segment("cs", 0x10, FLAT_CODE64_RING0)
    return cpu
