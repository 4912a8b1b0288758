"""Control-register bits and the operating modes derived from them."""

from __future__ import annotations

# CR0 bits, Intel SDM Vol. 3A §2.5 Figure 2-7.
CR0_PE = 1 << 0  # protection enable
CR0_MP = 1 << 1
CR0_EM = 1 << 2
CR0_TS = 1 << 3
CR0_ET = 1 << 4
CR0_NE = 1 << 5
CR0_WP = 1 << 16  # write protect: supervisor writes honour R/W
CR0_AM = 1 << 18
CR0_NW = 1 << 29
CR0_CD = 1 << 30
CR0_PG = 1 << 31  # paging

# CR4 bits, SDM Vol. 3A §2.5 Figure 2-8.
CR4_VME = 1 << 0
CR4_PVI = 1 << 1
CR4_TSD = 1 << 2  # time-stamp disable: RDTSC at CPL > 0 faults
CR4_DE = 1 << 3
CR4_PSE = 1 << 4
CR4_PAE = 1 << 5  # physical address extension (required by IA-32e paging)
CR4_PGE = 1 << 7
CR4_OSFXSR = 1 << 9
CR4_OSXMMEXCPT = 1 << 10
CR4_UMIP = 1 << 11
CR4_LA57 = 1 << 12
CR4_FSGSBASE = 1 << 16
CR4_PCIDE = 1 << 17
CR4_OSXSAVE = 1 << 18
CR4_SMEP = 1 << 20  # supervisor-mode execution prevention
CR4_SMAP = 1 << 21  # supervisor-mode access prevention

# Operating modes, SDM Vol. 3A §2.2 ("Modes of Operation") and Vol. 1 §3.1:
# real (CR0.PE=0); protected (PE=1, EFER.LMA=0) with its virtual-8086 sub-mode
# (RFLAGS.VM=1); IA-32e (LMA=1), split by the current CS cache into 64-bit
# mode (CS.L=1) and compatibility mode (CS.L=0).
REAL = "real"
PROTECTED = "protected"
VIRTUAL_8086 = "virtual-8086"
COMPATIBILITY = "compatibility"
LONG64 = "64-bit"
MODES: tuple[str, ...] = (REAL, PROTECTED, VIRTUAL_8086, COMPATIBILITY, LONG64)
