"""Worked examples of paging access rights and #PF error codes, pinned to the Intel SDM."""

from __future__ import annotations

import pytest

from simulator.cpu import CPU, POISON, AddressSpace, Fault, NotModeled, control, faults, flags, msr

PF = 14
GP = 13
CR3 = 0x1000
PAGE = 0x1000

USER_RW = 0x0040_0000
USER_RO = 0x0040_2000
USER_NX = 0x0040_4000
SUPER_RW = 0x0040_6000
SUPER_RO = 0x0040_8000
SUPER_NX = 0x0040_A000
UNMAPPED = 0x0040_C000
CR2_SENTINEL = 0x5A5A_5000


def paged_cpu(
    *,
    pae: bool = True,
    long_mode: bool = True,
    nxe: bool = True,
    wp: bool = True,
    smep: bool = False,
    smap: bool = False,
    cpl: int = 3,
    ac: bool = False,
) -> tuple[CPU, AddressSpace]:
    """A CPU with paging on and one page of each kind used below (direct register loads)."""
    cpu = CPU("intel")
    space = AddressSpace("examples")
    space.map(USER_RW, PAGE, writable=True, user=True, executable=True, data=b"user")
    space.map(USER_RO, PAGE, writable=False, user=True, executable=True, data=b"ro")
    space.map(USER_NX, PAGE, writable=True, user=True, executable=False, data=b"nx")
    space.map(SUPER_RW, PAGE, writable=True, user=False, executable=True, data=b"kern")
    space.map(SUPER_RO, PAGE, writable=False, user=False, executable=True, data=b"kro")
    space.map(SUPER_NX, PAGE, writable=True, user=False, executable=False, data=b"knx")
    cpu.add_address_space(CR3, space)
    cpu.set_cr3(CR3)
    cr4 = control.CR4_PAE if pae else 0
    cr4 |= control.CR4_SMEP if smep else 0
    cr4 |= control.CR4_SMAP if smap else 0
    cpu.cr4 = cr4
    efer = msr.EFER_LME | msr.EFER_LMA if long_mode else 0
    cpu.efer = efer | (msr.EFER_NXE if nxe else 0)
    cpu.cr0 = control.CR0_PE | control.CR0_PG | (control.CR0_WP if wp else 0)
    cpu.cpl = cpl
    cpu.regs.write("rflags", flags.FIXED1 | (flags.AC if ac else 0))
    cpu.cr2 = CR2_SENTINEL
    return cpu, space


def assert_pf(result: object, cpu: CPU, error_code: int, address: int) -> None:
    """``result`` is #PF(error_code) reporting ``address``, and CR2 holds it."""
    assert isinstance(result, Fault), result
    assert result.vector == PF, result
    assert result.error_code == error_code, f"{result}: expected error code {error_code:#x}"
    assert result.address == address
    assert cpu.cr2 == address


class TestErrorCodeLayout:
    def test_error_code_bits(self) -> None:
        """P, W/R, U/S, RSVD, I/D are error-code bits 0-4 (SDM Vol. 3A §4.7 Figure 4-12)."""
        assert faults.PF_P == 0x1
        assert faults.PF_WR == 0x2
        assert faults.PF_US == 0x4
        assert faults.PF_RSVD == 0x8
        assert faults.PF_ID == 0x10


class TestUserModeAccess:
    def test_read_supervisor_page(self) -> None:
        """A CPL 3 read of a supervisor page is #PF 0x5: P|U/S (SDM Vol. 3A §4.6.1, §4.7)."""
        cpu, _ = paged_cpu()
        assert_pf(cpu.read(SUPER_RW + 8, 4), cpu, 0x5, SUPER_RW + 8)

    def test_write_read_only_user_page(self) -> None:
        """A CPL 3 write to a read-only user page is #PF 0x7: P|W/R|U/S (SDM Vol. 3A §4.6.1)."""
        cpu, space = paged_cpu()
        assert_pf(cpu.write(USER_RO, b"xx"), cpu, 0x7, USER_RO)
        assert space.peek(USER_RO, 2) == b"ro"

    def test_write_read_only_user_page_ignores_wp(self) -> None:
        """CR0.WP=0 never lets user-mode writes reach a read-only page (SDM Vol. 3A §4.1.3)."""
        cpu, _ = paged_cpu(wp=False)
        assert_pf(cpu.write(USER_RO, b"xx"), cpu, 0x7, USER_RO)

    def test_write_supervisor_page(self) -> None:
        """A CPL 3 write to a writable supervisor page is #PF 0x7 (SDM Vol. 3A §4.6.1)."""
        cpu, _ = paged_cpu()
        assert_pf(cpu.write(SUPER_RW, b"x"), cpu, 0x7, SUPER_RW)

    def test_read_unmapped_page(self) -> None:
        """A CPL 3 read of an unmapped page is #PF 0x4: P clear, U/S set (SDM Vol. 3A §4.7)."""
        cpu, _ = paged_cpu()
        assert_pf(cpu.read(UNMAPPED + 0x123, 1), cpu, 0x4, UNMAPPED + 0x123)

    def test_write_unmapped_page(self) -> None:
        """A CPL 3 write to an unmapped page is #PF 0x6: W/R|U/S (SDM Vol. 3A §4.7)."""
        cpu, _ = paged_cpu()
        assert_pf(cpu.write(UNMAPPED, b"x"), cpu, 0x6, UNMAPPED)

    def test_read_and_write_user_page(self) -> None:
        """CPL 3 may read and write a writable user page (SDM Vol. 3A §4.6.1)."""
        cpu, space = paged_cpu()
        assert cpu.read(USER_RW, 4) == b"user"
        assert cpu.write(USER_RW, b"USER") is None
        assert space.peek(USER_RW, 4) == b"USER"
        assert cpu.cr2 == CR2_SENTINEL


class TestSupervisorWriteProtect:
    def test_wp_set_refuses_read_only_write(self) -> None:
        """A CPL 0 write to a read-only kernel page with WP=1 is #PF 0x3 (SDM Vol. 3A §4.6.1)."""
        cpu, space = paged_cpu(cpl=0, wp=True)
        assert_pf(cpu.write(SUPER_RO, b"xyz"), cpu, 0x3, SUPER_RO)
        assert space.peek(SUPER_RO, 3) == b"kro"

    def test_wp_clear_allows_read_only_write(self) -> None:
        """With CR0.WP=0 a CPL 0 write to a read-only kernel page succeeds (SDM Vol. 3A §4.6.1)."""
        cpu, space = paged_cpu(cpl=0, wp=False)
        assert cpu.write(SUPER_RO, b"xyz") is None
        assert space.peek(SUPER_RO, 3) == b"xyz"

    def test_wp_clear_allows_read_only_user_write_without_smap(self) -> None:
        """With WP=0 and SMAP=0 a CPL 0 write to a read-only user page succeeds (SDM §4.6.1)."""
        cpu, space = paged_cpu(cpl=0, wp=False)
        assert cpu.write(USER_RO, b"ok") is None
        assert space.peek(USER_RO, 2) == b"ok"

    @pytest.mark.parametrize("cpl", [1, 2])
    def test_cpl_1_and_2_are_supervisor(self, cpl: int) -> None:
        """CPL 1 and 2 make supervisor-mode accesses: U/S is clear (SDM Vol. 3A §4.6.1)."""
        cpu, _ = paged_cpu(cpl=cpl)
        assert cpu.read(SUPER_RW, 4) == b"kern"
        assert_pf(cpu.write(SUPER_RO, b"x"), cpu, 0x3, SUPER_RO)


class TestExecuteDisable:
    def test_user_fetch_from_nx_page(self) -> None:
        """A CPL 3 fetch from an XD user page with NXE=1 is #PF 0x15 (SDM Vol. 3A §4.6.1, §4.7)."""
        cpu, _ = paged_cpu(nxe=True)
        assert_pf(cpu.read(USER_NX, 2, kind="fetch"), cpu, 0x15, USER_NX)

    def test_supervisor_fetch_from_nx_page(self) -> None:
        """A CPL 0 fetch from an XD supervisor page with NXE=1 is #PF 0x11 (SDM Vol. 3A §4.6.1)."""
        cpu, _ = paged_cpu(nxe=True, cpl=0)
        assert_pf(cpu.read(SUPER_NX, 2, kind="fetch"), cpu, 0x11, SUPER_NX)

    def test_nx_page_is_readable(self) -> None:
        """XD forbids only fetches: a CPL 3 read of an XD user page succeeds (SDM §4.6.1)."""
        cpu, _ = paged_cpu(nxe=True)
        assert cpu.read(USER_NX, 2) == b"nx"

    @pytest.mark.parametrize("long_mode", [False, True], ids=["pae", "4-level"])
    def test_xd_with_nxe_clear_is_reserved_bit_read(self, long_mode: bool) -> None:
        """With PAE and NXE=0 a set XD bit is reserved: a CPL 3 read is #PF 0xD (SDM §4.5, §4.7)."""
        cpu, _ = paged_cpu(nxe=False, long_mode=long_mode)
        assert_pf(cpu.read(USER_NX, 2), cpu, 0xD, USER_NX)

    def test_xd_with_nxe_clear_is_reserved_bit_write_and_fetch(self) -> None:
        """The reserved-bit fault hits writes (0xF) and fetches (0xD, no I/D) too (SDM §4.7)."""
        cpu, _ = paged_cpu(nxe=False)
        assert_pf(cpu.write(USER_NX, b"x"), cpu, 0xF, USER_NX)
        assert_pf(cpu.read(USER_NX, 1, kind="fetch"), cpu, 0xD, USER_NX)

    def test_xd_with_nxe_clear_is_reserved_bit_supervisor(self) -> None:
        """A CPL 0 read meeting a reserved XD bit gets #PF 0x9: P|RSVD (SDM Vol. 3A §4.7)."""
        cpu, _ = paged_cpu(nxe=False, cpl=0)
        assert_pf(cpu.read(SUPER_NX, 1), cpu, 0x9, SUPER_NX)

    @pytest.mark.parametrize("nxe", [False, True])
    def test_32bit_paging_has_no_xd(self, nxe: bool) -> None:
        """32-bit paging has no XD bit, so NX is ignored and no RSVD arises (SDM Vol. 3A §4.3)."""
        cpu, _ = paged_cpu(pae=False, long_mode=False, nxe=nxe)
        assert cpu.read(USER_NX, 2, kind="fetch") == b"nx"
        assert cpu.read(USER_NX, 2) == b"nx"
        assert cpu.cr2 == CR2_SENTINEL


class TestSmep:
    def test_supervisor_fetch_from_user_page(self) -> None:
        """With SMEP a CPL 0 fetch from a user page is #PF 0x11: P|I/D (SDM Vol. 3A §4.6.1)."""
        cpu, _ = paged_cpu(smep=True, cpl=0)
        assert_pf(cpu.read(USER_RW, 4, kind="fetch"), cpu, 0x11, USER_RW)

    def test_smep_sets_id_without_nxe(self) -> None:
        """SMEP alone makes a fetch fault report I/D, even in 32-bit paging (SDM Vol. 3A §4.7)."""
        cpu, _ = paged_cpu(pae=False, long_mode=False, nxe=False, smep=True, cpl=0)
        assert_pf(cpu.read(USER_RW, 4, kind="fetch"), cpu, 0x11, USER_RW)

    def test_smep_off_allows_supervisor_fetch_from_user_page(self) -> None:
        """Without SMEP a CPL 0 fetch from an executable user page succeeds (SDM Vol. 3A §4.6.1)."""
        cpu, _ = paged_cpu(smep=False, cpl=0)
        assert cpu.read(USER_RW, 4, kind="fetch") == b"user"

    def test_smep_leaves_data_reads_alone(self) -> None:
        """SMEP restricts fetches only: a CPL 0 read of a user page succeeds (SDM §4.6.1)."""
        cpu, _ = paged_cpu(smep=True, smap=False, cpl=0)
        assert cpu.read(USER_RW, 4) == b"user"

    def test_smep_leaves_user_fetches_alone(self) -> None:
        """SMEP concerns supervisor-mode fetches: CPL 3 still fetches from a user page (§4.6.1)."""
        cpu, _ = paged_cpu(smep=True, cpl=3)
        assert cpu.read(USER_RW, 4, kind="fetch") == b"user"


class TestSmap:
    def test_read_user_page_with_ac_clear(self) -> None:
        """With SMAP and AC=0 a CPL 0 read of a user page is #PF 0x1 (SDM Vol. 3A §4.6.1)."""
        cpu, _ = paged_cpu(smap=True, cpl=0, ac=False)
        assert_pf(cpu.read(USER_RW, 4), cpu, 0x1, USER_RW)

    def test_read_user_page_with_ac_set(self) -> None:
        """With SMAP and AC=1 an explicit CPL 0 read of a user page succeeds (SDM §4.6.1)."""
        cpu, _ = paged_cpu(smap=True, cpl=0, ac=True)
        assert cpu.read(USER_RW, 4) == b"user"

    def test_write_user_page_with_ac_clear(self) -> None:
        """With SMAP and AC=0 a CPL 0 write to a user page is #PF 0x3 (SDM Vol. 3A §4.6.1)."""
        cpu, space = paged_cpu(smap=True, cpl=0, ac=False)
        assert_pf(cpu.write(USER_RW, b"kk"), cpu, 0x3, USER_RW)
        assert space.peek(USER_RW, 4) == b"user"

    def test_write_read_only_user_page_with_ac_set(self) -> None:
        """SMAP with AC=1 and WP=1 still honours R/W: 0x3 for a read-only page (SDM §4.6.1)."""
        cpu, _ = paged_cpu(smap=True, cpl=0, ac=True, wp=True)
        assert_pf(cpu.write(USER_RO, b"kk"), cpu, 0x3, USER_RO)

    def test_smap_leaves_fetches_alone(self) -> None:
        """SMAP governs data accesses only: a CPL 0 fetch from a user page succeeds (§4.6.1)."""
        cpu, _ = paged_cpu(smap=True, smep=False, cpl=0, ac=False)
        assert cpu.read(USER_RW, 4, kind="fetch") == b"user"

    def test_smap_leaves_user_mode_alone(self) -> None:
        """SMAP restricts supervisor-mode accesses: CPL 3 reads its own page (SDM §4.6.1)."""
        cpu, _ = paged_cpu(smap=True, cpl=3, ac=False)
        assert cpu.read(USER_RW, 4) == b"user"


class TestImplicitAccess:
    def test_implicit_cpl3_smap_ignores_ac(self) -> None:
        """An implicit CPL 3 read of a user page under SMAP with AC=1 is #PF 0x1 (SDM §4.6.1)."""
        cpu, _ = paged_cpu(smap=True, cpl=3, ac=True)
        assert_pf(cpu.read(USER_RW, 8, implicit=True), cpu, 0x1, USER_RW)

    def test_implicit_cpl0_smap_write_ignores_ac(self) -> None:
        """An implicit CPL 0 write to a user page under SMAP with AC=1 is #PF 0x3 (SDM §4.6.1)."""
        cpu, _ = paged_cpu(smap=True, cpl=0, ac=True)
        assert_pf(cpu.write(USER_RW, b"t", implicit=True), cpu, 0x3, USER_RW)

    def test_implicit_cpl3_reads_supervisor_page(self) -> None:
        """An implicit access is supervisor-mode at CPL 3, so it reads a kernel page (§4.6.1)."""
        cpu, _ = paged_cpu(cpl=3)
        assert cpu.read(SUPER_RW, 4, implicit=True) == b"kern"

    def test_implicit_cpl3_unmapped_has_us_clear(self) -> None:
        """An implicit CPL 3 read of an unmapped page is #PF 0x0: U/S clear (SDM Vol. 3A §4.7)."""
        cpu, _ = paged_cpu(cpl=3)
        assert_pf(cpu.read(UNMAPPED, 8, implicit=True), cpu, 0x0, UNMAPPED)

    def test_implicit_cpl3_write_protect(self) -> None:
        """An implicit CPL 3 write to a read-only kernel page with WP=1 is #PF 0x3 (SDM §4.6.1)."""
        cpu, _ = paged_cpu(cpl=3, wp=True)
        assert_pf(cpu.write(SUPER_RO, b"b", implicit=True), cpu, 0x3, SUPER_RO)


class TestInstructionFetchFlag:
    def test_no_id_without_smep_or_nxe(self) -> None:
        """With neither SMEP nor NXE a fetch fault has I/D clear: 0x5 (SDM Vol. 3A §4.7)."""
        cpu, _ = paged_cpu(nxe=False, smep=False)
        assert_pf(cpu.read(SUPER_RW, 1, kind="fetch"), cpu, 0x5, SUPER_RW)

    def test_no_id_in_32bit_paging_with_nxe(self) -> None:
        """With 32-bit paging NXE does not enable I/D: a fetch fault is 0x5 (SDM Vol. 3A §4.7)."""
        cpu, _ = paged_cpu(pae=False, long_mode=False, nxe=True, smep=False)
        assert_pf(cpu.read(SUPER_RW, 1, kind="fetch"), cpu, 0x5, SUPER_RW)

    def test_id_on_not_present_fetch(self) -> None:
        """With PAE and NXE a fetch from an unmapped page is #PF 0x14: I/D|U/S (SDM §4.7)."""
        cpu, _ = paged_cpu(nxe=True)
        assert_pf(cpu.read(UNMAPPED, 1, kind="fetch"), cpu, 0x14, UNMAPPED)

    def test_id_on_supervisor_page_fetch(self) -> None:
        """With PAE and NXE a CPL 3 fetch from a kernel page is #PF 0x15 (SDM Vol. 3A §4.7)."""
        cpu, _ = paged_cpu(nxe=True)
        assert_pf(cpu.read(SUPER_RW, 1, kind="fetch"), cpu, 0x15, SUPER_RW)

    def test_no_id_on_data_read(self) -> None:
        """I/D describes the access, so a data-read fault never sets it (SDM Vol. 3A §4.7)."""
        cpu, _ = paged_cpu(nxe=True, smep=True)
        assert_pf(cpu.read(SUPER_RW, 1), cpu, 0x5, SUPER_RW)


class TestCr2:
    def test_cr2_is_faulting_address(self) -> None:
        """On #PF, CR2 holds the faulting linear address (SDM Vol. 3A §4.7, §6.15 #PF)."""
        cpu, _ = paged_cpu()
        assert_pf(cpu.read(SUPER_RW + 0xABC, 2), cpu, 0x5, SUPER_RW + 0xABC)

    def test_cr2_for_page_crossing_read(self) -> None:
        """A read refused on its second page puts that page's first byte in CR2 (SDM §4.7)."""
        cpu, _ = paged_cpu()
        start = USER_RW + PAGE - 3  # USER_RW + PAGE is unmapped
        assert_pf(cpu.read(start, 8), cpu, 0x4, USER_RW + PAGE)

    def test_cr2_for_page_crossing_write(self) -> None:
        """A write refused on its second page reports that page and writes nothing (SDM §4.7)."""
        cpu, space = paged_cpu()
        space.map(USER_RW + PAGE, PAGE, writable=False, user=True, data=b"next")
        start = USER_RW + PAGE - 2
        before = space.peek(start, 6)
        assert_pf(cpu.write(start, b"ABCDEF"), cpu, 0x7, USER_RW + PAGE)
        assert space.peek(start, 6) == before

    def test_cr2_when_first_page_refused(self) -> None:
        """A crossing access refused on its first page reports its own address (SDM §4.7)."""
        cpu, _ = paged_cpu()
        start = SUPER_RW - 2  # the page below SUPER_RW is unmapped
        assert_pf(cpu.read(start, 4), cpu, 0x4, start)

    def test_cr2_untouched_by_success(self) -> None:
        """An allowed access leaves CR2 alone: only a #PF loads it (SDM Vol. 3A §6.15 #PF)."""
        cpu, _ = paged_cpu()
        assert cpu.read(USER_RW, 4) == b"user"
        assert cpu.cr2 == CR2_SENTINEL

    def test_cr2_untouched_by_gp(self) -> None:
        """A non-canonical #GP(0) leaves CR2 alone (SDM Vol. 1 §3.3.7.1, Vol. 3A §6.15)."""
        cpu, _ = paged_cpu()
        result = cpu.read(0x0000_8000_0000_0000, 1)
        assert result == Fault(GP, 0, None, result.detail)
        assert cpu.cr2 == CR2_SENTINEL

    def test_ss_for_non_canonical_stack_reference(self) -> None:
        """A non-canonical stack reference is #SS(0) (SDM Vol. 1 §3.3.7.1)."""
        cpu, _ = paged_cpu()
        result = cpu.write(0xFFFF_7FFF_FFFF_FFF8, b"12345678", stack=True)
        assert isinstance(result, Fault)
        assert (result.vector, result.error_code) == (faults.SS, 0)


class TestPagingDisabled:
    def _unpaged(self) -> CPU:
        cpu = CPU("intel")
        cpu.cr0 = control.CR0_PE
        cpu.cpl = 3
        return cpu

    def test_unbacked_read_is_not_modeled(self) -> None:
        """With CR0.PG=0 an unbacked physical read is NotModeled, never zeros (SDM Vol. 3A §4.1)."""
        cpu = self._unpaged()
        assert isinstance(cpu.read(0x9000, 4), NotModeled)
        assert isinstance(cpu.read(0x9000, 4, kind="fetch"), NotModeled)

    def test_unbacked_write_is_not_modeled(self) -> None:
        """With CR0.PG=0 an unbacked physical write is NotModeled, not a fault (§4.1)."""
        cpu = self._unpaged()
        assert isinstance(cpu.write(0x9000, b"x"), NotModeled)

    def test_no_rights_check_without_paging(self) -> None:
        """With CR0.PG=0 there are no page rights: CPL 3 writes any backed memory (§4.1)."""
        cpu = self._unpaged()
        cpu.physical.map(0x9000, PAGE, writable=False, user=False, executable=False)
        assert cpu.write(0x9000, b"phys") is None
        assert cpu.read(0x9000, 4) == b"phys"
        assert cpu.read(0x9000, 4, kind="fetch") == b"phys"


class TestPoison:
    def test_fresh_page_reads_poison(self) -> None:
        """A page mapped with zero=False reads as the poison byte 0xCC, not zero."""
        assert POISON == 0xCC
        cpu, space = paged_cpu()
        space.map(UNMAPPED, PAGE, zero=False)
        assert cpu.read(UNMAPPED + 0x40, 8) == b"\xcc" * 8

    def test_zeroed_page_reads_zero(self) -> None:
        """A page mapped with zero=True reads as zeros, as the kernel's anonymous pages do."""
        cpu, space = paged_cpu()
        space.map(UNMAPPED, PAGE, zero=True)
        assert cpu.read(UNMAPPED + 0x40, 8) == bytes(8)
