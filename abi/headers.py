"""The headers Linux 3.16's syscalltbl.sh and syscallhdr.sh generate, byte for byte."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING

import attrs

from abi.kernel_tables import emitted
from abi.profiles import DEFAULT_PROFILE, TABLE_FILES, get_profile, syscall_table
from abi.tbl import TABLE_ABIS, SyscallTable

if TYPE_CHECKING:
    from pathlib import Path

SCRIPTS: tuple[str, ...] = ("syscalltbl.sh", "syscallhdr.sh")


def syscalltbl_sh(table: SyscallTable) -> str:
    """What ``syscalltbl.sh`` writes for ``table``: one ``__SYSCALL_<ABI>(nr, sym, compat)``
    line per line with an entry point, in numeric order, the ABI upper-cased."""
    if not isinstance(table, SyscallTable):
        raise TypeError(f"table: expected a SyscallTable, received {type(table).__name__}")
    return "".join(
        f"__SYSCALL_{entry.abi.upper()}({entry.number}, {sym}, {compat})\n"
        for entry, sym, compat in emitted(table)
    )


def file_guard(out_name: str) -> str:
    """The include guard ``syscallhdr.sh`` derives from the output file's basename."""
    # sed: y/a-z/A-Z/; s/[^A-Z0-9_]/_/g; s/__/_/g (left to right, not overlapping).
    base = os.path.basename(out_name).upper()
    base = re.sub(r"[^A-Z0-9_]", "_", base)
    return "_ASM_X86_" + base.replace("__", "_")


def syscallhdr_sh(
    table: SyscallTable,
    out_name: str,
    abis: Sequence[str],
    prefix: str = "",
    offset: str = "",
) -> str:
    """What ``syscallhdr.sh`` writes: ``#define __NR_<prefix><name> <nr>`` for every line
    (holes included) whose ABI is in ``abis``, or ``(<offset> + <nr>)`` given an offset,
    inside an include guard named after ``out_name``."""
    if not isinstance(table, SyscallTable):
        raise TypeError(f"table: expected a SyscallTable, received {type(table).__name__}")
    if isinstance(abis, str) or not abis:
        raise ValueError(f"abis: expected a non-empty sequence of ABI names, received {abis!r}")
    guard = file_guard(out_name)
    lines = [f"#ifndef {guard}\n", f"#define {guard} 1\n", "\n"]
    for entry in table.with_abis(*abis):
        value = f"({offset} + {entry.number})" if offset else str(entry.number)
        lines.append(f"#define __NR_{prefix}{entry.name} {value}\n")
    lines += ["\n", f"#endif /* {guard} */\n"]
    return "".join(lines)


@attrs.frozen
class HeaderRule:
    """One rule of arch/x86/syscalls/Makefile (Linux 3.16): which script makes which header.

    ``path`` is relative to ``arch/x86/include/generated/``: ``asm/`` for kernel-internal
    headers, ``uapi/asm/`` for the ones exported to user space.
    """

    path: str
    script: str = attrs.field(validator=attrs.validators.in_(SCRIPTS))
    table_file: str = attrs.field(validator=attrs.validators.in_(TABLE_FILES))
    abis: tuple[str, ...] = attrs.field(
        default=(), validator=attrs.validators.deep_iterable(attrs.validators.in_(TABLE_ABIS))
    )
    prefix: str = ""
    offset: str = ""


def _rules(*rules: HeaderRule) -> tuple[HeaderRule, ...]:
    seen: set[str] = set()
    for rule in rules:
        if rule.path in seen:
            raise ValueError(f"header {rule.path!r} has two rules")
        if (rule.script == "syscallhdr.sh") != bool(rule.abis):
            raise ValueError(f"header {rule.path!r}: only syscallhdr.sh rules take abis")
        seen.add(rule.path)
    return rules


#: The seven headers a 64-bit 3.16 build generates from the tables.
HEADER_RULES: tuple[HeaderRule, ...] = _rules(
    HeaderRule("uapi/asm/unistd_32.h", "syscallhdr.sh", "syscall_32.tbl", ("i386",)),
    HeaderRule(
        "asm/unistd_32_ia32.h", "syscallhdr.sh", "syscall_32.tbl", ("i386",), prefix="ia32_"
    ),
    HeaderRule(
        "uapi/asm/unistd_x32.h",
        "syscallhdr.sh",
        "syscall_64.tbl",
        ("common", "x32"),
        offset="__X32_SYSCALL_BIT",
    ),
    HeaderRule("uapi/asm/unistd_64.h", "syscallhdr.sh", "syscall_64.tbl", ("common", "64")),
    HeaderRule("asm/unistd_64_x32.h", "syscallhdr.sh", "syscall_64.tbl", ("x32",), prefix="x32_"),
    HeaderRule("asm/syscalls_32.h", "syscalltbl.sh", "syscall_32.tbl"),
    HeaderRule("asm/syscalls_64.h", "syscalltbl.sh", "syscall_64.tbl"),
)


def render(rule: HeaderRule, profile: str = DEFAULT_PROFILE) -> str:
    """The text ``rule`` produces from ``profile``'s table."""
    table = syscall_table(rule.table_file, profile)
    if rule.script == "syscalltbl.sh":
        return syscalltbl_sh(table)
    return syscallhdr_sh(table, rule.path, rule.abis, rule.prefix, rule.offset)


def generated_headers(profile: str = DEFAULT_PROFILE) -> Mapping[str, str]:
    """Every generated header of ``profile``, by path under ``arch/x86/include/generated/``."""
    get_profile(profile)
    return MappingProxyType({rule.path: render(rule, profile) for rule in HEADER_RULES})


def write_headers(out_dir: str | os.PathLike[str], profile: str = DEFAULT_PROFILE) -> list[Path]:
    """Write the generated headers under ``out_dir`` (laid out as the kernel's
    ``arch/x86/include/generated/``) and return the paths written."""
    from pathlib import Path

    root = Path(out_dir)
    written = []
    for path, text in generated_headers(profile).items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        # Bytes, so that no platform turns "\n" into anything else.
        target.write_bytes(text.encode("ascii"))
        written.append(target)
    return written
