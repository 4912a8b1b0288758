"""The CPU as a whole: construction, snapshots, diffs and restore."""

import pytest

from scenarios.cpu_foundations import KERNEL_PAGE, boot_long_mode_cpu
from simulator.cpu import CPU, AddressSpace, Fault, NotModeled, Snapshot, control


class TestConstruction:
    def test_vendors(self):
        """The two vendor profiles are intel and amd."""
        assert CPU("intel").vendor.name == "intel" and CPU("amd").vendor.name == "amd"

    def test_unknown_vendor(self):
        """An unknown vendor name is a ValueError naming the field and the choices."""
        with pytest.raises(ValueError, match="vendor: expected one of 'intel', 'amd'"):
            CPU("via")

    def test_starts_in_real_mode(self):
        """A new CPU is in real mode at CPL 0 with RFLAGS = 2 (SDM Vol. 3A §10.1.1 Table 10-1)."""
        cpu = CPU()
        assert (cpu.mode, cpu.cpl, cpu.regs.read("rflags")) == ("real", 0, 2)

    def test_control_registers_checked(self):
        """A control-register value wider than 64 bits is refused by name."""
        with pytest.raises(ValueError, match="cr0"):
            CPU().cr0 = 1 << 64


class TestSnapshots:
    def test_snapshot_is_frozen_and_comparable(self):
        """Two snapshots of the same state are equal and hashable."""
        cpu = boot_long_mode_cpu()
        a, b = cpu.snapshot(), cpu.snapshot()
        assert a == b and hash(a) == hash(b)
        with pytest.raises(AttributeError):
            a.cpl = 3

    def test_diff_names_what_changed(self):
        """diff() lists the changed registers, segments, CPL and MSRs by name."""
        cpu = boot_long_mode_cpu()
        before = cpu.snapshot()
        cpu.regs.write("eax", 3)
        cpu.set_segment("cs", 0x33)
        cpu.write_msr("IA32_LSTAR", 0xFFFF_FFFF_8100_0000)
        names = [c.name for c in before.diff(cpu.snapshot())]
        assert names == ["rax", "cs", "cs.cache", "cpl", "IA32_LSTAR"]

    def test_diff_of_equal_snapshots_is_empty(self):
        """Nothing changed, nothing listed."""
        cpu = CPU()
        assert cpu.snapshot().diff(cpu.snapshot()) == ()

    def test_restore(self):
        """restore() brings back every register, segment, CR and MSR."""
        cpu = boot_long_mode_cpu()
        snap = cpu.snapshot()
        cpu.regs.write("r15", 99)
        cpu.set_segment("cs", 0x33)
        cpu.cr4 = control.CR4_PAE | control.CR4_SMEP
        cpu.write_msr("IA32_STAR", 0x0023_0010_0000_0000)
        cpu.set_cr3(0x5000)
        cpu.restore(snap)
        assert cpu.snapshot() == snap
        assert cpu.read(KERNEL_PAGE, 6) == b"kernel"

    def test_snapshot_named_access(self):
        """A snapshot answers by register and segment name."""
        cpu = boot_long_mode_cpu()
        cpu.regs.write("rax", 0x1_0000_0005)
        snap = cpu.snapshot()
        assert snap.reg("eax") == 5 and snap.segment("cs")[0] == 0x10
        assert snap.msr("IA32_EFER") == cpu.efer

    def test_restore_needs_a_snapshot(self):
        """restore() of something else is a TypeError."""
        with pytest.raises(TypeError, match="Snapshot"):
            CPU().restore({})

    def test_snapshot_type(self):
        """snapshot() returns a Snapshot."""
        assert isinstance(CPU().snapshot(), Snapshot)


class TestAccessErrors:
    def test_paging_off_unbacked_is_not_modeled(self):
        """With paging off, memory no one backs is a not-modeled stop, not a silent zero."""
        cpu = CPU()
        result = cpu.read(0x1234, 4)
        assert isinstance(result, NotModeled) and "0x1234" in str(result)

    def test_paging_off_reads_physical(self):
        """With paging off, linear addresses are physical (cpu.physical)."""
        cpu = CPU()
        cpu.physical.map(0x7000, 4, data=b"abcd")
        assert cpu.read(0x7000, 4) == b"abcd"

    def test_unregistered_cr3_has_nothing_mapped(self):
        """A CR3 with no registered address space faults on every access."""
        cpu = boot_long_mode_cpu()
        cpu.set_cr3(0xDEAD000)
        result = cpu.read(KERNEL_PAGE, 1)
        assert isinstance(result, Fault) and result.vector == 14 and result.error_code == 0

    def test_add_address_space_type(self):
        """Only an AddressSpace can be registered."""
        with pytest.raises(TypeError, match="AddressSpace"):
            CPU().add_address_space(0x1000, {})

    def test_bad_size(self):
        """A read size outside 1..4096 is refused by name."""
        with pytest.raises(ValueError, match="size"):
            CPU().read(0, 0)

    def test_bad_kind(self):
        """A read kind other than read or fetch is refused by name."""
        with pytest.raises(ValueError, match="kind"):
            CPU().read(0, 1, kind="write")

    def test_write_needs_bytes(self):
        """write() takes bytes."""
        with pytest.raises(TypeError, match="data"):
            CPU().write(0, "text")

    def test_space_registered_later_is_selected(self):
        """Registering a space for the current CR3 selects it at once."""
        cpu = CPU()
        space = AddressSpace("late")
        cpu.set_cr3(0x3000)
        cpu.add_address_space(0x3000, space)
        assert cpu.space is space


class TestLegacyLinearAddresses:
    def _legacy_cpu(self) -> CPU:
        cpu = CPU()
        space = AddressSpace("legacy")
        space.map(0, 4096, zero=True)
        space.map(0xFFFF_F000, 4096, zero=True)
        cpu.add_address_space(0x1000, space)
        cpu.set_cr3(0x1000)
        cpu.cr0 = control.CR0_PE | control.CR0_PG
        return cpu

    def test_wider_address_refused(self):
        """Outside IA-32e mode a linear address wider than 32 bits is API misuse."""
        with pytest.raises(ValueError, match=r"address: expected 0 \.\. 0xffffffff"):
            self._legacy_cpu().read(0x1_0000_0000, 1)

    def test_access_wraps_at_4_gib(self):
        """A legacy-mode access past 0xFFFFFFFF wraps to linear address 0 (SDM Vol. 3A §3.3)."""
        cpu = self._legacy_cpu()
        assert cpu.write(0xFFFF_FFFE, b"abcd") is None
        assert cpu.read(0, 2) == b"cd"
