"""User memory from the kernel: access_ok and the copy routines with their exception-table fixups.

The copies run as supervisor accesses through the CPU's own paging checks, so an
unmapped user page (or a read-only one, with CR0.WP=1 as Linux sets it) raises
a real #PF at CPL 0; what the kernel then does (do_page_fault finds no VMA, the
exception table sends the copy to its fixup) is modeled in Python and traced.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.cpu.faults import Fault, FaultSignal
from simulator.cpu.memory import PAGE_SIZE, READ
from simulator.trace import FAULT, KERNEL

if TYPE_CHECKING:
    from simulator.kernel.kernel import Kernel

UACCESS_H = "access_ok (arch/x86/include/asm/uaccess.h)"


def access_ok(k: Kernel, addr: int, size: int) -> bool:
    """__range_not_ok: the range must not wrap and must end at or below addr_limit.

    On x86_64 the limit is USER_DS = TASK_SIZE_MAX for every task; on i386 it is
    PAGE_OFFSET. No memory is touched.
    """
    end = addr + size
    ok = end <= k.user_limit and end < (1 << k.word_bits)
    if not ok and k.trace is not None:
        k.trace.record(
            KERNEL,
            0,
            UACCESS_H,
            f"access_ok({addr:#x}, {size}) fails: the range ends past addr_limit "
            f"{k.user_limit:#x}; -EFAULT with no memory access",
        )
    return ok


def _fault_fixup(k: Kernel, fault: Fault, routine: str) -> None:
    if k.trace is None:
        return
    k.trace.record(
        FAULT,
        0,
        "Intel SDM Vol. 3A §4.7 (#PF at CPL 0)",
        f"{routine} touches {fault.address:#x}: #PF error code {fault.error_code:#x}, "
        f"CR2 = {fault.address:#x}",
    )
    k.trace.record(
        KERNEL,
        0,
        "do_page_fault -> no_context -> fixup_exception (arch/x86/mm/fault.c, extable.c)",
        f"no VMA at {fault.address:#x}; the exception table sends {routine} to its fixup",
    )


def copy_to_user(k: Kernel, addr: int, data: bytes, routine: str = "copy_to_user") -> int:
    """Copy ``data`` to user ``addr``; return the number of bytes NOT copied (0 on success)."""
    done = 0
    cpu = k.cpu
    if (addr & (PAGE_SIZE - 1)) + len(data) <= PAGE_SIZE:  # one page: one access
        try:
            cpu._write_bytes(addr, data)
        except FaultSignal as signal:
            if not isinstance(signal.fault, Fault):
                raise
            _fault_fixup(k, signal.fault, routine)
            return len(data)
        return 0
    while done < len(data):
        chunk = min(len(data) - done, PAGE_SIZE - ((addr + done) & (PAGE_SIZE - 1)))
        try:
            cpu._write_bytes(addr + done, data[done : done + chunk])
        except FaultSignal as signal:
            if not isinstance(signal.fault, Fault):
                raise
            _fault_fixup(k, signal.fault, routine)
            return len(data) - done
        done += chunk
    return 0


def copy_from_user(
    k: Kernel, addr: int, size: int, routine: str = "copy_from_user"
) -> tuple[bytes, int]:
    """Copy ``size`` bytes from user ``addr``: (the bytes copied, the number NOT copied)."""
    out = bytearray()
    cpu = k.cpu
    while len(out) < size:
        chunk = min(size - len(out), PAGE_SIZE - ((addr + len(out)) & (PAGE_SIZE - 1)))
        try:
            out += cpu._read_bytes(addr + len(out), chunk, READ)
        except FaultSignal as signal:
            if not isinstance(signal.fault, Fault):
                raise
            _fault_fixup(k, signal.fault, routine)
            return bytes(out), size - len(out)
        if chunk == 0:
            break
    return bytes(out), 0


def strncpy_from_user(k: Kernel, addr: int, limit: int) -> bytes | int:
    """A NUL-terminated user string of fewer than ``limit`` bytes, or -EFAULT/-ENAMETOOLONG.

    As getname() uses it (fs/namei.c): a string of ``limit`` bytes with no NUL
    is -ENAMETOOLONG; an unreadable byte before the NUL is -EFAULT.
    """
    out = bytearray()
    cpu = k.cpu
    while len(out) < limit:
        a = addr + len(out)
        if not access_ok(k, a, 1):
            return -k.errno("EFAULT")
        chunk = min(limit - len(out), PAGE_SIZE - (a & (PAGE_SIZE - 1)))
        try:
            data = cpu._read_bytes(a, chunk, READ)
        except FaultSignal as signal:
            if not isinstance(signal.fault, Fault):
                raise
            _fault_fixup(k, signal.fault, "strncpy_from_user")
            return -k.errno("EFAULT")
        nul = data.find(b"\0")
        if nul >= 0:
            out += data[:nul]
            return bytes(out)
        out += data
    return -k.errno("ENAMETOOLONG")


def get_user(k: Kernel, addr: int, size: int, routine: str = "get_user") -> int | None:
    """Read a ``size``-byte little-endian value from user memory; None on -EFAULT."""
    if not access_ok(k, addr, size):
        return None
    data, missing = copy_from_user(k, addr, size, routine)
    return None if missing else int.from_bytes(data, "little")


def put_user(k: Kernel, addr: int, value: int, size: int, routine: str = "put_user") -> bool:
    """Write a ``size``-byte value to user memory; False on -EFAULT."""
    if not access_ok(k, addr, size):
        return False
    mask = (1 << (8 * size)) - 1
    return copy_to_user(k, addr, (value & mask).to_bytes(size, "little"), routine) == 0
