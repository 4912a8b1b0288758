"""The MSR file: numbers, EFER bits, and every refusal of WRMSR."""

import pytest

from simulator.cpu import CPU, Fault, control, msr


def _gp0(result) -> bool:
    return isinstance(result, Fault) and (result.vector, result.error_code) == (13, 0)


class TestNumbers:
    @pytest.mark.parametrize(
        ("name", "number"),
        [
            ("IA32_SYSENTER_CS", 0x174),
            ("IA32_SYSENTER_ESP", 0x175),
            ("IA32_SYSENTER_EIP", 0x176),
            ("IA32_EFER", 0xC000_0080),
            ("IA32_STAR", 0xC000_0081),
            ("IA32_LSTAR", 0xC000_0082),
            ("IA32_CSTAR", 0xC000_0083),
            ("IA32_FMASK", 0xC000_0084),
            ("IA32_FS_BASE", 0xC000_0100),
            ("IA32_GS_BASE", 0xC000_0101),
            ("IA32_KERNEL_GS_BASE", 0xC000_0102),
        ],
    )
    def test_msr_numbers(self, name, number):
        """Each MSR has its architectural number (SDM Vol. 4 Table 2-2)."""
        assert getattr(msr, name) == number
        assert msr.msr_number(name) == number

    def test_short_names(self):
        """An MSR can be named without its IA32_ prefix, in any case."""
        assert msr.msr_number("lstar") == 0xC000_0082

    @pytest.mark.parametrize(
        ("name", "bit"), [("EFER_SCE", 0), ("EFER_LME", 8), ("EFER_LMA", 10), ("EFER_NXE", 11)]
    )
    def test_efer_bits(self, name, bit):
        """IA32_EFER's bits: SCE 0, LME 8, LMA 10, NXE 11 (SDM Vol. 4 Table 2-2, IA32_EFER)."""
        assert getattr(msr, name) == 1 << bit

    def test_unknown_name(self):
        """An unknown MSR name is a ValueError listing the known ones."""
        with pytest.raises(ValueError, match="msr: expected one of IA32_SYSENTER_CS"):
            msr.msr_number("IA32_BOGUS")


class TestWrmsrRefusals:
    def test_unknown_msr_is_gp0(self):
        """WRMSR to an unimplemented MSR is #GP(0) (SDM Vol. 2B WRMSR, Protected Mode)."""
        assert _gp0(CPU().write_msr(0x1234, 0))

    @pytest.mark.parametrize(
        "name",
        [
            "IA32_LSTAR",
            "IA32_SYSENTER_EIP",
            "IA32_SYSENTER_ESP",
            "IA32_FS_BASE",
            "IA32_GS_BASE",
            "IA32_KERNEL_GS_BASE",
        ],
    )
    def test_non_canonical_address_is_gp0(self, name):
        """A non-canonical address in an address MSR is #GP(0) (SDM Vol. 2B WRMSR)."""
        cpu = CPU()
        before = cpu.snapshot()
        assert _gp0(cpu.write_msr(name, 0x0000_8000_0000_0000))
        assert cpu.snapshot() == before

    @pytest.mark.parametrize("name", ["IA32_LSTAR", "IA32_SYSENTER_EIP", "IA32_GS_BASE"])
    def test_canonical_addresses_accepted(self, name):
        """Both canonical halves are accepted and read back."""
        cpu = CPU()
        for value in (0x0000_7FFF_FFFF_FFFF, 0xFFFF_8000_0000_0000):
            assert cpu.write_msr(name, value) is None
            assert cpu.read_msr(name) == value

    def test_cstar_not_checked(self):
        """The SDM's WRMSR list does not include IA32_CSTAR, so any value is stored."""
        cpu = CPU()
        assert cpu.write_msr("IA32_CSTAR", 0x0000_8000_0000_0000) is None

    def test_efer_reserved_bit_is_gp0(self):
        """Setting a reserved EFER bit is #GP(0) (SDM Vol. 4 Table 2-2, bits 7:1, 9, 63:12)."""
        cpu = CPU("intel")
        for bit in (1, 7, 9, 12, 63):
            assert _gp0(cpu.write_msr("IA32_EFER", 1 << bit)), bit

    def test_efer_amd_bits(self):
        """AMD defines EFER bits 12-15 (SVME, LMSLE, FFXSR, TCE; AMD APM Vol. 2 §3.1.7)."""
        cpu = CPU("amd")
        assert cpu.write_msr("IA32_EFER", msr.EFER_SVME | msr.EFER_TCE) is None
        assert _gp0(cpu.write_msr("IA32_EFER", 1 << 16))

    def test_lme_cannot_change_with_paging_on(self):
        """Changing EFER.LME while CR0.PG=1 is #GP(0) (SDM Vol. 3A §10.8.5)."""
        cpu = CPU()
        cpu.cr0 = control.CR0_PE | control.CR0_PG
        assert _gp0(cpu.write_msr("IA32_EFER", msr.EFER_LME))
        assert cpu.write_msr("IA32_EFER", msr.EFER_SCE) is None

    def test_lme_can_change_with_paging_off(self):
        """With CR0.PG=0 the OS sets LME before it turns paging on."""
        cpu = CPU()
        cpu.cr0 = control.CR0_PE
        assert cpu.write_msr("IA32_EFER", msr.EFER_LME | msr.EFER_SCE) is None
        assert cpu.efer == msr.EFER_LME | msr.EFER_SCE

    def test_lma_is_read_only(self):
        """A write leaves EFER.LMA as the processor set it."""
        cpu = CPU()
        cpu.efer = msr.EFER_LME | msr.EFER_LMA
        cpu.cr0 = control.CR0_PE | control.CR0_PG
        assert cpu.write_msr("IA32_EFER", msr.EFER_LME | msr.EFER_SCE) is None
        assert cpu.efer == msr.EFER_LME | msr.EFER_LMA | msr.EFER_SCE

    def test_value_must_fit_64_bits(self):
        """A value wider than 64 bits is misuse of the API, a ValueError."""
        with pytest.raises(ValueError, match="value"):
            CPU().write_msr("IA32_STAR", 1 << 64)


class TestStorage:
    def test_star_stored_whole(self):
        """STAR keeps all 64 bits, as Linux writes it (0x0023001000000000)."""
        cpu = CPU()
        assert cpu.write_msr("IA32_STAR", 0x0023_0010_0000_0000) is None
        assert cpu.read_msr("IA32_STAR") == 0x0023_0010_0000_0000

    def test_fmask_keeps_low_32_bits(self):
        """Only FMASK bits 31:0 mask RFLAGS (SDM Vol. 3A §5.8.8); the rest are not kept."""
        cpu = CPU()
        assert cpu.write_msr("IA32_FMASK", 0xFFFF_FFFF_0004_7700) is None
        assert cpu.read_msr("IA32_FMASK") == 0x47700

    def test_fs_base_is_the_fs_cache(self):
        """IA32_FS_BASE reads and writes the FS descriptor cache's base (SDM Vol. 3A §3.4.4.1)."""
        cpu = CPU()
        assert cpu.write_msr("IA32_FS_BASE", 0x7F00_0000_1000) is None
        assert cpu.segment("fs")[1].base == 0x7F00_0000_1000
        assert cpu.read_msr("IA32_FS_BASE") == 0x7F00_0000_1000

    def test_amd_sysenter_msrs_are_32_bit(self):
        """AMD keeps only bits 31:0 of the SYSENTER MSRs (Linux: "CPU truncates
        MSR_IA32_SYSENTER_EIP").
        """
        cpu = CPU("amd")
        assert cpu.write_msr("IA32_SYSENTER_EIP", 0xFFFF_FFFF_8100_1234) is None
        assert cpu.read_msr("IA32_SYSENTER_EIP") == 0x8100_1234

    def test_intel_sysenter_msrs_are_64_bit(self):
        """Intel keeps the full 64-bit SYSENTER_EIP."""
        cpu = CPU("intel")
        assert cpu.write_msr("IA32_SYSENTER_EIP", 0xFFFF_FFFF_8100_1234) is None
        assert cpu.read_msr("IA32_SYSENTER_EIP") == 0xFFFF_FFFF_8100_1234

    def test_rdmsr_unknown_is_gp0(self):
        """RDMSR of an unimplemented MSR is #GP(0) (SDM Vol. 2B RDMSR)."""
        assert _gp0(CPU().read_msr(0xDEAD))


class TestTimeStampCounter:
    def test_numbers(self):
        """IA32_TIME_STAMP_COUNTER is 0x10 and IA32_TSC_AUX 0xC0000103 (SDM Vol. 4 Table 2-2)."""
        assert (msr.IA32_TIME_STAMP_COUNTER, msr.IA32_TSC_AUX) == (0x10, 0xC000_0103)

    def test_wrmsr_sets_the_tsc(self):
        """Writing IA32_TIME_STAMP_COUNTER sets the counter RDTSC reads (SDM Vol. 3B §17.17)."""
        cpu = CPU()
        assert cpu.write_msr("IA32_TIME_STAMP_COUNTER", 1000) is None
        assert cpu.read_msr(0x10) == 1000 and cpu.read_tsc() == 1000

    def test_tsc_aux_reserved_bits(self):
        """IA32_TSC_AUX bits 63:32 are reserved: setting one is #GP(0)."""
        assert _gp0(CPU().write_msr("IA32_TSC_AUX", 1 << 32))
