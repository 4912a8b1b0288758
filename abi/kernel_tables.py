"""The syscall tables a Linux 3.16 kernel builds from the .tbl files, with their bounds."""

from __future__ import annotations

import functools

import attrs

from abi.errors import UnknownSyscallError
from abi.profiles import DEFAULT_PROFILE, get_profile, syscall_table
from abi.tbl import SyscallEntry, SyscallTable


@attrs.frozen
class KernelSyscallTable:
    """A kernel's array of syscall entry points, indexed by syscall number.

    ``entries[n]`` is the function the kernel calls for number ``n``: the table's entry
    point, or ``ni_syscall`` (the "not implemented" function that returns -ENOSYS) for a
    hole. The array is as long as the highest number with an entry point plus one, because
    its size comes from ``sizeof`` of an array of designated initializers
    (asm-offsets_32.c and asm-offsets_64.c).
    """

    symbol: str
    kernel: str
    source: str
    ni_syscall: str
    entries: tuple[str, ...]

    @property
    def nr_syscalls(self) -> int:
        """The array's length: ``NR_syscalls`` or ``IA32_NR_syscalls`` in the kernel."""
        return len(self.entries)

    @property
    def max_number(self) -> int:
        """The highest valid index: ``__NR_syscall_max`` or ``__NR_ia32_syscall_max``."""
        return len(self.entries) - 1

    def entry_point(self, number: int) -> str:
        """The function at index ``number``; a number past the end raises."""
        if isinstance(number, bool) or not isinstance(number, int):
            raise TypeError(f"number: expected an int, received {type(number).__name__} {number!r}")
        if not 0 <= number < len(self.entries):
            raise UnknownSyscallError(
                f"number: expected 0..{self.max_number} for {self.kernel} {self.symbol}, "
                f"received {number} (the kernel returns -ENOSYS before indexing)"
            )
        return self.entries[number]

    def is_hole(self, number: int) -> bool:
        """Whether ``number`` is in range but holds the not-implemented function."""
        return self.entry_point(number) == self.ni_syscall


def emitted(table: SyscallTable) -> tuple[tuple[SyscallEntry, str, str], ...]:
    """What syscalltbl.sh emits for each line, as (entry, sym, compat), in numeric order.

    Lines without an entry point emit nothing; a line without a compat column uses its
    entry point twice (arch/x86/syscalls/syscalltbl.sh, Linux 3.16).
    """
    return tuple(
        (entry, entry.entry_point, entry.compat_entry_point or entry.entry_point)
        for entry in table.sorted_entries()
        if entry.entry_point is not None
    )


def _fill(
    cells: list[tuple[int, str]], ni_syscall: str, symbol: str, kernel: str, source: str
) -> KernelSyscallTable:
    size = max(number for number, _ in cells) + 1
    entries = [ni_syscall] * size
    for number, function in cells:
        entries[number] = function
    return KernelSyscallTable(symbol, kernel, source, ni_syscall, tuple(entries))


@functools.cache
def _x86_64(profile: str, x32: bool) -> KernelSyscallTable:
    # syscall_64.c: __SYSCALL_COMMON is __SYSCALL_64; __SYSCALL_X32 is __SYSCALL_64 only
    # with CONFIG_X86_X32_ABI; __SYSCALL_64(nr, sym, compat) is [nr] = sym.
    abis = ("common", "64", "x32") if x32 else ("common", "64")
    cells = [
        (entry.number, sym)
        for entry, sym, _ in emitted(syscall_table("syscall_64.tbl", profile))
        if entry.abi in abis
    ]
    return _fill(
        cells, "sys_ni_syscall", "sys_call_table", "x86_64", "arch/x86/kernel/syscall_64.c"
    )


@functools.cache
def _i386(profile: str) -> KernelSyscallTable:
    # syscall_32.c: __SYSCALL_I386(nr, sym, compat) is [nr] = sym.
    cells = [(e.number, sym) for e, sym, _ in emitted(syscall_table("syscall_32.tbl", profile))]
    return _fill(cells, "sys_ni_syscall", "sys_call_table", "i386", "arch/x86/kernel/syscall_32.c")


@functools.cache
def _ia32(profile: str) -> KernelSyscallTable:
    # syscall_ia32.c: __SYSCALL_I386(nr, sym, compat) is [nr] = compat.
    table = syscall_table("syscall_32.tbl", profile)
    cells = [(entry.number, compat) for entry, _, compat in emitted(table)]
    return _fill(
        cells, "compat_ni_syscall", "ia32_sys_call_table", "x86_64", "arch/x86/ia32/syscall_ia32.c"
    )


def x86_64_sys_call_table(
    profile: str = DEFAULT_PROFILE, *, x32: bool = True
) -> KernelSyscallTable:
    """The 64-bit kernel's ``sys_call_table``: common and 64 entries, plus x32 ones if built.

    With ``x32`` (CONFIG_X86_X32_ABI) the x32 entries from 512 share the one array, as in
    3.16; the numbers between are holes.
    """
    get_profile(profile)
    if not isinstance(x32, bool):
        raise TypeError(f"x32: expected a bool, received {type(x32).__name__} {x32!r}")
    return _x86_64(profile, x32)


def i386_sys_call_table(profile: str = DEFAULT_PROFILE) -> KernelSyscallTable:
    """The 32-bit kernel's ``sys_call_table``, from the 4th column of syscall_32.tbl."""
    get_profile(profile)
    return _i386(profile)


def ia32_sys_call_table(profile: str = DEFAULT_PROFILE) -> KernelSyscallTable:
    """The 64-bit kernel's ``ia32_sys_call_table`` for 32-bit processes (5th column, else 4th)."""
    get_profile(profile)
    return _ia32(profile)


# Linux 6.9 (arch/x86/entry/syscall_{64,x32,32}.c): the same .tbl lines, emitted by
# scripts/syscalltbl.sh into switch statements (x64_sys_call, x32_sys_call, ia32_sys_call)
# whose default case is sys_ni_syscall. The x32 table is its own: common and x32 lines only.
SWITCH_SOURCES = {
    "x64_sys_call": "arch/x86/entry/syscall_64.c",
    "x32_sys_call": "arch/x86/entry/syscall_x32.c",
    "ia32_sys_call": "arch/x86/entry/syscall_32.c",
}


@functools.cache
def _switch64(profile: str, abis: tuple[str, ...], symbol: str) -> KernelSyscallTable:
    cells = [
        (entry.number, sym)
        for entry, sym, _ in emitted(syscall_table("syscall_64.tbl", profile))
        if entry.abi in abis
    ]
    return _fill(cells, "sys_ni_syscall", symbol, "x86_64", SWITCH_SOURCES[symbol])


@functools.cache
def _switch32(profile: str, emulation: bool) -> KernelSyscallTable:
    # __SYSCALL_WITH_COMPAT(nr, native, compat) is __SYSCALL(nr, compat) under
    # CONFIG_IA32_EMULATION, __SYSCALL(nr, native) on an i386 kernel.
    table = syscall_table("syscall_32.tbl", profile)
    cells = [(e.number, compat if emulation else sym) for e, sym, compat in emitted(table)]
    kernel = "x86_64" if emulation else "i386"
    return _fill(cells, "sys_ni_syscall", "ia32_sys_call", kernel, SWITCH_SOURCES["ia32_sys_call"])


def x64_sys_call(profile: str = "linux-6.9") -> KernelSyscallTable:
    """6.9's ``x64_sys_call`` switch: the common and 64 lines of syscall_64.tbl."""
    get_profile(profile)
    return _switch64(profile, ("common", "64"), "x64_sys_call")


def x32_sys_call(profile: str = "linux-6.9") -> KernelSyscallTable:
    """6.9's ``x32_sys_call`` switch (CONFIG_X86_X32_ABI): the common and x32 lines, indexed
    by the number less __X32_SYSCALL_BIT."""
    get_profile(profile)
    return _switch64(profile, ("common", "x32"), "x32_sys_call")


def ia32_sys_call(profile: str = "linux-6.9", *, emulation: bool = True) -> KernelSyscallTable:
    """6.9's ``ia32_sys_call`` switch: compat entry points under IA32_EMULATION (a 64-bit
    kernel), native ones on an i386 kernel."""
    get_profile(profile)
    return _switch32(profile, bool(emulation))
