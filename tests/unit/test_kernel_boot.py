"""Booting Linux 3.16 on the CPU model: MSRs, EFER, GDT, IDT, the vDSO variant, the boot trace.

Each fact is checked against the 3.16 source it comes from. Where the index had no 3.16
copy of a file, the docstring names the nearest copy that was read (3.14/3.15/3.18).
"""

import re

import pytest

from simulator import Machine
from simulator.cpu import Gate32, Gate64, SegmentDescriptor
from simulator.kernel import linux316 as L
from simulator.kernel import vdso, vdso32
from simulator.trace import BOOT, FAULT

KERNELS = ("x86_64", "i386")
VENDORS = ("intel", "amd")
BOTH = [(k, v) for k in KERNELS for v in VENDORS]

EFER_SCE = 1 << 0
EFER_LME = 1 << 8
EFER_LMA = 1 << 10
EFER_NXE = 1 << 11


class Booted:
    """A machine just after boot, with its GDT and IDT bytes read before anything ran."""

    def __init__(self, kernel, vendor):
        self.machine = Machine.boot(kernel=kernel, cpu=vendor)
        k = self.machine.kernel
        wide = kernel == "x86_64"
        self.gdt = k.kspace.peek(k.map.gdt, 8 * (L.GDT_ENTRIES_64 if wide else L.GDT_ENTRIES_32))
        self.idt = k.kspace.peek(k.map.idt, 256 * (16 if wide else 8))

    def descriptor(self, index):
        return SegmentDescriptor.decode(self.gdt[index * 8 : index * 8 + 8])

    def gate(self, vector):
        if self.machine.kind == "x86_64":
            return Gate64.decode(self.idt[vector * 16 : vector * 16 + 16])
        return Gate32.decode(self.idt[vector * 8 : vector * 8 + 8])


@pytest.fixture(scope="module")
def booted():
    """One fresh boot per (kernel, vendor) for the whole module."""
    return {(k, v): Booted(k, v) for k, v in BOTH}


def msr(m, name):
    value = m.cpu.read_msr(name)
    assert isinstance(value, int), value
    return value


def flags_word(d):
    """The GDT_ENTRY_INIT ``flags`` argument a descriptor encodes (access byte, G/D/L/AVL)."""
    return d.access_byte | d.avl << 12 | d.l << 13 | d.db << 14 | d.g << 15


# --------------------------------------------------------------------------------- MSRs


class TestSyscallInit:
    @pytest.mark.parametrize("vendor", VENDORS)
    def test_star(self, booted, vendor):
        """STAR = __USER32_CS<<48 | __KERNEL_CS<<32 = 0x0023001000000000 (syscall_init,
        arch/x86/kernel/cpu/common.c, 3.16)."""
        assert msr(booted["x86_64", vendor].machine, "IA32_STAR") == 0x0023_0010_0000_0000

    @pytest.mark.parametrize("vendor", VENDORS)
    def test_lstar(self, booted, vendor):
        """LSTAR = system_call (syscall_init: wrmsrl(MSR_LSTAR, system_call), cpu/common.c 3.16)."""
        m = booted["x86_64", vendor].machine
        assert msr(m, "IA32_LSTAR") == m.kernel.symbols["system_call"]

    @pytest.mark.parametrize("vendor", VENDORS)
    def test_cstar(self, booted, vendor):
        """CSTAR = ia32_cstar_target with IA32_EMULATION (syscall32_cpu_init,
        arch/x86/vdso/vdso32-setup.c, 3.15 copy; 3.16 keeps the value)."""
        m = booted["x86_64", vendor].machine
        assert msr(m, "IA32_CSTAR") == m.kernel.symbols["ia32_cstar_target"]

    @pytest.mark.parametrize("vendor", VENDORS)
    def test_fmask(self, booted, vendor):
        """SYSCALL_MASK = TF|DF|IF|IOPL|AC = 0x43700 (syscall_init, cpu/common.c, 3.16.0)."""
        assert msr(booted["x86_64", vendor].machine, "IA32_FMASK") == 0x43700
        assert 0x100 | 0x400 | 0x200 | 0x3000 | 0x40000 == 0x43700

    @pytest.mark.parametrize("vendor", VENDORS)
    def test_sysenter_cs_and_esp(self, booted, vendor):
        """SYSENTER_CS = __KERNEL_CS (0x10), SYSENTER_ESP = 0ULL (syscall32_cpu_init,
        arch/x86/vdso/vdso32-setup.c, 3.15 copy)."""
        m = booted["x86_64", vendor].machine
        assert msr(m, "IA32_SYSENTER_CS") == 0x10
        assert msr(m, "IA32_SYSENTER_ESP") == 0

    def test_sysenter_eip_intel(self, booted):
        """SYSENTER_EIP = ia32_sysenter_target (syscall32_cpu_init, vdso32-setup.c 3.15)."""
        m = booted["x86_64", "intel"].machine
        assert msr(m, "IA32_SYSENTER_EIP") == m.kernel.symbols["ia32_sysenter_target"]

    def test_sysenter_eip_amd_truncated(self, booted):
        """AMD keeps only 32 bits of SYSENTER_EIP ("On AMD CPUs these MSRs are 32-bit, CPU
        truncates MSR_IA32_SYSENTER_EIP", arch/x86/kernel/cpu/common.c 4.x)."""
        m = booted["x86_64", "amd"].machine
        target = m.kernel.symbols["ia32_sysenter_target"]
        assert msr(m, "IA32_SYSENTER_EIP") == target & 0xFFFF_FFFF

    def test_boot_trace_names_each_write(self, booted):
        """Each MSR write is a boot event that names the MSR number and the value written."""
        m = booted["x86_64", "intel"].machine
        text = "\n".join(e.what for e in m.boot_trace)
        for number, value in (
            (0xC000_0081, 0x0023_0010_0000_0000),
            (0xC000_0082, m.kernel.symbols["system_call"]),
            (0xC000_0084, 0x43700),
            (0x176, m.kernel.symbols["ia32_sysenter_target"]),
        ):
            assert f"({number:#x}) = {value:#x}" in text


class TestEnableSepCpu:
    @pytest.mark.parametrize("vendor", VENDORS)
    def test_sysenter_cs(self, booted, vendor):
        """SYSENTER_CS = __KERNEL_CS = 0x60 on i386 (enable_sep_cpu, vdso32-setup.c 3.15 copy;
        GDT_ENTRY_KERNEL_CS 12 in asm/segment.h 3.16)."""
        assert msr(booted["i386", vendor].machine, "IA32_SYSENTER_CS") == 0x60

    @pytest.mark.parametrize("vendor", VENDORS)
    def test_sysenter_eip(self, booted, vendor):
        """SYSENTER_EIP = ia32_sysenter_target (enable_sep_cpu, vdso32-setup.c 3.15 copy)."""
        m = booted["i386", vendor].machine
        assert msr(m, "IA32_SYSENTER_EIP") == m.kernel.symbols["ia32_sysenter_target"]

    @pytest.mark.parametrize("vendor", VENDORS)
    def test_sysenter_esp_past_the_tss(self, booted, vendor):
        """SYSENTER_ESP = tss->x86_tss.sp1 = sizeof(struct tss_struct) + tss, just past the TSS
        (enable_sep_cpu, vdso32-setup.c 3.15 copy)."""
        m = booted["i386", vendor].machine
        esp = msr(m, "IA32_SYSENTER_ESP")
        tss_limit = m.cpu.tr[1].limit
        assert esp > m.kernel.map.tss + tss_limit
        assert esp - m.kernel.map.tss < 0x3000  # within the pages mapped for the TSS


class TestEfer:
    @pytest.mark.parametrize("vendor", VENDORS)
    def test_x86_64_sets_sce(self, booted, vendor):
        """head_64.S sets EFER.SCE (btsl $_EFER_SCE), LME and NX; LMA follows with paging (3.16)."""
        efer = msr(booted["x86_64", vendor].machine, "IA32_EFER")
        assert efer & EFER_SCE
        assert efer & (EFER_LME | EFER_LMA | EFER_NXE) == EFER_LME | EFER_LMA | EFER_NXE

    @pytest.mark.parametrize("vendor", VENDORS)
    def test_i386_leaves_sce_clear(self, booted, vendor):
        """head_32.S never writes EFER.SCE: a 32-bit kernel does not use SYSCALL (3.16)."""
        assert not msr(booted["i386", vendor].machine, "IA32_EFER") & EFER_SCE

    @pytest.mark.parametrize("vendor", VENDORS)
    def test_syscall_on_i386_kernel_is_sigill(self, vendor):
        """SYSCALL with EFER.SCE=0 is #UD (SDM Vol. 2B SYSCALL), and do_invalid_op sends SIGILL."""
        m = Machine.boot(kernel="i386", cpu=vendor)
        p = m.spawn("i386")
        r = p.run("syscall")
        assert (r.stop, r.signal) == ("signal", 4)
        assert not p.alive
        assert any(e.kind == FAULT and "#UD" in e.what for e in r.trace)
        assert "do_invalid_op (arch/x86/kernel/traps.c)" in r.trace.symbols()


# ---------------------------------------------------------------------------------- GDT


GDT_64 = {1: 0xC09B, 2: 0xA09B, 3: 0xC093, 4: 0xC0FB, 5: 0xC0F3, 6: 0xA0FB}
GDT_32 = {12: 0xC09A, 13: 0xC092, 14: 0xC0FA, 15: 0xC0F2}


class TestGdt:
    @pytest.mark.parametrize("vendor", VENDORS)
    @pytest.mark.parametrize(("index", "flags"), sorted(GDT_64.items()))
    def test_x86_64_entries(self, booted, vendor, index, flags):
        """gdt_page's GDT_ENTRY_INIT(flags, 0, 0xfffff) on x86_64 (cpu/common.c 3.16)."""
        d = booted["x86_64", vendor].descriptor(index)
        assert flags_word(d) == flags
        assert (d.base, d.limit) == (0, 0xFFFFF)

    @pytest.mark.parametrize("vendor", VENDORS)
    @pytest.mark.parametrize(("index", "flags"), sorted(GDT_32.items()))
    def test_i386_entries(self, booted, vendor, index, flags):
        """gdt_page's GDT_ENTRY_INIT(flags, 0, 0xfffff), i386 entries 12-15 (cpu/common.c 3.16)."""
        d = booted["i386", vendor].descriptor(index)
        assert flags_word(d) == flags
        assert (d.base, d.limit) == (0, 0xFFFFF)

    def test_x86_64_code_segments(self, booted):
        """__KERNEL_CS and __USER_CS are 64-bit (L=1, D=0); KERNEL32_CS/__USER32_CS are 32-bit."""
        b = booted["x86_64", "intel"]
        for index, long_mode in ((1, False), (2, True), (4, False), (6, True)):
            d = b.descriptor(index)
            assert d.is_code and d.l == long_mode and d.db == (not long_mode)

    def test_x86_64_selectors(self):
        """__KERNEL32_CS 0x08, __KERNEL_CS 0x10, __KERNEL_DS 0x18, __USER32_CS 0x23, __USER_DS 0x2b,
        __USER_CS 0x33 (arch/x86/include/asm/segment.h, 3.16)."""
        assert (L.KERNEL32_CS, L.KERNEL_CS_64, L.KERNEL_DS_64) == (0x08, 0x10, 0x18)
        assert (L.USER32_CS, L.USER_DS_64, L.USER_CS_64) == (0x23, 0x2B, 0x33)
        assert (L.GDT_ENTRY_TLS_MIN_64, L.GDT_ENTRY_PER_CPU_64, L.GDT_ENTRIES_64) == (12, 15, 16)

    def test_i386_selectors(self):
        """__KERNEL_CS 0x60, __KERNEL_DS 0x68, __USER_CS 0x73, __USER_DS 0x7b, TLS 6-8,
        __KERNEL_PERCPU 0xd8 (arch/x86/include/asm/segment.h, 3.16)."""
        assert (L.KERNEL_CS_32, L.KERNEL_DS_32, L.USER_CS_32, L.USER_DS_32) == (
            0x60,
            0x68,
            0x73,
            0x7B,
        )
        assert (L.GDT_ENTRY_TLS_MIN_32, L.KERNEL_PERCPU_32, L.GDT_ENTRIES_32) == (6, 0xD8, 32)

    def test_star_order(self):
        """SYSRET needs USER32_CS, USER_DS, USER_CS consecutive ("sysret hardcodes gdt offsets",
        segment.h 3.16)."""
        assert L.USER_DS_64 == L.USER32_CS + 8 and L.USER_CS_64 == L.USER32_CS + 16
        assert L.KERNEL_DS_64 == L.KERNEL_CS_64 + 8

    def test_sysexit_order(self):
        """SYSENTER/SYSEXIT need __KERNEL_CS, __KERNEL_DS, __USER_CS, __USER_DS consecutive
        (SDM Vol. 2B SYSEXIT; segment.h 3.16)."""
        assert [L.KERNEL_CS_32 + 8 * i for i in range(4)] == [
            L.KERNEL_CS_32,
            L.KERNEL_DS_32,
            L.USER_CS_32 & ~3,
            L.USER_DS_32 & ~3,
        ]

    @pytest.mark.parametrize(("kernel", "selector"), [("x86_64", 0x40), ("i386", 0x80)])
    def test_task_register(self, booted, kernel, selector):
        """TR holds the TSS selector (GDT_ENTRY_TSS 8 on x86_64, 16 on i386; segment.h 3.16)."""
        b = booted[kernel, "intel"]
        assert b.machine.cpu.tr[0] == selector
        tss = SegmentDescriptor.decode(b.gdt[selector : selector + 8])
        assert (tss.s, tss.type, tss.present) == (False, 0xB, True)


# ---------------------------------------------------------------------------------- IDT


class TestIdt:
    @pytest.mark.parametrize("vendor", VENDORS)
    def test_x86_64_int80(self, booted, vendor):
        """set_system_intr_gate(IA32_SYSCALL_VECTOR, ia32_syscall): a DPL 3 interrupt gate
        (arch/x86/kernel/traps.c trap_init, 3.16)."""
        b = booted["x86_64", vendor]
        g = b.gate(0x80)
        assert (g.type, g.dpl, g.present, g.ist, g.selector) == (0xE, 3, True, 0, 0x10)
        assert g.offset == b.machine.kernel.symbols["ia32_syscall"]

    @pytest.mark.parametrize("vendor", VENDORS)
    def test_i386_int80(self, booted, vendor):
        """set_system_trap_gate(SYSCALL_VECTOR, &system_call): DPL 3 trap gate (traps.c 3.16)."""
        b = booted["i386", vendor]
        g = b.gate(0x80)
        assert (g.type, g.dpl, g.present, g.selector) == (0xF, 3, True, 0x60)
        assert g.offset == b.machine.kernel.symbols["system_call"]

    @pytest.mark.parametrize(("kernel", "vendor"), BOTH)
    @pytest.mark.parametrize(("vector", "handler"), [(3, "int3"), (4, "overflow")])
    def test_int3_and_overflow_dpl3(self, booted, kernel, vendor, vector, handler):
        """int3 and overflow are "system" gates, DPL 3 (set_system_intr_gate*, traps.c 3.16)."""
        b = booted[kernel, vendor]
        g = b.gate(vector)
        assert g.dpl == 3 and g.present
        assert b.machine.kernel.addresses[g.offset] == handler

    @pytest.mark.parametrize(("kernel", "vendor"), BOTH)
    def test_other_gates_dpl0(self, booted, kernel, vendor):
        """Every other exception gate is set_intr_gate(): DPL 0, __KERNEL_CS (traps.c 3.16)."""
        b = booted[kernel, vendor]
        kernel_cs = 0x10 if kernel == "x86_64" else 0x60
        for spec in L.idt_gates(kernel):
            if spec.vector in (3, 4, 0x80):
                continue
            g = b.gate(spec.vector)
            assert (g.dpl, g.selector, g.present) == (0, kernel_cs, True), spec
            assert b.machine.kernel.addresses[g.offset] == spec.handler

    @pytest.mark.parametrize("vendor", VENDORS)
    def test_x86_64_interrupt_gates_only(self, booted, vendor):
        """On x86_64 trap_init installs only interrupt gates (set_intr_gate*, traps.c 3.16)."""
        b = booted["x86_64", vendor]
        assert {b.gate(s.vector).type for s in L.idt_gates("x86_64")} == {0xE}

    @pytest.mark.parametrize("vendor", VENDORS)
    def test_x86_64_ist(self, booted, vendor):
        """#DF on IST1 (DOUBLEFAULT_STACK), NMI IST2, #DB and int3 IST3, #MC IST4 (page_64_types.h,
        traps.c 3.16)."""
        b = booted["x86_64", vendor]
        assert {v: b.gate(v).ist for v in (8, 2, 1, 3, 18)} == {8: 1, 2: 2, 1: 3, 3: 3, 18: 4}
        assert b.gate(14).ist == 0 and b.gate(0x80).ist == 0


# ------------------------------------------------------------------------------ the vDSO


class TestVdsoVariant:
    @pytest.mark.parametrize(
        ("kernel", "vendor", "variant"),
        [
            ("x86_64", "intel", "sysenter"),
            ("x86_64", "amd", "syscall"),
            ("i386", "intel", "sysenter"),
            ("i386", "amd", "sysenter"),
        ],
    )
    def test_choice(self, booted, kernel, vendor, variant):
        """sysenter_setup tries SYSCALL32 (AMD, 64-bit only), then SYSENTER32 or SEP, then int80
        (arch/x86/vdso/vdso32-setup.c, 3.16)."""
        m = booted[kernel, vendor].machine
        assert m.kernel.vdso_variant.name == variant
        last = [e for e in m.boot_trace if e.where.startswith("sysenter_setup")]
        assert last and last[-1].where == "sysenter_setup (arch/x86/vdso/vdso32-setup.c)"
        assert f"the {variant} variant" in last[-1].what

    def test_no_sep_is_int80(self):
        """Without SEP an i386 kernel picks the int80 image (sysenter_setup, vdso32-setup.c)."""
        m = Machine.boot(kernel="i386", what_if={"sep": False})
        assert m.kernel.vdso_variant.name == "int80"
        assert any(e.where == "WHAT IF (not Linux)" and "sep" in e.what for e in m.boot_trace)

    def test_int80_image(self):
        """int80.S's __kernel_vsyscall is int $0x80; ret (arch/x86/vdso/vdso32/int80.S, 3.16)."""
        assert vdso32.VARIANTS["int80"].code == b"\xcd\x80\xc3"

    def test_sysenter_image_layout(self):
        """int $0x80 sits at 14 (SYSENTER_RETURN-2) and SYSENTER_RETURN at 16
        (arch/x86/vdso/vdso32/sysenter.S, 3.16)."""
        v = vdso32.VARIANTS["sysenter"]
        assert v.code[:9] == b"\x51\x52\x55\x89\xe5\x0f\x34\x90\x90"
        assert v.sysenter_return == 16
        assert v.code[14:16] == b"\xcd\x80"
        assert v.code[16:] == b"\x5d\x5a\x59\xc3"

    def test_syscall_image(self):
        """syscall.S: push %ebp; movl %ecx,%ebp; syscall; reload %ss with __USER32_DS; ret."""
        code = vdso32.VARIANTS["syscall"].code
        assert code[:5] == b"\x55\x89\xcd\x0f\x05"
        assert code[5:10] == b"\xb9\x2b\x00\x00\x00"  # movl $__USER32_DS,%ecx
        assert code[10:] == b"\x8e\xd1\x89\xe9\x5d\xc3"  # movl %ecx,%ss; movl %ebp,%ecx; pop; ret

    @pytest.mark.parametrize(("kernel", "vendor"), BOTH)
    def test_mapped_in_i386_process(self, kernel, vendor):
        """A 32-bit process's vDSO page holds the chosen image; AT_SYSINFO points at it."""
        m = Machine.boot(kernel=kernel, cpu=vendor)
        p = m.spawn("i386")
        code = m.kernel.vdso_variant.code
        image = vdso.image32(m.kernel.vdso_variant.name, kernel == "x86_64")
        entry = p.task.vdso32 + image.symbol_offsets["__kernel_vsyscall"]
        assert p.read_mem(entry, len(code)) == code
        assert dict(p.task.auxv)[32] == entry  # AT_SYSINFO (uapi/asm/auxvec.h)


# ---------------------------------------------------------------------------- the trace


FILE = re.compile(r"\b(?:arch|kernel|fs|mm|include)/[\w/*.-]+\.[chS]\b")
SYMBOL_AND_FILE = re.compile(
    r"^\w[^()]* \([^()]*\b(?:arch|kernel|fs|mm|include)/[\w/*.-]+\.[chS]\b"
)


class TestBootTrace:
    @pytest.mark.parametrize(("kernel", "vendor"), BOTH)
    def test_every_event_names_its_source_file(self, booted, kernel, vendor):
        """Each boot event names the source file of what it models, at ring 0."""
        trace = booted[kernel, vendor].machine.boot_trace
        assert len(trace) > 5
        for event in trace:
            assert event.kind == BOOT and event.ring == 0
            assert FILE.search(event.where), event.where

    @pytest.mark.parametrize("kernel", KERNELS)
    def test_every_event_names_a_symbol_with_its_file(self, booted, kernel):
        """Each boot event's where is "<kernel symbol> (<file>)", as DESIGN.md asks of a step."""
        for event in booted[kernel, "intel"].machine.boot_trace:
            assert SYMBOL_AND_FILE.match(event.where), event.where

    @pytest.mark.parametrize(("kernel", "vendor"), BOTH)
    def test_routines_in_order(self, booted, kernel, vendor):
        """The steps come in boot order: head, GDT, TSS, trap_init, MSRs, tables, sysenter_setup."""
        wheres = booted[kernel, vendor].machine.boot_trace.symbols()
        msr_step = "syscall_init" if kernel == "x86_64" else "enable_sep_cpu"
        head = "secondary_startup_64" if kernel == "x86_64" else "startup_32"
        order = [head, "gdt_page", "cpu_init", "trap_init", msr_step, "sysenter_setup"]
        positions = [next(i for i, w in enumerate(wheres) if w.startswith(n)) for n in order]
        assert positions == sorted(positions)

    def test_no_what_if_by_default(self, booted):
        """A Linux boot has no WHAT IF events."""
        for b in booted.values():
            assert not any("WHAT IF" in e.where for e in b.machine.boot_trace)

    def test_unknown_what_if_key(self):
        """An unknown what_if key is a ValueError naming what_if."""
        with pytest.raises(ValueError, match="what_if"):
            Machine.boot(what_if={"no_such_option": 1})


class TestInt80GateDplWhatIf:
    @pytest.mark.parametrize("kernel", KERNELS)
    def test_labelled(self, kernel):
        """int80_gate_dpl=0 is labelled "WHAT IF (not Linux)" in the boot trace."""
        m = Machine.boot(kernel=kernel, what_if={"int80_gate_dpl": 0})
        notes = [e for e in m.boot_trace if e.where == "WHAT IF (not Linux)"]
        assert len(notes) == 1 and "int80_gate_dpl" in notes[0].what
        k = m.kernel
        raw = k.kspace.peek(k.map.idt + 0x80 * (16 if kernel == "x86_64" else 8), 8)
        assert (raw[5] >> 5) & 3 == 0  # the gate's DPL field (SDM Vol. 3A §6.11)

    def test_int80_from_ring3_is_gp_0x402(self):
        """INT n through a DPL 0 gate at CPL 3 is #GP((0x80<<3)|2 = 0x402) (SDM Vol. 3A §6.12.1.1),
        and do_general_protection sends SIGSEGV."""
        m = Machine.boot(kernel="x86_64", what_if={"int80_gate_dpl": 0})
        p = m.spawn("x86_64")
        r = p.syscall("getpid", via="int80")
        assert r.signal == 11 and r.ret is None and not p.alive
        faults = [e for e in r.trace if e.kind == FAULT]
        assert any("#GP(0x402)" in e.what for e in faults)
        assert "do_general_protection (arch/x86/kernel/traps.c)" in r.trace.symbols()
        assert "error code 0x402" in r.detail

    @pytest.mark.parametrize("kernel", KERNELS)
    def test_i386_process_spawns_under_the_what_if(self, kernel):
        """Spawning an i386 process under int80_gate_dpl=0 gives a process, not a traceback: dead
        of SIGSEGV already (glibc's TLS_INIT_TP uses int $0x80 too) or dying of it on INT 0x80."""
        m = Machine.boot(kernel=kernel, what_if={"int80_gate_dpl": 0})
        p = m.spawn("i386")
        if p.alive:
            assert p.syscall("getpid", via="int80").signal == 11
        else:
            assert p.task.killed_by == 11

    def test_linux_gate_lets_int80_through(self):
        """With Linux's DPL 3 gate the same INT 0x80 is a system call."""
        m = Machine.boot()
        p = m.spawn("x86_64")
        r = p.syscall("getpid", via="int80")
        assert r.ret == p.pid and r.signal is None


def test_what_if_gate_dpl_is_what_the_boot_trace_says():
    """Under the what-if boot option the trap_init step reports the DPL the gate really has
    (Linux 3.16's trap_init makes vector 0x80 DPL 3: set_system_intr_gate on x86_64)."""
    from simulator import Machine

    m = Machine.boot(what_if={"int80_gate_dpl": 0})
    (step,) = [e.what for e in m.boot_trace if "trap_init" in e.where]
    assert "vector 0x80 is a DPL 0 interrupt gate (WHAT IF: Linux makes it DPL 3)" in step
    (step,) = [e.what for e in Machine.boot().boot_trace if "trap_init" in e.where]
    assert "vector 0x80 is a DPL 3 interrupt gate;" in step
