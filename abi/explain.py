"""A plain-text report of one syscall: its numbers, table entries and argument registers."""

from __future__ import annotations

import difflib

from abi.conventions import IA32_ARGS_TO_C, Convention, conventions_for
from abi.errors import UnknownSyscallError
from abi.kernel_tables import (
    KernelSyscallTable,
    i386_sys_call_table,
    ia32_sys_call_table,
    x86_64_sys_call_table,
)
from abi.profiles import DEFAULT_PROFILE, get_profile
from abi.registers import ABIS
from abi.signatures import parameters
from abi.syscalls import X32_SYSCALL_BIT, Syscall, abi_syscalls, syscall_names


def _find(name: str, abi: str, profile: str) -> Syscall | None:
    return abi_syscalls(abi, profile=profile).by_name.get(name)


def _number_line(abi: str, syscall: Syscall | None) -> str:
    if syscall is None:
        return f"  {abi:<7} none: no {abi} syscall has this name"
    if abi == "x32":
        text = f"{X32_SYSCALL_BIT:#x} | {syscall.table_number} = {syscall.number:#x}"
    else:
        text = str(syscall.number)
    if not syscall.implemented:
        text += " (a hole: no entry point, so -ENOSYS)"
    return f"  {abi:<7} {text}"


def _table_line(kernel: str, table: KernelSyscallTable, number: int, who: str) -> str:
    where = f"{kernel} kernel, {table.symbol}[{number}]:"
    if number > table.max_number:
        function = f"past the end (max {table.max_number}), -ENOSYS"
    else:
        function = table.entry_point(number)
        if function == table.ni_syscall:
            function += " (returns -ENOSYS)"
    return f"  {where:<40} {function:<24} {who}"


def _signature(handler: str | None, fallback: str | None) -> tuple[str, tuple[str, ...] | None]:
    for symbol in (handler, fallback):
        params = parameters(symbol)
        if params is not None:
            return symbol or "", params
    return handler or "", None


def _row(where: str, number: str, params: tuple[str, ...], args: tuple, note: str = "") -> str:
    placed = "".join(f"  {p}={loc}" for p, loc in zip(params, args, strict=False))
    text = f"    {where:<34} {number}=nr{placed}"
    return f"{text}\n    {'':<34} ({note})" if note else text


def _convention_lines(convention: Convention, params: tuple[str, ...]) -> list[str]:
    entry = convention.entry
    routine = convention.entry_routine.split(" (")[0]
    notes = []
    if entry.stack_pointer is not None:
        notes.append(f"user stack pointer in {entry.stack_pointer}")
    if entry.return_address is not None:
        notes.append(f"return address in {entry.return_address}")
    if convention.instruction_clobbers:
        notes.append(f"overwrites {', '.join(convention.instruction_clobbers)}")
    width = convention.pointer_width
    lines = [f"  {convention.instruction} ({convention.name}, {width}-bit pointers)"]
    if convention.caller_routine is None:
        where = "the caller sets, the kernel finds"
        return [*lines, _row(where, entry.number, params, entry.args, "; ".join(notes))]
    caller = convention.caller
    lines.append(_row("call __kernel_vsyscall with", caller.number, params, caller.args))
    lines.append(_row(f"{routine} finds", entry.number, params, entry.args, "; ".join(notes)))
    return lines


def _arguments(abi: str, syscall: Syscall) -> list[str]:
    entry = syscall.entry
    if entry.entry_point is None:
        return [f"{abi}: no entry point (the number is a hole)"]
    fallback = entry.compat_entry_point if abi == "i386" else None
    handler, params = _signature(entry.entry_point, fallback)
    compat = ""
    if abi == "i386" and entry.compat_entry_point not in (None, handler):
        compat = f"; on a 64-bit kernel {entry.compat_entry_point}"
    if params is None:
        return [f"{abi}: {handler}{compat}: argument count not recorded"]
    lines = [f"{abi}: {handler}({', '.join(params)}){compat}"]
    for convention in conventions_for(abi):
        lines += _convention_lines(convention, params)
    if abi == "i386" and params:
        moves = tuple(m.target for m in IA32_ARGS_TO_C[: len(params)])
        lines.append("  64-bit kernel, C call (zero-extended):")
        lines.append(_row("ia32entry.S moves them to", "rax", params, moves))
    return lines


def explain(name: str, profile: str = DEFAULT_PROFILE) -> str:
    """A plain-text report on syscall ``name`` in ``profile``.

    It gives the number in each ABI, the entry point in each table a kernel of the profile
    builds, and where each argument travels under each calling convention. An unknown name
    raises :class:`UnknownSyscallError` (a ValueError) that suggests the closest names.
    """
    if not isinstance(name, str):
        raise TypeError(f"name: expected a str, received {type(name).__name__} {name!r}")
    release = get_profile(profile)
    found = {abi: _find(name, abi, profile) for abi in ABIS}
    if not any(found.values()):
        close = difflib.get_close_matches(name, sorted(syscall_names(profile=profile)), n=5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownSyscallError(f"name: no syscall {name!r} in {profile}{hint}")

    lines = [f"{name} (profile {profile}, Linux {release.kernel_version})", ""]
    lines.append("Numbers (the value the process puts in eax/rax)")
    lines += [_number_line(abi, found[abi]) for abi in ABIS]

    lines += ["", f"Entry points in the tables a {release.kernel_version} kernel builds"]
    i386, x86_64, x32 = found["i386"], found["x86_64"], found["x32"]
    if i386 is not None:
        lines.append(_table_line("i386", i386_sys_call_table(profile), i386.table_number, ""))
        lines.append(
            _table_line(
                "x86_64",
                ia32_sys_call_table(profile),
                i386.table_number,
                "(i386 processes)",
            )
        )
    table64 = x86_64_sys_call_table(profile, x32=True)
    if x86_64 is not None:
        lines.append(_table_line("x86_64", table64, x86_64.table_number, "(x86_64 processes)"))
    if x32 is not None:
        lines.append(
            _table_line("x86_64", table64, x32.table_number, "(x32 processes, bit masked off)")
        )

    for abi in ABIS:
        syscall = found[abi]
        if syscall is not None:
            lines += ["", *_arguments(abi, syscall)]
    lines += [
        "",
        "Result in eax (i386) or rax (x86_64, x32); -4095..-1 is an error, -errno.",
    ]
    return "\n".join(line.rstrip() for line in lines) + "\n"
