"""Unit tests for abi.kernel_tables: the arrays a 3.16 kernel builds and their bounds."""

import pytest

from abi import (
    UnknownSyscallError,
    i386_sys_call_table,
    ia32_sys_call_table,
    x86_64_sys_call_table,
)


class TestBounds:
    """The table sizes asm-offsets_32.c and asm-offsets_64.c derive in Linux 3.16."""

    def test_x86_64_with_x32(self):
        """__NR_syscall_max is 544 with CONFIG_X86_X32_ABI (asm-offsets_64.c, Linux 3.16)."""
        table = x86_64_sys_call_table(x32=True)
        assert (table.max_number, table.nr_syscalls) == (544, 545)

    def test_x86_64_without_x32(self):
        """__NR_syscall_max is 316 without x32: renameat2 (asm-offsets_64.c, Linux 3.16)."""
        table = x86_64_sys_call_table(x32=False)
        assert (table.max_number, table.nr_syscalls) == (316, 317)

    def test_i386_nr_syscalls(self):
        """The i386 kernel's NR_syscalls is 354 (asm-offsets_32.c, Linux 3.16)."""
        assert i386_sys_call_table().nr_syscalls == 354

    def test_ia32_nr_syscalls(self):
        """IA32_NR_syscalls is 354, __NR_ia32_syscall_max 353 (asm-offsets_64.c, 3.16)."""
        table = ia32_sys_call_table()
        assert (table.max_number, table.nr_syscalls) == (353, 354)


class TestEntries:
    """Each table holds the column syscall_32.c, syscall_64.c or syscall_ia32.c picks."""

    @pytest.mark.parametrize(
        ("number", "function"),
        [
            (0, "sys_read"),
            (15, "stub_rt_sigreturn"),
            (16, "sys_ioctl"),
            (59, "stub_execve"),
            (134, "sys_ni_syscall"),
            (205, "sys_ni_syscall"),
            (316, "sys_renameat2"),
            (317, "sys_ni_syscall"),
            (511, "sys_ni_syscall"),
            (512, "compat_sys_rt_sigaction"),
            (514, "compat_sys_ioctl"),
            (520, "stub_x32_execve"),
            (544, "compat_sys_io_submit"),
        ],
    )
    def test_x86_64_sys_call_table(self, number, function):
        """arch/x86/kernel/syscall_64.c (3.16): [nr] = sym, holes sys_ni_syscall, x32 rows
        from 512 in the same array."""
        assert x86_64_sys_call_table().entry_point(number) == function

    @pytest.mark.parametrize(
        ("number", "function"),
        [
            (3, "sys_read"),
            (5, "sys_open"),
            (11, "sys_execve"),
            (17, "sys_ni_syscall"),
            (90, "sys_old_mmap"),
            (222, "sys_ni_syscall"),
            (285, "sys_ni_syscall"),
            (353, "sys_renameat2"),
        ],
    )
    def test_i386_sys_call_table(self, number, function):
        """arch/x86/kernel/syscall_32.c (3.16): the 4th column, holes sys_ni_syscall."""
        assert i386_sys_call_table().entry_point(number) == function

    @pytest.mark.parametrize(
        ("number", "function"),
        [
            (3, "sys_read"),
            (5, "compat_sys_open"),
            (7, "sys32_waitpid"),
            (11, "stub32_execve"),
            (17, "compat_ni_syscall"),
            (90, "sys32_mmap"),
            (120, "stub32_clone"),
            (173, "stub32_rt_sigreturn"),
            (285, "compat_ni_syscall"),
        ],
    )
    def test_ia32_sys_call_table(self, number, function):
        """arch/x86/ia32/syscall_ia32.c (3.16): the 5th column where present, else the 4th;
        holes compat_ni_syscall."""
        assert ia32_sys_call_table().entry_point(number) == function

    def test_x32_entries_absent_without_x32(self):
        """Without CONFIG_X86_X32_ABI, __SYSCALL_X32 expands to nothing (syscall_64.c)."""
        with pytest.raises(UnknownSyscallError, match=r"expected 0..316"):
            x86_64_sys_call_table(x32=False).entry_point(520)

    def test_is_hole(self):
        """is_hole tells a not-implemented slot from a real one."""
        table = x86_64_sys_call_table()
        assert table.is_hole(134) and not table.is_hole(0)


class TestMisuse:
    """Out-of-range and ill-typed indexes raise clear errors, not IndexError."""

    @pytest.mark.parametrize("number", [-1, 545, 2**40])
    def test_out_of_range(self, number):
        """A number past either end raises UnknownSyscallError (a ValueError)."""
        with pytest.raises(UnknownSyscallError, match=r"number: expected 0..544"):
            x86_64_sys_call_table().entry_point(number)

    def test_wrong_type(self):
        """A str index is a TypeError naming the argument."""
        with pytest.raises(TypeError, match="number: expected an int"):
            i386_sys_call_table().entry_point("3")

    def test_x32_flag_must_be_bool(self):
        """x32 takes a bool, not a truthy value."""
        with pytest.raises(TypeError, match="x32: expected a bool"):
            x86_64_sys_call_table(x32=1)
