"""The CPU underneath: Linux's GDT read from its bytes, an MSR refusal, and a page fault."""

from __future__ import annotations

from scenarios.story import DEFAULT, Options
from simulator.cpu import (
    CPU,
    AddressSpace,
    Fault,
    SegmentDescriptor,
    TableRegister,
    control,
    msr,
)
from simulator.cpu.faults import PF_ID, PF_P, PF_RSVD, PF_US, PF_WR

# Linux 3.16 x86_64 GDT_ENTRY_INIT values (arch/x86/kernel/cpu/common.c,
# gdt_page), by selector; arch/x86/include/asm/segment.h gives the selectors.
LINUX_X86_64_GDT: tuple[tuple[int, str, int], ...] = (
    (0x08, "__KERNEL32_CS", 0x00CF9B000000FFFF),
    (0x10, "__KERNEL_CS", 0x00AF9B000000FFFF),
    (0x18, "__KERNEL_DS", 0x00CF93000000FFFF),
    (0x23, "__USER32_CS", 0x00CFFB000000FFFF),
    (0x2B, "__USER_DS", 0x00CFF3000000FFFF),
    (0x33, "__USER_CS", 0x00AFFB000000FFFF),
)

GDT_ADDRESS = 0xFFFF_8800_0000_1000  # a kernel-half page (the address is ours)
KERNEL_PAGE = 0xFFFF_FFFF_8100_0000  # kernel text would live here
USER_PAGE = 0x0000_0000_0040_0000  # a user program's page
USER_READONLY = 0x0000_0000_0060_0000


def _pf_bits(error: int) -> str:
    names = [(PF_P, "P"), (PF_WR, "W/R"), (PF_US, "U/S"), (PF_RSVD, "RSVD"), (PF_ID, "I/D")]
    return "|".join(n for b, n in names if error & b) or "none (page not present)"


def boot_long_mode_cpu(vendor: str = "intel") -> CPU:
    """A CPU in IA-32e mode with paging on and Linux's GDT loaded, at CPL 0."""
    cpu = CPU(vendor)
    space = AddressSpace("one process")
    gdt = b"\0" * 8 + b"".join(
        SegmentDescriptor.from_raw(raw).encode() for _, _, raw in LINUX_X86_64_GDT
    )
    # The 0x23 entry is the 5th, so each selector's index must match its slot.
    assert [sel >> 3 for sel, _, _ in LINUX_X86_64_GDT] == [1, 2, 3, 4, 5, 6]
    space.map(GDT_ADDRESS, 4096, user=False, data=gdt, zero=True)
    space.map(KERNEL_PAGE, 4096, user=False, writable=False, data=b"kernel text")
    space.map(USER_PAGE, 4096, user=True, data=b"user data", zero=True)
    space.map(USER_READONLY, 4096, user=True, writable=False, zero=True)
    cpu.add_address_space(0x1000, space)
    cpu.set_cr3(0x1000)
    cpu.cr4 = control.CR4_PAE
    cpu.efer = msr.EFER_SCE | msr.EFER_LME | msr.EFER_LMA | msr.EFER_NXE
    cpu.cr0 = control.CR0_PE | control.CR0_WP | control.CR0_PG
    cpu.gdtr = TableRegister(base=GDT_ADDRESS, limit=len(gdt) - 1)
    for name, selector in (("cs", 0x10), ("ss", 0x18), ("ds", 0x18), ("es", 0x18)):
        fault = cpu.set_segment(name, selector)
        assert fault is None, fault
    return cpu


def run(opts: Options = DEFAULT) -> list[str]:
    """Tell the story; return the lines of its trace."""
    out: list[str] = []
    say = out.append
    cpu = boot_long_mode_cpu(opts.cpu or "intel")
    say("== The CPU underneath: descriptors, MSRs and pages ==")
    say("")
    say("1. Linux's x86_64 GDT, read back from its bytes in simulated memory")
    say("   (arch/x86/kernel/cpu/common.c, Linux 3.16; layout: Intel SDM Vol. 3A §3.4.5)")
    for selector, name, _ in LINUX_X86_64_GDT:
        raw = cpu.read(GDT_ADDRESS + (selector & ~7), 8, implicit=True)
        assert isinstance(raw, bytes), raw
        d = SegmentDescriptor.decode(raw)
        kind = ("code" if d.is_code else "data") + (
            ", 64-bit (L=1)" if d.l else ", 32-bit (D/B=1)" if d.db else ""
        )
        say(
            f"   {selector:#04x} {name:<14} {raw.hex(' ')}  {kind}, DPL {d.dpl}, "
            f"base {d.base:#x}, limit {d.byte_limit:#x}"
        )
    say("   SYSRET needs __USER32_CS, __USER_DS and __USER_CS in that order (base, +8, +16):")
    say("   that is why the user data segment sits between the two user code segments.")
    say("")
    say("2. The MSR file refuses what WRMSR must refuse (SDM Vol. 2B WRMSR, #GP(0))")
    bad = 0x0000_8000_0000_0000
    fault = cpu.write_msr("IA32_LSTAR", bad)
    say(f"   WRMSR IA32_LSTAR (0xc0000082) <- {bad:#018x}: {fault}")
    say("   bits 63:47 differ, so the address is not canonical (SDM Vol. 1 §3.3.7.1);")
    say("   SYSCALL can never jump to it, because it can never get into the MSR.")
    good = 0xFFFF_FFFF_8100_0000
    assert cpu.write_msr("IA32_LSTAR", good) is None
    say(f"   WRMSR IA32_LSTAR <- {good:#018x}: accepted, reads back {cpu.read_msr('lstar'):#x}")
    say("")
    say("3. Ring 3 touches a supervisor page (SDM Vol. 3A §4.6 rights, §4.7 error code)")
    assert cpu.set_segment("cs", 0x33) is None
    assert cpu.set_segment("ss", 0x2B) is None
    say(f"   CS <- 0x33 (__USER_CS): CPL {cpu.cpl}, mode {cpu.mode}")
    attempts = (
        ("read  a kernel page", lambda: cpu.read(KERNEL_PAGE, 8)),
        ("write a read-only user page", lambda: cpu.write(USER_READONLY, b"x")),
        ("read  an unmapped page", lambda: cpu.read(0x7000_0000, 1)),
        ("read  its own page", lambda: cpu.read(USER_PAGE, 9)),
    )
    for what, attempt in attempts:
        result = attempt()
        if isinstance(result, Fault):
            say(
                f"   {what:<28} {result.mnemonic} error code {result.error_code:#x} "
                f"({_pf_bits(result.error_code or 0)}), CR2 = {cpu.cr2:#x}"
            )
        else:
            say(f"   {what:<28} {result!r}")
    denied = cpu.load_segment("ds", 0x18)
    say(f"   MOV DS, 0x18 (__KERNEL_DS) at CPL 3: {denied}")
    say("")
    say("The ring transitions that use all of this come next: SYSCALL, SYSENTER, INT 0x80.")
    return out
