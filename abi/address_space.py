"""Where user space ends for each ABI and kernel: the TASK_SIZE limits of Linux 3.16."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from abi.errors import UnknownAbiError
from abi.registers import ABIS

PAGE_SIZE = 4096

#: x86_64's TASK_SIZE_MAX, ((1UL << 47) - PAGE_SIZE) (arch/x86/include/asm/processor.h).
TASK_SIZE_MAX_64 = (1 << 47) - PAGE_SIZE
#: IA32_PAGE_OFFSET without ADDR_LIMIT_3GB: TASK_SIZE of a TIF_ADDR32 task (i386 and x32
#: processes) on a 64-bit kernel (arch/x86/include/asm/processor.h).
IA32_PAGE_OFFSET = 0xFFFFE000
#: TASK_SIZE of a 32-bit kernel is PAGE_OFFSET; 0xC0000000 is the default 3G/1G split.
PAGE_OFFSET_32 = 0xC0000000

#: (abi, kernel) -> the first address that is not user space.
USER_LIMITS: Mapping[tuple[str, str], int] = MappingProxyType(
    {
        ("i386", "i386"): PAGE_OFFSET_32,
        ("i386", "x86_64"): IA32_PAGE_OFFSET,
        ("x32", "x86_64"): IA32_PAGE_OFFSET,
        ("x86_64", "x86_64"): TASK_SIZE_MAX_64,
    }
)


def user_limit(abi: str, kernel: str | None = None) -> int:
    """The end of user space for an ``abi`` process on a ``kernel`` (default: x86_64 unless
    ``abi`` is i386 on an i386 kernel, which must be asked for)."""
    if abi not in ABIS:
        raise UnknownAbiError(f"abi: expected one of {', '.join(ABIS)}, received {abi!r}")
    key = (abi, "x86_64" if kernel is None else kernel)
    try:
        return USER_LIMITS[key]
    except KeyError:
        known = ", ".join(f"{a} on {k}" for a, k in USER_LIMITS)
        raise UnknownAbiError(
            f"abi, kernel: expected one of {known}, received {abi} on {kernel}"
        ) from None
