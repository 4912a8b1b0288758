"""The vDSO's ELF images (simulator.kernel.vdso_elf), read back by pyelftools, and the
user-space resolver (simulator.libc) that finds their symbols as parse_vdso.c does."""

from __future__ import annotations

import functools
import struct
from io import BytesIO

import attrs
import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.enums import ENUM_D_TAG, ENUM_P_TYPE_BASE, ENUM_SH_TYPE_BASE, ENUM_ST_SHNDX
from elftools.elf.hash import ELFHashTable

from abi import auxv as AT
from simulator import Machine
from simulator.kernel import vdso_elf as V
from simulator.kernel.elf import ELFCLASS32, ELFCLASS64, EM_386, EM_X86_64
from simulator.kernel.vdso32 import VARIANTS
from simulator.kernel.vdso_elf import VdsoImage, VdsoSymbol, build_vdso, elf_hash
from simulator.libc import VdsoError, auxv_value, find_vdso_symbol

EM_ARM = 40  # include/uapi/linux/elf-em.h


def abi_hash(name: bytes) -> int:
    """The System V ABI's elf_hash, transcribed from its text (gABI, "Hash Table"):

    unsigned long h = 0, g;
    while (*name) { h = (h << 4) + *name++; if (g = h & 0xf0000000) h ^= g >> 24; h &= ~g; }
    """
    h = 0
    for c in name:
        h = (h << 4) + c
        g = h & 0xF0000000
        if g:
            h ^= g >> 24
        h &= ~g
    return h


# -- the images: the 3.16 version scripts' symbols, on placeholder text -----------------

# vdso.lds.S: LINUX_2.6 exports each of these as __vdso_NAME and its weak alias NAME.
FUNCS_64 = (
    ("clock_gettime", 0x00, 0x60),
    ("gettimeofday", 0x80, 0x50),
    ("getcpu", 0x100, 0x20),
    ("time", 0x140, 0x18),
)
SYMBOLS_64 = tuple(
    symbol
    for name, offset, size in FUNCS_64
    for symbol in (
        VdsoSymbol(name=f"__vdso_{name}", offset=offset, size=size, version="LINUX_2.6"),
        VdsoSymbol(name=name, offset=offset, size=size, version="LINUX_2.6", weak=True),
    )
)
SYSENTER = VARIANTS["sysenter"].code
# vdso32.lds.S: LINUX_2.6 is defined first, then LINUX_2.5.
SYMBOLS_32 = (
    VdsoSymbol(name="__kernel_vsyscall", offset=0, size=len(SYSENTER), version="LINUX_2.5"),
    VdsoSymbol(name="__kernel_sigreturn", offset=0x20, size=8, version="LINUX_2.5"),
    VdsoSymbol(name="__kernel_rt_sigreturn", offset=0x30, size=8, version="LINUX_2.5"),
    VdsoSymbol(name="__vdso_clock_gettime", offset=0x40, size=0x40, version="LINUX_2.6"),
    VdsoSymbol(name="__vdso_gettimeofday", offset=0x80, size=0x40, version="LINUX_2.6"),
    VdsoSymbol(name="__vdso_time", offset=0xC0, size=0x10, version="LINUX_2.6"),
)
SYMBOLS_X32 = tuple(s for s in SYMBOLS_64 if s.name.startswith("__vdso_"))  # vdsox32.lds.S


@attrs.frozen
class Case:
    label: str
    elf_class: int
    machine: int
    soname: str
    versions: tuple[str, ...]
    symbols: tuple[VdsoSymbol, ...]
    text: bytes
    entry: str | None = None

    @functools.cached_property
    def image(self) -> VdsoImage:
        return build_vdso(
            elf_class=self.elf_class,
            machine=self.machine,
            text=self.text,
            symbols=self.symbols,
            versions=self.versions,
            soname=self.soname,
            entry=self.entry,
        )

    def elf(self) -> ELFFile:
        return ELFFile(BytesIO(self.image.data))


CASES = {
    "x86_64": Case(
        "x86_64", ELFCLASS64, EM_X86_64, V.SONAME_64, ("LINUX_2.6",), SYMBOLS_64, b"\xcc" * 0x160
    ),
    "i386": Case(
        "i386",
        ELFCLASS32,
        EM_386,
        V.SONAME_32,
        ("LINUX_2.6", "LINUX_2.5"),
        SYMBOLS_32,
        SYSENTER.ljust(0xD0, b"\xcc"),
        entry="__kernel_vsyscall",
    ),
    "x32": Case(
        "x32", ELFCLASS32, EM_X86_64, V.SONAME_64, ("LINUX_2.6",), SYMBOLS_X32, b"\xcc" * 0x160
    ),
}


@pytest.fixture(params=sorted(CASES))
def case(request) -> Case:
    return CASES[request.param]


def reader(regions: dict[int, bytes]):
    """read(address, size) over mapped regions; anything else raises ValueError, as
    Process.read_mem does."""

    def read(address: int, size: int) -> bytes:
        for start, data in regions.items():
            if start <= address and address + size <= start + len(data):
                return data[address - start : address - start + size]
        raise ValueError(f"address {address:#x}+{size}: not mapped")

    return read


def patched(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def section(case: Case, name: str):
    return case.elf().get_section_by_name(name)


# -- tests -------------------------------------------------------------------------------


class TestElfHash:
    def test_matches_the_abi_text(self):
        """elf_hash agrees with the System V ABI's algorithm on the vDSO's names."""
        names = [b"", b"a", b"printf", b"LINUX_2.6", b"linux-gate.so.1", b"\xff" * 40]
        names += [s.name.encode() for s in SYMBOLS_64 + SYMBOLS_32]
        for name in names:
            assert elf_hash(name) == abi_hash(name), name

    def test_pinned_values(self):
        """Values pinned from the ABI's algorithm ("printf" is the ABI literature's 0x077905a6)."""
        assert elf_hash(b"") == 0
        assert elf_hash(b"printf") == 0x077905A6
        assert elf_hash(b"__vdso_gettimeofday") == 0x0315CA59
        assert elf_hash(b"__vdso_clock_gettime") == 0x0D35EC75
        assert elf_hash(b"__kernel_vsyscall") == 0x0426113C
        assert elf_hash(b"LINUX_2.6") == 0x03AE75F6
        assert elf_hash(b"LINUX_2.5") == 0x03AE75F5

    def test_agrees_with_pyelftools(self):
        """pyelftools' own elf_hash gives the same values."""
        for symbol in SYMBOLS_64 + SYMBOLS_32:
            assert elf_hash(symbol.name.encode()) == ELFHashTable.elf_hash(symbol.name)

    def test_takes_bytes(self):
        """A str is refused with TypeError: the hash is over bytes."""
        with pytest.raises(TypeError, match="name"):
            elf_hash("printf")


class TestConstants:
    def test_against_pyelftools(self):
        """The ELF constants agree with pyelftools' tables (an independent transcription)."""
        for name in (
            "DT_NULL",
            "DT_HASH",
            "DT_STRTAB",
            "DT_SYMTAB",
            "DT_STRSZ",
            "DT_SYMENT",
            "DT_SONAME",
            "DT_VERSYM",
            "DT_VERDEF",
            "DT_VERDEFNUM",
        ):
            assert getattr(V, name) == ENUM_D_TAG[name], name
        for name in (
            "SHT_NULL",
            "SHT_PROGBITS",
            "SHT_STRTAB",
            "SHT_HASH",
            "SHT_DYNAMIC",
            "SHT_NOTE",
            "SHT_DYNSYM",
        ):
            assert getattr(V, name) == ENUM_SH_TYPE_BASE[name], name
        assert V.SHT_GNU_VERDEF == ENUM_SH_TYPE_BASE["SHT_GNU_verdef"]
        assert V.SHT_GNU_VERSYM == ENUM_SH_TYPE_BASE["SHT_GNU_versym"]
        for name in ("PT_DYNAMIC", "PT_NOTE", "PT_GNU_EH_FRAME"):
            assert getattr(V, name) == ENUM_P_TYPE_BASE[name], name
        assert (V.SHN_UNDEF, V.SHN_ABS) == (ENUM_ST_SHNDX["SHN_UNDEF"], ENUM_ST_SHNDX["SHN_ABS"])

    def test_linux_version_and_sonames(self):
        """KERNEL_VERSION(3, 16, 0) is 0x031000; the sonames are vdso(7)'s."""
        assert V.LINUX_VERSION_CODE == 0x031000
        assert (V.SONAME_64, V.SONAME_32) == ("linux-vdso.so.1", "linux-gate.so.1")


class TestVdsoSymbol:
    def test_validates(self):
        """Names are non-empty NUL-free ASCII, offsets and sizes unsigned, weak a bool."""
        with pytest.raises(ValueError, match="name"):
            VdsoSymbol(name="", offset=0, size=0, version="V")
        with pytest.raises(TypeError, match="offset"):
            VdsoSymbol(name="f", offset=1.0, size=0, version="V")
        with pytest.raises(ValueError, match="size"):
            VdsoSymbol(name="f", offset=0, size=-1, version="V")
        with pytest.raises(TypeError, match="weak"):
            VdsoSymbol(name="f", offset=0, size=0, version="V", weak=1)

    def test_frozen(self):
        """A VdsoSymbol is a value."""
        symbol = SYMBOLS_64[0]
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            symbol.offset = 4  # type: ignore[misc]


class TestImageLayout:
    def test_header(self, case):
        """ET_DYN, the class and machine asked for, little-endian, e_entry per the script."""
        header = case.elf().header
        assert header["e_type"] == "ET_DYN"
        assert header["e_ident"]["EI_DATA"] == "ELFDATA2LSB"
        assert header["e_ident"]["EI_CLASS"] == f"ELFCLASS{32 if case.elf_class == 1 else 64}"
        assert header["e_machine"] == ("EM_386" if case.machine == EM_386 else "EM_X86_64")
        expected = case.image.symbol_offsets[case.entry] if case.entry else case.image.text_offset
        assert header["e_entry"] == case.image.entry == expected

    def test_program_headers(self, case):
        """One R+X PT_LOAD at offset and address 0 over every section, then PT_DYNAMIC,
        PT_NOTE and PT_GNU_EH_FRAME (vdso-layout.lds.S's PHDRS)."""
        elf = case.elf()
        segments = list(elf.iter_segments())
        assert [s["p_type"] for s in segments] == [
            "PT_LOAD",
            "PT_DYNAMIC",
            "PT_NOTE",
            "PT_GNU_EH_FRAME",
        ]
        load = segments[0]
        assert (load["p_offset"], load["p_vaddr"], load["p_flags"]) == (0, 0, V.PF_R | V.PF_X)
        assert load["p_filesz"] == load["p_memsz"] <= case.image.size
        assert load["p_align"] == 4096
        for sec in elf.iter_sections():
            if sec.name:
                assert load.section_in_segment(sec), sec.name
                assert sec["sh_addr"] == sec["sh_offset"], sec.name  # linked at 0
        assert segments[1].section_in_segment(elf.get_section_by_name(".dynamic"))
        assert segments[2].section_in_segment(elf.get_section_by_name(".note"))
        assert segments[3].section_in_segment(elf.get_section_by_name(".eh_frame_hdr"))

    def test_sections(self, case):
        """The linker script's sections in its order, SysV .hash only (--hash-style=sysv),
        and 3.16's in-image string table .fake_shstrtab."""
        names = [s.name for s in case.elf().iter_sections()]
        assert names == [
            "",
            ".hash",
            ".dynsym",
            ".dynstr",
            ".gnu.version",
            ".gnu.version_d",
            ".note",
            ".eh_frame_hdr",
            ".eh_frame",
            ".dynamic",
            ".fake_shstrtab",
            ".text",
        ]
        assert ".gnu.hash" not in names

    def test_a_value(self, case):
        """A VdsoImage is frozen and hashable, with a read-only symbol map."""
        image = case.image
        assert hash(image) == hash(attrs.evolve(image))
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            image.text_offset = 0  # type: ignore[misc]
        with pytest.raises(TypeError):
            image.symbol_offsets["x"] = 0  # type: ignore[index]

    def test_page_multiple_and_vvar_after(self, case):
        """The image is whole pages; 3.16 maps [vvar] (vvar and HPET pages) right after it."""
        image = case.image
        assert image.size % 4096 == 0 and image.size == len(image.data)
        assert image.vvar_start == image.size
        assert image.end_mapping == image.size + 2 * 4096

    def test_text(self, case):
        """.text holds the text at text_offset, aligned as vdso-layout.lds.S aligns it."""
        image = case.image
        text = section(case, ".text")
        assert text["sh_offset"] == image.text_offset and image.text_offset % 0x100 == 0
        assert image.data[image.text_offset : image.text_offset + len(case.text)] == case.text

    def test_soname(self, case):
        """DT_SONAME names the image, and the base version definition carries it."""
        dynamic = section(case, ".dynamic")
        assert [t.soname for t in dynamic.iter_tags("DT_SONAME")] == [case.soname]
        base, auxes = section(case, ".gnu.version_d").get_version(1)
        assert base["vd_flags"] == V.VER_FLG_BASE
        assert [a.name for a in auxes] == [case.soname]

    def test_dynamic_tags(self, case):
        """The dynamic section has what parse_vdso.c reads, and no relocations."""
        tags = [t.entry.d_tag for t in section(case, ".dynamic").iter_tags()]
        for tag in ("DT_HASH", "DT_STRTAB", "DT_SYMTAB", "DT_VERSYM", "DT_VERDEF", "DT_VERDEFNUM"):
            assert tag in tags
        assert not {"DT_REL", "DT_RELA", "DT_TEXTREL"} & set(tags)
        assert tags[-1] == "DT_NULL"

    def test_dynamic_segment_symbols(self, case):
        """Read through PT_DYNAMIC alone (DT_HASH gives the count), the exported functions
        are at their offsets with their sizes, in .text; the version names are ABS objects."""
        elf = case.elf()
        dynamic = next(s for s in elf.iter_segments() if s["p_type"] == "PT_DYNAMIC")
        found = {sym.name: sym for sym in dynamic.iter_symbols() if sym.name}
        text_index = [s.name for s in elf.iter_sections()].index(".text")
        assert set(found) == set(case.image.symbol_offsets) | set(case.versions)
        for symbol in case.symbols:
            sym = found[symbol.name]
            assert sym["st_value"] == case.image.symbol_offsets[symbol.name]
            assert sym["st_value"] == case.image.text_offset + symbol.offset
            assert sym["st_size"] == symbol.size
            assert sym["st_info"]["type"] == "STT_FUNC"
            assert sym["st_info"]["bind"] == ("STB_WEAK" if symbol.weak else "STB_GLOBAL")
            assert sym["st_shndx"] == text_index
        for version in case.versions:
            assert found[version]["st_info"]["type"] == "STT_OBJECT"
            assert found[version]["st_shndx"] == "SHN_ABS"

    def test_weak_aliases(self):
        """In the 64-bit image the unprefixed names are weak aliases of the __vdso_ ones."""
        dynsym = section(CASES["x86_64"], ".dynsym")
        for name, _, _ in FUNCS_64:
            (alias,) = dynsym.get_symbol_by_name(name)
            (target,) = dynsym.get_symbol_by_name(f"__vdso_{name}")
            assert alias["st_info"]["bind"] == "STB_WEAK"
            assert target["st_info"]["bind"] == "STB_GLOBAL"
            assert alias["st_value"] == target["st_value"]

    def test_versions(self, case):
        """Each symbol's .gnu.version entry names its version's definition (base first,
        then the versions in script order, from index 2), with the name's ELF hash."""
        elf = case.elf()
        dynsym = elf.get_section_by_name(".dynsym")
        versym = elf.get_section_by_name(".gnu.version")
        verdef = elf.get_section_by_name(".gnu.version_d")
        defined = {}
        for entry, auxes in verdef.iter_versions():
            names = [a.name for a in auxes]
            assert len(names) == entry["vd_cnt"] == 1
            assert entry["vd_hash"] == abi_hash(names[0].encode())
            defined[entry["vd_ndx"]] = names[0]
        assert defined == {1: case.soname, **{2 + i: v for i, v in enumerate(case.versions)}}
        expected = {s.name: s.version for s in case.symbols} | {v: v for v in case.versions}
        for index in range(1, dynsym.num_symbols()):
            name = dynsym.get_symbol(index).name
            assert defined[versym.get_symbol(index)["ndx"]] == expected[name], name
        assert versym.get_symbol(0)["ndx"] == "VER_NDX_LOCAL"

    def test_hash_table(self, case):
        """pyelftools finds every name through .hash; nbucket is ld's pick (3 for 3..16
        exported symbols) and nchain the .dynsym count."""
        table = section(case, ".hash")
        count = len(case.symbols) + len(case.versions)
        assert table.params["nbuckets"] == 3
        assert table.params["nchains"] == count + 1
        for name in [*case.image.symbol_offsets, *case.versions]:
            assert table.get_symbol(name).name == name

    @pytest.mark.parametrize(
        ("functions", "nbucket"), [(1, 1), (2, 3), (15, 3), (16, 17), (36, 37), (66, 67)]
    )
    def test_bucket_count(self, functions, nbucket):
        """nbucket follows bfd's elf_buckets[] for the exported count (functions + 1
        version name): 1 below 3, 3 below 17, 17 below 37, 37 below 67."""
        symbols = [
            VdsoSymbol(name=f"f{i}", offset=0, size=1, version="V") for i in range(functions)
        ]
        image = build_vdso(
            elf_class=ELFCLASS64,
            machine=EM_X86_64,
            text=b"\xc3",
            symbols=symbols,
            versions=["V"],
            soname="s",
        )
        table = ELFFile(BytesIO(image.data)).get_section_by_name(".hash")
        assert table.params["nbuckets"] == nbucket
        for symbol in symbols:
            assert table.get_symbol(symbol.name).name == symbol.name

    def test_linux_note(self, case):
        """PT_NOTE holds the "Linux" note, type 0, with LINUX_VERSION_CODE for 3.16.0."""
        elf = case.elf()
        note_segment = next(s for s in elf.iter_segments() if s["p_type"] == "PT_NOTE")
        (note,) = note_segment.iter_notes()
        assert (note["n_name"], note["n_type"]) == ("Linux", 0)
        assert note["n_desc"] == (0x031000).to_bytes(4, "little")


class TestBuildErrors:
    def build(self, **changes):
        options = dict(
            elf_class=ELFCLASS64,
            machine=EM_X86_64,
            text=b"\xc3" * 16,
            symbols=[VdsoSymbol(name="f", offset=0, size=1, version="V1")],
            versions=["V1"],
            soname="lib.so",
        )
        options.update(changes)
        return build_vdso(**options)

    def test_class_and_machine(self):
        """Only ELFCLASS32/64 and EM_386/EM_X86_64 are x86 vDSOs."""
        with pytest.raises(ValueError, match="elf_class"):
            self.build(elf_class=3)
        with pytest.raises(ValueError, match="machine"):
            self.build(machine=EM_ARM)

    def test_versions(self):
        """A symbol's version must be defined; versions are distinct from the soname."""
        with pytest.raises(ValueError, match=r"symbols\[0\].version"):
            self.build(versions=["V2"])
        with pytest.raises(ValueError, match="versions"):
            self.build(versions=["V1", "V1"])
        with pytest.raises(TypeError, match="versions"):
            self.build(versions="V1")

    def test_symbols(self):
        """Names are unique, and each function lies within the text."""
        twice = [VdsoSymbol(name="f", offset=0, size=1, version="V1")] * 2
        with pytest.raises(ValueError, match=r"symbols\[1\]"):
            self.build(symbols=twice)
        with pytest.raises(ValueError, match=r"symbols\[0\]"):
            self.build(symbols=[VdsoSymbol(name="f", offset=15, size=2, version="V1")])
        with pytest.raises(TypeError, match=r"symbols\[0\]"):
            self.build(symbols=[("f", 0, 1, "V1")])

    def test_text_offset_and_entry(self):
        """text_offset must clear the tables; entry must name a symbol."""
        with pytest.raises(ValueError, match="text_offset"):
            self.build(text_offset=0x40)
        assert self.build(text_offset=0x1000).text_offset == 0x1000
        with pytest.raises(ValueError, match="entry"):
            self.build(entry="g")


BASES = {
    ELFCLASS64: (0x7FFF_F7FF_D000, 0x7FFC_1234_5000, 0x1000),
    ELFCLASS32: (0xF77D_8000, 0xFFFF_E000 - 0x1000, 0x1000),
}


class TestFindVdsoSymbol:
    def test_every_symbol_at_base_plus_offset(self, case):
        """Each exported name, aliases included, resolves to base + its offset."""
        for base in BASES[case.elf_class]:
            read = reader({base: case.image.data})
            for symbol in case.symbols:
                address = find_vdso_symbol(read, base, symbol.name, symbol.version)
                assert address == base + case.image.symbol_offsets[symbol.name], symbol.name

    def test_wrong_version(self):
        """A defined name asked for in another version is refused, naming both."""
        case = CASES["i386"]
        read = reader({0x1000: case.image.data})
        result = find_vdso_symbol(read, 0x1000, "__kernel_vsyscall", "LINUX_2.6")
        assert isinstance(result, VdsoError)
        assert "__kernel_vsyscall" in result.reason and "LINUX_2.6" in result.reason
        assert isinstance(find_vdso_symbol(read, 0x1000, "__vdso_time", "LINUX_2.7"), VdsoError)

    def test_missing_name(self, case):
        """A name the image does not export is a VdsoError, not an exception."""
        read = reader({0x1000: case.image.data})
        result = find_vdso_symbol(read, 0x1000, "clock_getres", "LINUX_2.6")
        assert result == VdsoError("no function clock_getres in the vDSO")

    def test_only_functions(self, case):
        """The version-name symbols ld exports are STT_OBJECT: vdso_sym skips them."""
        read = reader({0x1000: case.image.data})
        assert isinstance(find_vdso_symbol(read, 0x1000, "LINUX_2.6", "LINUX_2.6"), VdsoError)

    def test_hidden_bit_ignored(self):
        """Bit 15 of a versym entry is masked off before the lookup (parse_vdso.c)."""
        case = CASES["x86_64"]
        versym = section(case, ".gnu.version")["sh_offset"]
        data = patched(case.image.data, versym + 2, "<H", 0x8002)  # symbol 1, hidden
        address = find_vdso_symbol(
            reader({0x1000: data}), 0x1000, "__vdso_clock_gettime", "LINUX_2.6"
        )
        assert address == 0x1000 + case.image.symbol_offsets["__vdso_clock_gettime"]

    def test_without_verdef_versions_are_not_checked(self):
        """With no DT_VERDEF, parse_vdso.c ignores DT_VERSYM and any version matches."""
        case = CASES["x86_64"]
        dynamic = section(case, ".dynamic")["sh_offset"]
        tags = [t.entry.d_tag for t in section(case, ".dynamic").iter_tags()]
        data = patched(case.image.data, dynamic + 16 * tags.index("DT_VERDEF"), "<q", 0x7FFF_0000)
        result = find_vdso_symbol(reader({0x1000: data}), 0x1000, "time", "ANY")
        assert result == 0x1000 + case.image.symbol_offsets["time"]

    def test_damaged_headers(self, case):
        """Bad magic, class, byte order or machine are refused with a reason."""
        read_with = lambda data: reader({0x1000: data})  # noqa: E731
        data = case.image.data
        assert (
            "magic" in find_vdso_symbol(read_with(b"\x7fELG" + data[4:]), 0x1000, "f", "V").reason
        )
        assert (
            "class"
            in find_vdso_symbol(read_with(patched(data, 4, "B", 3)), 0x1000, "f", "V").reason
        )
        assert (
            "encoding"
            in find_vdso_symbol(read_with(patched(data, 5, "B", 2)), 0x1000, "f", "V").reason
        )
        result = find_vdso_symbol(read_with(patched(data, 18, "<H", EM_ARM)), 0x1000, "f", "V")
        assert "machine 40" in result.reason

    def test_unmapped(self, case):
        """A base with nothing mapped, or an image cut short, is refused (the read's
        ValueError does not escape)."""
        assert isinstance(find_vdso_symbol(reader({}), 0x1000, "time", "LINUX_2.6"), VdsoError)
        cut = reader({0x1000: case.image.data[:0x100]})
        assert "not readable" in find_vdso_symbol(cut, 0x1000, "__vdso_time", "LINUX_2.6").reason

    def test_chain_loop(self):
        """A hash chain that points back at itself ends with a VdsoError."""
        case = CASES["x86_64"]
        table = section(case, ".hash")
        nbucket, nchain = table.params["nbuckets"], table.params["nchains"]
        chain = table["sh_offset"] + 8 + 4 * nbucket
        data = case.image.data
        for index in range(1, nchain):
            data = patched(data, chain + 4 * index, "<I", index)
        results = [
            find_vdso_symbol(reader({0x1000: data}), 0x1000, name, "LINUX_2.6")
            for name in ("absent", "also_absent", "nope")
        ]
        assert any("loops" in r.reason for r in results if isinstance(r, VdsoError))
        assert all(isinstance(r, (int, VdsoError)) for r in results)

    def test_chain_past_nchain(self):
        """A chain index at or past nchain (the symbol count) is refused."""
        case = CASES["x86_64"]
        table = section(case, ".hash")
        data = case.image.data
        for bucket in range(table.params["nbuckets"]):
            data = patched(data, table["sh_offset"] + 8 + 4 * bucket, "<I", 0x1234)
        result = find_vdso_symbol(reader({0x1000: data}), 0x1000, "time", "LINUX_2.6")
        assert "past nchain" in result.reason

    def test_missing_tables(self):
        """Without DT_HASH (or with no buckets) there is nothing to look a name up in."""
        case = CASES["i386"]
        dynamic = section(case, ".dynamic")["sh_offset"]
        tags = [t.entry.d_tag for t in section(case, ".dynamic").iter_tags()]
        data = patched(case.image.data, dynamic + 8 * tags.index("DT_HASH"), "<i", 0x7FFF_0001)
        result = find_vdso_symbol(reader({0x1000: data}), 0x1000, "__vdso_time", "LINUX_2.6")
        assert result == VdsoError("no DT_HASH in the dynamic section")
        data = patched(case.image.data, section(case, ".hash")["sh_offset"], "<I", 0)
        result = find_vdso_symbol(reader({0x1000: data}), 0x1000, "__vdso_time", "LINUX_2.6")
        assert "no buckets" in result.reason

    def test_misuse_raises(self):
        """Misuse of the Python API is a TypeError or ValueError naming the argument."""
        read = reader({})
        with pytest.raises(TypeError, match="name"):
            find_vdso_symbol(read, 0x1000, b"time", "LINUX_2.6")
        with pytest.raises(ValueError, match="base"):
            find_vdso_symbol(read, -1, "time", "LINUX_2.6")
        with pytest.raises(TypeError, match="read"):
            find_vdso_symbol(None, 0x1000, "time", "LINUX_2.6")

    def test_through_process_memory(self):
        """With Process.read_mem as the callback, symbols resolve where the image is mapped,
        and an unmapped base is a VdsoError."""
        process = Machine.boot("x86_64", "intel", seed=0).spawn("x86_64")
        image = CASES["x86_64"].image
        base = process.alloc(image.size, writable=True)
        process.write_mem(base, image.data)
        address = find_vdso_symbol(process.read_mem, base, "gettimeofday", "LINUX_2.6")
        assert address == base + image.symbol_offsets["gettimeofday"]
        unmapped = find_vdso_symbol(process.read_mem, base + image.size, "time", "LINUX_2.6")
        assert isinstance(unmapped, VdsoError)


def stack(words: list[int], wide: bool) -> bytes:
    return b"".join(w.to_bytes(8 if wide else 4, "little") for w in words)


class TestAuxvValue:
    AUXV = (
        (AT.AT_PAGESZ, 4096),
        (AT.AT_SYSINFO, 0xF77D_8400),
        (AT.AT_SYSINFO_EHDR, 0xF77D_8000),
        (AT.AT_PAGESZ, 1),
    )

    def layout(self, wide: bool, argc: int = 2, envc: int = 3) -> list[int]:
        words = [argc, *range(0x100, 0x100 + argc), 0, *range(0x200, 0x200 + envc), 0]
        for key, value in self.AUXV:
            words += [key, value]
        return [*words, AT.AT_NULL, 0]

    @pytest.mark.parametrize("wide", [True, False])
    def test_finds_entries(self, wide):
        """Past argc, argv, envp and their NULLs, the first entry of the type is returned."""
        sp = 0x7FFF_F000 if wide else 0xFFFF_D000
        read = reader({sp: stack(self.layout(wide), wide)})
        assert auxv_value(read, sp, wide, AT.AT_SYSINFO_EHDR) == 0xF77D_8000
        assert auxv_value(read, sp, wide, AT.AT_SYSINFO) == 0xF77D_8400
        assert auxv_value(read, sp, wide, AT.AT_PAGESZ) == 4096

    def test_absent(self):
        """A type not before AT_NULL gives None, with or without arguments and environment."""
        for argc, envc in ((0, 0), (1, 0), (3, 5)):
            read = reader({0x1000: stack(self.layout(True, argc, envc), True)})
            assert auxv_value(read, 0x1000, True, AT.AT_RANDOM) is None

    def test_then_resolve(self):
        """AT_SYSINFO_EHDR from auxv is the base find_vdso_symbol needs (what libc does)."""
        image = CASES["i386"].image
        words = [1, 0x100, 0, 0, AT.AT_SYSINFO_EHDR, 0xF77D_8000, AT.AT_NULL, 0]
        read = reader({0xFFFF_D000: stack(words, False), 0xF77D_8000: image.data})
        base = auxv_value(read, 0xFFFF_D000, False, AT.AT_SYSINFO_EHDR)
        address = find_vdso_symbol(read, base, "__kernel_vsyscall", "LINUX_2.5")
        assert address == 0xF77D_8000 + image.entry

    def test_misuse(self):
        """wide must be a bool and type an int."""
        with pytest.raises(TypeError, match="wide"):
            auxv_value(reader({}), 0x1000, 1, AT.AT_PAGESZ)
        with pytest.raises(TypeError, match="type"):
            auxv_value(reader({}), 0x1000, True, "AT_PAGESZ")
