"""Unit tests for abi.explain: the plain-text report behind `ringsim explain NAME`."""

import pytest

from abi import UnknownSyscallError, explain


class TestExplain:
    """explain reports numbers, table entries and argument registers for a name."""

    def test_read_numbers(self):
        """read is 3 on i386, 0 on x86_64 and 0x40000000 on x32 (Linux 3.16 tables)."""
        text = explain("read")
        assert "  i386    3\n" in text
        assert "  x86_64  0\n" in text
        assert "  x32     0x40000000 | 0 = 0x40000000\n" in text

    def test_read_tables_and_arguments(self):
        """The report names each table slot and the argument registers of each convention."""
        text = explain("read")
        assert "i386 kernel, sys_call_table[3]:" in text
        assert "x86_64 kernel, ia32_sys_call_table[3]:" in text
        assert "i386: sys_read(fd, buf, count)" in text
        assert "fd=ebx  buf=ecx  count=edx" in text
        assert "fd=ebx  buf=ebp  count=edx" in text
        assert "fd=rdi  buf=rsi  count=rdx" in text

    def test_execve_x32(self):
        """execve is 0x40000000 | 520 on x32 and reaches stub_x32_execve (3.16 tables)."""
        text = explain("execve")
        assert "0x40000000 | 520 = 0x40000208" in text
        assert "sys_call_table[520]:" in text and "stub_x32_execve" in text
        assert "stub32_execve" in text

    def test_sixth_argument_on_the_stack(self):
        """mmap's sixth argument under x86_64 is r9; x86_64's fourth is r10."""
        text = explain("mmap")
        assert "flags=r10  fd=r8  off=r9" in text
        assert "i386: sys_old_mmap(arg); on a 64-bit kernel sys32_mmap" in text

    def test_missing_abis_and_holes(self):
        """An i386-only hole says so for each ABI."""
        text = explain("break")
        assert "17 (a hole: no entry point, so -ENOSYS)" in text
        assert "x86_64  none" in text
        assert "compat_ni_syscall" in text

    def test_unrecorded_arguments(self):
        """A handler without recorded parameters says so instead of guessing."""
        assert "sys_uselib: argument count not recorded" in explain("uselib")

    def test_unknown_name_suggests(self):
        """An unknown name raises a ValueError that offers the closest names."""
        with pytest.raises(UnknownSyscallError, match=r"did you mean read") as caught:
            explain("raed")
        assert isinstance(caught.value, ValueError)

    def test_name_type(self):
        """A number is not a name."""
        with pytest.raises(TypeError, match="name: expected a str"):
            explain(3)

    def test_ends_with_newline(self):
        """The report is plain text ending in one newline, without trailing spaces."""
        text = explain("getpid")
        assert text.endswith("\n") and not text.endswith("\n\n")
        assert all(line == line.rstrip() for line in text.splitlines())
