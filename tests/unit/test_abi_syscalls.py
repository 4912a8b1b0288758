"""Unit tests for abi.syscalls: numbers and names of the i386, x86_64 and x32 ABIs."""

import pytest

from abi import (
    X32_SYSCALL_BIT,
    UnknownAbiError,
    UnknownSyscallError,
    abi_syscalls,
    lookup_syscall,
    syscall_name,
    syscall_number,
)

# (abi, name, number): Linux 3.16 arch/x86/syscalls/syscall_32.tbl and syscall_64.tbl.
PINNED = [
    ("i386", "restart_syscall", 0),
    ("i386", "exit", 1),
    ("i386", "fork", 2),
    ("i386", "read", 3),
    ("i386", "write", 4),
    ("i386", "open", 5),
    ("i386", "close", 6),
    ("i386", "waitpid", 7),
    ("i386", "execve", 11),
    ("i386", "time", 13),
    ("i386", "break", 17),
    ("i386", "lseek", 19),
    ("i386", "getpid", 20),
    ("i386", "ptrace", 26),
    ("i386", "kill", 37),
    ("i386", "brk", 45),
    ("i386", "ioctl", 54),
    ("i386", "umask", 60),
    ("i386", "mmap", 90),
    ("i386", "socketcall", 102),
    ("i386", "sigreturn", 119),
    ("i386", "clone", 120),
    ("i386", "rt_sigreturn", 173),
    ("i386", "mmap2", 192),
    ("i386", "gettid", 224),
    ("i386", "set_thread_area", 243),
    ("i386", "exit_group", 252),
    ("i386", "openat", 295),
    ("i386", "getcpu", 318),
    ("i386", "renameat2", 353),
    ("x86_64", "read", 0),
    ("x86_64", "write", 1),
    ("x86_64", "open", 2),
    ("x86_64", "close", 3),
    ("x86_64", "mmap", 9),
    ("x86_64", "brk", 12),
    ("x86_64", "rt_sigaction", 13),
    ("x86_64", "rt_sigreturn", 15),
    ("x86_64", "ioctl", 16),
    ("x86_64", "readv", 19),
    ("x86_64", "getpid", 39),
    ("x86_64", "clone", 56),
    ("x86_64", "fork", 57),
    ("x86_64", "execve", 59),
    ("x86_64", "exit", 60),
    ("x86_64", "kill", 62),
    ("x86_64", "ptrace", 101),
    ("x86_64", "uselib", 134),
    ("x86_64", "arch_prctl", 158),
    ("x86_64", "iopl", 172),
    ("x86_64", "gettid", 186),
    ("x86_64", "set_thread_area", 205),
    ("x86_64", "restart_syscall", 219),
    ("x86_64", "exit_group", 231),
    ("x86_64", "openat", 257),
    ("x86_64", "getcpu", 309),
    ("x86_64", "renameat2", 316),
    ("x32", "read", 0x40000000),
    ("x32", "write", 0x40000001),
    ("x32", "getpid", 0x40000000 + 39),
    ("x32", "exit", 0x40000000 + 60),
    ("x32", "renameat2", 0x40000000 + 316),
    ("x32", "rt_sigaction", 0x40000000 + 512),
    ("x32", "rt_sigreturn", 0x40000000 + 513),
    ("x32", "ioctl", 0x40000000 + 514),
    ("x32", "readv", 0x40000000 + 515),
    ("x32", "execve", 0x40000000 + 520),
    ("x32", "ptrace", 0x40000000 + 521),
    ("x32", "io_submit", 0x40000000 + 544),
]


class TestPinnedNumbers:
    """Syscall numbers agree with Linux 3.16's arch/x86/syscalls/*.tbl."""

    @pytest.mark.parametrize(("abi", "name", "number"), PINNED)
    def test_name_to_number(self, abi, name, number):
        """syscall_number gives the number in the Linux 3.16 table (x32 with the bit)."""
        assert syscall_number(name, abi=abi) == number

    @pytest.mark.parametrize(("abi", "name", "number"), PINNED)
    def test_number_to_name(self, abi, name, number):
        """syscall_name inverts syscall_number for every pinned Linux 3.16 number."""
        assert syscall_name(number, abi=abi) == name

    def test_enough_numbers_are_pinned(self):
        """At least 40 numbers are pinned across the three ABIs, each ABI included."""
        assert len(PINNED) >= 40
        assert {abi for abi, _, _ in PINNED} == {"i386", "x86_64", "x32"}

    def test_x32_bit(self):
        """__X32_SYSCALL_BIT is 0x40000000 (arch/x86/include/uapi/asm/unistd.h, 3.16)."""
        assert X32_SYSCALL_BIT == 0x40000000

    def test_readv_example_of_syscall_2(self):
        """syscall(2): __NR_readv is 19 on x86-64 and __X32_SYSCALL_BIT | 515 on x32."""
        assert syscall_number("readv", abi="x86_64") == 19
        assert syscall_number("readv", abi="x32") == X32_SYSCALL_BIT | 515

    def test_abi_mismatch_teaching_example(self):
        """Linux 3.16 tables: 60 is exit on x86_64 but umask on i386; 1 is exit on i386
        but write on x86_64."""
        assert syscall_name(60, abi="x86_64") == "exit"
        assert syscall_name(60, abi="i386") == "umask"
        assert syscall_name(1, abi="i386") == "exit"
        assert syscall_name(1, abi="x86_64") == "write"


class TestAbiSets:
    """Each ABI takes the table rows the 3.16 Makefile gives it."""

    def test_x32_range(self):
        """Linux 3.16 syscall_64.tbl: x32-specific numbers run from 512 to 544."""
        specific = [s.table_number for s in abi_syscalls("x32").syscalls if s.entry.abi == "x32"]
        assert (min(specific), max(specific), len(specific)) == (512, 544, 33)

    def test_x86_64_excludes_x32_rows(self):
        """The x86_64 ABI takes common and 64 rows only (Makefile: unistd_64 is common,64)."""
        assert {s.entry.abi for s in abi_syscalls("x86_64").syscalls} == {"common", "64"}
        assert max(abi_syscalls("x86_64").by_number) == 316

    def test_x32_excludes_64_only_rows(self):
        """The x32 ABI takes common and x32 rows (Makefile: unistd_x32 is common,x32)."""
        assert {s.entry.abi for s in abi_syscalls("x32").syscalls} == {"common", "x32"}

    def test_holes_keep_their_names(self):
        """A hole has a name and number but no entry point (3.16 syscall_64.tbl: 134 uselib)."""
        uselib = lookup_syscall("uselib", abi="x86_64")
        assert (uselib.number, uselib.implemented) == (134, False)


class TestLookupErrors:
    """Unknown names and numbers raise UnknownSyscallError that says which and where."""

    def test_unknown_name_suggests(self):
        """A misspelt name lists the closest names of that ABI."""
        with pytest.raises(UnknownSyscallError, match=r"'raed'.*closest x86_64 names: read"):
            syscall_number("raed", abi="x86_64")

    def test_name_of_another_abi(self):
        """A name that only another ABI has says which ABI has it."""
        with pytest.raises(UnknownSyscallError, match=r"it is in the i386 ABI"):
            syscall_number("waitpid", abi="x86_64")

    def test_unknown_number_gives_range(self):
        """A number in no table raises a ValueError and LookupError naming the range."""
        with pytest.raises(UnknownSyscallError, match=r"no x86_64 syscall 400") as caught:
            syscall_name(400, abi="x86_64")
        assert isinstance(caught.value, ValueError)
        assert isinstance(caught.value, LookupError)

    def test_x32_number_without_the_bit(self):
        """An x32 number without the x32 bit is refused, with the number it should be."""
        with pytest.raises(UnknownSyscallError, match=r"did you mean 0x40000208 \(execve\)"):
            syscall_name(520, abi="x32")

    def test_negative_number(self):
        """A negative number is unknown, not an IndexError."""
        with pytest.raises(UnknownSyscallError):
            syscall_name(-1, abi="i386")

    def test_unknown_abi(self):
        """An unknown ABI names the field and the choices."""
        with pytest.raises(UnknownAbiError, match=r"abi: expected one of i386, x86_64, x32"):
            syscall_number("read", abi="arm64")

    def test_unknown_profile(self):
        """An unknown profile names the known ones."""
        with pytest.raises(UnknownAbiError, match=r"profile: expected one of linux-3.16"):
            syscall_number("read", abi="i386", profile="linux-2.6")

    @pytest.mark.parametrize("bad", [3.0, None, True, b"read"])
    def test_wrong_types(self, bad):
        """Neither a str nor an int is a TypeError naming the argument."""
        with pytest.raises(TypeError, match="name_or_number"):
            lookup_syscall(bad, abi="i386")
