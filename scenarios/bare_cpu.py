"""Bare CPUs set up as Linux sets them up: long mode (x86_64) and legacy mode (i386).

No kernel runs here: the GDT, IDT, TSS and MSRs are laid out as Linux 3.16
lays them out, every exception handler is a HLT, and the code is whatever a
scenario or a test puts in memory.
"""

from __future__ import annotations

from simulator.cpu import (
    CPU,
    AddressSpace,
    DescriptorCache,
    Gate32,
    Gate64,
    SegmentDescriptor,
    TableRegister,
)
from simulator.cpu import control as C
from simulator.cpu import msr as M

# Linux 3.16 selectors (arch/x86/include/asm/segment.h).
KERNEL32_CS, KERNEL_CS, KERNEL_DS, USER32_CS, USER_DS, USER_CS = 0x08, 0x10, 0x18, 0x23, 0x2B, 0x33
TSS_SEL64 = 0x40
I386_KERNEL_CS, I386_KERNEL_DS, I386_USER_CS, I386_USER_DS, I386_TSS = 0x60, 0x68, 0x73, 0x7B, 0x80

GDT = 0xFFFF_8800_0000_0000
IDT = 0xFFFF_8800_0000_1000
TSS = 0xFFFF_8800_0000_3000
HANDLERS = 0xFFFF_FFFF_8100_0000  # one HLT per vector, 16 bytes apart
KERNEL_CODE = 0xFFFF_FFFF_8100_2000
KERNEL_STACK_TOP = 0xFFFF_8800_0001_0000
IST_STACK_TOP = 0xFFFF_8800_0002_0000
USER_CODE = 0x40_0000
USER_STACK_TOP = 0x7FF_F000

STAR = 0x0023_0010_0000_0000
FMASK = 0x43700

L_GDT, L_IDT, L_TSS = 0xC100_0000, 0xC100_1000, 0xC100_3000
L_HANDLERS, L_KERNEL_CODE, L_KERNEL_STACK_TOP = 0xC100_4000, 0xC100_6000, 0xC101_0000
L_USER_CODE, L_USER_STACK_TOP = 0x0804_8000, 0xBFFF_F000


def long_mode_cpu(vendor: str = "intel", *, user: bool = True) -> CPU:
    """IA-32e mode, paging on, Linux's GDT, a 64-bit TSS, an IDT of HLT handlers, the MSRs."""
    cpu = CPU(vendor)
    space = AddressSpace("test")
    gdt = bytearray(0x50)
    for sel, raw in (
        (KERNEL32_CS, 0x00CF9B000000FFFF),
        (KERNEL_CS, 0x00AF9B000000FFFF),
        (KERNEL_DS, 0x00CF93000000FFFF),
        (USER32_CS, 0x00CFFB000000FFFF),
        (USER_DS, 0x00CFF3000000FFFF),
        (USER_CS, 0x00AFFB000000FFFF),
    ):
        gdt[sel & ~7 : (sel & ~7) + 8] = raw.to_bytes(8, "little")
    tss_desc = (
        SegmentDescriptor(base=TSS & 0xFFFF_FFFF, limit=0x67, type=0x9, present=True).raw
        | (TSS >> 32) << 64
    )
    gdt[TSS_SEL64 : TSS_SEL64 + 16] = tss_desc.to_bytes(16, "little")
    space.map(GDT, 4096, user=False, data=bytes(gdt), zero=True)
    idt = b"".join(
        Gate64(
            offset=HANDLERS + 16 * v,
            selector=KERNEL_CS,
            type=0xE,
            dpl=3 if v in (3, 4, 0x80) else 0,
            present=True,
        ).encode()
        for v in range(256)
    )
    space.map(IDT, len(idt), user=False, data=idt, zero=True)
    tss = bytearray(104)
    tss[4:12] = KERNEL_STACK_TOP.to_bytes(8, "little")
    tss[0x24:0x2C] = IST_STACK_TOP.to_bytes(8, "little")
    space.map(TSS, 4096, user=False, data=bytes(tss), zero=True)
    space.map(HANDLERS, 4096 * 2, user=False, writable=False, data=b"\xf4" * 8192)
    space.map(KERNEL_CODE, 4096, user=False, writable=False, zero=True)
    space.map(KERNEL_STACK_TOP - 0x4000, 0x4000, user=False, zero=True)
    space.map(IST_STACK_TOP - 0x2000, 0x2000, user=False, zero=True)
    space.map(USER_CODE, 4096, user=True, writable=False, zero=True)
    space.map(USER_STACK_TOP - 0x4000, 0x4000, user=True, zero=True)
    cpu.add_address_space(0x1000, space)
    cpu.set_cr3(0x1000)
    cpu.cr4 = C.CR4_PAE
    cpu.efer = M.EFER_SCE | M.EFER_LME | M.EFER_LMA | M.EFER_NXE
    cpu.cr0 = C.CR0_PE | C.CR0_WP | C.CR0_PG
    cpu.gdtr = TableRegister(base=GDT, limit=len(gdt) - 1)
    cpu.idtr = TableRegister(base=IDT, limit=len(idt) - 1)
    for name, value in (
        ("IA32_STAR", STAR),
        ("IA32_LSTAR", KERNEL_CODE),
        ("IA32_CSTAR", KERNEL_CODE + 0x100),
        ("IA32_FMASK", FMASK),
        ("IA32_SYSENTER_CS", KERNEL_CS),
        ("IA32_SYSENTER_ESP", KERNEL_STACK_TOP if vendor == "intel" else 0),
        ("IA32_SYSENTER_EIP", KERNEL_CODE + 0x200 if vendor == "intel" else 0),
    ):
        assert cpu.write_msr(name, value) is None
    cpu.set_segment("cs", KERNEL_CS)
    cpu.set_segment("ss", KERNEL_DS)
    _load_tr(cpu, TSS_SEL64, TSS, 0x67, 0xB)
    if user:
        cpu.set_segment("cs", USER_CS)
        cpu.set_segment("ss", USER_DS)
        cpu.regs.write("rip", USER_CODE)
        cpu.regs.write("rsp", USER_STACK_TOP - 0x100)
        cpu.regs.write("rflags", 0x202)
    return cpu


def legacy_cpu(vendor: str = "intel", *, user: bool = True) -> CPU:
    """Legacy protected mode with paging, Linux i386's GDT, a 32-bit TSS and IDT, SYSENTER MSRs."""
    cpu = CPU(vendor)
    space = AddressSpace("legacy")
    gdt = bytearray(0x88)
    for sel, dpl, code in (
        (I386_KERNEL_CS, 0, True),
        (I386_KERNEL_DS, 0, False),
        (I386_USER_CS, 3, True),
        (I386_USER_DS, 3, False),
    ):
        d = SegmentDescriptor(
            base=0,
            limit=0xFFFFF,
            type=0xB if code else 0x3,
            s=True,
            dpl=dpl,
            present=True,
            db=True,
            g=True,
        )
        gdt[sel & ~7 : (sel & ~7) + 8] = d.encode()
    gdt[I386_TSS : I386_TSS + 8] = SegmentDescriptor(
        base=L_TSS, limit=0x67, type=0xB, present=True
    ).encode()
    space.map(L_GDT, 4096, user=False, data=bytes(gdt), zero=True)
    idt = b"".join(
        Gate32(
            offset=L_HANDLERS + 16 * v,
            selector=I386_KERNEL_CS,
            type=0xF if v == 0x80 else 0xE,
            dpl=3 if v in (3, 4, 0x80) else 0,
            present=True,
        ).encode()
        for v in range(256)
    )
    space.map(L_IDT, len(idt), user=False, data=idt, zero=True)
    tss = bytearray(104)
    tss[4:8] = L_KERNEL_STACK_TOP.to_bytes(4, "little")
    tss[8:10] = I386_KERNEL_DS.to_bytes(2, "little")
    space.map(L_TSS, 4096, user=False, data=bytes(tss), zero=True)
    space.map(L_HANDLERS, 8192, user=False, writable=False, data=b"\xf4" * 8192)
    space.map(L_KERNEL_CODE, 4096, user=False, writable=False, zero=True)
    space.map(L_KERNEL_STACK_TOP - 0x4000, 0x4000, user=False, zero=True)
    space.map(L_USER_CODE, 4096, user=True, writable=False, zero=True)
    space.map(L_USER_STACK_TOP - 0x4000, 0x4000, user=True, zero=True)
    cpu.add_address_space(0x2000, space)
    cpu.set_cr3(0x2000)
    cpu.cr0 = C.CR0_PE | C.CR0_WP | C.CR0_PG
    cpu.gdtr = TableRegister(base=L_GDT, limit=len(gdt) - 1)
    cpu.idtr = TableRegister(base=L_IDT, limit=len(idt) - 1)
    for name, value in (
        ("IA32_SYSENTER_CS", I386_KERNEL_CS),
        ("IA32_SYSENTER_ESP", L_KERNEL_STACK_TOP),
        ("IA32_SYSENTER_EIP", L_KERNEL_CODE),
    ):
        assert cpu.write_msr(name, value) is None
    cpu.set_segment("cs", I386_KERNEL_CS)
    cpu.set_segment("ss", I386_KERNEL_DS)
    _load_tr(cpu, I386_TSS, L_TSS, 0x67, 0xB)
    if user:
        cpu.set_segment("cs", I386_USER_CS)
        cpu.set_segment("ss", I386_USER_DS)
        cpu.set_segment("ds", I386_USER_DS)
        cpu.set_segment("es", I386_USER_DS)
        cpu.regs.write("rip", L_USER_CODE)
        cpu.regs.write("rsp", L_USER_STACK_TOP - 0x100)
        cpu.regs.write("rflags", 0x202)
    return cpu


def _load_tr(cpu: CPU, selector: int, base: int, limit: int, type_: int) -> None:
    cpu.tr = (selector, DescriptorCache(base=base, limit=limit, type=type_, s=False))


def put_code(cpu: CPU, address: int, code: bytes) -> None:
    """Write code bytes at a linear address of the current address space (no rights check)."""
    cpu.space.poke(address, code)
