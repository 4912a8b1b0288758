"""The process ABIs, the registers each one sees, and frozen register files for them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType

import attrs

from abi.errors import UnknownAbiError

#: The process ABIs of x86 Linux: 32-bit i386, 64-bit x86_64, and x32 (64-bit registers,
#: 32-bit pointers).
ABIS: tuple[str, ...] = ("i386", "x86_64", "x32")

# General registers in hardware order (the ModRM reg number), lowercase as the simulator's
# register views name them.
GPRS_32: tuple[str, ...] = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")
GPRS_64: tuple[str, ...] = (
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

#: The general registers a process of each ABI can see and set.
ABI_REGISTERS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"i386": GPRS_32, "x86_64": GPRS_64, "x32": GPRS_64}
)
#: Register width in bits for each ABI (x32 runs in 64-bit mode with 64-bit registers).
REGISTER_WIDTH: Mapping[str, int] = MappingProxyType({"i386": 32, "x86_64": 64, "x32": 64})
#: Pointer width in bits for each ABI (x32's pointers and longs are 32 bits).
POINTER_WIDTH: Mapping[str, int] = MappingProxyType({"i386": 32, "x86_64": 64, "x32": 32})


def check_abi(abi: object, field: str = "abi") -> str:
    """Return ``abi`` if it names a process ABI, else raise naming ``field``."""
    if not isinstance(abi, str):
        raise TypeError(f"{field}: expected a str, received {type(abi).__name__} {abi!r}")
    if abi not in ABIS:
        raise UnknownAbiError(f"{field}: expected one of {', '.join(ABIS)}, received {abi!r}")
    return abi


def _pairs(abi: str, values: Mapping[str, int] | Iterable[tuple[str, int]]) -> tuple:
    check_abi(abi)
    items = values.items() if isinstance(values, Mapping) else values
    names = ABI_REGISTERS[abi]
    width = REGISTER_WIDTH[abi]
    found: dict[str, int] = {}
    for item in items:
        if not isinstance(item, tuple) or len(item) != 2:
            raise TypeError(f"registers: expected (name, value) pairs, received {item!r}")
        name, value = item
        if name not in names:
            raise ValueError(
                f"registers: expected names from the {abi} registers ({', '.join(names)}), "
                f"received {name!r}"
            )
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(
                f"registers[{name!r}]: expected an int, received {type(value).__name__} {value!r}"
            )
        if not 0 <= value < 1 << width:
            raise ValueError(
                f"registers[{name!r}]: expected 0..{(1 << width) - 1:#x} "
                f"(a {width}-bit {abi} register), received {value:#x}"
            )
        if name in found:
            raise ValueError(f"registers: {name!r} is given twice")
        found[name] = value
    return tuple((name, found[name]) for name in names if name in found)


@attrs.frozen(init=False)
class RegisterFile(Mapping[str, int]):
    """A frozen mapping from register name to unsigned value for one ABI.

    Names are the ABI's general registers (``ABI_REGISTERS[abi]``); values fit the ABI's
    register width. Iteration follows hardware register order. Build one with
    ``RegisterFile("i386", {"eax": 3, "ebx": 0})``.
    """

    abi: str
    pairs: tuple[tuple[str, int], ...]

    def __init__(
        self, abi: str, values: Mapping[str, int] | Iterable[tuple[str, int]] = ()
    ) -> None:
        self.__attrs_init__(abi, _pairs(abi, values))

    def __getitem__(self, name: str) -> int:
        for key, value in self.pairs:
            if key == name:
                return value
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def replace(self, **values: int) -> RegisterFile:
        """A copy with some registers set (or added)."""
        return RegisterFile(self.abi, {**dict(self.pairs), **values})
