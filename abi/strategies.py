"""Hypothesis strategies for the Linux x86 ABIs, in Hypothesis's own style, for users' tests."""

# Plural names, keyword-only options with defaults, draws that shrink toward zero (the
# lowest register value, the lowest syscall number, the first convention), and
# InvalidArgument for bad options: the one place abi follows Hypothesis, not ValueError.

from __future__ import annotations

from collections.abc import Iterable

import attrs
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy

from abi.address_space import USER_LIMITS
from abi.conventions import Convention, conventions_for
from abi.profiles import DEFAULT_PROFILE, PROFILES, TABLE_FILES, syscall_table
from abi.registers import ABI_REGISTERS, ABIS, REGISTER_WIDTH, RegisterFile
from abi.syscalls import Syscall, abi_syscalls
from abi.tbl import TABLE_ABIS, SyscallEntry

__all__ = [
    "SyscallInvocation",
    "register_files",
    "syscall_invocations",
    "syscall_numbers",
    "syscalls",
    "table_entries",
    "user_pointers",
]


def _check_choice(name: str, value: object, choices: Iterable[object]) -> None:
    choices = tuple(choices)
    if value not in choices:
        raise InvalidArgument(f"{name}={value!r}: expected one of {', '.join(map(repr, choices))}")


def _check_optional_bool(name: str, value: object) -> None:
    if value is not None and not isinstance(value, bool):
        raise InvalidArgument(f"{name}={value!r}: expected None, True or False")


def _register_values(abi: str) -> SearchStrategy[int]:
    return st.integers(min_value=0, max_value=(1 << REGISTER_WIDTH[abi]) - 1)


def register_files(
    *, abi: str = "x86_64", registers: Iterable[str] | None = None
) -> SearchStrategy[RegisterFile]:
    """Register files for ``abi``: every register in ``registers`` (default: all the ABI's
    general registers) with a value that fits the ABI's register width."""
    _check_choice("abi", abi, ABIS)
    if isinstance(registers, str):
        raise InvalidArgument(f"registers={registers!r}: expected an iterable of names")
    names = ABI_REGISTERS[abi] if registers is None else tuple(registers)
    for name in names:
        _check_choice("registers", name, ABI_REGISTERS[abi])
    if len(set(names)) != len(names):
        raise InvalidArgument(f"registers={names!r}: a register is named twice")
    values = _register_values(abi)
    return st.tuples(*(values for _ in names)).map(
        lambda drawn: RegisterFile(abi, zip(names, drawn, strict=True))
    )


def _syscall_choices(abi: str, profile: str, implemented: bool | None) -> tuple[Syscall, ...]:
    _check_choice("abi", abi, ABIS)
    _check_choice("profile", profile, PROFILES)
    _check_optional_bool("implemented", implemented)
    choices = tuple(
        syscall
        for syscall in abi_syscalls(abi, profile=profile).syscalls
        if implemented is None or syscall.implemented == implemented
    )
    if not choices:
        raise InvalidArgument(f"abi={abi!r}, implemented={implemented!r}: no syscall matches")
    return choices


def syscalls(
    *, abi: str = "x86_64", profile: str = DEFAULT_PROFILE, implemented: bool | None = None
) -> SearchStrategy[Syscall]:
    """Syscalls of ``abi`` in numeric order (so they shrink toward the lowest number);
    ``implemented`` keeps only those with (True) or without (False) an entry point."""
    return st.sampled_from(_syscall_choices(abi, profile, implemented))


def syscall_numbers(
    *, abi: str = "x86_64", profile: str = DEFAULT_PROFILE, implemented: bool | None = None
) -> SearchStrategy[int]:
    """The numbers a process of ``abi`` puts in eax/rax (x32 ones include the x32 bit)."""
    return syscalls(abi=abi, profile=profile, implemented=implemented).map(lambda s: s.number)


@attrs.frozen
class SyscallInvocation:
    """A syscall with six argument values, and the registers a convention sets for it.

    ``registers`` holds the number register and the six argument registers as the caller
    sets them (for the vDSO conventions: before ``call __kernel_vsyscall``).
    """

    convention: Convention
    syscall: Syscall
    args: tuple[int, ...]
    registers: RegisterFile

    @property
    def number(self) -> int:
        """The value in the number register."""
        return self.syscall.number


def syscall_invocations(
    *,
    abi: str = "x86_64",
    via: str | None = None,
    profile: str = DEFAULT_PROFILE,
    implemented: bool | None = None,
    args: SearchStrategy[int] | None = None,
) -> SearchStrategy[SyscallInvocation]:
    """Invocations of ``abi`` syscalls through convention ``via`` (default: any of the ABI's,
    shrinking toward the first), with six argument values drawn from ``args`` (default: any
    register value) placed where the convention's caller puts them."""
    choices = _syscall_choices(abi, profile, implemented)
    conventions = conventions_for(abi)
    if via is not None:
        _check_choice("via", via, [c.via for c in conventions])
        conventions = tuple(c for c in conventions if c.via == via)
    if args is None:
        args = _register_values(abi)
    elif not isinstance(args, SearchStrategy):
        raise InvalidArgument(f"args={args!r}: expected a strategy for argument values")
    limit = 1 << REGISTER_WIDTH[abi]

    @st.composite
    def invocations(draw: st.DrawFn) -> SyscallInvocation:
        convention = draw(st.sampled_from(conventions))
        syscall = draw(st.sampled_from(choices))
        values = tuple(draw(args) for _ in range(6))
        for value in values:
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
                raise InvalidArgument(
                    f"args drew {value!r}: expected ints in 0..{limit - 1:#x} for {abi}"
                )
        caller = convention.caller
        registers = RegisterFile(
            abi,
            [(caller.number, syscall.number), *zip(caller.registers, values, strict=True)],
        )
        return SyscallInvocation(convention, syscall, values, registers)

    return invocations()


def user_pointers(
    *, abi: str = "x86_64", kernel: str | None = None, size: int = 1, alignment: int = 1
) -> SearchStrategy[int]:
    """Addresses of ``size``-byte objects that lie wholly in user space for an ``abi``
    process on ``kernel`` (default x86_64), multiples of ``alignment``, shrinking to 0."""
    _check_choice("abi", abi, ABIS)
    kernel = "x86_64" if kernel is None else kernel
    _check_choice("kernel", kernel, sorted({k for a, k in USER_LIMITS if a == abi}))
    for name, value in (("size", size), ("alignment", alignment)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidArgument(f"{name}={value!r}: expected a positive int")
    if alignment & (alignment - 1):
        raise InvalidArgument(f"alignment={alignment!r}: expected a power of two")
    limit = USER_LIMITS[(abi, kernel)]
    if size > limit:
        raise InvalidArgument(f"size={size!r}: larger than user space ({limit:#x} bytes)")
    slots = (limit - size) // alignment
    return st.integers(min_value=0, max_value=slots).map(lambda slot: slot * alignment)


def table_entries(
    *,
    profile: str = DEFAULT_PROFILE,
    table_file: str | None = None,
    abis: Iterable[str] | None = None,
    implemented: bool | None = None,
) -> SearchStrategy[SyscallEntry]:
    """Lines of ``profile``'s syscall tables (both files by default), in file order, with an
    ABI column in ``abis`` (default: any) and an entry point or not (``implemented``)."""
    _check_choice("profile", profile, PROFILES)
    files = TABLE_FILES if table_file is None else (table_file,)
    for name in files:
        _check_choice("table_file", name, TABLE_FILES)
    if isinstance(abis, str):
        raise InvalidArgument(f"abis={abis!r}: expected an iterable of ABI column values")
    wanted = TABLE_ABIS if abis is None else tuple(abis)
    for name in wanted:
        _check_choice("abis", name, TABLE_ABIS)
    _check_optional_bool("implemented", implemented)
    entries = tuple(
        entry
        for name in files
        for entry in syscall_table(name, profile)
        if entry.abi in wanted and (implemented is None or entry.implemented == implemented)
    )
    if not entries:
        raise InvalidArgument(
            f"table_file={table_file!r}, abis={abis!r}, implemented={implemented!r}: "
            "no table entry matches"
        )
    return st.sampled_from(entries)
