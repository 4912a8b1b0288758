"""Parse syscall tables in the kernel's ``.tbl`` format into frozen entries."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import attrs

from abi.errors import TableFormatError

#: The ABI column values of Linux 3.16's arch/x86/syscalls/*.tbl ("i386" in syscall_32.tbl;
#: "common", "64" and "x32" in syscall_64.tbl, per the comment at the top of each file).
TABLE_ABIS: tuple[str, ...] = ("i386", "common", "64", "x32")

#: Table numbers stay below __X32_SYSCALL_BIT (arch/x86/include/uapi/asm/unistd.h), which
#: is the bit an x32 process adds; a table number with that bit set would collide with it.
MAX_TABLE_NUMBER = 0x40000000 - 1

# The names become C identifiers (__NR_<name>, the entry point symbols), so they must be ones.
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_DECIMAL = re.compile(r"[0-9]+\Z")
# The shell's `read` splits on the default IFS; within a line that is spaces and tabs.
_FIELD_SEPARATOR = re.compile(r"[ \t]+")
_COLUMN_NAMES = ("number", "abi", "name", "entry point", "compat entry point")


def _check_number(entry: SyscallEntry, attribute: attrs.Attribute, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"number: expected an int, received {type(value).__name__} {value!r}")
    if not 0 <= value <= MAX_TABLE_NUMBER:
        raise ValueError(f"number: expected 0..{MAX_TABLE_NUMBER:#x}, received {value!r}")


def _check_abi(entry: SyscallEntry, attribute: attrs.Attribute, value: object) -> None:
    if value not in TABLE_ABIS:
        raise ValueError(f"abi: expected one of {', '.join(TABLE_ABIS)}, received {value!r}")


def _check_identifier(entry: SyscallEntry, attribute: attrs.Attribute, value: object) -> None:
    if value is None and attribute.name != "name":
        return
    if not isinstance(value, str):
        raise TypeError(
            f"{attribute.name}: expected a str, received {type(value).__name__} {value!r}"
        )
    if not _IDENTIFIER.match(value):
        raise ValueError(f"{attribute.name}: expected a C identifier, received {value!r}")


@attrs.frozen
class SyscallEntry:
    """One line of a syscall table: ``<number> <abi> <name> [<entry point> [<compat>]]``.

    An entry without an entry point is a hole (``134 64 uselib``): the number is reserved
    and its name gets a ``__NR_`` constant, but the kernel's table holds its "not
    implemented" function there.
    """

    number: int = attrs.field(validator=_check_number)
    abi: str = attrs.field(validator=_check_abi)
    name: str = attrs.field(validator=_check_identifier)
    entry_point: str | None = attrs.field(default=None, validator=_check_identifier)
    compat_entry_point: str | None = attrs.field(default=None, validator=_check_identifier)

    def __attrs_post_init__(self) -> None:
        if self.compat_entry_point is not None and self.entry_point is None:
            raise ValueError(
                "compat_entry_point: expected None when entry_point is None, "
                f"received {self.compat_entry_point!r}"
            )

    @property
    def implemented(self) -> bool:
        """Whether the line names an entry point (a hole does not)."""
        return self.entry_point is not None

    @property
    def columns(self) -> tuple[str, ...]:
        """The line's columns as text, as the kernel's scripts read them."""
        optional = (self.entry_point, self.compat_entry_point)
        return (str(self.number), self.abi, self.name, *(c for c in optional if c is not None))


@attrs.frozen
class SyscallTable:
    """The entries of one ``.tbl`` file, in file order, with the file they came from."""

    source: str
    entries: tuple[SyscallEntry, ...]

    def __iter__(self) -> Iterator[SyscallEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def sorted_entries(self) -> tuple[SyscallEntry, ...]:
        """The entries in numeric order, as ``sort -n`` leaves them for the scripts."""
        return tuple(sorted(self.entries, key=lambda entry: entry.number))

    def with_abis(self, *abis: str) -> tuple[SyscallEntry, ...]:
        """The entries whose ABI column is one of ``abis``, in numeric order."""
        for abi in abis:
            if abi not in TABLE_ABIS:
                raise ValueError(
                    f"abis: expected names from {', '.join(TABLE_ABIS)}, received {abi!r}"
                )
        return tuple(entry for entry in self.sorted_entries() if entry.abi in abis)


def _parse_line(source: str, line_number: int, line: str) -> SyscallEntry:
    fields = _FIELD_SEPARATOR.split(line.strip(" \t"))
    if not 3 <= len(fields) <= 5:
        raise TableFormatError(
            source,
            line_number,
            line,
            f"expected 3 to 5 columns ({', '.join(_COLUMN_NAMES)}), found {len(fields)}",
        )
    number_text, abi, name, *rest = fields
    if not _DECIMAL.match(number_text):
        raise TableFormatError(
            source, line_number, line, f"number column {number_text!r} is not a decimal number"
        )
    if len(number_text) > 1 and number_text.startswith("0"):
        # C reads a leading zero as octal ([010] is 8) while `sort -n` reads it as ten.
        raise TableFormatError(
            source, line_number, line, f"number column {number_text!r} has a leading zero"
        )
    number = int(number_text)
    if number > MAX_TABLE_NUMBER:
        raise TableFormatError(
            source,
            line_number,
            line,
            f"number {number} is out of range (0..{MAX_TABLE_NUMBER}, below __X32_SYSCALL_BIT)",
        )
    if abi not in TABLE_ABIS:
        raise TableFormatError(
            source,
            line_number,
            line,
            f"unknown ABI {abi!r} (expected one of {', '.join(TABLE_ABIS)})",
        )
    for column, text in zip(_COLUMN_NAMES[2:], (name, *rest), strict=False):
        if not _IDENTIFIER.match(text):
            raise TableFormatError(
                source, line_number, line, f"{column} column {text!r} is not a C identifier"
            )
    return SyscallEntry(number, abi, name, *rest)


def parse_table(text: str, *, source: str = "<string>") -> SyscallTable:
    """Parse the text of a ``.tbl`` file.

    As Linux 3.16's ``syscalltbl.sh`` does (``grep '^[0-9]'``), lines that do not start with
    a digit are skipped: comments, blank lines, anything else. Every other line must be a
    valid entry, and no number may appear twice in one file; otherwise this raises
    :class:`TableFormatError` naming ``source``, the line number and the line.
    """
    if not isinstance(text, str):
        raise TypeError(f"text: expected a str, received {type(text).__name__}")
    if not isinstance(source, str):
        raise TypeError(f"source: expected a str, received {type(source).__name__}")
    entries: list[SyscallEntry] = []
    first_line_of: dict[int, int] = {}
    for line_number, line in enumerate(text.split("\n"), start=1):
        if not line[:1].isascii() or not line[:1].isdigit():
            continue
        entry = _parse_line(source, line_number, line)
        if entry.number in first_line_of:
            raise TableFormatError(
                source,
                line_number,
                line,
                f"number {entry.number} is used twice in this file "
                f"(first on line {first_line_of[entry.number]})",
            )
        first_line_of[entry.number] = line_number
        entries.append(entry)
    return SyscallTable(source=source, entries=tuple(entries))


def load_table(path: str | os.PathLike[str], *, source: str | None = None) -> SyscallTable:
    """Read and parse a ``.tbl`` file; ``source`` (default: the path) names it in errors."""
    label = os.fspath(path) if source is None else source
    with open(path, "rb") as handle:
        data = handle.read()
    return parse_table(_decode(data, label), source=label)


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line_number = data.count(b"\n", 0, error.start) + 1
        start = data.rfind(b"\n", 0, error.start) + 1
        end = data.find(b"\n", error.start)
        line = data[start : None if end < 0 else end].decode("utf-8", "backslashreplace")
        raise TableFormatError(source, line_number, line, "not valid UTF-8") from None
