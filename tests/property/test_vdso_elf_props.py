"""find_vdso_symbol answers every image, however damaged, with an address or a VdsoError;
on any image build_vdso makes, it finds every symbol at base + offset."""

from __future__ import annotations

import functools
import string
from io import BytesIO

from elftools.elf.elffile import ELFFile
from hypothesis import given
from hypothesis import strategies as st

from simulator.kernel.elf import ELFCLASS32, ELFCLASS64, EM_386, EM_X86_64
from simulator.kernel.vdso_elf import VdsoImage, VdsoSymbol, build_vdso
from simulator.libc import VdsoError, find_vdso_symbol

KINDS = {
    "x86_64": (ELFCLASS64, EM_X86_64),
    "i386": (ELFCLASS32, EM_386),
    "x32": (ELFCLASS32, EM_X86_64),
}
NAMES = (
    "__vdso_clock_gettime",
    "clock_gettime",
    "__vdso_gettimeofday",
    "gettimeofday",
    "__vdso_time",
    "time",
    "__vdso_getcpu",
    "getcpu",
    "__kernel_vsyscall",
    "LINUX_2.6",
    "absent",
)
VERSIONS = ("LINUX_2.6", "LINUX_2.5", "linux-vdso.so.1", "LINUX_2.7")


@functools.cache
def standard_image(kind: str) -> VdsoImage:
    """The 3.16 export list for the kind, on placeholder text."""
    elf_class, machine = KINDS[kind]
    if kind == "i386":
        names = [
            ("__kernel_vsyscall", "LINUX_2.5"),
            ("__kernel_sigreturn", "LINUX_2.5"),
            ("__kernel_rt_sigreturn", "LINUX_2.5"),
            ("__vdso_clock_gettime", "LINUX_2.6"),
            ("__vdso_gettimeofday", "LINUX_2.6"),
            ("__vdso_time", "LINUX_2.6"),
        ]
        symbols = [
            VdsoSymbol(name=n, offset=16 * i, size=16, version=v) for i, (n, v) in enumerate(names)
        ]
        versions = ["LINUX_2.6", "LINUX_2.5"]
    else:
        symbols = []
        for i, name in enumerate(("clock_gettime", "gettimeofday", "time", "getcpu")):
            symbols.append(
                VdsoSymbol(name=f"__vdso_{name}", offset=16 * i, size=16, version="LINUX_2.6")
            )
            if kind == "x86_64":
                symbols.append(
                    VdsoSymbol(name=name, offset=16 * i, size=16, version="LINUX_2.6", weak=True)
                )
        versions = ["LINUX_2.6"]
    soname = "linux-gate.so.1" if kind == "i386" else "linux-vdso.so.1"
    return build_vdso(
        elf_class=elf_class,
        machine=machine,
        text=b"\xcc" * 0x80,
        symbols=symbols,
        versions=versions,
        soname=soname,
    )


def reader(base: int, data: bytes):
    """read(address, size) over one mapping; outside it, ValueError (as Process.read_mem)."""

    def read(address: int, size: int) -> bytes:
        if base <= address and address + size <= base + len(data):
            return data[address - base : address - base + size]
        raise ValueError(f"{address:#x}+{size} is not mapped")

    return read


@functools.cache
def table_ranges(kind: str) -> tuple[tuple[int, int], ...]:
    """(start, end) of the ELF header, the program headers and each section before .text."""
    image = standard_image(kind)
    elf = ELFFile(BytesIO(image.data))
    ranges = [
        (0, elf.header["e_ehsize"]),
        (elf.header["e_phoff"], elf.header["e_phoff"] + 4 * elf.header["e_phentsize"]),
    ]
    for section in elf.iter_sections():
        if section.name and section.name != ".text":
            ranges.append((section["sh_offset"], section["sh_offset"] + section["sh_size"]))
    return tuple(ranges)


@st.composite
def damaged_images(draw):
    """A standard image with bytes overwritten (mostly in its tables), header-sized words
    replaced with extreme values, and/or the mapping cut short."""
    kind = draw(st.sampled_from(sorted(KINDS)))
    image = standard_image(kind)
    data = bytearray(image.data)
    for _ in range(draw(st.integers(1, 8))):
        choice = draw(st.integers(0, 2))
        start, end = draw(st.sampled_from(table_ranges(kind)))
        offset = draw(st.integers(start, end - 1))
        if choice == 0:
            data[offset] = draw(st.integers(0, 255))
        elif choice == 1:
            data[offset] ^= 1 << draw(st.integers(0, 7))
        else:
            width = draw(st.sampled_from([2, 4, 8]))
            offset = min(offset - offset % width, len(data) - width)  # a whole field
            word = draw(
                st.one_of(
                    st.integers(0, 16),  # small indices make chains and verdefs loop
                    st.sampled_from([0x7FFF, 0x8000, (1 << 8 * width) - 1]),
                )
            )
            data[offset : offset + width] = word.to_bytes(width, "little")
    if draw(st.integers(0, 3)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


BASES = st.sampled_from([0x1000, 0xF77D_8000, 0xFFFF_E000, 0x7FFF_F7FF_D000, (1 << 64) - 0x2000])


@given(damaged_images(), BASES, st.sampled_from(NAMES), st.sampled_from(VERSIONS))
def test_damaged_images_never_raise(data, base, name, version):
    """Flipped bytes and cut mappings give an address or a VdsoError, never an exception."""
    result = find_vdso_symbol(reader(base, data), base, name, version)
    assert isinstance(result, (int, VdsoError))
    if isinstance(result, int):
        assert 0 <= result < 1 << 64


@given(st.binary(max_size=512), BASES, st.sampled_from(NAMES))
def test_arbitrary_bytes_never_raise(data, base, name):
    """Bytes that merely start like an ELF header are answered with a value too."""
    data = b"\x7fELF" + data
    result = find_vdso_symbol(reader(base, data), base, name, "LINUX_2.6")
    assert isinstance(result, (int, VdsoError))


IDENTIFIERS = st.text(string.ascii_letters + string.digits + "_.", min_size=1, max_size=24)


@st.composite
def built_images(draw):
    """build_vdso over random names, versions, offsets and aliases, for a random kind."""
    elf_class, machine = KINDS[draw(st.sampled_from(sorted(KINDS)))]
    names = draw(st.lists(IDENTIFIERS, min_size=1, max_size=40, unique=True))
    version_count = draw(st.integers(1, min(4, len(names))))
    versions, functions = names[:version_count], names[version_count:]
    text_size = draw(st.integers(1, 0x3000))
    symbols = []
    for name in functions:
        offset = draw(st.integers(0, text_size - 1))
        symbols.append(
            VdsoSymbol(
                name=name,
                offset=offset,
                size=draw(st.integers(0, text_size - offset)),
                version=draw(st.sampled_from(versions)),
                weak=draw(st.booleans()),
            )
        )
    image = build_vdso(
        elf_class=elf_class,
        machine=machine,
        text=b"\x90" * text_size,
        symbols=symbols,
        versions=versions,
        soname="lib" + "x" * draw(st.integers(0, 9)),
    )
    return image, symbols, versions


@given(built_images(), st.integers(1, 0xFFFF).map(lambda page: page * 0x1000))
def test_built_images_resolve(built, base):
    """Every symbol of every built image is found at base + offset, in its version only."""
    image, symbols, versions = built
    assert image.size % 4096 == 0 and image.vvar_start == image.size
    read = reader(base, image.data)
    for symbol in symbols:
        assert find_vdso_symbol(read, base, symbol.name, symbol.version) == (
            base + image.symbol_offsets[symbol.name]
        )
        for other in versions:
            if other != symbol.version:
                assert isinstance(find_vdso_symbol(read, base, symbol.name, other), VdsoError)


@functools.cache
def hash_and_verdef(kind: str) -> tuple[int, int, int, int, int]:
    """(offset of .hash, nbucket, nchain, offset of .gnu.version_d, verdef count)."""
    elf = ELFFile(BytesIO(standard_image(kind).data))
    table = elf.get_section_by_name(".hash")
    verdef = elf.get_section_by_name(".gnu.version_d")
    return (
        table["sh_offset"],
        table.params["nbuckets"],
        table.params["nchains"],
        verdef["sh_offset"],
        verdef["sh_info"],
    )


@st.composite
def rewired_images(draw):
    """A standard image whose hash buckets and chains point anywhere near the symbol
    table, and whose verdefs' vd_ndx and vd_next are redrawn (0 ends the list; a step
    back, a 32-bit Word, wraps to a loop in an ELFCLASS32 image)."""
    kind = draw(st.sampled_from(sorted(KINDS)))
    image = standard_image(kind)
    hash_at, nbucket, nchain, verdef_at, count = hash_and_verdef(kind)
    data = bytearray(image.data)
    for index in range(nbucket + nchain):
        if draw(st.booleans()):
            value = draw(st.integers(0, nchain + 1))
            data[hash_at + 8 + 4 * index : hash_at + 12 + 4 * index] = value.to_bytes(4, "little")
    for number in range(count):
        at = verdef_at + 28 * number
        if draw(st.booleans()):
            data[at + 4 : at + 6] = draw(st.integers(0, count + 1)).to_bytes(2, "little")
        if draw(st.booleans()):
            step = draw(st.sampled_from([0, 28, 56, -28, -56])) & 0xFFFF_FFFF
            data[at + 16 : at + 20] = step.to_bytes(4, "little")
    return kind, bytes(data)


@given(rewired_images(), st.sampled_from(NAMES), st.sampled_from(VERSIONS))
def test_rewired_tables_terminate(rewired, name, version):
    """Chains and version lists that loop or run past nchain end in a VdsoError; an
    address found is still the named function's (names and strings are intact)."""
    kind, data = rewired
    base = 0xF77D_8000
    result = find_vdso_symbol(reader(base, data), base, name, version)
    assert isinstance(result, (int, VdsoError))
    if isinstance(result, int):
        assert result == base + standard_image(kind).symbol_offsets[name]
