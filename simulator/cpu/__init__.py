"""The x86 CPU model: registers, segments, CPL and modes, MSRs, paged memory, descriptors.

It knows nothing of Linux. Everything a user needs is re-exported here; the
modules behind it may move.
"""

from simulator.cpu import control, faults, flags, msr
from simulator.cpu.descriptors import (
    TSS32,
    TSS64,
    Gate32,
    Gate64,
    SegmentDescriptor,
    SystemDescriptor,
    TableRegister,
    idt_error_code,
    is_null_selector,
    make_selector,
    selector_error_code,
    selector_index,
    selector_rpl,
    selector_ti,
)
from simulator.cpu.execute import CPU, RunResult, StepResult
from simulator.cpu.faults import Fault, NotModeled
from simulator.cpu.memory import (
    PAGE_SIZE,
    POISON,
    AddressSpace,
    MemorySnapshot,
    UnmappedError,
    is_canonical,
    page_fault_error_code,
)
from simulator.cpu.registers import Registers, View
from simulator.cpu.segments import (
    FLAT_CODE32_RING0,
    FLAT_CODE32_RING3,
    FLAT_CODE64_RING0,
    FLAT_CODE64_RING3,
    FLAT_STACK_RING0,
    FLAT_STACK_RING3,
    NULL_CACHE,
    DescriptorCache,
    real_mode_cache,
)
from simulator.cpu.state import Change, Snapshot
from simulator.cpu.vendor import AMD, INTEL, VENDORS, Vendor

__all__ = [
    "AMD",
    "CPU",
    "FLAT_CODE32_RING0",
    "FLAT_CODE32_RING3",
    "FLAT_CODE64_RING0",
    "FLAT_CODE64_RING3",
    "FLAT_STACK_RING0",
    "FLAT_STACK_RING3",
    "INTEL",
    "NULL_CACHE",
    "PAGE_SIZE",
    "POISON",
    "TSS32",
    "TSS64",
    "VENDORS",
    "AddressSpace",
    "Change",
    "DescriptorCache",
    "Fault",
    "Gate32",
    "Gate64",
    "MemorySnapshot",
    "NotModeled",
    "Registers",
    "RunResult",
    "SegmentDescriptor",
    "Snapshot",
    "StepResult",
    "SystemDescriptor",
    "TableRegister",
    "UnmappedError",
    "Vendor",
    "View",
    "control",
    "faults",
    "flags",
    "idt_error_code",
    "is_canonical",
    "is_null_selector",
    "make_selector",
    "msr",
    "page_fault_error_code",
    "real_mode_cache",
    "selector_error_code",
    "selector_index",
    "selector_rpl",
    "selector_ti",
]
