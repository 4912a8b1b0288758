"""Auxiliary vector types: the AT_* entries a loader finds above the initial stack."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from abi.errors import AbiLookupError

# include/uapi/linux/auxvec.h, Linux 3.16 (values 18..22 are reserved there).
AT_NULL = 0
AT_IGNORE = 1
AT_EXECFD = 2
AT_PHDR = 3
AT_PHENT = 4
AT_PHNUM = 5
AT_PAGESZ = 6
AT_BASE = 7
AT_FLAGS = 8
AT_ENTRY = 9
AT_NOTELF = 10
AT_UID = 11
AT_EUID = 12
AT_GID = 13
AT_EGID = 14
AT_PLATFORM = 15
AT_HWCAP = 16
AT_CLKTCK = 17
AT_SECURE = 23
AT_BASE_PLATFORM = 24
AT_RANDOM = 25
AT_HWCAP2 = 26
AT_EXECFN = 31
# arch/x86/include/uapi/asm/auxvec.h, Linux 3.16 ("start the x86-specific ones at 32").
# The header defines AT_SYSINFO only under __i386__: it is the 32-bit ABI's entry
# (the address of __kernel_vsyscall); AT_SYSINFO_EHDR (the vDSO's ELF header) is for all.
AT_SYSINFO = 32
AT_SYSINFO_EHDR = 33


def _build() -> Mapping[str, int]:
    names = {name: value for name, value in globals().items() if name.startswith("AT_")}
    seen: dict[int, str] = {}
    for name, value in names.items():
        if value in seen:
            raise ValueError(f"{name} and {seen[value]} share the value {value}")
        seen[value] = name
    return MappingProxyType(dict(sorted(names.items(), key=lambda item: item[1])))


#: Every AT_* type by name, in numeric order.
AUXV_TYPES: Mapping[str, int] = _build()
#: Every AT_* name by type number.
AUXV_NAMES: Mapping[int, str] = MappingProxyType({v: k for k, v in AUXV_TYPES.items()})


def auxv_name(type_number: int) -> str:
    """The AT_* name of an auxv type number (33 is ``"AT_SYSINFO_EHDR"``)."""
    if isinstance(type_number, bool) or not isinstance(type_number, int):
        raise TypeError(
            f"type_number: expected an int, received {type(type_number).__name__} {type_number!r}"
        )
    try:
        return AUXV_NAMES[type_number]
    except KeyError:
        raise AbiLookupError(
            f"type_number: expected one of {sorted(AUXV_NAMES)}, received {type_number}"
        ) from None
