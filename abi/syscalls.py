"""Syscall numbers and names for the i386, x86_64 and x32 ABIs, looked up both ways."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping
from types import MappingProxyType

import attrs

from abi.errors import UnknownSyscallError
from abi.profiles import DEFAULT_PROFILE, get_profile, syscall_table
from abi.registers import ABIS, check_abi
from abi.tbl import SyscallEntry

#: Bit 30, which an x32 process ORs into the syscall number
#: (arch/x86/include/uapi/asm/unistd.h, Linux 3.16).
X32_SYSCALL_BIT = 0x40000000

#: For each process ABI: the table file it reads and the ABI column values it takes from
#: it (the abis that arch/x86/syscalls/Makefile gives syscallhdr.sh for unistd_32.h,
#: unistd_64.h and unistd_x32.h in Linux 3.16).
ABI_TABLE_ROWS: Mapping[str, tuple[str, tuple[str, ...]]] = MappingProxyType(
    {
        "i386": ("syscall_32.tbl", ("i386",)),
        "x86_64": ("syscall_64.tbl", ("common", "64")),
        "x32": ("syscall_64.tbl", ("common", "x32")),
    }
)


@attrs.frozen
class Syscall:
    """A syscall as one ABI sees it.

    ``number`` is the value the process puts in eax/rax: for x32 it includes
    ``X32_SYSCALL_BIT``. ``entry`` is the table line it comes from, whose ``number`` is the
    table index.
    """

    abi: str
    name: str
    number: int
    entry: SyscallEntry
    profile: str

    @property
    def table_number(self) -> int:
        """The number in the table file (for x32, without the x32 bit)."""
        return self.entry.number

    @property
    def implemented(self) -> bool:
        """Whether the table line names an entry point (holes return -ENOSYS)."""
        return self.entry.implemented


@attrs.frozen(eq=False)
class AbiSyscalls:
    """All syscalls of one ABI in one profile, indexed by name and by number."""

    abi: str
    profile: str
    syscalls: tuple[Syscall, ...]
    by_name: Mapping[str, Syscall]
    by_number: Mapping[int, Syscall]

    @classmethod
    def build(cls, abi: str, profile: str) -> AbiSyscalls:
        """Build the index from the profile's table, refusing a name used twice."""
        file_name, table_abis = ABI_TABLE_ROWS[abi]
        table = syscall_table(file_name, profile)
        offset = X32_SYSCALL_BIT if abi == "x32" else 0
        syscalls = tuple(
            Syscall(abi, entry.name, offset + entry.number, entry, profile)
            for entry in table.with_abis(*table_abis)
        )
        by_name: dict[str, Syscall] = {}
        for syscall in syscalls:
            if syscall.name in by_name:
                raise ValueError(
                    f"{table.source}: the {abi} ABI has two syscalls named {syscall.name!r} "
                    f"({by_name[syscall.name].table_number} and {syscall.table_number})"
                )
            by_name[syscall.name] = syscall
        by_number = {syscall.number: syscall for syscall in syscalls}
        return cls(abi, profile, syscalls, MappingProxyType(by_name), MappingProxyType(by_number))


@functools.cache
def _abi_syscalls(abi: str, profile: str) -> AbiSyscalls:
    return AbiSyscalls.build(abi, profile)


def abi_syscalls(abi: str, *, profile: str = DEFAULT_PROFILE) -> AbiSyscalls:
    """The syscalls of ``abi`` in ``profile``, with their name and number indexes."""
    check_abi(abi)
    get_profile(profile)
    return _abi_syscalls(abi, profile)


def syscall_names(*, profile: str = DEFAULT_PROFILE) -> frozenset[str]:
    """Every syscall name of every ABI in ``profile``."""
    return frozenset(name for abi in ABIS for name in abi_syscalls(abi, profile=profile).by_name)


def _unknown_name(name: str, abi: str, profile: str) -> UnknownSyscallError:
    index = abi_syscalls(abi, profile=profile)
    elsewhere = [
        other
        for other in ABIS
        if other != abi and name in abi_syscalls(other, profile=profile).by_name
    ]
    message = f"name: no syscall {name!r} in the {abi} ABI of {profile}"
    if elsewhere:
        message += f" (it is in the {' and '.join(elsewhere)} ABI)"
    close = difflib.get_close_matches(name, index.by_name, n=5)
    if close:
        message += f"; closest {abi} names: {', '.join(close)}"
    return UnknownSyscallError(message)


def _unknown_number(number: int, abi: str, profile: str) -> UnknownSyscallError:
    index = abi_syscalls(abi, profile=profile)
    low, high = index.syscalls[0].number, index.syscalls[-1].number
    message = (
        f"number: no {abi} syscall {number} ({number:#x}) in {profile}; "
        f"its numbers run from {low:#x} to {high:#x} with gaps"
    )
    if abi == "x32" and X32_SYSCALL_BIT + number in index.by_number:
        message += (
            f"; x32 numbers carry __X32_SYSCALL_BIT, did you mean {X32_SYSCALL_BIT + number:#x}"
            f" ({index.by_number[X32_SYSCALL_BIT + number].name})?"
        )
    return UnknownSyscallError(message)


def lookup_syscall(
    name_or_number: str | int, *, abi: str, profile: str = DEFAULT_PROFILE
) -> Syscall:
    """The syscall of ``abi`` with this name, or with this number (as put in eax/rax)."""
    index = abi_syscalls(abi, profile=profile)
    if isinstance(name_or_number, str):
        try:
            return index.by_name[name_or_number]
        except KeyError:
            raise _unknown_name(name_or_number, abi, profile) from None
    if isinstance(name_or_number, int) and not isinstance(name_or_number, bool):
        try:
            return index.by_number[name_or_number]
        except KeyError:
            raise _unknown_number(name_or_number, abi, profile) from None
    raise TypeError(
        "name_or_number: expected a syscall name (str) or number (int), "
        f"received {type(name_or_number).__name__} {name_or_number!r}"
    )


def syscall_number(name: str, *, abi: str, profile: str = DEFAULT_PROFILE) -> int:
    """The number ``abi`` uses for syscall ``name`` (x32 numbers include the x32 bit)."""
    if not isinstance(name, str):
        raise TypeError(f"name: expected a str, received {type(name).__name__} {name!r}")
    return lookup_syscall(name, abi=abi, profile=profile).number


def syscall_name(number: int, *, abi: str, profile: str = DEFAULT_PROFILE) -> str:
    """The name of syscall ``number`` in ``abi`` (x32 numbers must include the x32 bit)."""
    if isinstance(number, bool) or not isinstance(number, int):
        raise TypeError(f"number: expected an int, received {type(number).__name__} {number!r}")
    return lookup_syscall(number, abi=abi, profile=profile).name
