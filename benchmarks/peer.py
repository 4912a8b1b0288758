"""The peer baseline: Unicorn (QEMU's CPU in C) running the same read loop with a Python hook.

Needs the ``bench`` extra (``pip install -e '.[bench]'``); without it the baseline is skipped.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
from kernel_figures import COUNT, POISON
from measure import Figure, Settings, expect, rate, show

from simulator.cpu.assembler import assemble

CODE = 0x40_0000
BUF = 0x60_0000
DATA = bytes(COUNT)  # what /dev/zero gives ringsim's loop
# The peer's 7 instructions; r12, the iteration count, is set before each emu_start.
LOOP = assemble(
    f"loop:\nxor eax, eax\nxor edi, edi\nmov esi, {BUF:#x}\nmov edx, {COUNT}\n"
    "syscall\nsub r12, 1\njnz loop"
)


@attrs.frozen
class PeerFigures:
    """Unicorn's loop rates, iterations (SYSCALLs) per second."""

    with_hook: Figure  # the peer's work in the SYSCALL hook
    empty_hook: Figure  # a SYSCALL hook that does nothing


def unicorn_missing() -> str | None:
    """Why the baseline cannot run here, or None when it can."""
    try:
        import unicorn  # noqa: F401
    except ImportError as error:
        return f"{error} (install the bench extra: pip install -e '.[bench]')"
    return None


def peer_hook() -> Callable:
    """Exactly the peer's work: read RAX, RDI, RSI and RDX; write the buffer; write RAX."""
    from unicorn.x86_const import UC_X86_REG_RAX, UC_X86_REG_RDI, UC_X86_REG_RDX, UC_X86_REG_RSI

    def hook(uc, _user_data) -> None:
        uc.reg_read(UC_X86_REG_RAX)
        uc.reg_read(UC_X86_REG_RDI)
        buf = uc.reg_read(UC_X86_REG_RSI)
        uc.reg_read(UC_X86_REG_RDX)
        uc.mem_write(buf, DATA)
        uc.reg_write(UC_X86_REG_RAX, COUNT)

    return hook


def empty_hook() -> Callable:
    """A SYSCALL hook that does nothing: the cost of reaching Python from the emulator."""

    def hook(uc, _user_data) -> None:
        pass

    return hook


def loop_runs(hook: Callable) -> tuple[object, Callable[[int], None]]:
    """A 64-bit Unicorn with the loop, the buffer and ``hook`` on SYSCALL; and a work
    function running ``n`` iterations inside one emu_start."""
    from unicorn import UC_ARCH_X86, UC_HOOK_INSN, UC_MODE_64, Uc
    from unicorn.x86_const import UC_X86_INS_SYSCALL, UC_X86_REG_R12

    uc = Uc(UC_ARCH_X86, UC_MODE_64)
    uc.mem_map(CODE, 0x1000)
    uc.mem_map(BUF, 0x1000)
    uc.mem_write(CODE, LOOP)
    uc.mem_write(BUF, POISON)
    uc.hook_add(UC_HOOK_INSN, hook, None, 1, 0, UC_X86_INS_SYSCALL)

    def work(n: int) -> None:
        uc.reg_write(UC_X86_REG_R12, n)
        uc.emu_start(CODE, CODE + len(LOOP))

    return uc, work


def check_peer_loop() -> None:
    """One iteration with the peer's hook writes the buffer and returns COUNT in RAX."""
    from unicorn.x86_const import UC_X86_REG_RAX

    uc, work = loop_runs(peer_hook())
    work(1)
    expect(uc.reg_read(UC_X86_REG_RAX) == COUNT, "Unicorn's hook returned COUNT in RAX")
    expect(bytes(uc.mem_read(BUF, COUNT)) == DATA, "Unicorn's hook wrote the buffer")


def peer_rate(hook: Callable, n: int, s: Settings) -> Figure:
    _, work = loop_runs(hook)
    work(n)  # translate the loop before timing
    return rate(work, n, s.runs)


def peer(s: Settings) -> PeerFigures | None:
    """Unicorn's loop rate with the peer's hook and with an empty one, or None if skipped."""
    print("peer baseline: Unicorn, the same loop (COUNT 16) inside one emu_start")
    missing = unicorn_missing()
    if missing is not None:
        print(f"  skipped: the baseline needs Unicorn, which is not installed: {missing}")
        return None
    import unicorn

    check_peer_loop()
    with_hook = peer_rate(peer_hook(), 20_000, s)
    show(f"Unicorn {unicorn.__version__}, SYSCALL hook doing the peer's work", with_hook)
    empty = peer_rate(empty_hook(), 20_000, s)
    show(f"Unicorn {unicorn.__version__}, empty SYSCALL hook", empty)
    return PeerFigures(with_hook, empty)
