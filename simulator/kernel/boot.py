"""Booting Linux 3.16 (or 6.9) on the CPU model, step by step: CRs, GDT, TSS, IDT, MSRs.

Every step is a trace event naming the kernel function (and file) it models.
A "what if" option, clearly labelled as not Linux, may change a gate or an MSR
for the failure stories. The steps where 6.9 differs come from simulator.kernel.boot69.
"""

from __future__ import annotations

from typing import Any

import abi
from simulator.cpu import CPU, Gate32, Gate64, SegmentDescriptor, TableRegister
from simulator.cpu import control as C
from simulator.cpu import msr as M
from simulator.cpu.segments import DescriptorCache
from simulator.kernel import (
    entry_32,
    entry_64,
    ia32entry,
    pipe,  # noqa: F401 (importing it registers its system call handlers)
    ptrace,
    signal,  # noqa: F401 (importing it registers its system call handlers)
    syscalls,
    timekeeping,
    traps,
    vdso32,
)
from simulator.kernel import linux69 as L69
from simulator.kernel import linux316 as L
from simulator.kernel.kernel import Kernel
from simulator.trace import BOOT, Trace

WHAT_IF_KEYS = {
    "int80_gate_dpl": "the DPL of the vector 0x80 gate (Linux: 3)",
    "efer_sce": "EFER.SCE (Linux: set on x86_64 by head_64.S, clear on i386)",
    "syscall_mask": "IA32_FMASK (Linux 3.16.0: 0x43700)",
    "sep": "X86_FEATURE_SEP seen by an i386 kernel (Linux: the CPU's own)",
}


def _descriptor(flags: int, base: int = 0, limit: int = 0xFFFFF) -> int:
    """GDT_ENTRY_INIT(flags, base, limit) (arch/x86/include/asm/desc_defs.h)."""
    return (
        (limit & 0xFFFF)
        | (base & 0xFFFFFF) << 16
        | (flags & 0xFF) << 40
        | ((limit >> 16) & 0xF) << 48
        | ((flags >> 12) & 0xF) << 52
        | ((base >> 24) & 0xFF) << 56
    )


def boot(
    kind: str,
    vendor: str,
    *,
    what_if: dict[str, Any] | None = None,
    vsyscall: str = "emulate",
    profile: str = "linux-3.16",
    options: dict[str, Any] | None = None,
) -> tuple[Kernel, Trace]:
    """Boot a ``kind`` (x86_64 or i386) kernel of ``profile`` (linux-3.16, or linux-6.9 with
    its ``options``, see simulator.kernel.linux69) on a ``vendor`` CPU; return it and its
    trace."""
    what_if = dict(what_if or {})
    six = profile == L69.PROFILE
    if six:
        # Loaded with the first 6.9 boot: a 3.16 user does not pay for importing it.
        from simulator.kernel import boot69, syscalls69

        config = L69.check_options(kind, options)
    elif options:
        raise ValueError(f"options: expected none for linux-3.16, received {sorted(options)}")
    for key in what_if:
        if key not in WHAT_IF_KEYS:
            known = ", ".join(WHAT_IF_KEYS)
            raise ValueError(f"what_if: expected keys among {known}, received {key!r}")
    cpu = CPU(vendor)
    from simulator.kernel import vdso

    if vsyscall not in vdso.VSYSCALL_MODES:
        raise ValueError(
            f"vsyscall: expected one of {', '.join(vdso.VSYSCALL_MODES)}, received {vsyscall!r}"
        )
    if six and vsyscall == "native":
        # arch/x86/entry/vsyscall/vsyscall_64.c (6.9): enum { EMULATE, XONLY, NONE }, no
        # native. ringsim models emulate (its 6.9 default) and none; xonly is not modeled.
        raise ValueError(
            "vsyscall: expected 'emulate' or 'none' for linux-6.9 (6.9 has no native "
            f"vsyscall page), received {vsyscall!r}"
        )
    kernel_options = {"x32": True, "what_if": what_if, "vsyscall": vsyscall}
    if six:
        kernel_options.update(config, profile=profile)
    k = Kernel(cpu, kind, vendor, options=kernel_options)
    trace = Trace()
    k.trace = trace
    wide = kind == "x86_64"
    m = k.map
    ks = k.kspace

    def step(where: str, what: str) -> None:
        trace.record(BOOT, 0, where, what)

    def _what_if_mark(dpl: int) -> str:
        return "" if dpl == 3 else " (WHAT IF: Linux makes it DPL 3)"

    def what_if_note(key: str, value: Any) -> None:
        trace.record(
            BOOT,
            0,
            "WHAT IF (not Linux)",
            f"boot option {key} = {value!r}: {WHAT_IF_KEYS[key]}; this machine is not Linux",
        )

    # Kernel half: tables, per-CPU area, IST stacks.
    for address, size in ((m.gdt, 0x1000), (m.idt, 0x1000), (m.tss, 0x3000), (m.percpu, 0x1000)):
        ks.map(address, size, user=False, writable=True, executable=False, zero=True)
    ks.map(m.ist_stacks, 0x2000 * 5, user=False, writable=True, executable=False, zero=True)
    init_mm = k.new_address_space("init_mm")
    cpu.add_address_space(0x1000, init_mm)
    cpu.set_cr3(0x1000)

    # Control registers as head_64.S / head_32.S leave them.
    efer = 0
    if wide:
        cpu.cr4 = C.CR4_PAE | C.CR4_PGE
        efer = M.EFER_SCE | M.EFER_LME | M.EFER_LMA | M.EFER_NXE
        step(
            "secondary_startup_64 (arch/x86/kernel/head_64.S)",
            "CR4.PAE|PGE; EFER.LME, EFER.SCE (btsl $_EFER_SCE), EFER.NX; LMA once paging is on",
        )
    else:
        step("startup_32 (arch/x86/kernel/head_32.S)", "32-bit paging (no PAE): EFER untouched")
    if "efer_sce" in what_if:
        what_if_note("efer_sce", what_if["efer_sce"])
        efer = efer | M.EFER_SCE if what_if["efer_sce"] else efer & ~M.EFER_SCE
    cpu.efer = efer
    cpu.cr0 = C.CR0_PE | C.CR0_MP | C.CR0_ET | C.CR0_NE | C.CR0_WP | C.CR0_AM | C.CR0_PG
    step(
        "CR0_STATE (arch/x86/include/asm/processor-flags.h)",
        "CR0 = PE|MP|ET|NE|WP|AM|PG: protection and paging on, supervisor writes honour R/W",
    )

    # Kernel text: entry routines, exits and exception handlers.
    if six:
        boot69.place(k)
    elif wide:
        entry_64.place(k)
        ia32entry.place(k)
    else:
        entry_32.place(k)
    traps.place(k)
    ptrace.place(k)
    text = "arch/x86/entry/entry_*.S" if six else "arch/x86/kernel/entry_*.S"
    step(f"kernel text ({text}, traps.c)", f"{len(k.symbols)} symbols placed")

    # GDT (gdt_page, arch/x86/kernel/cpu/common.c).
    gdt = bytearray(8 * (L.GDT_ENTRIES_64 if wide else L.GDT_ENTRIES_32))
    for index, flags in (L.GDT_INIT_64 if wide else L.GDT_INIT_32).items():
        base = m.percpu if (not wide and index == L.GDT_ENTRY_PERCPU_32) else 0
        gdt[index * 8 : index * 8 + 8] = _descriptor(flags, base).to_bytes(8, "little")
    if wide:
        # vsyscall_set_cpu (vsyscall_64.c): the per-CPU segment whose limit is the CPU
        # and node number (cpu | node << 12), read by getcpu with LSL: type 5 (read-only,
        # expand-down, accessed), DPL 3, S, P, D.
        per_cpu = SegmentDescriptor(type=5, s=True, dpl=3, present=True, db=True)
        off = L.GDT_ENTRY_PER_CPU_64 * 8
        gdt[off : off + 8] = per_cpu.encode()
        # __KERNEL_TSS_LIMIT: offsetof(io_bitmap) + IO_BITMAP_BYTES + sizeof(long) - 1.
        tr_sel, tr_limit = L.TSS_SEL_64, 0x68 + 0x2000 + 8 - 1
        tss_low = SegmentDescriptor(
            base=m.tss & 0xFFFF_FFFF, limit=tr_limit, type=0xB, present=True
        )
        tss = tss_low.raw | (m.tss >> 32) << 64
        gdt[L.TSS_SEL_64 : L.TSS_SEL_64 + 16] = tss.to_bytes(16, "little")
    else:
        tr_sel, tr_limit = L.TSS_SEL_32, 0x68 + 0x2000 + 4 - 1
        tss = SegmentDescriptor(base=m.tss, limit=tr_limit, type=0xB, present=True).raw
        gdt[L.TSS_SEL_32 : L.TSS_SEL_32 + 8] = tss.to_bytes(8, "little")
    ks.poke(m.gdt, bytes(gdt))
    cpu.gdtr = TableRegister(base=m.gdt, limit=len(gdt) - 1)
    kernel_cs = L.KERNEL_CS_64 if wide else L.KERNEL_CS_32
    kernel_ds = L.KERNEL_DS_64 if wide else L.KERNEL_DS_32
    for name, sel in (("cs", kernel_cs), ("ss", kernel_ds)):
        fault = cpu.set_segment(name, sel)
        assert fault is None, fault
    if not wide:
        for name in ("ds", "es"):
            assert cpu.set_segment(name, L.USER_DS_32) is None
        assert cpu.set_segment("fs", L.KERNEL_PERCPU_32) is None
    step(
        "gdt_page (arch/x86/kernel/cpu/common.c); switch_to_new_gdt",
        f"GDT at {m.gdt:#x}: __KERNEL_CS {kernel_cs:#x}, __KERNEL_DS {kernel_ds:#x}, "
        + (
            f"__USER32_CS {L.USER32_CS:#x}, __USER_DS {L.USER_DS_64:#x}, "
            f"__USER_CS {L.USER_CS_64:#x}"
            if wide
            else f"__USER_CS {L.USER_CS_32:#x}, __USER_DS {L.USER_DS_32:#x}"
        ),
    )

    # TSS (cpu_init: init_tss, load_TR_desc).
    if wide:
        for n in range(1, 5):
            ks.poke(m.tss + 0x1C + 8 * n, (m.ist_stacks + n * 0x2000).to_bytes(8, "little"))
        step(
            "cpu_init (arch/x86/kernel/cpu/common.c)",
            "TSS IST1-4: the double-fault, NMI, debug and machine-check stacks; RSP0 set per task",
        )
    else:
        ks.poke(m.tss + 8, kernel_ds.to_bytes(2, "little"))
        step("cpu_init (arch/x86/kernel/cpu/common.c)", "TSS SS0 = __KERNEL_DS; ESP0 set per task")
    cpu.tr = (tr_sel, DescriptorCache(base=m.tss, limit=tr_limit, type=0xB, s=False))
    step(
        "load_TR_desc (arch/x86/include/asm/desc.h)",
        f"LTR {tr_sel:#x} (the TSS descriptor, now busy)",
    )

    # IDT (trap_init, arch/x86/kernel/traps.c).
    idt = bytearray(256 * (16 if wide else 8))
    int80_dpl = 3
    linux_dpl = 3  # what Linux itself gives vector 0x80
    gates = boot69.idt_gates(kind, k.options.get("ia32_emulation", False)) if six else None
    for gate in gates or L.idt_gates(kind):
        dpl = gate.dpl
        if gate.vector == L.SYSCALL_VECTOR:
            int80_dpl = linux_dpl = dpl
        if gate.vector == L.SYSCALL_VECTOR and "int80_gate_dpl" in what_if:
            dpl = int80_dpl = int(what_if["int80_gate_dpl"])
            what_if_note("int80_gate_dpl", dpl)
        target = k.symbols[gate.handler]
        if wide:
            g64 = Gate64(
                offset=target, selector=kernel_cs, ist=gate.ist, type=0xE, dpl=dpl, present=True
            )
            idt[gate.vector * 16 : gate.vector * 16 + 16] = g64.encode()
        else:
            g32 = Gate32(
                offset=target,
                selector=kernel_cs,
                type=0xF if gate.trap else 0xE,
                dpl=dpl,
                present=True,
            )
            idt[gate.vector * 8 : gate.vector * 8 + 8] = g32.encode()
    ks.poke(m.idt, bytes(idt))
    cpu.idtr = TableRegister(base=m.idt, limit=len(idt) - 1)
    if six:
        mark = "" if int80_dpl == linux_dpl else f" (WHAT IF: Linux makes it DPL {linux_dpl})"
        step(*boot69.trap_init_text(kind, k.options["ia32_emulation"], int80_dpl, mark))
    elif wide:
        step(
            "trap_init (arch/x86/kernel/traps.c)",
            "set_system_intr_gate(IA32_SYSCALL_VECTOR, ia32_syscall): vector 0x80 is a "
            f"DPL {int80_dpl} interrupt gate{_what_if_mark(int80_dpl)}; int3 and overflow are "
            "DPL 3; #DF, NMI, #DB, #MC on IST stacks",
        )
    else:
        step(
            "trap_init (arch/x86/kernel/traps.c)",
            "set_system_trap_gate(SYSCALL_VECTOR, &system_call): vector 0x80 is a "
            f"DPL {int80_dpl} trap gate{_what_if_mark(int80_dpl)}; int3 and overflow are DPL 3",
        )

    # MSRs.
    if wide:
        cpu.msr.values[M.IA32_KERNEL_GS_BASE] = 0
        cpu.write_msr("IA32_GS_BASE", m.percpu)
        step(
            "load_percpu_segment (arch/x86/kernel/cpu/common.c)",
            f"GS base = per-CPU area {m.percpu:#x}",
        )
        mask = int(what_if.get("syscall_mask", L69.SYSCALL_MASK if six else L.SYSCALL_MASK))
        if "syscall_mask" in what_if:
            what_if_note("syscall_mask", mask)
        if six:
            where, writes = boot69.msr_writes(k, mask)
        else:
            writes = (
                ("IA32_STAR", L.STAR, "((u64)__USER32_CS)<<48 | ((u64)__KERNEL_CS)<<32"),
                ("IA32_LSTAR", k.symbols["system_call"], "system_call"),
                ("IA32_CSTAR", k.symbols["ia32_cstar_target"], "ia32_cstar_target"),
                (
                    "IA32_FMASK",
                    mask,
                    "X86_EFLAGS_TF|X86_EFLAGS_DF|X86_EFLAGS_IF|X86_EFLAGS_IOPL|X86_EFLAGS_AC",
                ),
                ("IA32_SYSENTER_CS", L.KERNEL_CS_64, "__KERNEL_CS"),
                ("IA32_SYSENTER_ESP", 0, "0ULL"),
                ("IA32_SYSENTER_EIP", k.symbols["ia32_sysenter_target"], "ia32_sysenter_target"),
            )
            where = "syscall_init (arch/x86/kernel/cpu/common.c)"
    elif six:
        where, writes = boot69.msr_writes(k, None)
    else:
        tss_struct_size = 0x2100  # ringsim's sizeof(struct tss_struct): x86_tss, io_bitmap, stack
        writes = (
            ("IA32_SYSENTER_CS", L.KERNEL_CS_32, "__KERNEL_CS"),
            ("IA32_SYSENTER_ESP", m.tss + tss_struct_size, "tss->x86_tss.sp1 (just past the TSS)"),
            ("IA32_SYSENTER_EIP", k.symbols["ia32_sysenter_target"], "ia32_sysenter_target"),
        )
        where = "enable_sep_cpu (arch/x86/kernel/cpu/common.c)"
    if six and wide and vendor == "intel":
        step(where, "wrmsrl_cstar: not written on Intel CPUs (no 32-bit SYSCALL there)")
    for name, value, text in writes:
        fault = cpu.write_msr(name, value)
        assert fault is None, fault
        step(where, f"wrmsr {name} ({M.BY_NAME[name]:#x}) = {value:#x}: {text}")

    # Syscall tables and handlers (arch/x86/kernel/syscall_64.c, syscall_32.c, ia32/syscall_ia32.c).
    if not six and wide:
        k.tables["sys_call_table"] = abi.x86_64_sys_call_table(x32=True)
        k.tables["ia32_sys_call_table"] = abi.ia32_sys_call_table()
    elif not six:
        k.tables["sys_call_table"] = abi.i386_sys_call_table()
    if six:
        boot69.tables(k)
    for name, table in k.tables.items():
        step(
            f"{name} ({table.source})",
            f"{table.nr_syscalls} entries, max number {table.max_number}",
        )
    k.handlers = dict(syscalls.HANDLERS)
    from simulator.kernel import exec as kexec

    k.handlers.update(kexec.HANDLERS)
    if six:
        k.handlers.update(syscalls69.HANDLERS)

    # Timekeeping on the TSC (timekeeping_init, then the first update_vsyscall).
    cpu.tsc_offset = 0x1000_0000
    k.timekeeper.cycle_last = cpu.read_tsc()
    k.timekeeper.update_vsyscall()
    step(
        "timekeeping_init (kernel/time/timekeeping.c); update_vsyscall (vsyscall_gtod.c)",
        f"clocksource tsc at {timekeeping.TSC_KHZ} kHz: mult {timekeeping.MULT}, shift "
        f"{timekeeping.SHIFT}; vclock_mode VCLOCK_TSC; wall time copied to vsyscall_gtod_data",
    )

    if wide:
        vdso.map_vsyscall(k, vsyscall)
        step(
            "map_vsyscall (arch/x86/kernel/vsyscall_64.c)",
            f"vsyscall={vsyscall}: "
            + {
                "native": "the page at 0xffffffffff600000 is user-executable code",
                "emulate": "the page is mapped readable but NX: every call faults and "
                "emulate_vsyscall does it",
                "none": "no page: a call there is a SIGSEGV",
            }[vsyscall],
        )

    # The 32-bit vDSO's __kernel_vsyscall (sysenter_setup).
    sep = bool(what_if.get("sep", True))
    if "sep" in what_if:
        what_if_note("sep", sep)
    if six:
        k.vdso_variant = boot69.select_vdso(k, sep)
        alternative = {
            "sysenter": "SYSENTER_SEQUENCE (mov %esp,%ebp; sysenter)",
            "syscall": "SYSCALL_SEQUENCE (mov %ecx,%ebp; syscall)",
            "int80": "nothing: NOPs, then int $0x80",
        }[k.vdso_variant.name]
        step(
            "init_vdso_image -> apply_alternatives (arch/x86/entry/vdso/vma.c)",
            f"vdso_image_32's __kernel_vsyscall patched with {alternative} "
            f"({k.vdso_variant.source})",
        )
    else:
        k.vdso_variant = vdso32.select(kind, vendor, sep=sep)
        step(
            "sysenter_setup (arch/x86/vdso/vdso32-setup.c)",
            f"__kernel_vsyscall = the {k.vdso_variant.name} variant ({k.vdso_variant.source})",
        )
    k.trace = None
    return k, trace
