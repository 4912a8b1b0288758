"""The kernel profiles abi knows, and their syscall tables loaded from package data."""

from __future__ import annotations

import difflib
import functools
import os
from collections.abc import Mapping
from types import MappingProxyType

import attrs

from abi.errors import UnknownAbiError
from abi.tbl import SyscallTable, _decode, parse_table

_TABLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tables")

#: The two table files of an x86 kernel, as named in its source tree.
TABLE_FILES: tuple[str, ...] = ("syscall_32.tbl", "syscall_64.tbl")


@attrs.frozen
class Profile:
    """A kernel release whose x86 syscall facts abi ships.

    ``table_dir`` is the folder under ``abi/tables/`` that holds the release's ``.tbl``
    files; ``source_dir`` is where those files live in the kernel's own tree.
    """

    name: str
    kernel_version: str
    table_dir: str
    source_dir: str


def _build_profiles(*profiles: Profile) -> Mapping[str, Profile]:
    registry: dict[str, Profile] = {}
    for profile in profiles:
        if profile.name in registry:
            raise ValueError(f"profile {profile.name!r} is registered twice")
        registry[profile.name] = profile
    return MappingProxyType(registry)


#: Profiles by name: 3.16 (the LWN article's kernel) and 6.9 beside it.
PROFILES: Mapping[str, Profile] = _build_profiles(
    Profile(
        name="linux-3.16",
        kernel_version="3.16.0",
        table_dir="linux-3.16",
        source_dir="arch/x86/syscalls",
    ),
    Profile(
        name="linux-6.9",
        kernel_version="6.9",
        table_dir="linux-6.9",
        source_dir="arch/x86/entry/syscalls",
    ),
)

DEFAULT_PROFILE = "linux-3.16"


def get_profile(name: str) -> Profile:
    """The profile called ``name``; an unknown name raises with the closest known ones."""
    if not isinstance(name, str):
        raise TypeError(f"profile: expected a str, received {type(name).__name__} {name!r}")
    try:
        return PROFILES[name]
    except KeyError:
        close = difflib.get_close_matches(name, PROFILES, n=3, cutoff=0.0)
        raise UnknownAbiError(
            f"profile: expected one of {', '.join(PROFILES)}, received {name!r}"
            + (f" (closest: {', '.join(close)})" if close else "")
        ) from None


def syscall_table(file_name: str, profile: str = DEFAULT_PROFILE) -> SyscallTable:
    """The parsed ``syscall_32.tbl`` or ``syscall_64.tbl`` of ``profile``."""
    if file_name not in TABLE_FILES:
        raise UnknownAbiError(
            f"file_name: expected one of {', '.join(TABLE_FILES)}, received {file_name!r}"
        )
    return _load_table(get_profile(profile).table_dir, file_name)


def table_text(file_name: str, profile: str = DEFAULT_PROFILE) -> str:
    """The shipped text of a profile's table file, exactly as stored."""
    if file_name not in TABLE_FILES:
        raise UnknownAbiError(
            f"file_name: expected one of {', '.join(TABLE_FILES)}, received {file_name!r}"
        )
    return _read_text(get_profile(profile).table_dir, file_name)


@functools.cache
def _read_text(table_dir: str, file_name: str) -> str:
    # Beside this module rather than through importlib.resources, whose reader fails when
    # an editable install presents abi as a namespace package.
    with open(os.path.join(_TABLES, table_dir, file_name), "rb") as file:
        data = file.read()
    return _decode(data, f"{table_dir}/{file_name}")


@functools.cache
def _load_table(table_dir: str, file_name: str) -> SyscallTable:
    return parse_table(_read_text(table_dir, file_name), source=f"{table_dir}/{file_name}")
