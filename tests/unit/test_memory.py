"""Address spaces: mapping, sharing the kernel half, costs, snapshots."""

import tracemalloc

import pytest

from simulator.cpu import PAGE_SIZE, POISON, AddressSpace, UnmappedError, is_canonical


class TestConstants:
    def test_page_size(self):
        """Pages are 4 KiB (SDM Vol. 3A §4.5, 4-level paging with 4-KByte pages)."""
        assert PAGE_SIZE == 4096

    @pytest.mark.parametrize(
        ("address", "canonical"),
        [
            (0, True),
            (0x0000_7FFF_FFFF_FFFF, True),
            (0x0000_8000_0000_0000, False),
            (0xFFFF_7FFF_FFFF_FFFF, False),
            (0xFFFF_8000_0000_0000, True),
            (0xFFFF_FFFF_FFFF_FFFF, True),
        ],
    )
    def test_canonical_boundaries(self, address, canonical):
        """Bits 63:47 must all be equal (SDM Vol. 1 §3.3.7.1, 48-bit linear addresses)."""
        assert is_canonical(address) is canonical


class TestMapping:
    def test_new_page_reads_as_poison(self):
        """A freshly mapped page reads as the poison byte, never a silent zero."""
        space = AddressSpace()
        space.map(0x1000, 10)
        assert space.peek(0x1000, 4) == bytes([POISON]) * 4

    def test_zero_fill_on_request(self):
        """zero=True gives a zero-filled page, as the kernel's anonymous pages are."""
        space = AddressSpace()
        space.map(0x1000, 10, zero=True)
        assert space.peek(0x1FFF, 1) == b"\0"

    def test_data_written_at_address(self):
        """data is written from the given address, not from the page start."""
        space = AddressSpace()
        space.map(0x1010, 5, data=b"hello", zero=True)
        assert space.peek(0x1010, 5) == b"hello" and space.peek(0x1000, 1) == b"\0"

    def test_unmapped_peek_raises(self):
        """A peek at an unmapped address is an UnmappedError naming the address."""
        with pytest.raises(UnmappedError, match="0x5000"):
            AddressSpace().peek(0x5000, 1)

    def test_peek_across_pages(self):
        """A peek that crosses a page boundary joins the two pages."""
        space = AddressSpace()
        space.map(0x1000, 2 * PAGE_SIZE, zero=True)
        space.poke(0x1FFE, b"abcd")
        assert space.peek(0x1FFE, 4) == b"abcd"

    def test_poke_into_unmapped_changes_nothing(self):
        """A poke whose second page is unmapped writes nothing at all."""
        space = AddressSpace()
        space.map(0x1000, PAGE_SIZE, zero=True)
        with pytest.raises(UnmappedError):
            space.poke(0x1FFE, b"abcd")
        assert space.peek(0x1FFE, 2) == b"\0\0"

    def test_double_map_refused(self):
        """Mapping over a mapped page is refused unless replace=True."""
        space = AddressSpace()
        space.map(0x1000, 1)
        with pytest.raises(ValueError, match="replace=True"):
            space.map(0x1000, 1)
        space.map(0x1000, 1, replace=True)

    def test_unmap(self):
        """Unmapped pages are gone."""
        space = AddressSpace()
        space.map(0x1000, 2 * PAGE_SIZE)
        space.unmap(0x2000, 1)
        assert space.is_mapped(0x1000) and not space.is_mapped(0x2000)

    def test_protect(self):
        """protect changes the rights of mapped pages."""
        space = AddressSpace()
        space.map(0x1000, 1)
        space.protect(0x1000, 1, writable=False, user=False, executable=False)
        assert str(space.mappings()[0]).endswith("P NX")

    def test_bad_arguments(self):
        """Sizes and addresses out of range are refused by name."""
        space = AddressSpace()
        with pytest.raises(ValueError, match="size"):
            space.map(0x1000, 0)
        with pytest.raises(ValueError, match="address"):
            space.map(-1, 1)
        with pytest.raises(ValueError, match="data"):
            space.map(0x1000, 1, data=b"too long")


class TestSharedKernelHalf:
    def test_kernel_half_is_shared(self):
        """Two spaces with one shared kernel half see the same kernel pages."""
        kernel = AddressSpace("kernel")
        a = AddressSpace("a", shared=kernel)
        b = AddressSpace("b", shared=kernel)
        a.map(0xFFFF_8800_0000_0000, 1, user=False, zero=True)
        a.poke(0xFFFF_8800_0000_0000, b"k")
        assert b.peek(0xFFFF_8800_0000_0000, 1) == b"k"
        assert kernel.page_count() == 1 and a.page_count() == 0

    def test_user_halves_are_private(self):
        """The user halves of two spaces are separate."""
        kernel = AddressSpace("kernel")
        a = AddressSpace("a", shared=kernel)
        b = AddressSpace("b", shared=kernel)
        a.map(0x400000, 1)
        assert not b.is_mapped(0x400000)

    def test_i386_split(self):
        """A 32-bit kernel's split (__PAGE_OFFSET 0xC0000000) can be given instead."""
        kernel = AddressSpace("kernel")
        a = AddressSpace("a", shared=kernel, split=0xC000_0000)
        a.map(0xC000_0000, 1)
        assert kernel.is_mapped(0xC000_0000)


class TestCost:
    def test_sparse_space_stays_small(self):
        """A space spanning 128 TiB with a few pages mapped costs kilobytes, not gigabytes."""
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            space = AddressSpace()
            for address in (0x1000, 0x7FFF_FFFF_F000, 0x4000_0000_0000, 0xFFFF_FFFF_FF60_0000):
                space.map(address, 1)
            used = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert used < 64 * 1024
        assert space.page_count() == 4


class TestSnapshots:
    def test_restore_puts_bytes_and_rights_back(self):
        """restore() undoes writes, new mappings and unmappings."""
        space = AddressSpace()
        space.map(0x1000, 1, data=b"a", zero=True)
        snap = space.snapshot()
        space.poke(0x1000, b"b")
        space.map(0x9000, 1)
        space.unmap(0x1000, 1)
        space.restore(snap)
        assert space.peek(0x1000, 1) == b"a" and not space.is_mapped(0x9000)
        assert space.snapshot() == snap

    def test_mappings_listing(self):
        """mappings() merges contiguous pages with equal rights."""
        space = AddressSpace()
        space.map(0x1000, 3 * PAGE_SIZE)
        space.map(0x10000, 1, writable=False)
        runs = space.mappings()
        assert [(m.start, m.end) for m in runs] == [(0x1000, 0x4000), (0x10000, 0x11000)]
