"""Model-specific registers of the ring transitions, and what WRMSR must refuse."""

from __future__ import annotations

import attrs

from simulator.cpu._validate import check_int
from simulator.cpu.faults import Fault, gp
from simulator.cpu.memory import is_canonical

# MSR numbers, Intel SDM Vol. 4 Table 2-2 ("IA-32 Architectural MSRs").
IA32_SYSENTER_CS = 0x174
IA32_SYSENTER_ESP = 0x175
IA32_SYSENTER_EIP = 0x176
IA32_EFER = 0xC000_0080
IA32_STAR = 0xC000_0081
IA32_LSTAR = 0xC000_0082
IA32_CSTAR = 0xC000_0083
IA32_FMASK = 0xC000_0084
IA32_FS_BASE = 0xC000_0100
IA32_GS_BASE = 0xC000_0101
IA32_KERNEL_GS_BASE = 0xC000_0102
IA32_TIME_STAMP_COUNTER = 0x10
IA32_TSC_AUX = 0xC000_0103

NAMES: dict[int, str] = {
    IA32_SYSENTER_CS: "IA32_SYSENTER_CS",
    IA32_SYSENTER_ESP: "IA32_SYSENTER_ESP",
    IA32_SYSENTER_EIP: "IA32_SYSENTER_EIP",
    IA32_EFER: "IA32_EFER",
    IA32_STAR: "IA32_STAR",
    IA32_LSTAR: "IA32_LSTAR",
    IA32_CSTAR: "IA32_CSTAR",
    IA32_FMASK: "IA32_FMASK",
    IA32_FS_BASE: "IA32_FS_BASE",
    IA32_GS_BASE: "IA32_GS_BASE",
    IA32_KERNEL_GS_BASE: "IA32_KERNEL_GS_BASE",
    IA32_TIME_STAMP_COUNTER: "IA32_TIME_STAMP_COUNTER",
    IA32_TSC_AUX: "IA32_TSC_AUX",
}
BY_NAME: dict[str, int] = {name: number for number, name in NAMES.items()}

# IA32_EFER bits, SDM Vol. 4 Table 2-2 (IA32_EFER) and AMD APM Vol. 2 §3.1.7.
EFER_SCE = 1 << 0  # SYSCALL enable
EFER_LME = 1 << 8  # IA-32e mode enable
EFER_LMA = 1 << 10  # IA-32e mode active (read-only: set by the processor)
EFER_NXE = 1 << 11  # execute-disable enable
EFER_SVME = 1 << 12  # AMD: secure virtual machine enable
EFER_LMSLE = 1 << 13  # AMD: long mode segment limit enable
EFER_FFXSR = 1 << 14  # AMD: fast FXSAVE/FXRSTOR
EFER_TCE = 1 << 15  # AMD: translation cache extension

# MSRs whose WRMSR value must be canonical, SDM Vol. 2B WRMSR "Protected Mode
# Exceptions": IA32_FS_BASE, IA32_GS_BASE, IA32_KERNEL_GS_BASE, IA32_LSTAR,
# IA32_SYSENTER_EIP, IA32_SYSENTER_ESP (IA32_DS_AREA is not modelled). The
# SDM's list does not name IA32_CSTAR; Bochs checks it anyway.
CANONICAL_MSRS: frozenset[int] = frozenset(
    {
        IA32_FS_BASE,
        IA32_GS_BASE,
        IA32_KERNEL_GS_BASE,
        IA32_LSTAR,
        IA32_SYSENTER_EIP,
        IA32_SYSENTER_ESP,
    }
)

# Bits 63:32 of IA32_FMASK are reserved and only bits 31:0 mask RFLAGS (SDM
# Vol. 3A §5.8.8); the value is stored as 32 bits, as Bochs stores it.
FMASK_BITS = 32

SYSENTER_MSRS = (IA32_SYSENTER_CS, IA32_SYSENTER_ESP, IA32_SYSENTER_EIP)


@attrs.frozen
class MSRRules:
    """The vendor-dependent parts of the MSR file."""

    efer_defined: int
    sysenter_msr_bits: int  # 64 on Intel; AMD keeps only the low 32 bits


INTEL_RULES = MSRRules(efer_defined=EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE, sysenter_msr_bits=64)
AMD_RULES = MSRRules(
    efer_defined=EFER_SCE
    | EFER_LME
    | EFER_LMA
    | EFER_NXE
    | EFER_SVME
    | EFER_LMSLE
    | EFER_FFXSR
    | EFER_TCE,
    sysenter_msr_bits=32,
)


def msr_number(name_or_number: str | int) -> int:
    """Resolve an MSR name (``IA32_LSTAR``, ``lstar``) or number; unknown raises ValueError."""
    if isinstance(name_or_number, str):
        key = name_or_number.upper()
        if not key.startswith("IA32_"):
            key = "IA32_" + key
        if key not in BY_NAME:
            raise ValueError(
                f"msr: expected one of {', '.join(BY_NAME)}, received {name_or_number!r}"
            )
        return BY_NAME[key]
    return check_int("msr", name_or_number, 32)


class MSRFile:
    """The MSRs the simulator models, holding values and refusing bad writes.

    IA32_FS_BASE and IA32_GS_BASE are views of the FS and GS descriptor caches,
    so the CPU handles those two itself; everything else lives here.
    """

    __slots__ = ("rules", "values")

    def __init__(self, rules: MSRRules = INTEL_RULES) -> None:
        self.rules = rules
        self.values: dict[int, int] = {n: 0 for n in NAMES if n not in (IA32_FS_BASE, IA32_GS_BASE)}

    def known(self, number: int) -> bool:
        return number in NAMES

    def check_write(self, number: int, value: int, *, paging: bool) -> Fault | int:
        """The value WRMSR would store, or the #GP(0) it raises.

        ``paging`` is CR0.PG, which forbids changing EFER.LME (SDM Vol. 4
        Table 2-2, IA32_EFER; Vol. 3A §10.8.5).
        """
        if number not in NAMES:
            return gp(0, f"WRMSR to an MSR that does not exist here: {number:#x}")
        if number in SYSENTER_MSRS and self.rules.sysenter_msr_bits == 32:
            value &= 0xFFFF_FFFF
        if number in CANONICAL_MSRS and not is_canonical(value):
            return gp(0, f"WRMSR {NAMES[number]}: {value:#x} is not canonical")
        if number == IA32_EFER:
            if value & ~self.rules.efer_defined:
                return gp(
                    0,
                    f"WRMSR IA32_EFER: reserved bits {value & ~self.rules.efer_defined:#x} set",
                )
            old = self.values[IA32_EFER]
            if paging and (value ^ old) & EFER_LME:
                return gp(0, "WRMSR IA32_EFER: LME cannot change while CR0.PG=1")
            # LMA is set by the processor; a write leaves it as it was.
            value = (value & ~EFER_LMA) | (old & EFER_LMA)
        elif number == IA32_FMASK:
            value &= (1 << FMASK_BITS) - 1
        elif number == IA32_TSC_AUX and value >> 32:
            return gp(0, f"WRMSR IA32_TSC_AUX: bits 63:32 are reserved ({value:#x})")
        return value
