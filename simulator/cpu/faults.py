"""Architectural exceptions as values: vectors, mnemonics, error codes, and #PF error bits."""

from __future__ import annotations

import attrs

# Exception and interrupt vectors, Intel SDM Vol. 3A §6.3.1 Table 6-1
# ("Protected-Mode Exceptions and Interrupts").
DE = 0  # divide error
DB = 1  # debug
NMI = 2  # non-maskable interrupt
BP = 3  # breakpoint (INT3)
OF = 4  # overflow (INTO)
BR = 5  # BOUND range exceeded
UD = 6  # invalid opcode
NM = 7  # device not available
DF = 8  # double fault
CSO = 9  # coprocessor segment overrun (reserved since the 486)
TS = 10  # invalid TSS
NP = 11  # segment not present
SS = 12  # stack-segment fault
GP = 13  # general protection
PF = 14  # page fault
MF = 16  # x87 floating-point error
AC = 17  # alignment check
MC = 18  # machine check
XM = 19  # SIMD floating-point exception
VE = 20  # virtualization exception
CP = 21  # control protection exception

MNEMONICS: dict[int, str] = {
    DE: "#DE",
    DB: "#DB",
    NMI: "NMI",
    BP: "#BP",
    OF: "#OF",
    BR: "#BR",
    UD: "#UD",
    NM: "#NM",
    DF: "#DF",
    CSO: "Coprocessor Segment Overrun",
    TS: "#TS",
    NP: "#NP",
    SS: "#SS",
    GP: "#GP",
    PF: "#PF",
    MF: "#MF",
    AC: "#AC",
    MC: "#MC",
    XM: "#XM",
    VE: "#VE",
    CP: "#CP",
}

# The exceptions that push an error code, SDM Vol. 3A §6.15 (per-exception
# "Exception Error Code" paragraphs): #DF (always 0), #TS, #NP, #SS, #GP, #PF,
# #AC (always 0) and #CP.
ERROR_CODE_VECTORS: frozenset[int] = frozenset({DF, TS, NP, SS, GP, PF, AC, CP})

# Page-fault error code bits, SDM Vol. 3A §4.7 Figure 4-12.
PF_P = 1 << 0  # 0: non-present page; 1: protection violation (or reserved bit)
PF_WR = 1 << 1  # 1: the access was a write
PF_US = 1 << 2  # 1: a user-mode access (CPL 3 and not an implicit supervisor access)
PF_RSVD = 1 << 3  # 1: a reserved bit was set in a paging-structure entry
PF_ID = 1 << 4  # 1: an instruction fetch (only with CR4.SMEP or PAE+EFER.NXE)


@attrs.frozen
class Fault:
    """An architectural exception raised by an instruction or an access.

    ``error_code`` is None for exceptions that push none (#UD, #DB, #BP...).
    ``address`` is the linear address a #PF reports in CR2 (None otherwise).
    ``detail`` says in words which check refused, for traces and for people.
    """

    vector: int = attrs.field(
        validator=[
            attrs.validators.instance_of(int),
            attrs.validators.ge(0),
            attrs.validators.le(255),
        ]
    )
    error_code: int | None = None
    address: int | None = None
    detail: str = ""

    @property
    def mnemonic(self) -> str:
        """The manual's name for the vector, such as ``#GP``."""
        return MNEMONICS.get(self.vector, f"vector {self.vector:#x}")

    def __str__(self) -> str:
        text = self.mnemonic
        if self.error_code is not None:
            text += f"({self.error_code:#x})" if self.error_code else "(0)"
        if self.address is not None:
            text += f" at {self.address:#x}"
        if self.detail:
            text += f": {self.detail}"
        return text


@attrs.frozen
class NotModeled:
    """A stop that is not an architectural event: something ringsim does not model.

    Never presented as a fault a CPU would raise; ``what`` names the thing.
    """

    what: str

    def __str__(self) -> str:
        return f"not modeled by ringsim: {self.what}"


class FaultSignal(Exception):
    """Internal carrier that unwinds a failing access to the CPU's boundary.

    The CPU's public methods catch it and hand back the :class:`Fault` it
    carries; it never escapes the CPU package.
    """

    __slots__ = ("fault",)

    def __init__(self, fault: Fault | NotModeled) -> None:
        super().__init__(str(fault))
        self.fault = fault


def gp(error_code: int = 0, detail: str = "") -> Fault:
    """A #GP with the given error code."""
    return Fault(GP, error_code, None, detail)


def ss(error_code: int = 0, detail: str = "") -> Fault:
    """A #SS with the given error code."""
    return Fault(SS, error_code, None, detail)


def np_(error_code: int, detail: str = "") -> Fault:
    """A #NP with the given error code."""
    return Fault(NP, error_code, None, detail)


def ud(detail: str = "") -> Fault:
    """A #UD (no error code)."""
    return Fault(UD, None, None, detail)
