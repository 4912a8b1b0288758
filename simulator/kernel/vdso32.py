"""The 32-bit vDSO's ``__kernel_vsyscall`` in its three 3.16 variants, and how boot picks one.

The bytes are those of arch/x86/vdso/vdso32/int80.S, sysenter.S and syscall.S
(3.16 keeps the 3.10 sources), assembled as the kernel builds them.
"""

from __future__ import annotations

import attrs

from simulator.cpu.assembler import assemble

# Where __kernel_vsyscall sits in ringsim's vDSO page (the real image puts its
# text after the ELF headers; the full ELF image is built by the vDSO issue).
TEXT_OFFSET = 0x400


@attrs.frozen
class Variant:
    """One ``__kernel_vsyscall``: its name, its code, and SYSENTER_RETURN's offset."""

    name: str
    source: str
    code: bytes
    sysenter_return: int | None = None  # offset of VDSO32_SYSENTER_RETURN in ``code``


def _variants() -> dict[str, Variant]:
    int80 = Variant("int80", "arch/x86/vdso/vdso32/int80.S", assemble("int 0x80\nret", mode=32))
    sysenter_code = assemble("push ecx\npush edx\npush ebp\nmov ebp, esp\nsysenter", mode=32)
    # .space 7,0x90 aligns the return point; int $0x80 at SYSENTER_RETURN-2 is
    # the restart point ("14: System call restart point is here!").
    sysenter_code += b"\x90" * 7 + assemble("int 0x80", mode=32)
    ret_offset = len(sysenter_code)
    sysenter_code += assemble("pop ebp\npop edx\npop ecx\nret", mode=32)
    sysenter = Variant("sysenter", "arch/x86/vdso/vdso32/sysenter.S", sysenter_code, ret_offset)
    syscall = Variant(
        "syscall",
        "arch/x86/vdso/vdso32/syscall.S",
        assemble(
            "push ebp\nmov ebp, ecx\nsyscall\nmov ecx, 0x2b\nmov ss, cx\nmov ecx, ebp\n"
            "pop ebp\nret",
            mode=32,
        ),
    )
    return {v.name: v for v in (int80, sysenter, syscall)}


VARIANTS: dict[str, Variant] = _variants()


def select(kernel: str, vendor: str, *, sep: bool = True) -> Variant:
    """sysenter_setup (arch/x86/vdso/vdso32-setup.c, 3.16).

    On a 64-bit kernel vdso32_syscall() is X86_FEATURE_SYSCALL32 (AMD) and
    vdso32_sysenter() X86_FEATURE_SYSENTER32 (Intel); on a 32-bit kernel
    vdso32_syscall() is 0 and vdso32_sysenter() is X86_FEATURE_SEP. Without
    either, the int80 image.
    """
    if kernel == "x86_64":
        return VARIANTS["syscall" if vendor == "amd" else "sysenter"]
    return VARIANTS["sysenter" if sep else "int80"]
