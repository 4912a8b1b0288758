"""Paging access rights, #PF error codes and canonical checks against an SDM-derived model."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from simulator.cpu import CPU, AddressSpace, Fault, control, flags, msr

# Page-fault error-code bits, SDM Vol. 3A §4.7 Figure 4-12, written out here on
# purpose rather than imported, so the check does not share the simulator's constants.
P = 1 << 0  # 0: no translation (P flag 0); 1: protection or reserved-bit violation
WR = 1 << 1  # the access was a write
US = 1 << 2  # the access was a user-mode access
RSVD = 1 << 3  # a reserved bit was set in a paging-structure entry
ID = 1 << 4  # an instruction fetch, reported only with SMEP or (PAE and NXE)

PF_VECTOR = 14
GP_VECTOR = 13
SS_VECTOR = 12

PAGE = 4096
CR3 = 0x1000
BASE = 0x0040_0000  # below 4 GiB, so the same addresses serve legacy and IA-32e paging
CR2_SENTINEL = 0x5A5A_5000

# Paging modes, SDM Vol. 3A §4.1.1 Table 4-1: 32-bit paging (CR4.PAE=0, LMA=0),
# PAE paging (CR4.PAE=1, LMA=0) and 4-level paging (CR4.PAE=1, LMA=1).
PAGING_32 = "32-bit"
PAGING_PAE = "PAE"
PAGING_4LEVEL = "4-level"
PAGING_MODES = (PAGING_32, PAGING_PAE, PAGING_4LEVEL)

KINDS = ("read", "write", "fetch")


def reference_pf_error(
    *,
    cpl: int,
    implicit: bool,
    kind: str,
    present: bool,
    user_page: bool,
    writable: bool,
    xd: bool,
    wp: bool,
    smep: bool,
    smap: bool,
    ac: bool,
    nxe: bool,
    pae: bool,
) -> int | None:
    """The #PF error code the SDM gives for one access, or None when the access is allowed.

    Written from SDM Vol. 3A §4.6.1 (who may do what to which address) and §4.7
    (how the error code describes the refused access).
    """
    # §4.6.1: an access is user-mode when CPL = 3, except the processor's own implicit
    # accesses to GDT/LDT/IDT/TSS, which are supervisor-mode at every CPL.
    user_access = cpl == 3 and not implicit
    # §4.7: W/R, U/S and I/D describe the access, not the rights of the page.
    code = 0
    if kind == "write":
        code |= WR
    if user_access:
        code |= US
    if kind == "fetch" and (smep or (pae and nxe)):
        code |= ID
    # §4.7: P=0 when there is no translation because a P flag was 0.
    if not present:
        return code
    # §4.5 / §4.4.2: with PAE or 4-level paging and EFER.NXE = 0, XD (bit 63) of a
    # present entry is reserved, so there is no translation: P=1 and RSVD=1 whatever
    # the access. 32-bit paging has no XD bit at all, so nothing is reserved there.
    if pae and not nxe and xd:
        return code | P | RSVD
    # XD only forbids fetches with PAE or 4-level paging and NXE = 1.
    fetch_disabled = pae and nxe and xd
    if user_access:
        # User-mode: only user-mode addresses; writes need R/W=1 (CR0.WP irrelevant);
        # fetches need XD clear.
        if not user_page:
            allowed = False
        elif kind == "read":
            allowed = True
        elif kind == "write":
            allowed = writable
        else:
            allowed = not fetch_disabled
    elif kind == "fetch":
        # Supervisor-mode fetch: XD as above; SMEP forbids every user-mode address.
        allowed = not fetch_disabled and not (user_page and smep)
    elif user_page and smap and (implicit or not ac):
        # SMAP: supervisor data accesses to user-mode addresses are refused unless the
        # access is explicit and EFLAGS.AC = 1.
        allowed = False
    elif kind == "write":
        # CR0.WP = 0 lets supervisor writes ignore R/W; WP = 1 makes them honour it.
        allowed = writable or not wp
    else:
        allowed = True
    return None if allowed else code | P


def is_canonical48(address: int) -> bool:
    """Bits 63:47 all equal (SDM Vol. 1 §3.3.7.1, 48-bit linear addresses)."""
    top = address >> 47
    return top in (0, (1 << 17) - 1)


def configure(
    cpu: CPU, mode: str, *, nxe: bool, wp: bool = True, smep: bool = False, smap: bool = False
) -> None:
    """Turn paging on in ``mode`` with the given modifiers (direct register loads)."""
    cr4 = control.CR4_PAE if mode != PAGING_32 else 0
    if smep:
        cr4 |= control.CR4_SMEP
    if smap:
        cr4 |= control.CR4_SMAP
    efer = msr.EFER_LME | msr.EFER_LMA if mode == PAGING_4LEVEL else 0
    if nxe:
        efer |= msr.EFER_NXE
    cpu.cr4 = cr4
    cpu.efer = efer
    cpu.cr0 = control.CR0_PE | control.CR0_PG | (control.CR0_WP if wp else 0)


PAGE_KINDS = tuple(itertools.product((False, True), repeat=3))  # (user, writable, xd)


def build_rules_cpu(
    mode: str, *, nxe: bool, wp: bool, smep: bool, smap: bool
) -> tuple[CPU, AddressSpace, dict[tuple[bool, bool, bool], int], int]:
    """One CPU per context: a page for every (U/S, R/W, XD) plus an unmapped page."""
    cpu = CPU("intel")
    space = AddressSpace("rules")
    pages = {}
    for i, (user, writable, xd) in enumerate(PAGE_KINDS):
        address = BASE + 2 * i * PAGE  # an unmapped gap after every page
        space.map(
            address,
            PAGE,
            user=user,
            writable=writable,
            executable=not xd,
            data=bytes((i * 16 + j) & 0xFF for j in range(64)),
        )
        pages[(user, writable, xd)] = address
    unmapped = BASE + 2 * len(PAGE_KINDS) * PAGE
    cpu.add_address_space(CR3, space)
    cpu.set_cr3(CR3)
    configure(cpu, mode, nxe=nxe, wp=wp, smep=smep, smap=smap)
    return cpu, space, pages, unmapped


class TestAccessRightsTable:
    def test_every_combination_matches_the_sdm(self) -> None:
        """Every rights combination gives the SDM's outcome (SDM Vol. 3A §4.6.1, §4.7)."""
        mismatches: list[str] = []
        checked = 0
        bools = (False, True)
        for mode, nxe, wp, smep, smap in itertools.product(PAGING_MODES, *[bools] * 4):
            cpu, space, pages, unmapped = build_rules_cpu(
                mode, nxe=nxe, wp=wp, smep=smep, smap=smap
            )
            pae = mode != PAGING_32
            for cpl, ac, implicit, kind, present, page_kind in itertools.product(
                (0, 1, 2, 3), bools, bools, KINDS, bools, PAGE_KINDS
            ):
                user_page, writable, xd = page_kind
                if not present and page_kind != PAGE_KINDS[0]:
                    continue  # rights of a missing page mean nothing: one case suffices
                address = (pages[page_kind] if present else unmapped) + 0x10
                cpu.cpl = cpl
                cpu.regs.write("rflags", flags.FIXED1 | (flags.AC if ac else 0))
                cpu.cr2 = CR2_SENTINEL
                expected = reference_pf_error(
                    cpl=cpl,
                    implicit=implicit,
                    kind=kind,
                    present=present,
                    user_page=user_page,
                    writable=writable,
                    xd=xd,
                    wp=wp,
                    smep=smep,
                    smap=smap,
                    ac=ac,
                    nxe=nxe,
                    pae=pae,
                )
                before = space.peek(address, 4) if present else None
                payload = bytes([checked & 0xFF, 0xA5, 0x5A, 0x3C])
                if kind == "write":
                    result = cpu.write(address, payload, implicit=implicit)
                else:
                    result = cpu.read(address, 4, kind=kind, implicit=implicit)
                checked += 1
                case = (
                    f"mode={mode} nxe={nxe} wp={wp} smep={smep} smap={smap} cpl={cpl} "
                    f"ac={ac} implicit={implicit} kind={kind} present={present} "
                    f"user={user_page} writable={writable} xd={xd}"
                )
                if expected is None:
                    if isinstance(result, Fault) or (kind != "write" and result != before):
                        mismatches.append(f"{case}: expected allowed, got {result}")
                    elif kind == "write" and space.peek(address, 4) != payload:
                        mismatches.append(f"{case}: allowed write did not land")
                    elif cpu.cr2 != CR2_SENTINEL:
                        mismatches.append(f"{case}: CR2 changed on an allowed access")
                elif not (
                    isinstance(result, Fault)
                    and result.vector == PF_VECTOR
                    and result.error_code == expected
                    and result.address == address
                    and cpu.cr2 == address
                ):
                    mismatches.append(
                        f"{case}: expected #PF({expected:#x}) at {address:#x}, got {result} "
                        f"with CR2={cpu.cr2:#x}"
                    )
                elif present and space.peek(address, 4) != before:
                    mismatches.append(f"{case}: refused write changed memory")
        assert checked > 10_000
        assert not mismatches, f"{len(mismatches)} of {checked} cases differ:\n" + "\n".join(
            mismatches[:40]
        )


# ------------------------------------------------------------------ canonical addresses

_BOUNDARIES = (0, 1 << 47, 0xFFFF_8000_0000_0000, 1 << 63, 1 << 48, (1 << 64) - (1 << 47))
addresses = st.one_of(
    st.integers(0, (1 << 64) - 1),
    st.builds(
        lambda base, delta: (base + delta) % (1 << 64),
        st.sampled_from(_BOUNDARIES),
        st.integers(-24, 24),
    ),
)


def _ia32e_cpu() -> CPU:
    cpu = CPU("intel")
    cpu.add_address_space(CR3, AddressSpace("empty"))
    cpu.set_cr3(CR3)
    configure(cpu, PAGING_4LEVEL, nxe=True)
    return cpu


class TestCanonicalRule:
    @given(
        address=addresses,
        size=st.integers(1, 16),
        kind=st.sampled_from(KINDS),
        stack=st.booleans(),
    )
    def test_ia32e_non_canonical_is_gp_or_ss(
        self, address: int, size: int, kind: str, stack: bool
    ) -> None:
        """A non-canonical first or last byte is #GP(0), on the stack #SS(0) (Vol. 1 §3.3.7.1)."""
        cpu = _ia32e_cpu()
        stack = stack and kind != "fetch"  # a fetch is never a stack reference
        last = (address + size - 1) % (1 << 64)
        canonical = is_canonical48(address) and is_canonical48(last)
        cpu.cr2 = CR2_SENTINEL
        if kind == "write":
            result = cpu.write(address, bytes(size), stack=stack)
        else:
            result = cpu.read(address, size, kind=kind, stack=stack)
        assert isinstance(result, Fault)
        if canonical:
            # Nothing is mapped: the reference reaches paging and takes a not-present #PF.
            assert result.vector == PF_VECTOR
            assert result.error_code & P == 0
            assert result.address == address
            assert cpu.cr2 == address
        else:
            assert (result.vector, result.error_code) == (SS_VECTOR if stack else GP_VECTOR, 0)
            assert cpu.cr2 == CR2_SENTINEL  # only a #PF loads CR2

    @given(
        address=st.integers(0, 0xFFFF_FFFF),
        size=st.integers(1, 16),
        mode=st.sampled_from((PAGING_32, PAGING_PAE)),
        stack=st.booleans(),
    )
    def test_legacy_mode_has_no_canonical_fault(
        self, address: int, size: int, mode: str, stack: bool
    ) -> None:
        """Outside IA-32e mode no 32-bit address is non-canonical: no #GP/#SS (Vol. 1 §3.3.7.1)."""
        cpu = CPU("intel")
        cpu.add_address_space(CR3, AddressSpace("empty"))
        cpu.set_cr3(CR3)
        configure(cpu, mode, nxe=False)
        result = cpu.read(address, size, stack=stack)
        assert isinstance(result, Fault)
        assert result.vector == PF_VECTOR


# ------------------------------------------------------------ page-crossing writes

REFUSALS = ("unmapped", "read-only", "supervisor", "smap")


class TestPageCrossingWrite:
    @given(
        before_boundary=st.integers(1, 15),
        after_boundary=st.integers(1, 15),
        refusal=st.sampled_from(REFUSALS),
        mode=st.sampled_from(PAGING_MODES),
    )
    def test_refused_second_page_writes_nothing(
        self, before_boundary: int, after_boundary: int, refusal: str, mode: str
    ) -> None:
        """A write refused on its second page writes nothing; CR2 is that page (Vol. 3A §4.7)."""
        cpu = CPU("intel")
        space = AddressSpace("crossing")
        first = BASE
        second = BASE + PAGE
        # The first page is one the access may write: a user page at CPL 3, a supervisor
        # page at CPL 0 (where SMAP refuses only the user-mode second page).
        space.map(first, PAGE, user=refusal != "smap", data=bytes(range(256)) * 16)
        if refusal != "unmapped":
            space.map(
                second,
                PAGE,
                writable=refusal != "read-only",
                user=refusal != "supervisor",
                data=bytes(range(255, -1, -1)) * 16,
            )
        cpu.add_address_space(CR3, space)
        cpu.set_cr3(CR3)
        configure(cpu, mode, nxe=True, smap=refusal == "smap")
        cpu.cpl = 0 if refusal == "smap" else 3
        cpu.regs.write("rflags", flags.FIXED1)
        snapshot = space.snapshot()
        address = second - before_boundary
        result = cpu.write(address, b"\x77" * (before_boundary + after_boundary))
        expected = reference_pf_error(
            cpl=cpu.cpl,
            implicit=False,
            kind="write",
            present=refusal != "unmapped",
            user_page=refusal != "supervisor",
            writable=refusal != "read-only",
            xd=False,
            wp=True,
            smep=False,
            smap=refusal == "smap",
            ac=False,
            nxe=True,
            pae=mode != PAGING_32,
        )
        assert expected is not None
        assert isinstance(result, Fault)
        assert (result.vector, result.error_code) == (PF_VECTOR, expected)
        assert result.address == second
        assert cpu.cr2 == second
        assert space.snapshot() == snapshot
