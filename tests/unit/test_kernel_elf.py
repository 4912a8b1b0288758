"""Static ELF images: the constants, the builder, and binfmt_elf's acceptance and refusals."""

import struct

import pytest

import abi
from simulator.kernel import elf as E
from simulator.kernel.elf import ElfError, ElfImage, Segment, build_executable, parse_executable

ABIS = {
    "x86_64": (E.ELFCLASS64, E.EM_X86_64, 0x40_0000),
    "i386": (E.ELFCLASS32, E.EM_386, 0x0804_8000),
    "x32": (E.ELFCLASS32, E.EM_X86_64, 0x40_0000),
}


def err(name):
    return -abi.errno_number(name)


def image(abi_name="x86_64", **options):
    elf_class, machine, base = ABIS[abi_name]
    segments = options.pop(
        "segments",
        [
            Segment(vaddr=base, data=b"\xf4" * 16, flags=E.PF_R | E.PF_X),
            Segment(vaddr=base + 0x1010, data=b"data", memsz=0x100, flags=E.PF_R | E.PF_W),
        ],
    )
    entry = options.pop("entry", base)
    return build_executable(segments, entry=entry, elf_class=elf_class, machine=machine, **options)


def patch(data, offset, fmt, value):
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def phdr_offset(data, index, elf_class=E.ELFCLASS64):
    size = E.ELF64_PHDR_SIZE if elf_class == E.ELFCLASS64 else E.ELF32_PHDR_SIZE
    return (64 if elf_class == E.ELFCLASS64 else 52) + index * size


class TestConstants:
    def test_ident(self):
        """ELFMAG, the classes, ELFDATA2LSB and EV_CURRENT (include/uapi/linux/elf.h)."""
        assert (E.ELFMAG, E.ELFCLASS32, E.ELFCLASS64) == (b"\x7fELF", 1, 2)
        assert (E.ELFDATA2LSB, E.EV_CURRENT, E.EI_CLASS, E.EI_NIDENT) == (1, 1, 4, 16)

    def test_types(self):
        """ET_EXEC is 2 and ET_DYN 3 (include/uapi/linux/elf.h)."""
        assert (E.ET_REL, E.ET_EXEC, E.ET_DYN, E.ET_CORE) == (1, 2, 3, 4)

    def test_machines(self):
        """EM_386 3, EM_486 6, EM_X86_64 62 (include/uapi/linux/elf-em.h)."""
        assert (E.EM_386, E.EM_486, E.EM_X86_64) == (3, 6, 62)

    def test_segments(self):
        """PT_LOAD 1, PT_INTERP 3, PT_GNU_STACK 0x6474e551; PF_X 1, PF_W 2, PF_R 4 (elf.h)."""
        assert (E.PT_LOAD, E.PT_INTERP, E.PT_GNU_STACK) == (1, 3, 0x6474E551)
        assert (E.PF_X, E.PF_W, E.PF_R) == (1, 2, 4)

    def test_struct_sizes(self):
        """sizeof Elf32_Ehdr 52, Elf64_Ehdr 64, Elf32_Phdr 32, Elf64_Phdr 56 (elf.h)."""
        sizes = (E.ELF32_EHDR_SIZE, E.ELF64_EHDR_SIZE, E.ELF32_PHDR_SIZE, E.ELF64_PHDR_SIZE)
        assert sizes == (52, 64, 32, 56)
        assert E._EHDR[E.ELFCLASS32].size == 52 and E._EHDR[E.ELFCLASS64].size == 64
        assert E._PHDR32.size == 32 and E._PHDR64.size == 56

    def test_binprm_buf(self):
        """BINPRM_BUF_SIZE is 128 (include/uapi/linux/binfmts.h)."""
        assert E.BINPRM_BUF_SIZE == 128

    def test_task_sizes(self):
        """TASK_SIZE_MAX (1<<47)-4096, IA32_PAGE_OFFSET 0xffffe000 (asm/processor.h, 3.16)."""
        assert (E.TASK_SIZE_X86_64, E.TASK_SIZE_COMPAT, E.TASK_SIZE_I386) == (
            0x7FFF_FFFF_F000,
            0xFFFF_E000,
            0xC000_0000,
        )


class TestBuild:
    def test_header(self):
        """The header is a little-endian ET_EXEC with its program headers right after it."""
        data = image()
        assert data[:7] == b"\x7fELF\x02\x01\x01"
        fields = E._EHDR[E.ELFCLASS64].unpack_from(data)
        e_type, machine, version, _entry, phoff = fields[1:6]
        ehsize, phentsize, phnum = fields[8:11]
        assert (e_type, machine, version, phoff) == (E.ET_EXEC, E.EM_X86_64, 1, 64)
        assert (ehsize, phentsize, phnum) == (64, 56, 3)

    @pytest.mark.parametrize("abi_name", sorted(ABIS))
    def test_offsets_congruent(self, abi_name):
        """Each PT_LOAD has p_offset % 4096 == p_vaddr % 4096, as elf_map needs."""
        parsed = parse_executable(image(abi_name))
        assert all(p.offset % 4096 == p.vaddr % 4096 for p in parsed.load_segments)

    def test_gnu_stack(self):
        """A PT_GNU_STACK without PF_X gives a non-executable stack (load_elf_binary)."""
        assert parse_executable(image()).executable_stack is False
        assert parse_executable(image(stack_flags=7)).executable_stack is True
        assert parse_executable(image(stack_flags=None)).executable_stack is None

    def test_memsz_below_data(self):
        """A memsz below the data length is a ValueError naming memsz."""
        with pytest.raises(ValueError, match="memsz"):
            Segment(vaddr=0x1000, data=b"abc", memsz=2)

    def test_bad_class(self):
        """An unknown class is a ValueError naming elf_class."""
        with pytest.raises(ValueError, match="elf_class"):
            build_executable([Segment(vaddr=0, data=b"")], entry=0, elf_class=3, machine=62)

    def test_entry_width(self):
        """A 32-bit image's entry must fit 32 bits."""
        with pytest.raises(ValueError, match="entry"):
            image("i386", entry=1 << 32)

    def test_segment_width(self):
        """A 32-bit image's segments must end within 32 bits."""
        with pytest.raises(ValueError, match="segments"):
            image("i386", segments=[Segment(vaddr=0xFFFF_F000, data=b"", memsz=0x2000)])

    def test_no_segments(self):
        """An empty segment list is a TypeError naming segments."""
        with pytest.raises(TypeError, match="segments"):
            build_executable([], entry=0, elf_class=2, machine=62)


class TestRoundTrip:
    @pytest.mark.parametrize("abi_name", sorted(ABIS))
    def test_segments_and_entry(self, abi_name):
        """build then parse gives back the segments, the entry and the ABI."""
        elf_class, machine, base = ABIS[abi_name]
        segments = [
            Segment(vaddr=base + 0x10, data=b"\x90\xc3", flags=E.PF_R | E.PF_X),
            Segment(vaddr=base + 0x3000, data=b"hello", memsz=0x2000, flags=E.PF_R | E.PF_W),
        ]
        parsed = parse_executable(image(abi_name, segments=segments, entry=base + 0x10))
        assert isinstance(parsed, ElfImage)
        assert parsed.abi == abi_name and parsed.entry == base + 0x10
        assert (parsed.elf_class, parsed.machine, parsed.e_type) == (elf_class, machine, 2)
        loads = parsed.load_segments
        assert [(p.vaddr, parsed.file_bytes(p), p.memsz, p.flags) for p in loads] == [
            (s.vaddr, s.data, s.size_in_memory, s.flags) for s in segments
        ]

    @pytest.mark.parametrize(
        ("abi_name", "binfmt"),
        [("x86_64", "binfmt_elf"), ("i386", "compat_binfmt_elf"), ("x32", "compat_binfmt_elf")],
    )
    def test_handler(self, abi_name, binfmt):
        """On x86_64 the native handler takes x86_64, compat_binfmt_elf i386 and x32."""
        assert parse_executable(image(abi_name)).binfmt == binfmt

    def test_em_486(self):
        """EM_486 passes elf_check_arch_ia32 too (arch/x86/include/asm/elf.h)."""
        data = build_executable(
            [Segment(vaddr=0x8048000, data=b"\xf4")],
            entry=0x8048000,
            elf_class=E.ELFCLASS32,
            machine=E.EM_486,
        )
        assert parse_executable(data).abi == "i386"

    def test_dyn_accepted(self):
        """ET_DYN without PT_INTERP is accepted (load_elf_binary takes EXEC and DYN)."""
        parsed = parse_executable(image(e_type=E.ET_DYN))
        assert isinstance(parsed, ElfImage) and parsed.e_type == E.ET_DYN

    def test_i386_kernel(self):
        """An i386 kernel's binfmt_elf loads an i386 image with 32-bit structures."""
        parsed = parse_executable(image("i386"), kernel="i386")
        assert parsed.binfmt == "binfmt_elf" and parsed.abi == "i386"


class TestRefusals:
    def refused(self, result, name, *, signal=None):
        assert isinstance(result, ElfError)
        return result.errno == err(name) and result.signal == signal

    def test_bad_magic(self):
        """No \\x7fELF is -ENOEXEC (the memcmp with ELFMAG in load_elf_binary)."""
        assert self.refused(parse_executable(b"MZ" + image()[2:]), "ENOEXEC")

    def test_empty_file(self):
        """An empty file is -ENOEXEC: bprm->buf is zero-filled (prepare_binprm, fs/exec.c)."""
        assert self.refused(parse_executable(b""), "ENOEXEC")

    def test_magic_only(self):
        """A header cut short reads as zeros past the file: e_type 0 is -ENOEXEC."""
        assert self.refused(parse_executable(b"\x7fELF\x02\x01\x01"), "ENOEXEC")

    @pytest.mark.parametrize("e_type", [E.ET_REL, E.ET_CORE, 0, 0xFFFF])
    def test_e_type(self, e_type):
        """e_type other than ET_EXEC/ET_DYN is -ENOEXEC (load_elf_binary, fs/binfmt_elf.c)."""
        assert self.refused(parse_executable(patch(image(), 16, "<H", e_type)), "ENOEXEC")

    @pytest.mark.parametrize("machine", [40, 0, E.EM_386])
    def test_machine_64(self, machine):
        """An Elf64 image for another machine is -ENOEXEC from both handlers (elf_check_arch)."""
        result = parse_executable(patch(image(), 18, "<H", machine))
        assert self.refused(result, "ENOEXEC") and "compat_binfmt_elf" in result.reason

    def test_machine_32(self):
        """An Elf32 image for EM_ARM (40) is -ENOEXEC (compat_elf_check_arch, asm/elf.h)."""
        assert self.refused(parse_executable(patch(image("i386"), 18, "<H", 40)), "ENOEXEC")

    def test_x32_disabled(self):
        """Without CONFIG_X86_X32_ABI an x32 image is -ENOEXEC (compat_elf_check_arch)."""
        assert self.refused(parse_executable(image("x32"), x32=False), "ENOEXEC")

    @pytest.mark.parametrize("abi_name", ["x86_64", "x32"])
    def test_i386_kernel_refuses(self, abi_name):
        """An i386 kernel refuses EM_X86_64 (elf_check_arch is elf_check_arch_ia32)."""
        assert self.refused(parse_executable(image(abi_name), kernel="i386"), "ENOEXEC")

    @pytest.mark.parametrize(("abi_name", "offset"), [("x86_64", 54), ("i386", 42)])
    def test_phentsize(self, abi_name, offset):
        """e_phentsize other than sizeof(struct elf_phdr) is -ENOEXEC (load_elf_binary)."""
        assert self.refused(parse_executable(patch(image(abi_name), offset, "<H", 40)), "ENOEXEC")

    @pytest.mark.parametrize(
        ("abi_name", "offset", "phnum"),
        [("x86_64", 56, 0), ("x86_64", 56, 1171), ("i386", 44, 0), ("i386", 44, 2049)],
    )
    def test_phnum(self, abi_name, offset, phnum):
        """e_phnum must be 1 .. 65536 / sizeof(struct elf_phdr) (load_elf_binary): -ENOEXEC."""
        result = parse_executable(patch(image(abi_name), offset, "<H", phnum))
        assert self.refused(result, "ENOEXEC") and "phnum" in result.reason

    @pytest.mark.parametrize(
        ("abi_name", "offset", "phnum"), [("x86_64", 56, 1170), ("i386", 44, 2048)]
    )
    def test_phnum_limit_reads(self, abi_name, offset, phnum):
        """The largest e_phnum passes the check and fails reading: -EIO (kernel_read short)."""
        result = parse_executable(patch(image(abi_name), offset, "<H", phnum))
        assert self.refused(result, "EIO")

    def test_phdrs_past_eof(self):
        """Program headers past the end of the file are -EIO, not -ENOEXEC (kernel_read short)."""
        data = image()
        assert self.refused(parse_executable(patch(data, 32, "<Q", len(data))), "EIO")

    def test_phoff_negative(self):
        """An e_phoff that is a negative loff_t is -EINVAL (rw_verify_area, fs/read_write.c)."""
        assert self.refused(parse_executable(patch(image(), 32, "<Q", 1 << 63)), "EINVAL")

    def test_eio_stops_the_search(self):
        """-EIO from binfmt_elf ends the search: compat_binfmt_elf is not tried (fs/exec.c)."""
        data = patch(image(), 32, "<Q", 1 << 20)
        assert "compat" not in parse_executable(data).reason

    def test_interp_not_modeled(self):
        """A PT_INTERP image is a dynamic executable: errno None, labelled not modeled."""
        result = parse_executable(image(interp=b"/lib64/ld-linux-x86-64.so.2\0"))
        assert result.errno is None and result.reason == "dynamic executables are not modeled"

    @pytest.mark.parametrize("interp", [b"\0", b"/lib/ld.so"])
    def test_interp_refused(self, interp):
        """PT_INTERP shorter than 2 bytes or not NUL-terminated is -ENOEXEC (load_elf_binary)."""
        assert self.refused(parse_executable(image(interp=interp)), "ENOEXEC")

    def test_interp_too_long(self):
        """PT_INTERP longer than PATH_MAX is -ENOEXEC (load_elf_binary)."""
        data = image(interp=b"/x" * 2048 + b"\0")
        assert self.refused(parse_executable(data), "ENOEXEC")

    def test_filesz_over_memsz(self):
        """p_filesz > p_memsz is -EINVAL after the point of no return: SIGKILL (load_elf_binary)."""
        data = patch(image(), phdr_offset(image(), 0) + 40, "<Q", 0)  # p_memsz of phdrs[0]
        assert self.refused(parse_executable(data), "EINVAL", signal="SIGKILL")

    def test_filesz_over_memsz_32(self):
        """The same check holds for compat_binfmt_elf."""
        data = image("i386")
        data = patch(data, phdr_offset(data, 0, E.ELFCLASS32) + 20, "<I", 0)  # p_memsz
        assert self.refused(parse_executable(data), "EINVAL", signal="SIGKILL")

    def test_offset_not_congruent(self):
        """p_offset and p_vaddr differing modulo 4096 fail vm_mmap: -EINVAL, SIGKILL (mm/util.c)."""
        data = image()
        data = patch(data, phdr_offset(data, 0) + 8, "<Q", 4097)  # p_offset of phdrs[0]
        assert self.refused(parse_executable(data), "EINVAL", signal="SIGKILL")

    def test_segment_past_task_size(self):
        """A segment mapped past TASK_SIZE fails get_unmapped_area: -ENOMEM, SIGKILL (mm/mmap.c)."""
        segments = [Segment(vaddr=0x7FFF_FFFF_F000, data=b"x" * 0x1001)]
        data = image(segments=segments, entry=0x7FFF_FFFF_F000)
        assert self.refused(parse_executable(data), "ENOMEM", signal="SIGKILL")

    def test_bss_past_task_size(self):
        """A p_memsz reaching past TASK_SIZE is -EINVAL, SIGKILL (load_elf_binary)."""
        segments = [Segment(vaddr=0x7FFF_FFFF_E000, data=b"x", memsz=0x3000)]
        data = image(segments=segments, entry=0x7FFF_FFFF_E000)
        assert self.refused(parse_executable(data), "EINVAL", signal="SIGKILL")

    def test_compat_task_size(self):
        """compat tasks have TASK_SIZE 0xffffe000: the last page is refused."""
        segments = [Segment(vaddr=0xFFFF_E000, data=b"x")]
        data = image("i386", segments=segments, entry=0xFFFF_E000)
        assert self.refused(parse_executable(data), "ENOMEM", signal="SIGKILL")

    def test_entry_past_task_size(self):
        """An entry at or past TASK_SIZE is -EINVAL with SIGSEGV (force_sig in load_elf_binary)."""
        data = image(entry=E.TASK_SIZE_X86_64)
        assert self.refused(parse_executable(data), "EINVAL", signal="SIGSEGV")

    def test_file_bytes_past_eof(self):
        """Segment bytes past the end of the file map but fault later: not modeled (errno None)."""
        data = image()
        result = parse_executable(data[: len(data) - 2])
        assert isinstance(result, ElfError) and result.errno is None and not result.modeled

    def test_script_not_modeled(self):
        """A "#!" file belongs to binfmt_script, which is not modeled."""
        result = parse_executable(b"#!/bin/sh\necho hi\n")
        assert result.errno is None and "binfmt_script" in result.reason

    def test_bad_kernel(self):
        """An unknown kernel is a ValueError naming kernel."""
        with pytest.raises(ValueError, match="kernel"):
            parse_executable(image(), kernel="arm")

    def test_data_type(self):
        """Data that is not bytes is a TypeError naming data."""
        with pytest.raises(TypeError, match="data"):
            parse_executable("not bytes")
