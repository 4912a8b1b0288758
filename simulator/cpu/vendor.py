"""Vendor profiles: where Intel and AMD processors differ in what ringsim models."""

from __future__ import annotations

import attrs

from simulator.cpu.msr import AMD_RULES, INTEL_RULES, MSRRules


@attrs.frozen
class Vendor:
    """One vendor's behaviour; the ring-transition differences are added with them."""

    name: str
    msr_rules: MSRRules


INTEL = Vendor("intel", INTEL_RULES)
AMD = Vendor("amd", AMD_RULES)
VENDORS: dict[str, Vendor] = {v.name: v for v in (INTEL, AMD)}
