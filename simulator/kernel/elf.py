"""Static ELF executables: build them, and parse them as Linux 3.16's binfmt_elf loads them.

``parse_executable`` follows load_elf_binary (fs/binfmt_elf.c) as far as the file alone
decides: the header checks that refuse with -ENOEXEC, the program-header read, PT_INTERP,
and, past the point of no return (flush_old_exec), the per-segment checks that kill the
process. What needs the address space (vm_brk, padzero, mmap_min_addr, overlaps) is left
to the loader. On an x86_64 kernel two handlers try the file in turn: binfmt_elf with
Elf64 structures and compat_binfmt_elf with Elf32 ones; neither looks at e_ident[EI_CLASS],
each tests only e_machine (elf_check_arch, compat_elf_check_arch in asm/elf.h).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import attrs

from abi.errnos import errno_number

# include/uapi/linux/elf.h
ELFMAG = b"\x7fELF"
SELFMAG = 4
EI_CLASS = 4
EI_DATA = 5
EI_VERSION = 6
EI_NIDENT = 16
ELFCLASS32 = 1
ELFCLASS64 = 2
ELFDATA2LSB = 1
EV_CURRENT = 1
ET_REL = 1
ET_EXEC = 2
ET_DYN = 3
ET_CORE = 4
PT_NULL = 0
PT_LOAD = 1
PT_INTERP = 3
PT_GNU_STACK = 0x6474E551
PF_X = 0x1
PF_W = 0x2
PF_R = 0x4

# include/uapi/linux/elf-em.h
EM_386 = 3
EM_486 = 6
EM_X86_64 = 62

# sizeof(Elf32_Ehdr), sizeof(Elf64_Ehdr), sizeof(Elf32_Phdr), sizeof(Elf64_Phdr),
# sizeof(Elf32_Shdr), sizeof(Elf64_Shdr)
ELF32_EHDR_SIZE = 52
ELF64_EHDR_SIZE = 64
ELF32_PHDR_SIZE = 32
ELF64_PHDR_SIZE = 56
ELF32_SHDR_SIZE = 40
ELF64_SHDR_SIZE = 64

# include/uapi/linux/binfmts.h: prepare_binprm reads this much of the file, zero-filled.
BINPRM_BUF_SIZE = 128
# arch/x86/include/asm/elf.h: ELF_EXEC_PAGESIZE, hence ELF_MIN_ALIGN in binfmt_elf.c.
ELF_MIN_ALIGN = 4096
# include/uapi/linux/limits.h: the longest PT_INTERP binfmt_elf reads.
PATH_MAX = 4096

# TASK_SIZE while load_elf_binary maps (after SET_PERSONALITY):
# x86_64 TASK_SIZE_MAX = (1 << 47) - PAGE_SIZE (asm/processor.h); compat tasks have
# TIF_ADDR32, so IA32_PAGE_OFFSET = 0xFFFFe000; an i386 kernel's PAGE_OFFSET with the
# default 3G/1G split is 0xC0000000.
TASK_SIZE_X86_64 = (1 << 47) - 4096
TASK_SIZE_COMPAT = 0xFFFF_E000
TASK_SIZE_I386 = 0xC000_0000

KERNELS = ("x86_64", "i386")

_ENOEXEC = -errno_number("ENOEXEC")
_EIO = -errno_number("EIO")
_EINVAL = -errno_number("EINVAL")
_ENOMEM = -errno_number("ENOMEM")
_MAX_ERRNO = 4095

_EHDR = {
    ELFCLASS32: struct.Struct("<16sHHIIIIIHHHHHH"),
    ELFCLASS64: struct.Struct("<16sHHIQQQIHHHHHH"),
}
_PHDR32 = struct.Struct("<IIIIIIII")  # type, offset, vaddr, paddr, filesz, memsz, flags, align
_PHDR64 = struct.Struct("<IIQQQQQQ")  # type, flags, offset, vaddr, paddr, filesz, memsz, align
_PHDR_SIZE = {ELFCLASS32: ELF32_PHDR_SIZE, ELFCLASS64: ELF64_PHDR_SIZE}
_EHDR_SIZE = {ELFCLASS32: ELF32_EHDR_SIZE, ELFCLASS64: ELF64_EHDR_SIZE}
_SHDR_SIZE = {ELFCLASS32: ELF32_SHDR_SIZE, ELFCLASS64: ELF64_SHDR_SIZE}
_WORD_MAX = {ELFCLASS32: 0xFFFF_FFFF, ELFCLASS64: (1 << 64) - 1}


def _check_uint(field: str, value: object, bits: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{field}: expected an int of {bits} bits, received {type(value).__name__} {value!r}"
        )
    if not 0 <= value < 1 << bits:
        raise ValueError(f"{field}: expected 0 .. {(1 << bits) - 1:#x}, received {value!r}")
    return value


@attrs.frozen(kw_only=True)
class Segment:
    """A loadable segment to build: where it goes, its file bytes, its size in memory."""

    vaddr: int = attrs.field(validator=lambda _i, _a, v: _check_uint("vaddr", v, 64))
    data: bytes = attrs.field(converter=bytes)
    memsz: int | None = None
    flags: int = attrs.field(default=PF_R | PF_X)

    def __attrs_post_init__(self) -> None:
        _check_uint("flags", self.flags, 32)
        if self.memsz is not None:
            _check_uint("memsz", self.memsz, 64)
            if self.memsz < len(self.data):
                raise ValueError(
                    f"memsz: expected at least len(data) = {len(self.data)}, received {self.memsz}"
                )

    @property
    def size_in_memory(self) -> int:
        """p_memsz: memsz, or the length of data when memsz is not given."""
        return len(self.data) if self.memsz is None else self.memsz


@attrs.frozen(kw_only=True)
class ProgramHeader:
    """One program header (Elf32_Phdr or Elf64_Phdr), widths aside."""

    type: int
    flags: int
    offset: int
    vaddr: int
    paddr: int
    filesz: int
    memsz: int
    align: int


@attrs.frozen(kw_only=True)
class ElfImage:
    """An executable a handler accepted: the fields of its header and its program headers.

    ``elf_class`` is the layout the accepting handler read (ELFCLASS64 for binfmt_elf on
    x86_64, ELFCLASS32 for compat_binfmt_elf or an i386 kernel), which for any file a
    linker writes is also e_ident[EI_CLASS]. ET_DYN images still need a load bias.
    """

    elf_class: int
    machine: int
    e_type: int
    entry: int
    phoff: int
    phnum: int
    phentsize: int
    phdrs: tuple[ProgramHeader, ...]
    binfmt: str
    executable_stack: bool | None
    data: bytes = attrs.field(repr=False)

    @property
    def abi(self) -> str:
        """ "x86_64", "i386" or "x32", from the class and the machine."""
        if self.elf_class == ELFCLASS64:
            return "x86_64"
        return "x32" if self.machine == EM_X86_64 else "i386"

    @property
    def load_segments(self) -> tuple[ProgramHeader, ...]:
        """The PT_LOAD headers, in file order (the order load_elf_binary maps them)."""
        return tuple(p for p in self.phdrs if p.type == PT_LOAD)

    def file_bytes(self, phdr: ProgramHeader) -> bytes:
        """The p_filesz bytes of the file at p_offset."""
        return self.data[phdr.offset : phdr.offset + phdr.filesz]


@attrs.frozen(kw_only=True)
class ElfError:
    """An execve refusal: a negative errno (None when not modeled), why, and any signal.

    ``signal`` is set when load_elf_binary failed past flush_old_exec: the old image is
    gone, so the process dies ("SIGKILL" from send_sig, or "SIGSEGV" from force_sig)
    instead of seeing the errno.
    """

    errno: int | None
    reason: str
    signal: str | None = None

    @property
    def modeled(self) -> bool:
        """Whether the outcome is Linux's (False: ringsim does not model this file)."""
        return self.errno is not None


# -- building -----------------------------------------------------------------------------


def build_executable(
    segments: Sequence[Segment],
    *,
    entry: int,
    elf_class: int,
    machine: int,
    e_type: int = ET_EXEC,
    stack_flags: int | None = PF_R | PF_W,
    interp: bytes | None = None,
) -> bytes:
    """A static executable: the ELF header, its program headers, then each segment.

    One PT_LOAD per segment, at a file offset congruent to its address modulo the
    4 KiB page (p_offset % 4096 == p_vaddr % 4096, as elf_map needs), p_align 4096;
    then a PT_GNU_STACK with ``stack_flags`` (None leaves it out). ``interp`` adds a
    PT_INTERP first (a NUL-terminated path), for building dynamic images in tests.
    """
    if elf_class not in (ELFCLASS32, ELFCLASS64):
        raise ValueError(f"elf_class: expected ELFCLASS32 (1) or ELFCLASS64 (2), got {elf_class!r}")
    _check_uint("machine", machine, 16)
    _check_uint("e_type", e_type, 16)
    word_bits = 32 if elf_class == ELFCLASS32 else 64
    _check_uint("entry", entry, word_bits)
    segments = tuple(segments)
    if not segments or not all(isinstance(s, Segment) for s in segments):
        raise TypeError(f"segments: expected a non-empty sequence of Segment, got {segments!r}")
    if stack_flags is not None:
        _check_uint("stack_flags", stack_flags, 32)
    if interp is not None and not isinstance(interp, (bytes, bytearray)):
        raise TypeError(f"interp: expected bytes or None, received {type(interp).__name__}")

    ehsize, phentsize = _EHDR_SIZE[elf_class], _PHDR_SIZE[elf_class]
    phnum = len(segments) + (stack_flags is not None) + (interp is not None)
    cursor = ehsize + phnum * phentsize
    blobs: list[tuple[int, bytes]] = []
    phdrs: list[ProgramHeader] = []
    if interp is not None:
        phdrs.append(_phdr(PT_INTERP, PF_R, cursor, 0, len(interp), len(interp), 1))
        blobs.append((cursor, bytes(interp)))
        cursor += len(interp)
    for index, segment in enumerate(segments):
        end = segment.vaddr + segment.size_in_memory
        if end > 1 << word_bits:
            raise ValueError(
                f"segments[{index}]: expected vaddr + memsz within {word_bits} bits, "
                f"received {segment.vaddr:#x} + {segment.size_in_memory:#x}"
            )
        # the first offset at or after cursor with the same page offset as the address
        offset = cursor + ((segment.vaddr - cursor) % ELF_MIN_ALIGN)
        phdrs.append(
            _phdr(
                PT_LOAD,
                segment.flags,
                offset,
                segment.vaddr,
                len(segment.data),
                segment.size_in_memory,
                ELF_MIN_ALIGN,
            )
        )
        blobs.append((offset, segment.data))
        cursor = offset + len(segment.data)
    if stack_flags is not None:
        phdrs.append(_phdr(PT_GNU_STACK, stack_flags, 0, 0, 0, 0, 16))

    ident = ELFMAG + bytes([elf_class, ELFDATA2LSB, EV_CURRENT]) + bytes(EI_NIDENT - 7)
    header = _EHDR[elf_class].pack(
        ident, e_type, machine, EV_CURRENT, entry, ehsize, 0, 0,
        ehsize, phentsize, phnum, _SHDR_SIZE[elf_class], 0, 0,
    )  # fmt: skip
    image = bytearray(cursor)
    image[:ehsize] = header
    for index, phdr in enumerate(phdrs):
        image[ehsize + index * phentsize : ehsize + (index + 1) * phentsize] = _pack_phdr(
            elf_class, phdr
        )
    for offset, blob in blobs:
        image[offset : offset + len(blob)] = blob
    return bytes(image)


def _phdr(p_type, flags, offset, vaddr, filesz, memsz, align, paddr=None) -> ProgramHeader:
    return ProgramHeader(
        type=p_type,
        flags=flags,
        offset=offset,
        vaddr=vaddr,
        paddr=vaddr if paddr is None else paddr,
        filesz=filesz,
        memsz=memsz,
        align=align,
    )


def _pack_phdr(elf_class: int, p: ProgramHeader) -> bytes:
    if elf_class == ELFCLASS32:
        return _PHDR32.pack(p.type, p.offset, p.vaddr, p.paddr, p.filesz, p.memsz, p.flags, p.align)
    return _PHDR64.pack(p.type, p.flags, p.offset, p.vaddr, p.paddr, p.filesz, p.memsz, p.align)


def _unpack_phdr(elf_class: int, raw: bytes) -> ProgramHeader:
    if elf_class == ELFCLASS32:
        p_type, offset, vaddr, paddr, filesz, memsz, flags, align = _PHDR32.unpack(raw)
    else:
        p_type, flags, offset, vaddr, paddr, filesz, memsz, align = _PHDR64.unpack(raw)
    return _phdr(p_type, flags, offset, vaddr, filesz, memsz, align, paddr)


# -- parsing ------------------------------------------------------------------------------


@attrs.frozen
class _Handler:
    """One linux_binfmt that can load ELF: its name, layout, arch check and TASK_SIZE."""

    name: str
    elf_class: int
    machines: tuple[int, ...]
    task_size: int
    long_bits: int


def _handlers(kernel: str, x32: bool) -> tuple[_Handler, ...]:
    if kernel == "i386":
        return (_Handler("binfmt_elf", ELFCLASS32, (EM_386, EM_486), TASK_SIZE_I386, 32),)
    compat_machines = (EM_386, EM_486, EM_X86_64) if x32 else (EM_386, EM_486)
    return (
        _Handler("binfmt_elf", ELFCLASS64, (EM_X86_64,), TASK_SIZE_X86_64, 64),
        _Handler("compat_binfmt_elf", ELFCLASS32, compat_machines, TASK_SIZE_COMPAT, 64),
    )


def parse_executable(
    data: bytes, *, kernel: str = "x86_64", x32: bool = True
) -> ElfImage | ElfError:
    """What execve's binary handlers make of ``data``: an ElfImage or an ElfError.

    search_binary_handler (fs/exec.c) offers the file to each handler; one that answers
    -ENOEXEC passes it on, any other answer ends the search. ``kernel`` is "x86_64"
    (binfmt_elf, then compat_binfmt_elf; ``x32`` is CONFIG_X86_X32_ABI) or "i386".
    A "#!" script and a dynamic executable (PT_INTERP) are not modeled (errno None).
    Never raises for any bytes.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data: expected bytes, received {type(data).__name__}")
    if kernel not in KERNELS:
        raise ValueError(f"kernel: expected one of {KERNELS}, received {kernel!r}")
    data = bytes(data)
    # prepare_binprm (fs/exec.c): the first BINPRM_BUF_SIZE bytes, the rest zero
    buf = data[:BINPRM_BUF_SIZE].ljust(BINPRM_BUF_SIZE, b"\0")
    if buf[:2] == b"#!":
        return ElfError(errno=None, reason="#! scripts (binfmt_script) are not modeled")
    refusals = []
    for handler in _handlers(kernel, bool(x32)):
        result = _load_elf_binary(data, buf, handler)
        if isinstance(result, ElfError) and result.errno == _ENOEXEC and result.signal is None:
            refusals.append(f"{handler.name}: {result.reason}")
            continue
        return result
    return ElfError(errno=_ENOEXEC, reason="; ".join(refusals))


def _kernel_read(data: bytes, offset: int, count: int) -> bytes | int:
    """kernel_read: vfs_read at ``offset`` (a loff_t), so short at EOF, -EINVAL past 2**63."""
    if offset >= 1 << 63 or offset + count >= 1 << 63:
        return _EINVAL  # rw_verify_area: a negative pos, or pos + count overflowing
    return data[offset : offset + count]


def _load_elf_binary(data: bytes, buf: bytes, h: _Handler) -> ElfImage | ElfError:
    """load_elf_binary (fs/binfmt_elf.c, 3.16) for one handler, without the address space."""
    if buf[:SELFMAG] != ELFMAG:
        return ElfError(errno=_ENOEXEC, reason="no ELF magic (\\x7fELF) at offset 0")
    ehdr = _EHDR[h.elf_class].unpack_from(buf)
    (_, e_type, machine, _, entry, phoff, _, _, _, phentsize, phnum, _, _, _) = ehdr
    if e_type not in (ET_EXEC, ET_DYN):
        return ElfError(errno=_ENOEXEC, reason=f"e_type {e_type} is neither ET_EXEC nor ET_DYN")
    if machine not in h.machines:
        return ElfError(
            errno=_ENOEXEC,
            reason=f"e_machine {machine} fails elf_check_arch (wants one of {h.machines})",
        )
    size = _PHDR_SIZE[h.elf_class]
    if phentsize != size:
        return ElfError(
            errno=_ENOEXEC, reason=f"e_phentsize {phentsize} is not sizeof(struct elf_phdr) {size}"
        )
    if not 1 <= phnum <= 65536 // size:
        return ElfError(
            errno=_ENOEXEC,
            reason=f"e_phnum {phnum} is outside 1 .. 65536 / {size} = {65536 // size}",
        )
    table = _kernel_read(data, phoff, phnum * size)
    if isinstance(table, int):
        return ElfError(errno=table, reason=f"e_phoff {phoff:#x} is not a valid file position")
    if len(table) != phnum * size:
        return ElfError(
            errno=_EIO,
            reason=f"program headers at {phoff:#x} (+{phnum * size}) run past the end of "
            f"the file ({len(data)} bytes): kernel_read comes back short",
        )
    phdrs = tuple(
        _unpack_phdr(h.elf_class, table[i : i + size]) for i in range(0, len(table), size)
    )

    for phdr in phdrs:
        if phdr.type != PT_INTERP:
            continue
        if phdr.filesz > PATH_MAX or phdr.filesz < 2:
            return ElfError(
                errno=_ENOEXEC, reason=f"PT_INTERP p_filesz {phdr.filesz} is outside 2 .. PATH_MAX"
            )
        path = _kernel_read(data, phdr.offset, phdr.filesz)
        if isinstance(path, int):
            return ElfError(errno=path, reason=f"PT_INTERP p_offset {phdr.offset:#x} is invalid")
        if len(path) != phdr.filesz:
            return ElfError(errno=_EIO, reason="PT_INTERP runs past the end of the file")
        if path[-1] != 0:
            return ElfError(errno=_ENOEXEC, reason="PT_INTERP path is not NUL-terminated")
        return ElfError(errno=None, reason="dynamic executables are not modeled")

    executable_stack = None  # EXSTACK_DEFAULT
    for phdr in phdrs:
        if phdr.type == PT_GNU_STACK:
            executable_stack = bool(phdr.flags & PF_X)
            break

    # flush_old_exec: the point of no return. Failures now kill the process.
    long_mask = (1 << h.long_bits) - 1
    task_size = h.task_size
    for index, phdr in enumerate(phdrs):
        if phdr.type != PT_LOAD:
            continue
        if e_type == ET_EXEC:
            error = _elf_map(phdr, task_size, long_mask)
            if error is not None:
                return ElfError(
                    errno=error[0], reason=f"phdrs[{index}]: {error[1]}", signal="SIGKILL"
                )
        k = phdr.vaddr
        if (
            k >= task_size
            or phdr.filesz > phdr.memsz
            or phdr.memsz > task_size
            or task_size - phdr.memsz < k
        ):
            return ElfError(
                errno=_EINVAL,
                reason=f"phdrs[{index}]: p_filesz > p_memsz or the segment passes TASK_SIZE "
                f"{task_size:#x}",
                signal="SIGKILL",
            )
    if e_type == ET_EXEC and entry >= task_size:
        return ElfError(
            errno=_EINVAL,
            reason=f"e_entry {entry:#x} is not below TASK_SIZE {task_size:#x}",
            signal="SIGSEGV",
        )
    for index, phdr in enumerate(phdrs):
        if phdr.type == PT_LOAD and phdr.offset + phdr.filesz > len(data):
            return ElfError(
                errno=None,
                reason=f"phdrs[{index}] maps file bytes past the end of the file "
                "(SIGBUS on access) - not modeled",
            )
    return ElfImage(
        elf_class=h.elf_class,
        machine=machine,
        e_type=e_type,
        entry=entry,
        phoff=phoff,
        phnum=phnum,
        phentsize=phentsize,
        phdrs=phdrs,
        binfmt=h.name,
        executable_stack=executable_stack,
        data=data,
    )


def _elf_map(phdr: ProgramHeader, task_size: int, long_mask: int) -> tuple[int, str] | None:
    """elf_map's vm_mmap of one ET_EXEC segment, as far as arithmetic decides (MAP_FIXED)."""
    page_offset = phdr.vaddr & (ELF_MIN_ALIGN - 1)
    size = (phdr.filesz + page_offset) & long_mask
    off = (phdr.offset - page_offset) & long_mask
    addr = phdr.vaddr & ~(ELF_MIN_ALIGN - 1) & long_mask
    size = ((size + ELF_MIN_ALIGN - 1) & ~(ELF_MIN_ALIGN - 1)) & long_mask
    if not size:
        # nothing to map: elf_map returns addr, which BAD_ADDR then judges
        if addr >= task_size:
            return _EINVAL, f"p_vaddr {phdr.vaddr:#x} is not below TASK_SIZE"
        return None
    # vm_mmap (mm/util.c): the offset must not wrap and must be page-aligned
    if (off + size) & long_mask < off:
        return _EINVAL, "p_offset - PAGEOFFSET(p_vaddr) + size wraps around"
    if off & (ELF_MIN_ALIGN - 1):
        return (
            _EINVAL,
            f"p_offset {phdr.offset:#x} and p_vaddr {phdr.vaddr:#x} differ modulo the page size",
        )
    # get_unmapped_area (mm/mmap.c) for MAP_FIXED
    if size > task_size or addr > task_size - size:
        return _ENOMEM, f"the mapping at {addr:#x} (+{size:#x}) passes TASK_SIZE {task_size:#x}"
    return None
