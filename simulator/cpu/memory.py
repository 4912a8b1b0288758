"""Paged memory: sparse 4 KiB pages per address space, and the SDM's access-rights rules.

The page tables themselves are not kept in simulated memory: each address space
maps a virtual page number straight to a page with the *effective* rights of
its translation (the combination over every paging level that SDM Vol. 3A §4.6
describes). That is enough for every rule this simulator teaches; docs/
lists it among the simplifications.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from simulator.cpu._validate import check_bool, check_int
from simulator.cpu.faults import PF_ID, PF_P, PF_RSVD, PF_US, PF_WR

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT  # 4 KiB, SDM Vol. 3A §4.3/§4.5
PAGE_MASK = PAGE_SIZE - 1
ADDRESS_BITS = 64
ADDRESS_MASK = (1 << ADDRESS_BITS) - 1

# The effective rights of a translation (our abstract page-table entry). The
# names follow the paging-structure entry bits of SDM Vol. 3A §4.5 Table 4-20:
# P (bit 0), R/W (bit 1), U/S (bit 2) and XD (bit 63); the values are ours.
PRESENT = 1
WRITABLE = 2
USER = 4
NX = 8
FLAG_BITS = 4  # flags span 0 .. 15

# Access kinds.
READ = 0
WRITE = 1
FETCH = 2
ACCESS_NAMES = ("read", "write", "fetch")

# What a byte that no one wrote reads as: a poison value, never a silent zero
# (0xCC is INT3, so code that runs into it stops at a breakpoint).
POISON = 0xCC

# Canonical addresses with 48-bit linear addresses, SDM Vol. 1 §3.3.7.1: bits
# 63:47 all equal.
CANONICAL_BITS = 48


def is_canonical(address: int) -> bool:
    """Whether ``address`` is canonical with 48-bit linear addresses (bits 63:47 equal)."""
    top = address >> (CANONICAL_BITS - 1)
    return top == 0 or top == (1 << (ADDRESS_BITS - CANONICAL_BITS + 1)) - 1


def page_fault_error_code(
    flags: int | None,
    kind: int,
    *,
    user_mode: bool,
    implicit: bool = False,
    wp: bool,
    smep: bool,
    smap: bool,
    ac: bool,
    nxe: bool,
    pae: bool,
) -> int | None:
    """The #PF error code an access would raise, or None if the access is allowed.

    The rules are those of SDM Vol. 3A §4.6 ("Access Rights") and the error code
    that of §4.7 Figure 4-12:

    ``flags`` are the page's effective rights (None when nothing is mapped);
    ``kind`` is READ, WRITE or FETCH; ``user_mode`` means CPL 3 and not an
    implicit supervisor access; ``implicit`` marks the CPU's own accesses to the
    GDT, LDT, IDT and TSS, which are supervisor-mode accesses at any CPL.

    * Not present: P=0 in the error code.
    * XD set in a PAE or 4-level entry while EFER.NXE=0 is a reserved bit
      (§4.7: RSVD=1, P=1). With 32-bit paging (CR4.PAE=0) there is no XD bit.
    * User-mode accesses need U/S=1, writes need R/W=1 (CR0.WP does not matter),
      fetches need XD=0 when NXE is on.
    * Supervisor-mode accesses to user pages: data accesses are refused under
      CR4.SMAP unless they are explicit and RFLAGS.AC=1; writes to read-only
      pages are refused when CR0.WP=1; fetches from user pages are refused under
      CR4.SMEP; fetches need XD=0 when NXE is on.
    * W/R is set for writes, U/S for user-mode accesses, I/D for fetches only
      when CR4.SMEP=1 or (CR4.PAE=1 and EFER.NXE=1).
    """
    if flags is None or not flags & PRESENT:
        error = 0
    elif flags & NX and pae and not nxe:
        error = PF_P | PF_RSVD
    elif _allowed(flags, kind, user_mode, implicit, wp, smep, smap, ac, nxe and pae):
        return None
    else:
        error = PF_P
    if kind == WRITE:
        error |= PF_WR
    if user_mode:
        error |= PF_US
    if kind == FETCH and (smep or (pae and nxe)):
        error |= PF_ID
    return error


def _allowed(
    flags: int,
    kind: int,
    user_mode: bool,
    implicit: bool,
    wp: bool,
    smep: bool,
    smap: bool,
    ac: bool,
    xd_active: bool,
) -> bool:
    user_page = bool(flags & USER)
    if kind == FETCH and xd_active and flags & NX:
        return False
    if user_mode:
        if not user_page:
            return False
        return kind != WRITE or bool(flags & WRITABLE)
    # Supervisor-mode access.
    if kind == FETCH:
        return not (user_page and smep)
    if user_page and smap and (implicit or not ac):
        return False
    return kind != WRITE or not wp or bool(flags & WRITABLE)


class Page:
    """One mapped 4 KiB page: its bytes and its effective rights."""

    __slots__ = ("data", "flags", "shared")

    def __init__(self, flags: int, fill: int = POISON, data: bytearray | None = None) -> None:
        self.data = bytearray([fill]) * PAGE_SIZE if data is None else data
        self.flags = flags
        self.shared = data is not None  # the bytes belong to someone else (map_shared)

    def __repr__(self) -> str:
        return f"Page(flags={describe_flags(self.flags)})"


def describe_flags(flags: int) -> str:
    """``P W U NX`` style text for a page's rights."""
    names = [("P", PRESENT), ("W", WRITABLE), ("U", USER), ("NX", NX)]
    return " ".join(n for n, b in names if flags & b) or "-"


def make_flags(*, writable: bool = True, user: bool = True, executable: bool = True) -> int:
    """Rights for a present page."""
    flags = PRESENT
    if check_bool("writable", writable):
        flags |= WRITABLE
    if check_bool("user", user):
        flags |= USER
    if not check_bool("executable", executable):
        flags |= NX
    return flags


@attrs.frozen
class Mapping:
    """A run of pages with the same rights, as a maps listing shows it."""

    start: int
    end: int
    flags: int

    def __str__(self) -> str:
        return f"{self.start:#018x}-{self.end:#018x} {describe_flags(self.flags)}"


class UnmappedError(LookupError):
    """A debugger-style peek or poke found no page (not an architectural fault)."""


class AddressSpace:
    """A sparse virtual address space: virtual page number -> :class:`Page`.

    Pages at or above ``split`` come from ``shared`` when one is given, so
    every process's address space can share one kernel half, as Linux's do.
    Only pages that were mapped cost memory.
    """

    __slots__ = (
        "code_vpns",
        "decoded",
        "generation",
        "name",
        "pages",
        "shared",
        "split_vpn",
        "threaded",
    )

    def __init__(
        self,
        name: str = "",
        *,
        shared: AddressSpace | None = None,
        split: int = 0xFFFF_8000_0000_0000,
    ) -> None:
        self.name = name
        self.pages: dict[int, Page] = {}
        # Decoded instructions by (linear address << 2 | mode), and the pages
        # they came from: any change to such a page drops its entries.
        self.decoded: dict[int, object] = {}
        self.code_vpns: set[int] = set()
        # The CPU's fast loop's handlers for decoded instructions, by the same keys: an
        # entry is dropped whenever its decoded instruction is.
        self.threaded: dict[int, tuple] = {}
        # Counts changes to this space's mappings and rights (map, unmap, protect, restore):
        # a cache of page lookups (the kernel's TLB for its own pages) is valid while it
        # stays the same.
        self.generation = 0
        self.shared = shared
        self.split_vpn = check_int("split", split, ADDRESS_BITS) >> PAGE_SHIFT

    def lookup(self, vpn: int) -> Page | None:
        """The page mapped at virtual page number ``vpn``, or None."""
        if self.shared is not None and vpn >= self.split_vpn:
            return self.shared.pages.get(vpn)
        return self.pages.get(vpn)

    def _owner(self, vpn: int) -> dict[int, Page]:
        self.code_changed(vpn)
        if self.shared is not None and vpn >= self.split_vpn:
            self.shared.generation += 1
            return self.shared.pages
        self.generation += 1
        return self.pages

    def code_space(self, vpn: int) -> AddressSpace:
        """The space whose decode cache holds instructions of page ``vpn``."""
        if self.shared is not None and vpn >= self.split_vpn:
            return self.shared
        return self

    def code_changed(self, vpn: int) -> None:
        """Forget the decoded instructions that overlap page ``vpn``."""
        space = self.code_space(vpn)
        if vpn in space.code_vpns or (vpn - 1) in space.code_vpns:
            # Keys are (linear << 2) | mode; an instruction that starts on the page before
            # may run into this one, so that page's entries go too.
            stale = [k for k in space.decoded if (k >> (PAGE_SHIFT + 2)) in (vpn, vpn - 1)]
            threaded = space.threaded
            for key in stale:
                del space.decoded[key]
                threaded.pop(key, None)
            space.code_vpns.discard(vpn)
            space.code_vpns.discard(vpn - 1)

    def map(
        self,
        address: int,
        size: int,
        *,
        writable: bool = True,
        user: bool = True,
        executable: bool = True,
        data: bytes = b"",
        zero: bool = False,
        replace: bool = False,
    ) -> None:
        """Map the pages that cover ``address .. address+size-1``.

        New pages read as the poison byte 0xCC unless ``zero`` is set (as the
        kernel's anonymous pages are); ``data`` is then written from
        ``address``. Mapping over a mapped page is refused unless ``replace``.
        """
        address = check_int("address", address, ADDRESS_BITS)
        size = check_int("size", size, ADDRESS_BITS)
        if size == 0:
            raise ValueError("size: expected at least 1 byte, received 0")
        if len(data) > size:
            raise ValueError(f"data: expected at most size={size} bytes, received {len(data)}")
        if address + size > 1 << ADDRESS_BITS:
            raise ValueError(
                f"size: expected the range to end by 2**64, received {address:#x} + {size:#x}"
            )
        flags = make_flags(writable=writable, user=user, executable=executable)
        first = address >> PAGE_SHIFT
        last = (address + size - 1) >> PAGE_SHIFT
        if not replace:
            for vpn in range(first, last + 1):
                if self.lookup(vpn) is not None:
                    raise ValueError(
                        f"address: expected an unmapped range, received one whose page "
                        f"{vpn << PAGE_SHIFT:#x} is mapped (pass replace=True)"
                    )
        fill = 0 if zero else POISON
        for vpn in range(first, last + 1):
            self._owner(vpn)[vpn] = Page(flags, fill)
        if data:
            self.poke(address, data)

    def map_shared(
        self,
        address: int,
        data: bytearray,
        *,
        writable: bool = False,
        user: bool = True,
        executable: bool = False,
    ) -> None:
        """Map one page whose bytes are ``data`` itself (a 4096-byte bytearray), shared with
        whoever else holds it: the kernel writes the vvar page, every process reads it."""
        address = check_int("address", address, ADDRESS_BITS)
        if address & PAGE_MASK:
            raise ValueError(f"address: expected a page-aligned address, received {address:#x}")
        if not isinstance(data, bytearray) or len(data) != PAGE_SIZE:
            raise TypeError(
                f"data: expected a bytearray of {PAGE_SIZE} bytes, received {data!r:.40}"
            )
        flags = make_flags(writable=writable, user=user, executable=executable)
        vpn = address >> PAGE_SHIFT
        self._owner(vpn)[vpn] = Page(flags, data=data)

    def protect(
        self, address: int, size: int, *, writable: bool, user: bool, executable: bool
    ) -> None:
        """Change the rights of mapped pages (every page in the range must be mapped)."""
        flags = make_flags(writable=writable, user=user, executable=executable)
        for vpn in self._vpns(address, size):
            self._page(vpn).flags = flags
            self.code_changed(vpn)
            self.generation += 1
            if self.shared is not None:
                self.shared.generation += 1

    def unmap(self, address: int, size: int) -> None:
        """Remove the pages that cover the range (unmapped pages are skipped)."""
        for vpn in self._vpns(address, size):
            self._owner(vpn).pop(vpn, None)

    def peek(self, address: int, size: int) -> bytes:
        """Read bytes with no rights check (a debugger's view); unmapped raises."""
        out = bytearray()
        for addr, chunk in self._chunks(address, size):
            page = self._page(addr >> PAGE_SHIFT)
            off = addr & PAGE_MASK
            out += page.data[off : off + chunk]
        return bytes(out)

    def poke(self, address: int, data: bytes) -> None:
        """Write bytes with no rights check; every page must be mapped first."""
        pos = 0
        spans = list(self._chunks(address, len(data)))
        for addr, _ in spans:
            self._page(addr >> PAGE_SHIFT)
        for addr, chunk in spans:
            self.code_changed(addr >> PAGE_SHIFT)
            off = addr & PAGE_MASK
            self._page(addr >> PAGE_SHIFT).data[off : off + chunk] = data[pos : pos + chunk]
            pos += chunk

    def is_mapped(self, address: int) -> bool:
        """Whether the page holding ``address`` is mapped."""
        return self.lookup(check_int("address", address, ADDRESS_BITS) >> PAGE_SHIFT) is not None

    def mappings(self) -> list[Mapping]:
        """Runs of contiguous pages with equal rights, lowest first (shared half included)."""
        vpns = dict(self.pages)
        if self.shared is not None:
            vpns.update((v, p) for v, p in self.shared.pages.items() if v >= self.split_vpn)
        runs: list[Mapping] = []
        for vpn in sorted(vpns):
            flags = vpns[vpn].flags
            start = vpn << PAGE_SHIFT
            if runs and runs[-1].end == start and runs[-1].flags == flags:
                runs[-1] = Mapping(runs[-1].start, start + PAGE_SIZE, flags)
            else:
                runs.append(Mapping(start, start + PAGE_SIZE, flags))
        return runs

    def page_count(self) -> int:
        """Pages this space maps itself (the shared half not counted)."""
        return len(self.pages)

    def _page(self, vpn: int) -> Page:
        page = self.lookup(vpn)
        if page is None:
            raise UnmappedError(
                f"address: expected a mapped page, received {vpn << PAGE_SHIFT:#x} "
                f"(no page mapped in {self.name or 'this address space'})"
            )
        return page

    def _vpns(self, address: int, size: int) -> range:
        address = check_int("address", address, ADDRESS_BITS)
        size = check_int("size", size, ADDRESS_BITS)
        if size == 0:
            return range(0)
        return range(address >> PAGE_SHIFT, ((address + size - 1) >> PAGE_SHIFT) + 1)

    def _chunks(self, address: int, size: int) -> Iterator[tuple[int, int]]:
        address = check_int("address", address, ADDRESS_BITS)
        size = check_int("size", size, ADDRESS_BITS)
        if address + size > 1 << ADDRESS_BITS:
            raise ValueError(f"size: expected the range to end by 2**64, received {size:#x}")
        while size:
            chunk = min(size, PAGE_SIZE - (address & PAGE_MASK))
            yield address, chunk
            address += chunk
            size -= chunk

    def snapshot(self) -> MemorySnapshot:
        """A frozen copy of this space's own pages (not the shared half). A page mapped with
        map_shared is kept by reference: its owner saves and restores its bytes."""
        return MemorySnapshot(
            tuple(
                (vpn, p.flags, p.data if p.shared else bytes(p.data))
                for vpn, p in sorted(self.pages.items())
            )
        )

    def restore(self, snap: MemorySnapshot) -> None:
        """Put this space's own pages back as ``snap`` recorded them."""
        self.generation += 1
        self.pages = {}
        self.decoded.clear()
        self.threaded.clear()
        self.code_vpns.clear()
        for vpn, flags, data in snap.pages:
            if isinstance(data, bytearray):
                self.pages[vpn] = Page(flags, data=data)
                continue
            page = Page(flags)
            page.data[:] = data
            self.pages[vpn] = page

    def __repr__(self) -> str:
        return f"AddressSpace({self.name!r}, {len(self.pages)} pages)"


@attrs.frozen
class MemorySnapshot:
    """The pages of one address space: (virtual page number, rights, bytes); a shared page's
    bytes are its live bytearray."""

    pages: tuple[tuple[int, int, bytes | bytearray], ...]
