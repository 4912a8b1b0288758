"""Unit tests for abi's constant facts: errno, auxv, audit, layouts, address space."""

import pytest

from abi import (
    AT_SYSINFO,
    AT_SYSINFO_EHDR,
    AUDIT_ARCH_I386,
    AUDIT_ARCH_X86_64,
    AUXV_TYPES,
    ERRNO,
    MAX_ERRNO,
    PT_REGS_32,
    PT_REGS_64,
    USER_REGS_32,
    USER_REGS_64,
    AbiLookupError,
    auxv_name,
    errno_name,
    errno_number,
    error_number,
    is_error,
    to_signed,
    user_limit,
)


class TestErrno:
    """errno values from include/uapi/asm-generic/errno-base.h and errno.h (Linux 3.16)."""

    @pytest.mark.parametrize(
        ("name", "number"),
        [
            ("EPERM", 1),
            ("ENOENT", 2),
            ("EINTR", 4),
            ("EBADF", 9),
            ("EAGAIN", 11),
            ("ENOMEM", 12),
            ("EFAULT", 14),
            ("EINVAL", 22),
            ("ERANGE", 34),
            ("EDEADLK", 35),
            ("ENOSYS", 38),
            ("ENOTSOCK", 88),
            ("EHWPOISON", 133),
        ],
    )
    def test_numbers(self, name, number):
        """Each name has its asm-generic number (errno-base.h 1..34, errno.h 35..133, 3.16)."""
        assert errno_number(name) == number

    def test_aliases(self):
        """errno.h (3.16): EWOULDBLOCK is EAGAIN and EDEADLOCK is EDEADLK; numbers name the
        first spelling."""
        assert ERRNO["EWOULDBLOCK"] == 11 and errno_name(11) == "EAGAIN"
        assert ERRNO["EDEADLOCK"] == 35 and errno_name(35) == "EDEADLK"

    def test_gaps(self):
        """errno.h (3.16) has no 41 and no 58."""
        for number in (41, 58):
            with pytest.raises(AbiLookupError):
                errno_name(number)

    def test_max_errno(self):
        """MAX_ERRNO is 4095 (include/linux/err.h, Linux 3.16)."""
        assert MAX_ERRNO == 4095

    @pytest.mark.parametrize(
        ("value", "width", "error"),
        [
            (-1, 64, True),
            (-4095, 64, True),
            (-4096, 64, False),
            (0, 64, False),
            (2**64 - 14, 64, True),
            (2**32 - 38, 32, True),
            (2**32 - 38, 64, False),
            (0xFFFFF000, 32, False),
        ],
    )
    def test_is_error(self, value, width, error):
        """IS_ERR_VALUE (include/linux/err.h, 3.16): -4095..-1 as a signed value is an error."""
        assert is_error(value, width) is error

    def test_error_number(self):
        """A raw register value of -EFAULT gives 14; a success gives None."""
        assert error_number(2**64 - 14) == 14
        assert error_number(5) is None
        assert to_signed(0xFFFFFFFF, 32) == -1

    def test_misuse(self):
        """A width other than 32 or 64, or an unknown name, raises with the field named."""
        with pytest.raises(ValueError, match="width"):
            is_error(1, 16)
        with pytest.raises(AbiLookupError, match="name"):
            errno_number("EWHATEVER")


class TestAuxv:
    """auxv types from include/uapi/linux/auxvec.h and arch/x86/include/uapi/asm/auxvec.h."""

    def test_vdso_entries(self):
        """AT_SYSINFO is 32 and AT_SYSINFO_EHDR 33 (arch/x86/include/uapi/asm/auxvec.h)."""
        assert (AT_SYSINFO, AT_SYSINFO_EHDR) == (32, 33)
        assert auxv_name(33) == "AT_SYSINFO_EHDR"

    @pytest.mark.parametrize(
        ("name", "number"),
        [
            ("AT_NULL", 0),
            ("AT_PHDR", 3),
            ("AT_PHENT", 4),
            ("AT_PHNUM", 5),
            ("AT_PAGESZ", 6),
            ("AT_BASE", 7),
            ("AT_ENTRY", 9),
            ("AT_UID", 11),
            ("AT_HWCAP", 16),
            ("AT_CLKTCK", 17),
            ("AT_SECURE", 23),
            ("AT_RANDOM", 25),
            ("AT_HWCAP2", 26),
            ("AT_EXECFN", 31),
        ],
    )
    def test_generic_types(self, name, number):
        """The generic AT_* values of include/uapi/linux/auxvec.h (Linux 3.16)."""
        assert AUXV_TYPES[name] == number

    def test_unknown(self):
        """Reserved 18..22 have no name."""
        with pytest.raises(AbiLookupError, match="type_number"):
            auxv_name(20)


class TestAudit:
    """AUDIT_ARCH tokens from include/uapi/linux/audit.h and elf-em.h (Linux 3.16)."""

    def test_values(self):
        """AUDIT_ARCH_I386 is EM_386|LE = 0x40000003; AUDIT_ARCH_X86_64 is
        EM_X86_64|64BIT|LE = 0xC000003E."""
        assert AUDIT_ARCH_I386 == 0x40000003
        assert AUDIT_ARCH_X86_64 == 0xC000003E


class TestLayouts:
    """pt_regs and user_regs_struct from arch/x86/include/asm/ptrace.h, user_32.h, user_64.h."""

    def test_pt_regs_32(self):
        """The 32-bit pt_regs (asm/ptrace.h, 3.16): ebx at 0, eax 0x18, orig_ax 0x2c, ss
        0x40; 17 words, 68 bytes."""
        offsets = {f.name: f.offset for f in PT_REGS_32}
        assert offsets["bx"] == 0 and offsets["ax"] == 0x18
        assert offsets["orig_ax"] == 0x2C and offsets["ip"] == 0x30
        assert offsets["sp"] == 0x3C and offsets["ss"] == 0x40
        assert PT_REGS_32.size == 68

    def test_pt_regs_64(self):
        """The 64-bit pt_regs (asm/ptrace.h, 3.16): r15 at 0, bx 40, r11 48, ax 80,
        orig_ax 120, ip 128, ss 160; 168 bytes."""
        expect = {"r15": 0, "bp": 32, "bx": 40, "r11": 48, "r10": 56, "ax": 80, "cx": 88}
        expect |= {"di": 112, "orig_ax": 120, "ip": 128, "flags": 144, "sp": 152, "ss": 160}
        for name, offset in expect.items():
            assert PT_REGS_64.offset_of(name) == offset
        assert PT_REGS_64.size == 168

    def test_user_regs_struct(self):
        """PTRACE_PEEKUSER offsets: orig_rax at 120 (user_64.h), orig_eax at 44 (user_32.h);
        x86_64 appends fs_base, gs_base, ds, es, fs, gs."""
        assert USER_REGS_64.offset_of("orig_ax") == 120
        assert USER_REGS_32.offset_of("orig_ax") == 44
        assert USER_REGS_64.names[:21] == PT_REGS_64.names
        assert USER_REGS_64.names[21:] == ("fs_base", "gs_base", "ds", "es", "fs", "gs")
        assert USER_REGS_32.names == PT_REGS_32.names
        assert USER_REGS_64.size == 27 * 8

    def test_lookup_errors(self):
        """Unknown fields and offsets raise AbiLookupError naming the structure."""
        with pytest.raises(AbiLookupError, match="pt_regs"):
            PT_REGS_64.offset_of("rax")
        assert PT_REGS_64.field_at(120).name == "orig_ax"
        with pytest.raises(AbiLookupError, match="offset"):
            PT_REGS_64.field_at(121)


class TestAddressSpace:
    """User space limits from arch/x86/include/asm/processor.h (Linux 3.16)."""

    def test_limits(self):
        """TASK_SIZE_MAX is (1<<47)-4096; a TIF_ADDR32 task's IA32_PAGE_OFFSET 0xFFFFE000;
        a 32-bit kernel's PAGE_OFFSET 0xC0000000 by default."""
        assert user_limit("x86_64") == 0x7FFFFFFFF000
        assert user_limit("i386") == user_limit("x32") == 0xFFFFE000
        assert user_limit("i386", "i386") == 0xC0000000

    def test_unknown_pair(self):
        """An x86_64 process on an i386 kernel does not exist."""
        with pytest.raises(ValueError, match="abi, kernel"):
            user_limit("x86_64", "i386")
