"""Unit tests for abi.tbl: the .tbl parser and the shipped Linux 3.16 tables."""

from pathlib import Path

import pytest

from abi import SyscallEntry, TableFormatError, load_table, parse_table, syscall_table
from abi.profiles import table_text

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "tables" / "linux-3.16"
SHIPPED = Path(__file__).resolve().parents[2] / "abi" / "tables" / "linux-3.16"
FILES = ("syscall_32.tbl", "syscall_64.tbl")


def _content_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line[:1].isdigit()]


class TestShippedTables:
    """The tables shipped as package data are Linux 3.16's arch/x86/syscalls/*.tbl."""

    @pytest.mark.parametrize("name", FILES)
    def test_every_numbered_line_parses(self, name):
        """Every line that starts with a digit in the shipped file becomes one entry."""
        table = syscall_table(name)
        assert len(table) == len(_content_lines(table_text(name)))

    @pytest.mark.skipif(not REFERENCE.is_dir(), reason="reference tables not present")
    @pytest.mark.parametrize("name", FILES)
    def test_agrees_line_for_line_with_the_reference(self, name):
        """The shipped file's lines are the reference copy of the kernel's file, in order."""
        ours = (SHIPPED / name).read_text().splitlines()
        theirs = (REFERENCE / name).read_text().splitlines()
        assert ours == theirs

    def test_line_counts_match_the_kernel_file(self):
        """renameat2 sits on line 362 of syscall_32.tbl and 325 of syscall_64.tbl in Linux
        3.16 (the hunks of patches against arch/x86/syscalls/*.tbl put it there)."""
        assert table_text("syscall_32.tbl").splitlines()[361].startswith("353\ti386\trenameat2")
        assert table_text("syscall_64.tbl").splitlines()[324].startswith("316\tcommon\trenameat2")

    def test_entry_counts(self):
        """Linux 3.16 syscall_32.tbl numbers 0..353 but for 222, 223, 251 and 285 (comment
        lines there): 350 lines; syscall_64.tbl has 317 common/64 lines (0..316) and 33 x32
        lines (512..544)."""
        assert len(syscall_table("syscall_32.tbl")) == 350
        t64 = syscall_table("syscall_64.tbl")
        assert len(t64) == 350
        assert sum(e.abi == "x32" for e in t64) == 33

    def test_three_column_lines_are_holes(self):
        """Linux 3.16 syscall_64.tbl: `134 64 uselib` has no entry point."""
        uselib = next(e for e in syscall_table("syscall_64.tbl") if e.number == 134)
        assert uselib == SyscallEntry(134, "64", "uselib")
        assert not uselib.implemented

    def test_compat_column(self):
        """Linux 3.16 syscall_32.tbl: `11 i386 execve sys_execve stub32_execve`."""
        execve = next(e for e in syscall_table("syscall_32.tbl") if e.number == 11)
        assert execve == SyscallEntry(11, "i386", "execve", "sys_execve", "stub32_execve")

    def test_numbers_left_to_comments_are_absent(self):
        """Linux 3.16 syscall_32.tbl leaves 222, 223, 251 and 285 to comment lines
        (`# 285 sys_setaltroot`)."""
        numbers = {e.number for e in syscall_table("syscall_32.tbl")}
        assert set(range(354)) - numbers == {222, 223, 251, 285}


class TestParser:
    """parse_table reads lines as 3.16's syscalltbl.sh does and refuses bad ones."""

    def test_skips_lines_not_starting_with_a_digit(self):
        """Comments, blank lines and indented lines are skipped."""
        table = parse_table("# comment\n\n  7 i386 x sys_x\n3\ti386\tread\tsys_read\n")
        assert table.entries == (SyscallEntry(3, "i386", "read", "sys_read"),)

    def test_three_to_five_columns(self):
        """A line may have 3, 4 or 5 whitespace-separated columns."""
        table = parse_table("1 64 a\n2 64 b sys_b\n3 i386 c sys_c compat_sys_c\n")
        assert [len(e.columns) for e in table] == [3, 4, 5]

    @pytest.mark.parametrize(
        ("line", "problem"),
        [
            ("3 i386", "expected 3 to 5 columns"),
            ("3 i386 read sys_read compat extra", "expected 3 to 5 columns"),
            ("3x i386 read sys_read", "is not a decimal number"),
            ("0x3 i386 read sys_read", "is not a decimal number"),
            ("03 i386 read sys_read", "leading zero"),
            ("1073741824 64 big sys_big", "out of range"),
            ("3 i486 read sys_read", "unknown ABI 'i486'"),
            ("3 i386 re-ad sys_read", "name column"),
            ("3 i386 read sys.read", "entry point column"),
            ("3 i386 read sys_read compat-x", "compat entry point column"),
            ("3 i386 read sys_read\r", "is not a C identifier"),
        ],
    )
    def test_bad_line_names_file_line_and_problem(self, line, problem):
        """A bad line raises TableFormatError with the source, line number and problem."""
        with pytest.raises(TableFormatError) as caught:
            parse_table(f"# header\n{line}\n", source="t.tbl")
        error = caught.value
        assert (error.source, error.line_number, error.line) == ("t.tbl", 2, line)
        assert problem in error.problem
        assert str(error).startswith("t.tbl, line 2: ")

    def test_number_used_twice(self):
        """A number used twice in one file is refused, naming both lines."""
        with pytest.raises(TableFormatError, match=r"line 3: number 5 is used twice.*line 1"):
            parse_table("5 64 a sys_a\n6 64 b sys_b\n5 x32 c sys_c\n")

    def test_table_format_error_is_a_value_error(self):
        """TableFormatError is a ValueError, so callers may catch either."""
        assert issubclass(TableFormatError, ValueError)

    def test_text_must_be_str(self):
        """Bytes are refused with a TypeError naming the argument."""
        with pytest.raises(TypeError, match="text: expected a str"):
            parse_table(b"3 i386 read sys_read")

    def test_load_table_reports_bad_utf8_with_its_line(self, tmp_path):
        """A file that is not UTF-8 raises TableFormatError at the offending line."""
        path = tmp_path / "bad.tbl"
        path.write_bytes(b"0 common read sys_read\n1 common wr\xffite sys_write\n")
        with pytest.raises(TableFormatError, match="line 2: not valid UTF-8"):
            load_table(path)

    def test_load_table_round_trip(self, tmp_path):
        """load_table reads a file the same way parse_table reads its text."""
        path = tmp_path / "ok.tbl"
        path.write_text("0\tcommon\tread\t\t\tsys_read\n")
        assert load_table(path).entries == (SyscallEntry(0, "common", "read", "sys_read"),)
        assert load_table(path).source == str(path)


class TestSyscallEntry:
    """SyscallEntry validates its fields when built directly."""

    def test_rejects_unknown_abi(self):
        """An ABI outside i386/common/64/x32 is a ValueError naming the field."""
        with pytest.raises(ValueError, match="abi: expected one of"):
            SyscallEntry(1, "arm", "x")

    def test_rejects_bool_number(self):
        """A bool is not a syscall number."""
        with pytest.raises(TypeError, match="number: expected an int"):
            SyscallEntry(True, "64", "x")

    def test_rejects_compat_without_entry(self):
        """A compat entry point needs an entry point."""
        with pytest.raises(ValueError, match="compat_entry_point"):
            SyscallEntry(1, "i386", "x", None, "compat_x")

    def test_with_abis_rejects_unknown_abi(self):
        """Selecting rows by an unknown ABI column value is an error, not an empty result."""
        with pytest.raises(ValueError, match="abis: expected"):
            syscall_table("syscall_64.tbl").with_abis("x86_64")
