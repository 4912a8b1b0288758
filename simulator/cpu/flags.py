"""RFLAGS: the named bits and the rules for what a write may set."""

from __future__ import annotations

from simulator.cpu._validate import check_int

# Bit positions, Intel SDM Vol. 1 §3.4.3 Figure 3-8 ("EFLAGS Register").
CF = 1 << 0
FIXED1 = 1 << 1  # reserved, always reads as 1
PF = 1 << 2
AF = 1 << 4
ZF = 1 << 6
SF = 1 << 7
TF = 1 << 8
IF = 1 << 9
DF = 1 << 10
OF = 1 << 11
IOPL = 3 << 12
IOPL_SHIFT = 12
NT = 1 << 14
RF = 1 << 16
VM = 1 << 17
AC = 1 << 18
VIF = 1 << 19
VIP = 1 << 20
ID = 1 << 21

NAMES: dict[str, int] = {
    "CF": CF,
    "PF": PF,
    "AF": AF,
    "ZF": ZF,
    "SF": SF,
    "TF": TF,
    "IF": IF,
    "DF": DF,
    "OF": OF,
    "IOPL": IOPL,
    "NT": NT,
    "RF": RF,
    "VM": VM,
    "AC": AC,
    "VIF": VIF,
    "VIP": VIP,
    "ID": ID,
}

# Every bit that has a meaning; bits 3, 5, 15 and 22-63 are reserved (Vol. 1
# §3.4.3 and §3.4.3.4: "RFLAGS ... the upper 32 bits are reserved").
DEFINED = CF | FIXED1 | PF | AF | ZF | SF | TF | IF | DF | OF | IOPL | NT | RF | VM | AC
DEFINED |= VIF | VIP | ID
RESERVED = ((1 << 64) - 1) & ~DEFINED


def check_rflags(value: int) -> int:
    """Return ``value`` with bit 1 set; refuse reserved bits with ValueError."""
    value = check_int("rflags", value, 64)
    if value & RESERVED:
        raise ValueError(
            f"rflags: expected no reserved bit (3, 5, 15, 22-63) set, received {value:#x} "
            f"(reserved bits {value & RESERVED:#x})"
        )
    return value | FIXED1


def iopl(rflags: int) -> int:
    """The I/O privilege level field, bits 13:12."""
    return (rflags >> IOPL_SHIFT) & 3


def describe(rflags: int) -> str:
    """The set flags by name, as a debugger shows them: ``IF ZF IOPL=0``."""
    parts = [name for name, bit in NAMES.items() if name != "IOPL" and rflags & bit]
    parts.append(f"IOPL={iopl(rflags)}")
    return " ".join(parts)
