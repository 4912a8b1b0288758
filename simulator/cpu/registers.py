"""General registers, RIP and RFLAGS as 64-bit values with their named views."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from simulator.cpu._validate import check_int
from simulator.cpu.flags import check_rflags

# Register indices into the flat register list. The order of RAX..R15 is the
# hardware's register number (Intel SDM Vol. 2A §2.1.5 Table 2-2, the ModRM
# "reg" field extended by REX.R), so a decoder can index with it directly.
RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI = range(8)
R8, R9, R10, R11, R12, R13, R14, R15 = range(8, 16)
RIP = 16
RFLAGS = 17
COUNT = 18

GPR_NAMES: tuple[str, ...] = (
    "rax",
    "rcx",
    "rdx",
    "rbx",
    "rsp",
    "rbp",
    "rsi",
    "rdi",
    "r8",
    "r9",
    "r10",
    "r11",
    "r12",
    "r13",
    "r14",
    "r15",
)
FULL_NAMES: tuple[str, ...] = (*GPR_NAMES, "rip", "rflags")

MASK64 = (1 << 64) - 1


@attrs.frozen
class View:
    """One named part of a register: ``width`` bits starting at bit ``shift``.

    ``zero_extends`` says whether a write clears the bits above the view (true
    for 32-bit views, SDM Vol. 1 §3.4.1.1: "32-bit operands generate a 32-bit
    result, zero-extended to a 64-bit result"); 8- and 16-bit writes merge.
    """

    name: str
    index: int
    width: int
    shift: int = 0

    @property
    def mask(self) -> int:
        return (1 << self.width) - 1

    @property
    def zero_extends(self) -> bool:
        return self.width == 32


def _build_views() -> dict[str, View]:
    views: dict[str, View] = {}

    def add(name: str, index: int, width: int, shift: int = 0) -> None:
        if name in views:
            raise ValueError(f"register view {name!r} defined twice")
        views[name] = View(name, index, width, shift)

    legacy = ("a", "c", "d", "b")
    for i, letter in enumerate(legacy):
        add(f"r{letter}x", i, 64)
        add(f"e{letter}x", i, 32)
        add(f"{letter}x", i, 16)
        add(f"{letter}l", i, 8)
        add(f"{letter}h", i, 8, 8)
    for i, stem in ((RSP, "sp"), (RBP, "bp"), (RSI, "si"), (RDI, "di")):
        add(f"r{stem}", i, 64)
        add(f"e{stem}", i, 32)
        add(stem, i, 16)
        add(f"{stem}l", i, 8)
    for n in range(8, 16):
        add(f"r{n}", n, 64)
        add(f"r{n}d", n, 32)
        add(f"r{n}w", n, 16)
        add(f"r{n}b", n, 8)
    add("rip", RIP, 64)
    add("eip", RIP, 32)
    add("ip", RIP, 16)
    add("rflags", RFLAGS, 64)
    add("eflags", RFLAGS, 32)
    add("flags", RFLAGS, 16)
    return views


VIEWS: dict[str, View] = _build_views()


def view(name: str) -> View:
    """Return the view called ``name`` (case-insensitive), or raise ValueError."""
    try:
        return VIEWS[name.lower()]
    except (KeyError, AttributeError):
        if not isinstance(name, str):
            raise TypeError(
                f"register: expected a register name (str), received {type(name).__name__} {name!r}"
            ) from None
        raise ValueError(
            f"register: expected a register name such as rax, eax, ax, al, ah, r8d, rip or "
            f"rflags, received {name!r}"
        ) from None


class Registers:
    """The general registers, RIP and RFLAGS, stored as 18 unsigned 64-bit ints.

    ``r`` is the flat list; the hot path indexes it with the constants above.
    Named access goes through :func:`view`. RFLAGS bit 1 always reads as 1 and
    its reserved bits cannot be set (see :mod:`simulator.cpu.flags`).
    """

    __slots__ = ("r",)

    def __init__(self, values: Iterable[int] | None = None) -> None:
        self.r: list[int] = [0] * COUNT
        self.r[RFLAGS] = 0x2
        if values is not None:
            values = list(values)
            if len(values) != COUNT:
                raise ValueError(f"registers: expected {COUNT} values, received {len(values)}")
            for name, value in zip(FULL_NAMES, values, strict=True):
                self.write(name, value)

    def read(self, name: str) -> int:
        """Read a register or a part of one by name (``rax``, ``eax``, ``ah``...)."""
        v = view(name)
        return (self.r[v.index] >> v.shift) & ((1 << v.width) - 1)

    def write(self, name: str, value: int) -> None:
        """Write by name: 32-bit views zero-extend, 8- and 16-bit views merge."""
        v = view(name)
        value = check_int(v.name, value, v.width)
        i = v.index
        if v.width >= 32:  # 64-bit writes replace, 32-bit writes zero-extend
            new = value
        else:
            mask = ((1 << v.width) - 1) << v.shift
            new = (self.r[i] & ~mask) | (value << v.shift)
        if i == RFLAGS:
            new = check_rflags(new)
        self.r[i] = new

    def as_dict(self) -> dict[str, int]:
        """The 18 full-width registers by name."""
        return dict(zip(FULL_NAMES, self.r, strict=True))

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={v:#x}" for n, v in zip(FULL_NAMES, self.r, strict=True))
        return f"Registers({inner})"
