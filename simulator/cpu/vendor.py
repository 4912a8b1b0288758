"""Vendor profiles: where Intel and AMD processors differ in what ringsim models."""

from __future__ import annotations

import attrs

from simulator.cpu.msr import AMD_RULES, INTEL_RULES, MSRRules


@attrs.frozen
class Vendor:
    """One vendor's behaviour in the ring transitions (cpu-semantics notes §9).

    Each field is one row of the vendor difference matrix:

    * ``syscall_legacy``: SYSCALL/SYSRET work in legacy protected mode (AMD;
      Intel #UD, SDM Vol. 2B SYSCALL "IF (CS.L ≠ 1) or (IA32_EFER.LMA ≠ 1)").
    * ``syscall_compat``: SYSCALL works in compatibility mode, entering at
      CSTAR (AMD APM Vol. 3 SYSCALL; Intel #UD).
    * ``sysret_outside_64``: SYSRET outside 64-bit mode takes the APM's legacy
      path (AMD; Intel #UD).
    * ``sysenter_long_mode``: SYSENTER/SYSEXIT are valid in IA-32e mode
      (Intel; AMD #UD, APM Vol. 3 SYSENTER "Invalid opcode in long mode").
    * ``sysret_canonical_fault``: SYSRETQ to a non-canonical RCX raises #GP(0)
      at CPL 0 (Intel, CVE-2012-0217); AMD completes the return and the fetch
      at CPL 3 faults.
    * ``sysret_loads_ss_cache``: SYSRET loads a flat ring-3 SS cache (Intel);
      AMD changes only the selector (X86_BUG_SYSRET_SS_ATTRS).
    * ``sysret_ss_rpl3``: SYSRET forces SS.RPL to 3 (Intel: "SS.Selector ←
      (IA32_STAR[63:48]+8) OR 3"); the APM pseudocode writes
      STAR.SYSRET_CS + 8 with no OR, which ringsim follows for AMD.
    """

    name: str
    msr_rules: MSRRules
    syscall_legacy: bool
    syscall_compat: bool
    sysret_outside_64: bool
    sysenter_long_mode: bool
    sysret_canonical_fault: bool
    sysret_loads_ss_cache: bool
    sysret_ss_rpl3: bool


INTEL = Vendor(
    "intel",
    INTEL_RULES,
    syscall_legacy=False,
    syscall_compat=False,
    sysret_outside_64=False,
    sysenter_long_mode=True,
    sysret_canonical_fault=True,
    sysret_loads_ss_cache=True,
    sysret_ss_rpl3=True,
)
AMD = Vendor(
    "amd",
    AMD_RULES,
    syscall_legacy=True,
    syscall_compat=True,
    sysret_outside_64=True,
    sysenter_long_mode=False,
    sysret_canonical_fault=False,
    sysret_loads_ss_cache=False,
    sysret_ss_rpl3=False,
)
VENDORS: dict[str, Vendor] = {v.name: v for v in (INTEL, AMD)}
