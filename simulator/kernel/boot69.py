"""The parts of booting Linux 6.9 that differ from 3.16: kernel text, IDT, MSRs, tables, vDSO.

simulator.kernel.boot runs the common steps (control registers, GDT, TSS) and asks this module
for the 6.9 ones: idt_setup_traps and the ia32 gate (arch/x86/kernel/idt.c), syscall_init /
idt_syscall_init and enable_sep_cpu (arch/x86/kernel/cpu/common.c), the syscall switches
(arch/x86/entry/syscall_*.c) and the patched 32-bit vDSO.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi import kernel_tables
from simulator.kernel import (
    common69,  # noqa: F401 (importing it registers its continuations)
    entry69_32,
    entry69_64,
    entry69_compat,
    vdso69,
)
from simulator.kernel import linux69 as L69
from simulator.kernel import linux316 as L

if TYPE_CHECKING:
    from simulator.kernel.kernel import Kernel

IDT_SOURCE = "arch/x86/kernel/idt.c"
CPU_COMMON = "arch/x86/kernel/cpu/common.c"
# IST indexes of 6.9 (arch/x86/include/asm/page_64_types.h: IST_INDEX_DF 0, NMI 1, DB 2,
# MCE 3), as the gate holds them (index + 1).
IST_DF, IST_NMI, IST_DB, IST_MCE = 1, 2, 3, 4


def place(k: Kernel) -> None:
    """The 6.9 entry code in kernel text."""
    if k.kind == "x86_64":
        entry69_64.place(k)
        entry69_compat.place(k)
    else:
        entry69_32.place(k)


def idt_gates(kind: str, ia32: bool) -> tuple[L.GateSpec, ...]:
    """def_idts, early_idts and ia32_idt (arch/x86/kernel/idt.c, 6.9): every gate is an
    interrupt gate (INTG, ISTG, SYSG); SYSG makes #BP, #OF and vector 0x80 DPL 3. ia32_idt is
    installed only if ia32_enabled(); otherwise idt_setup_apic_and_irq_gates fills 0x80 with
    set_intr_gate (DPL 0) like any external vector. The handlers are ringsim's exception
    handlers (simulator.kernel.traps), shared with the 3.16 model."""
    wide = kind == "x86_64"
    gates = [
        L.GateSpec(0, "divide_error"),
        L.GateSpec(1, "debug", ist=IST_DB if wide else 0),
        L.GateSpec(2, "nmi", ist=IST_NMI if wide else 0),
        L.GateSpec(3, "int3", dpl=3),
        L.GateSpec(4, "overflow", dpl=3),
        L.GateSpec(5, "bounds"),
        L.GateSpec(6, "invalid_op"),
        L.GateSpec(7, "device_not_available"),
        L.GateSpec(9, "coprocessor_segment_overrun"),
        L.GateSpec(10, "invalid_TSS"),
        L.GateSpec(11, "segment_not_present"),
        L.GateSpec(12, "stack_segment"),
        L.GateSpec(13, "general_protection"),
        L.GateSpec(14, "page_fault"),
        L.GateSpec(15, "spurious_interrupt_bug"),
        L.GateSpec(16, "coprocessor_error"),
        L.GateSpec(17, "alignment_check"),
        L.GateSpec(18, "machine_check", ist=IST_MCE if wide else 0),
        L.GateSpec(19, "simd_coprocessor_error"),
    ]
    if wide:
        gates.append(L.GateSpec(8, "double_fault", ist=IST_DF))
        if ia32:
            gates.append(L.GateSpec(L.SYSCALL_VECTOR, "asm_int80_emulation", dpl=3))
        else:
            gates.append(L.GateSpec(L.SYSCALL_VECTOR, "irq_entries_start", dpl=0))
    else:
        gates.append(L.GateSpec(L.SYSCALL_VECTOR, "entry_INT80_32", dpl=3))
    return tuple(sorted(gates, key=lambda g: g.vector))


def trap_init_text(kind: str, ia32: bool, dpl: int, mark: str) -> tuple[str, str]:
    """The boot trace step for the IDT."""
    where = f"idt_setup_traps, idt_setup_ia32 ({IDT_SOURCE})"
    if kind != "x86_64":
        return where, (
            f"SYSG(IA32_SYSCALL_VECTOR, entry_INT80_32): vector 0x80 is a DPL {dpl} interrupt "
            f"gate{mark}; SYSG for int3 and overflow (DPL 3); every gate an interrupt gate"
        )
    if ia32:
        return where, (
            f"SYSG(IA32_SYSCALL_VECTOR, asm_int80_emulation): vector 0x80 is a DPL {dpl} "
            f"interrupt gate{mark}; int3 and overflow DPL 3; #DF, NMI, #DB, #MC on IST stacks"
        )
    return where, (
        f"ia32_enabled() is false: ia32_idt is not installed; idt_setup_apic_and_irq_gates "
        f"gives 0x80 set_intr_gate (DPL {dpl}{mark}): user INT 0x80 raises #GP(0x402)"
    )


def msr_writes(k: Kernel, what_if_mask: int | None) -> tuple[str, tuple[tuple[str, int, str], ...]]:
    """syscall_init + idt_syscall_init (x86_64) or enable_sep_cpu (i386), 6.9."""
    m = k.map
    if k.kind != "x86_64":
        entry_stack = m.tss + 0x2100  # ringsim's cpu_entry_stack(cpu) + 1: just past the TSS
        return f"enable_sep_cpu ({CPU_COMMON})", (
            ("IA32_SYSENTER_CS", L.KERNEL_CS_32, "tss->x86_tss.ss1 = __KERNEL_CS"),
            ("IA32_SYSENTER_ESP", entry_stack, "cpu_entry_stack(cpu) + 1"),
            ("IA32_SYSENTER_EIP", k.symbols["entry_SYSENTER_32"], "entry_SYSENTER_32"),
        )
    mask = L69.SYSCALL_MASK if what_if_mask is None else what_if_mask
    entry_stack = m.ist_stacks + 5 * 0x2000  # ringsim's cpu_entry_stack(cpu) + 1
    writes = [
        ("IA32_STAR", L.STAR, "wrmsr(MSR_STAR, 0, (__USER32_CS << 16) | __KERNEL_CS)"),
        ("IA32_LSTAR", k.symbols["entry_SYSCALL_64"], "entry_SYSCALL_64"),
    ]
    intel = k.vendor == "intel"
    if k.options["ia32_emulation"]:
        if not intel:
            writes.append(
                (
                    "IA32_CSTAR",
                    k.symbols["entry_SYSCALL_compat"],
                    "wrmsrl_cstar(entry_SYSCALL_compat)",
                )
            )
        writes += [
            ("IA32_SYSENTER_CS", L.KERNEL_CS_64, "(u64)__KERNEL_CS"),
            ("IA32_SYSENTER_ESP", entry_stack, "cpu_entry_stack(smp_processor_id()) + 1"),
            ("IA32_SYSENTER_EIP", k.symbols["entry_SYSENTER_compat"], "entry_SYSENTER_compat"),
        ]
    else:
        if not intel:
            writes.append(
                (
                    "IA32_CSTAR",
                    k.symbols["entry_SYSCALL32_ignore"],
                    "wrmsrl_cstar(entry_SYSCALL32_ignore)",
                )
            )
        writes += [
            ("IA32_SYSENTER_CS", L69.GDT_ENTRY_INVALID_SEG, "(u64)GDT_ENTRY_INVALID_SEG"),
            ("IA32_SYSENTER_ESP", 0, "0ULL"),
            ("IA32_SYSENTER_EIP", 0, "0ULL"),
        ]
    writes.append(
        (
            "IA32_FMASK",
            mask,
            "X86_EFLAGS_CF|PF|AF|ZF|SF|TF|IF|DF|OF|IOPL|NT|RF|AC|ID",
        )
    )
    return f"syscall_init, idt_syscall_init ({CPU_COMMON})", tuple(writes)


def tables(k: Kernel) -> None:
    """The switches of arch/x86/entry/syscall_{64,x32,32}.c (the handlers for 6.9's renamed
    entry points are simulator.kernel.syscalls69's)."""
    if k.kind == "x86_64":
        k.tables["x64_sys_call"] = kernel_tables.x64_sys_call(L69.PROFILE)
        if k.options["x32"]:
            k.tables["x32_sys_call"] = kernel_tables.x32_sys_call(L69.PROFILE)
        k.tables["ia32_sys_call"] = kernel_tables.ia32_sys_call(L69.PROFILE, emulation=True)
    else:
        k.tables["ia32_sys_call"] = kernel_tables.ia32_sys_call(L69.PROFILE, emulation=False)


def select_vdso(k: Kernel, sep: bool) -> vdso69.Variant:
    return vdso69.select(k.kind, k.vendor, sep=sep)
