"""The vDSO as an ELF shared object: Linux 3.16's image layout, built from text and symbols.

What ld writes for arch/x86/vdso (3.16: vdso-layout.lds.S with vdso.lds.S or
vdso32/vdso32.lds.S, linked with ``-shared --hash-style=sysv`` at address 0) and what
vdso2c then does to it:

* one PT_LOAD (R+X) from the ELF header to the end of .text, p_offset == p_vaddr == 0,
  so every address in the image is also its offset; PT_DYNAMIC, PT_NOTE and
  PT_GNU_EH_FRAME point into it;
* the sections in the linker script's order: .hash (SysV only: no .gnu.hash),
  .dynsym, .dynstr, .gnu.version, .gnu.version_d, .note, .eh_frame_hdr, .eh_frame,
  .dynamic, then (where 3.16 has .rodata/.data) vdso2c's "fake" section table and its
  string table ``.fake_shstrtab``, and .text at ALIGN(0x100);
* no section table outside the loaded bytes: vdso2c points e_shoff at a table inside
  the image (VDSO_FAKE_SECTION_TABLE_START), listing only allocated sections, so a
  dump of the mapped vDSO still reads in readelf and pyelftools;
* version definitions: index 1 is the base (VER_FLG_BASE, named by the soname), then
  each version node in the order the version script defines it, one verdaux each (no
  node of 3.16's scripts names a parent); ld also exports each version name as an
  absolute STT_OBJECT symbol, which this image does too;
* the vvar area ([vvar]: the vvar page, then the HPET page) is not in the image. In
  3.16 it is mapped just *after* it (map_vdso in vma.c maps it at addr + image->size,
  and vdso2c refuses a special page below the end of the text); 3.17 moved it below
  the image (``vvar_start = . - 2 * PAGE_SIZE``).

Left out: the build-id note (--build-id hashes the real object's bytes), 3.16's
.rodata/.altinstructions contents, the i386 image's Xen note, and DWARF CFI (the
.eh_frame here holds only its terminator, so unwinders find no FDE).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import attrs

from simulator.kernel.elf import (
    EI_NIDENT,
    ELFCLASS32,
    ELFCLASS64,
    ELFDATA2LSB,
    ELFMAG,
    EM_386,
    EM_X86_64,
    ET_DYN,
    EV_CURRENT,
    PF_R,
    PF_X,
    PT_LOAD,
)

PAGE_SIZE = 4096

# include/uapi/linux/elf.h, 3.16
PT_DYNAMIC = 2
PT_NOTE = 4
PT_GNU_EH_FRAME = 0x6474E550  # vdso-layout.lds.S spells it as this constant
DT_NULL = 0
DT_HASH = 4
DT_STRTAB = 5
DT_SYMTAB = 6
DT_STRSZ = 10
DT_SYMENT = 11
DT_SONAME = 14
DT_VERSYM = 0x6FFFFFF0
DT_VERDEF = 0x6FFFFFFC
DT_VERDEFNUM = 0x6FFFFFFD
SHT_NULL = 0
SHT_PROGBITS = 1
SHT_STRTAB = 3
SHT_HASH = 5
SHT_DYNAMIC = 6
SHT_NOTE = 7
SHT_DYNSYM = 11
SHF_WRITE = 0x1
SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4
SHN_UNDEF = 0
SHN_ABS = 0xFFF1
STN_UNDEF = 0
STB_LOCAL = 0
STB_GLOBAL = 1
STB_WEAK = 2
STT_NOTYPE = 0
STT_OBJECT = 1
STT_FUNC = 2
# glibc's elf.h (Linux's has no names for these): the GNU symbol-versioning sections.
SHT_GNU_VERDEF = 0x6FFFFFFD
SHT_GNU_VERSYM = 0x6FFFFFFF
VER_DEF_CURRENT = 1
VER_FLG_BASE = 0x1
VER_NDX_LOCAL = 0
VERSYM_HIDDEN = 0x8000  # bit 15 of a versym entry; parse_vdso.c masks it off

# KERNEL_VERSION(3, 16, 0) (include/generated/uapi/linux/version.h): the descriptor of
# the "Linux" note that arch/x86/vdso/vdso-note.S and vdso32/note.S emit (type 0).
LINUX_VERSION_CODE = (3 << 16) + (16 << 8) + 0
LINUX_NOTE_NAME = b"Linux"

# arch/x86/vdso/Makefile and vdso(7): the sonames.
SONAME_64 = "linux-vdso.so.1"
SONAME_32 = "linux-gate.so.1"

# bfd/elflink.c elf_buckets[]: ld (without -O) takes the last of these that is not
# above the number of exported symbols as .hash's nbucket.
_ELF_BUCKETS = (1, 3, 17, 37, 67, 97, 131, 197, 263, 521, 1031, 2053, 4099, 8209, 16411,
                32771, 65537, 131101, 262147)  # fmt: skip

_TEXT_ALIGN = 0x100  # vdso-layout.lds.S: ". = ALIGN(0x100);" before .text


@attrs.frozen
class ElfStructs:
    """The little-endian layouts of one ELF class, as Python ``struct`` formats.

    Field order is the C structure's: Ehdr (ident, type, machine, version, entry,
    phoff, shoff, flags, ehsize, phentsize, phnum, shentsize, shnum, shstrndx); Phdr
    32-bit (type, offset, vaddr, paddr, filesz, memsz, flags, align) and 64-bit (type,
    flags, offset, vaddr, paddr, filesz, memsz, align); Shdr (name, type, flags, addr,
    offset, size, link, info, addralign, entsize); Sym 32-bit (name, value, size, info,
    other, shndx) and 64-bit (name, info, other, shndx, value, size); Dyn (tag, val).
    Hash words, Versym, Verdef and Verdaux are the same in both classes.
    """

    elf_class: int
    word: int
    ehdr: struct.Struct
    phdr: struct.Struct
    shdr: struct.Struct
    sym: struct.Struct
    dyn: struct.Struct


ELF_STRUCTS: Mapping[int, ElfStructs] = MappingProxyType(
    {
        ELFCLASS32: ElfStructs(
            ELFCLASS32,
            4,
            struct.Struct("<16sHHIIIIIHHHHHH"),
            struct.Struct("<IIIIIIII"),
            struct.Struct("<IIIIIIIIII"),
            struct.Struct("<IIIBBH"),
            struct.Struct("<iI"),
        ),
        ELFCLASS64: ElfStructs(
            ELFCLASS64,
            8,
            struct.Struct("<16sHHIQQQIHHHHHH"),
            struct.Struct("<IIQQQQQQ"),
            struct.Struct("<IIQQQQIIQQ"),
            struct.Struct("<IBBHQQ"),
            struct.Struct("<qQ"),
        ),
    }
)
HASH_WORD = struct.Struct("<I")  # Elf32_Word and Elf64_Word alike (x86 .hash entries are 4 bytes)
VERSYM = struct.Struct("<H")
VERDEF = struct.Struct("<HHHHIII")  # version, flags, ndx, cnt, hash, aux, next
VERDAUX = struct.Struct("<II")  # name, next
NHDR = struct.Struct("<III")  # namesz, descsz, type


def elf_hash(name: bytes) -> int:
    """The SysV ABI's ELF hash of a symbol name (the DT_HASH function; parse_vdso.c's elf_hash)."""
    if not isinstance(name, (bytes, bytearray)):
        raise TypeError(f"name: expected bytes, received {type(name).__name__} {name!r}")
    h = 0
    for byte in name:
        h = ((h << 4) + byte) & 0xFFFF_FFFF
        g = h & 0xF000_0000
        if g:
            h ^= g >> 24
        h &= ~g & 0xFFFF_FFFF
    return h


def _check_name(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{field}: expected a str, received {type(value).__name__} {value!r}")
    if not value or "\0" in value or not value.isascii():
        raise ValueError(
            f"{field}: expected a non-empty ASCII name without NUL, received {value!r}"
        )
    return value


def _check_count(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{field}: expected an int, received {type(value).__name__} {value!r}")
    if not 0 <= value < 1 << 32:
        raise ValueError(f"{field}: expected 0 .. 0xffffffff, received {value!r}")
    return value


@attrs.frozen(kw_only=True)
class VdsoSymbol:
    """One exported function: its name, where it starts in the text, its size, its version.

    ``weak`` is STB_WEAK, as for the unprefixed names vclock_gettime.c and vgetcpu.c
    declare with ``__attribute__((weak, alias("__vdso_...")))``; an alias is simply a
    second VdsoSymbol at the same offset.
    """

    name: str = attrs.field(validator=lambda _i, _a, v: _check_name("name", v))
    offset: int = attrs.field(validator=lambda _i, _a, v: _check_count("offset", v))
    size: int = attrs.field(validator=lambda _i, _a, v: _check_count("size", v))
    version: str = attrs.field(validator=lambda _i, _a, v: _check_name("version", v))
    weak: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))


@attrs.frozen(kw_only=True)
class VdsoImage:
    """A built vDSO: the bytes the kernel maps, and the offsets it and user space need.

    Offsets are from the image's first byte, which is also its link address (0):
    ``symbol_offsets`` has every exported function, aliases included (not the version
    names ld exports as absolute symbols). ``vvar_start`` is where the vvar area
    begins relative to the image: in 3.16, right after it (``size``), so the vvar page
    is at ``base + vvar_start`` and the HPET page one page later, up to ``end_mapping``.
    """

    data: bytes = attrs.field(repr=False)
    elf_class: int
    machine: int
    soname: str
    text_offset: int
    entry: int
    symbol_offsets: Mapping[str, int] = attrs.field(
        converter=lambda m: MappingProxyType(dict(m)), hash=False
    )
    vvar_start: int
    vvar_pages: int

    @property
    def size(self) -> int:
        """The image's length in bytes (vdso_image.size: a multiple of the page size)."""
        return len(self.data)

    @property
    def end_mapping(self) -> int:
        """The end of the vvar area, relative to the image (3.16's sym_end_mapping)."""
        return self.vvar_start + self.vvar_pages * PAGE_SIZE


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


def _bucket_count(nsyms: int) -> int:
    best = _ELF_BUCKETS[0]
    for index, size in enumerate(_ELF_BUCKETS):
        best = size
        if index + 1 == len(_ELF_BUCKETS) or nsyms < _ELF_BUCKETS[index + 1]:
            break
    return best


class _StrTab:
    """A string table with ld's sharing of identical strings; offset 0 is the empty string."""

    def __init__(self) -> None:
        self.data = bytearray(b"\0")
        self.offsets: dict[bytes, int] = {b"": 0}

    def add(self, text: bytes) -> int:
        if text not in self.offsets:
            self.offsets[text] = len(self.data)
            self.data += text + b"\0"
        return self.offsets[text]


@attrs.frozen
class _Section:
    name: str
    type: int
    flags: int
    offset: int
    size: int
    align: int
    entsize: int = 0
    link: str | None = None
    info: int = 0


def _validate(
    elf_class: int,
    machine: int,
    text: bytes,
    symbols: Sequence[VdsoSymbol],
    versions: Sequence[str],
    soname: str,
    vvar_pages: int,
) -> tuple[bytes, tuple[VdsoSymbol, ...], tuple[str, ...]]:
    if elf_class not in (ELFCLASS32, ELFCLASS64):
        raise ValueError(
            f"elf_class: expected ELFCLASS32 (1) or ELFCLASS64 (2), received {elf_class!r}"
        )
    if machine not in (EM_386, EM_X86_64):
        raise ValueError(f"machine: expected EM_386 (3) or EM_X86_64 (62), received {machine!r}")
    if not isinstance(text, (bytes, bytearray)):
        raise TypeError(f"text: expected bytes, received {type(text).__name__}")
    text = bytes(text)
    _check_name("soname", soname)
    _check_count("vvar_pages", vvar_pages)
    if isinstance(versions, str):
        raise TypeError(f"versions: expected a sequence of names, received the str {versions!r}")
    versions = tuple(versions)
    for index, version in enumerate(versions):
        _check_name(f"versions[{index}]", version)
    if len(set(versions)) != len(versions) or soname in versions:
        raise ValueError(
            f"versions: expected distinct names other than the soname, received {versions!r}"
        )
    symbols = tuple(symbols)
    names: set[str] = set(versions)
    for index, symbol in enumerate(symbols):
        if not isinstance(symbol, VdsoSymbol):
            raise TypeError(f"symbols[{index}]: expected a VdsoSymbol, received {symbol!r}")
        if symbol.name in names:
            raise ValueError(f"symbols[{index}]: the name {symbol.name!r} is already defined")
        names.add(symbol.name)
        if symbol.version not in versions:
            raise ValueError(
                f"symbols[{index}].version: expected one of {versions!r}, "
                f"received {symbol.version!r}"
            )
        if symbol.offset + symbol.size > len(text):
            raise ValueError(
                f"symbols[{index}]: expected offset + size within the {len(text)} bytes of text, "
                f"received {symbol.offset:#x} + {symbol.size:#x}"
            )
    return text, symbols, versions


def build_vdso(
    *,
    elf_class: int,
    machine: int,
    text: bytes,
    symbols: Sequence[VdsoSymbol],
    versions: Sequence[str],
    soname: str,
    vvar_pages: int = 2,
    text_offset: int | None = None,
    entry: str | None = None,
) -> VdsoImage:
    """Lay out a vDSO image linked at 0, as ld and vdso2c make it from Linux 3.16's sources.

    ``versions`` are the version nodes in the order the version script defines them
    (vdso32.lds.S defines LINUX_2.6 before LINUX_2.5), numbered from 2 after the base.
    ``text_offset`` places .text (default: ALIGN(0x100) after the tables, as the linker
    script does). ``entry`` names the symbol for e_entry (the 32-bit script's
    ``ENTRY(__kernel_vsyscall)``); without it ld uses the start of .text.
    """
    text, symbols, versions = _validate(
        elf_class, machine, text, symbols, versions, soname, vvar_pages
    )
    s = ELF_STRUCTS[elf_class]
    align = s.word  # ld's alignment for .hash/.dynsym/.gnu.version_d/.dynamic is the word

    # -- strings, symbols, versions ------------------------------------------------------
    dynstr = _StrTab()
    soname_at = dynstr.add(soname.encode())
    version_index = {name: 2 + i for i, name in enumerate(versions)}
    # (name, info, shndx_is_text, value, size, versym)
    dynsyms: list[tuple[bytes, int, bool, int, int, int]] = []
    for sym in symbols:
        bind = STB_WEAK if sym.weak else STB_GLOBAL
        dynsyms.append(
            (sym.name.encode(), bind << 4 | STT_FUNC, True, sym.offset, sym.size,
             version_index[sym.version])
        )  # fmt: skip
    for name in versions:
        dynsyms.append(
            (name.encode(), STB_GLOBAL << 4 | STT_OBJECT, False, 0, 0, version_index[name])
        )
    for name, *_ in dynsyms:
        dynstr.add(name)
    nsym = 1 + len(dynsyms)

    nbucket = _bucket_count(len(dynsyms))
    buckets = [STN_UNDEF] * nbucket
    chains = [STN_UNDEF] * nsym
    for index, (name, *_) in enumerate(dynsyms, start=1):
        slot = elf_hash(name) % nbucket
        chains[index] = buckets[slot]
        buckets[slot] = index
    hash_data = b"".join(HASH_WORD.pack(w) for w in (nbucket, nsym, *buckets, *chains))

    versym_data = VERSYM.pack(VER_NDX_LOCAL) + b"".join(VERSYM.pack(d[5]) for d in dynsyms)
    verdefs = [(VER_FLG_BASE, 1, soname), *((0, version_index[v], v) for v in versions)]
    verdef_data = bytearray()
    for number, (flags, index, name) in enumerate(verdefs):
        last = number == len(verdefs) - 1
        encoded = name.encode()
        verdef_data += VERDEF.pack(
            VER_DEF_CURRENT, flags, index, 1, elf_hash(encoded), VERDEF.size,
            0 if last else VERDEF.size + VERDAUX.size,
        )  # fmt: skip
        verdef_data += VERDAUX.pack(dynstr.add(encoded), 0)

    name_pad = _align(len(LINUX_NOTE_NAME) + 1, 4)
    note_data = NHDR.pack(len(LINUX_NOTE_NAME) + 1, 4, 0)
    note_data += LINUX_NOTE_NAME.ljust(name_pad, b"\0") + struct.pack("<I", LINUX_VERSION_CODE)

    # -- layout: everything is at its link address, which is its file offset --------------
    cursor = s.ehdr.size + 4 * s.phdr.size
    sections: list[_Section] = []

    def place(name: str, size: int, alignment: int, **fields: object) -> int:
        nonlocal cursor
        offset = _align(cursor, alignment)
        sections.append(_Section(name=name, offset=offset, size=size, align=alignment, **fields))
        cursor = offset + size
        return offset

    hash_at = place(".hash", len(hash_data), align, type=SHT_HASH, flags=SHF_ALLOC, entsize=4,
                    link=".dynsym")  # fmt: skip
    dynsym_at = place(".dynsym", nsym * s.sym.size, align, type=SHT_DYNSYM, flags=SHF_ALLOC,
                      entsize=s.sym.size, link=".dynstr", info=1)  # fmt: skip
    dynstr_size = len(dynstr.data)
    dynstr_at = place(".dynstr", dynstr_size, 1, type=SHT_STRTAB, flags=SHF_ALLOC)
    versym_at = place(".gnu.version", len(versym_data), 2, type=SHT_GNU_VERSYM, flags=SHF_ALLOC,
                      entsize=2, link=".dynsym")  # fmt: skip
    verdef_at = place(".gnu.version_d", len(verdef_data), align, type=SHT_GNU_VERDEF,
                      flags=SHF_ALLOC, link=".dynstr", info=len(verdefs))  # fmt: skip
    note_at = place(".note", len(note_data), 4, type=SHT_NOTE, flags=SHF_ALLOC)
    eh_hdr_at = place(".eh_frame_hdr", 12, 4, type=SHT_PROGBITS, flags=SHF_ALLOC)
    eh_frame_at = place(".eh_frame", 4, align, type=SHT_PROGBITS, flags=SHF_ALLOC)
    dynamic_tags = [
        (DT_SONAME, soname_at),
        (DT_HASH, hash_at),
        (DT_STRTAB, dynstr_at),
        (DT_SYMTAB, dynsym_at),
        (DT_STRSZ, dynstr_size),
        (DT_SYMENT, s.sym.size),
        (DT_VERDEF, verdef_at),
        (DT_VERDEFNUM, len(verdefs)),
        (DT_VERSYM, versym_at),
        (DT_NULL, 0),
    ]
    dynamic_at = place(".dynamic", len(dynamic_tags) * s.dyn.size, align, type=SHT_DYNAMIC,
                       flags=SHF_WRITE | SHF_ALLOC, entsize=s.dyn.size, link=".dynstr")  # fmt: skip
    # vdso2c's in-image section table: NULL, the sections so far, .fake_shstrtab, .text
    shnum = 1 + len(sections) + 2
    shtab_at = _align(cursor, align)
    cursor = shtab_at + shnum * s.shdr.size
    shstr = _StrTab()
    for name in (*(sec.name for sec in sections), ".fake_shstrtab", ".text"):
        shstr.add(name.encode())
    place(".fake_shstrtab", len(shstr.data), 1, type=SHT_STRTAB, flags=SHF_ALLOC)
    if text_offset is None:
        text_offset = _align(cursor, _TEXT_ALIGN)
    else:
        _check_count("text_offset", text_offset)
        if text_offset < cursor or text_offset % 16:
            raise ValueError(
                f"text_offset: expected a multiple of 16 at or after the tables' end {cursor:#x}, "
                f"received {text_offset:#x}"
            )
    cursor = text_offset
    place(".text", len(text), 16, type=SHT_PROGBITS, flags=SHF_ALLOC | SHF_EXECINSTR)
    load_size = cursor
    size = _align(max(load_size, 1), PAGE_SIZE)
    section_index = {sec.name: i for i, sec in enumerate(sections, start=1)}
    text_index = section_index[".text"]

    symbol_offsets = {sym.name: text_offset + sym.offset for sym in symbols}
    if entry is None:
        entry_at = text_offset
    elif entry in symbol_offsets:
        entry_at = symbol_offsets[entry]
    else:
        raise ValueError(f"entry: expected one of the symbols' names, received {entry!r}")

    # -- bytes --------------------------------------------------------------------------
    image = bytearray(size)
    ident = ELFMAG + bytes([elf_class, ELFDATA2LSB, EV_CURRENT]) + bytes(EI_NIDENT - 7)
    image[: s.ehdr.size] = s.ehdr.pack(
        ident, ET_DYN, machine, EV_CURRENT, entry_at, s.ehdr.size, shtab_at, 0,
        s.ehdr.size, s.phdr.size, 4, s.shdr.size, shnum, section_index[".fake_shstrtab"],
    )  # fmt: skip
    program_headers = [
        (PT_LOAD, PF_R | PF_X, 0, load_size, PAGE_SIZE),
        (PT_DYNAMIC, PF_R, dynamic_at, len(dynamic_tags) * s.dyn.size, align),
        (PT_NOTE, PF_R, note_at, len(note_data), 4),
        (PT_GNU_EH_FRAME, PF_R, eh_hdr_at, 12, 4),
    ]
    for number, (p_type, flags, offset, length, p_align) in enumerate(program_headers):
        at = s.ehdr.size + number * s.phdr.size
        if elf_class == ELFCLASS32:
            fields = (p_type, offset, offset, offset, length, length, flags, p_align)
        else:
            fields = (p_type, flags, offset, offset, offset, length, length, p_align)
        s.phdr.pack_into(image, at, *fields)

    image[hash_at : hash_at + len(hash_data)] = hash_data
    for index, (name, info, in_text, value, sym_size, _) in enumerate(dynsyms, start=1):
        st_name = dynstr.offsets[name]
        shndx = text_index if in_text else SHN_ABS
        st_value = text_offset + value if in_text else value
        at = dynsym_at + index * s.sym.size
        if elf_class == ELFCLASS32:
            s.sym.pack_into(image, at, st_name, st_value, sym_size, info, 0, shndx)
        else:
            s.sym.pack_into(image, at, st_name, info, 0, shndx, st_value, sym_size)
    image[dynstr_at : dynstr_at + dynstr_size] = dynstr.data
    image[versym_at : versym_at + len(versym_data)] = versym_data
    image[verdef_at : verdef_at + len(verdef_data)] = verdef_data
    image[note_at : note_at + len(note_data)] = note_data
    # .eh_frame_hdr: version 1; eh_frame_ptr DW_EH_PE_pcrel|sdata4 (0x1b); fde_count
    # DW_EH_PE_udata4 (0x03); table DW_EH_PE_datarel|sdata4 (0x3b); zero FDEs.
    image[eh_hdr_at : eh_hdr_at + 12] = bytes((1, 0x1B, 0x03, 0x3B)) + struct.pack(
        "<iI", eh_frame_at - (eh_hdr_at + 4), 0
    )
    for number, (tag, value) in enumerate(dynamic_tags):
        s.dyn.pack_into(image, dynamic_at + number * s.dyn.size, tag, value)
    for number, sec in enumerate(sections, start=1):
        link = section_index[sec.link] if sec.link else 0
        s.shdr.pack_into(
            image, shtab_at + number * s.shdr.size,
            shstr.offsets[sec.name.encode()], sec.type, sec.flags, sec.offset, sec.offset,
            sec.size, link, sec.info, sec.align, sec.entsize,
        )  # fmt: skip
    shstr_at = sections[section_index[".fake_shstrtab"] - 1].offset
    image[shstr_at : shstr_at + len(shstr.data)] = shstr.data
    image[text_offset : text_offset + len(text)] = text

    return VdsoImage(
        data=bytes(image),
        elf_class=elf_class,
        machine=machine,
        soname=soname,
        text_offset=text_offset,
        entry=entry_at,
        symbol_offsets=symbol_offsets,
        vvar_start=size,
        vvar_pages=vvar_pages,
    )
