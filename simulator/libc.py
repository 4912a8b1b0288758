"""What a C library does at start-up to reach the vDSO: find auxv, then a versioned symbol.

``find_vdso_symbol`` follows Documentation/vDSO/parse_vdso.c (3.16; its 3.18 ELF_BITS
form for the 32-bit layout), the kernel's reference for what glibc's dl_vdso_vsym does:
the first PT_LOAD gives load_offset = base + p_offset - p_vaddr, PT_DYNAMIC (read at
base + p_offset) gives DT_STRTAB, DT_SYMTAB, DT_HASH, DT_VERSYM and DT_VERDEF, and
vdso_sym walks the SysV hash chain for a defined STT_FUNC of STB_GLOBAL or STB_WEAK
binding with the right name, whose versym entry names a non-base verdef with the right
hash and name. Every byte is read through a ``read(address, size)`` callback (a
process's memory), so a vDSO is resolved where it is mapped.

Unlike parse_vdso.c, which trusts the kernel's image, a damaged image answers with a
``VdsoError`` instead of a crash or a hang: unreadable memory, a chain index at or past
nchain, a chain or verdef list that loops, a dynamic table without DT_NULL within
PT_DYNAMIC's p_memsz.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from abi.auxv import AT_NULL
from simulator.kernel.elf import (
    EI_CLASS,
    EI_DATA,
    ELFCLASS32,
    ELFCLASS64,
    ELFDATA2LSB,
    ELFMAG,
    EM_386,
    EM_X86_64,
    PT_LOAD,
)
from simulator.kernel.vdso_elf import (
    DT_HASH,
    DT_NULL,
    DT_STRTAB,
    DT_SYMTAB,
    DT_VERDEF,
    DT_VERSYM,
    ELF_STRUCTS,
    HASH_WORD,
    PT_DYNAMIC,
    SHN_UNDEF,
    STB_GLOBAL,
    STB_WEAK,
    STN_UNDEF,
    STT_FUNC,
    VER_FLG_BASE,
    VERDAUX,
    VERDEF,
    VERSYM,
    ElfStructs,
    elf_hash,
)

#: ``read(address, size) -> bytes``; raises ValueError for memory that is not mapped.
Read = Callable[[int, int], bytes]

_MACHINES = (EM_386, EM_X86_64)
_VERSION_MASK = 0x7FFF  # parse_vdso.c: "Apparently bit 15 means hidden"


@attrs.frozen
class VdsoError:
    """Why a vDSO symbol could not be resolved (a missing symbol, or a damaged image)."""

    reason: str


class _Refused(Exception):
    """Internal: carries a VdsoError's reason up to find_vdso_symbol, which returns it."""


class _Memory:
    """The callback, with addresses wrapped to the image's word and failures as _Refused."""

    def __init__(self, read: Read, mask: int) -> None:
        self._read = read
        self.mask = mask

    def bytes(self, address: int, size: int, what: str) -> bytes:
        address &= self.mask
        try:
            data = self._read(address, size)
        except ValueError as error:
            raise _Refused(f"{what} at {address:#x} is not readable ({error})") from None
        if len(data) != size:
            raise _Refused(f"{what} at {address:#x}: read {len(data)} of {size} bytes")
        return bytes(data)

    def equals_cstring(self, address: int, expected: bytes, what: str) -> bool:
        """strcmp(expected, string at address) == 0, reading no byte strcmp would not."""
        address &= self.mask
        try:
            return self._read(address, len(expected) + 1) == expected + b"\0"
        except ValueError:
            pass  # the string may end before an unmapped byte: compare as strcmp does
        for index, want in enumerate(expected + b"\0"):
            if self.bytes(address + index, 1, what)[0] != want:
                return False
        return True


@attrs.frozen
class _Tables:
    """What vdso_init_from_sysinfo_ehdr keeps: addresses of the tables, and the hash header."""

    structs: ElfStructs
    load_offset: int
    symstrings: int
    symtab: int
    bucket: int
    chain: int
    nbucket: int
    nchain: int
    versym: int | None
    verdef: int | None


def _init_from_sysinfo_ehdr(mem: _Memory, base: int) -> _Tables:
    ident = mem.bytes(base, 16, "e_ident")
    if ident[:4] != ELFMAG:
        raise _Refused(f"bad ELF magic {ident[:4]!r} at {base:#x}")
    elf_class = ident[EI_CLASS]
    if elf_class not in (ELFCLASS32, ELFCLASS64):
        raise _Refused(f"unsupported ELF class {elf_class}")
    if ident[EI_DATA] != ELFDATA2LSB:
        raise _Refused(f"unsupported ELF data encoding {ident[EI_DATA]} (x86 is ELFDATA2LSB)")
    s = ELF_STRUCTS[elf_class]
    mem.mask = (1 << (8 * s.word)) - 1
    if base > mem.mask:
        raise _Refused(f"an ELFCLASS32 image at {base:#x}, above 4 GiB")
    (_, _, machine, _, _, phoff, _, _, _, _, phnum, _, _, _) = s.ehdr.unpack(
        mem.bytes(base, s.ehdr.size, "the ELF header")
    )
    if machine not in _MACHINES:
        raise _Refused(f"unsupported machine {machine} (expected EM_386 or EM_X86_64)")

    # parse_vdso.c steps by sizeof(Phdr), whatever e_phentsize says.
    table = mem.bytes(base + phoff, phnum * s.phdr.size, "the program headers")
    load_offset: int | None = None
    dynamic: tuple[int, int] | None = None
    for index in range(phnum):
        fields = s.phdr.unpack_from(table, index * s.phdr.size)
        if s.elf_class == ELFCLASS32:
            p_type, p_offset, p_vaddr, _, _, p_memsz, _, _ = fields
        else:
            p_type, _, p_offset, p_vaddr, _, _, p_memsz, _ = fields
        if p_type == PT_LOAD and load_offset is None:
            load_offset = (base + p_offset - p_vaddr) & mem.mask
        elif p_type == PT_DYNAMIC:
            dynamic = ((base + p_offset) & mem.mask, p_memsz)
    if load_offset is None:
        raise _Refused("no PT_LOAD program header")
    if dynamic is None:
        raise _Refused("no PT_DYNAMIC program header")

    found: dict[int, int] = {}
    dyn_at, dyn_memsz = dynamic
    for index in range(dyn_memsz // s.dyn.size):
        tag, value = s.dyn.unpack(mem.bytes(dyn_at + index * s.dyn.size, s.dyn.size, "Dyn"))
        if tag == DT_NULL:
            break
        if tag in (DT_STRTAB, DT_SYMTAB, DT_HASH, DT_VERSYM, DT_VERDEF):
            found[tag] = (value + load_offset) & mem.mask
    else:
        raise _Refused("no DT_NULL within PT_DYNAMIC's p_memsz")
    for tag, name in ((DT_STRTAB, "DT_STRTAB"), (DT_SYMTAB, "DT_SYMTAB"), (DT_HASH, "DT_HASH")):
        if tag not in found:
            raise _Refused(f"no {name} in the dynamic section")
    verdef = found.get(DT_VERDEF)
    versym = found.get(DT_VERSYM) if verdef is not None else None

    hash_at = found[DT_HASH]
    nbucket, nchain = (
        HASH_WORD.unpack(mem.bytes(hash_at + 4 * i, 4, "the .hash header"))[0] for i in (0, 1)
    )
    if nbucket == 0:
        raise _Refused("the hash table has no buckets")
    return _Tables(
        structs=s,
        load_offset=load_offset,
        symstrings=found[DT_STRTAB],
        symtab=found[DT_SYMTAB],
        bucket=hash_at + 8,
        chain=hash_at + 8 + 4 * nbucket,
        nbucket=nbucket,
        nchain=nchain,
        versym=versym,
        verdef=verdef,
    )


def _match_version(mem: _Memory, t: _Tables, ver: int, name: bytes, ver_hash: int) -> bool:
    """parse_vdso.c's vdso_match_version: the non-base verdef with index ``ver``, by hash
    and by its first verdaux's name."""
    assert t.verdef is not None
    ver &= _VERSION_MASK
    at = t.verdef
    seen: set[int] = set()
    while True:
        if at in seen:
            raise _Refused("the version definitions loop")
        seen.add(at)
        _, flags, ndx, _, vd_hash, vd_aux, vd_next = VERDEF.unpack(
            mem.bytes(at, VERDEF.size, "Verdef")
        )
        if flags & VER_FLG_BASE == 0 and ndx & _VERSION_MASK == ver:
            break
        if vd_next == 0:
            return False  # no definition
        at = (at + vd_next) & mem.mask
    vda_name, _ = VERDAUX.unpack(mem.bytes(at + vd_aux, VERDAUX.size, "Verdaux"))
    return vd_hash == ver_hash and mem.equals_cstring(
        t.symstrings + vda_name, name, "a version name"
    )


def _vdso_sym(mem: _Memory, t: _Tables, name: bytes, version: bytes) -> int:
    s = t.structs
    ver_hash = elf_hash(version)
    bucket = elf_hash(name) % t.nbucket
    index = HASH_WORD.unpack(mem.bytes(t.bucket + 4 * bucket, 4, "a hash bucket"))[0]
    seen: set[int] = set()
    versions_refused = False
    while index != STN_UNDEF:
        if index >= t.nchain:
            raise _Refused(f"hash chain index {index} is past nchain {t.nchain}")
        if index in seen:
            raise _Refused(f"the hash chain loops at symbol {index}")
        seen.add(index)
        raw = mem.bytes(t.symtab + index * s.sym.size, s.sym.size, "Sym")
        if s.elf_class == ELFCLASS32:
            st_name, st_value, _, st_info, _, st_shndx = s.sym.unpack(raw)
        else:
            st_name, st_info, _, st_shndx, st_value, _ = s.sym.unpack(raw)
        if (
            st_info & 0xF == STT_FUNC
            and st_info >> 4 in (STB_GLOBAL, STB_WEAK)
            and st_shndx != SHN_UNDEF
            and mem.equals_cstring(t.symstrings + st_name, name, "a symbol name")
        ):
            if t.versym is None:
                return (t.load_offset + st_value) & mem.mask
            ver = VERSYM.unpack(mem.bytes(t.versym + 2 * index, 2, "Versym"))[0]
            if _match_version(mem, t, ver, version, ver_hash):
                return (t.load_offset + st_value) & mem.mask
            versions_refused = True
        index = HASH_WORD.unpack(mem.bytes(t.chain + 4 * index, 4, "a hash chain"))[0]
    if versions_refused:
        raise _Refused(f"{name.decode()} is not defined in version {version.decode()}")
    raise _Refused(f"no function {name.decode()} in the vDSO")


def _check_str(field: str, value: object) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"{field}: expected a str, received {type(value).__name__} {value!r}")
    if "\0" in value or not value.isascii():
        raise ValueError(f"{field}: expected an ASCII name without NUL, received {value!r}")
    return value.encode()


def _check_address(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{field}: expected an int, received {type(value).__name__} {value!r}")
    if not 0 <= value < 1 << 64:
        raise ValueError(f"{field}: expected an address 0 .. 2**64-1, received {value:#x}")
    return value


def find_vdso_symbol(read: Read, base: int, name: str, version: str) -> int | VdsoError:
    """The address of the vDSO function ``name`` in ``version``, or why there is none.

    ``base`` is AT_SYSINFO_EHDR. As vdso_init_from_sysinfo_ehdr then vdso_sym do, with
    checks of e_ident, e_machine (EM_386 or EM_X86_64, either class: x32's image is
    ELFCLASS32 with EM_X86_64) and of every table read, so that no image, however
    damaged, makes this raise or loop.
    """
    if not callable(read):
        raise TypeError(f"read: expected a callable read(address, size), received {read!r}")
    base = _check_address("base", base)
    wanted = _check_str("name", name)
    wanted_version = _check_str("version", version)
    mem = _Memory(read, (1 << 64) - 1)
    try:
        tables = _init_from_sysinfo_ehdr(mem, base)
        return _vdso_sym(mem, tables, wanted, wanted_version)
    except _Refused as refusal:
        return VdsoError(str(refusal))


def auxv_value(read: Read, sp: int, wide: bool, type: int) -> int | None:
    """The value of the first auxv entry of ``type`` above a process's initial stack.

    From ``sp`` as create_elf_tables (fs/binfmt_elf.c) leaves it: argc, argv[] and its
    NULL, envp[] and its NULL, then (a_type, a_val) pairs up to AT_NULL; each word 8
    bytes when ``wide`` (x86_64) and 4 otherwise (i386, x32's auxv is 32-bit too).
    None when no entry before AT_NULL has that type. The stack is read through ``read``,
    whose ValueError (an address that is not mapped) is not caught here.
    """
    if not callable(read):
        raise TypeError(f"read: expected a callable read(address, size), received {read!r}")
    sp = _check_address("sp", sp)
    if not isinstance(wide, bool):
        raise TypeError(f"wide: expected a bool, received {wide.__class__.__name__}")
    if isinstance(type, bool) or not isinstance(type, int):
        raise TypeError(f"type: expected an int, received {type.__class__.__name__} {type!r}")
    word = 8 if wide else 4
    mask = (1 << (8 * word)) - 1

    def load(address: int) -> int:
        return int.from_bytes(read(address & mask, word), "little")

    argc = load(sp)
    at = sp + word * (argc + 2)  # past argc, argv[0..argc-1] and argv's NULL
    while load(at) != 0:  # envp
        at += word
    at += word
    while True:
        a_type, a_val = load(at), load(at + word)
        if a_type == type:
            return a_val
        if a_type == AT_NULL:
            return None
        at += 2 * word
