"""Linux 6.9's vDSOs: the one 32-bit ``__kernel_vsyscall`` patched at boot, and the exports.

arch/x86/entry/vdso/vdso32/system_call.S builds a single image: push ecx, edx, ebp; then an
ALTERNATIVE that boot patches into ``mov ebp, esp; sysenter`` (X86_FEATURE_SYSENTER32 or, on
an i386 kernel, SEP), ``mov ebp, ecx; syscall`` (X86_FEATURE_SYSCALL32: AMD on a 64-bit
kernel) or leaves as NOPs; then ``int 0x80``, the label int80_landing_pad after it, and
pop ebp, edx, ecx; ret. The version scripts (vdso.lds.S, vdso32/vdso32.lds.S) add
clock_getres to the 64-bit image and clock_getres, clock_gettime64 and getcpu to the 32-bit
one. The clock code is the 3.16 model's (simulator.kernel.vdso_code), with its vvar page
after the text; 6.9's lib/vdso code and its vvar pages before the text are left out.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import attrs

import abi
from simulator.cpu.assembler import assemble
from simulator.kernel import elf, vdso, vdso_code
from simulator.kernel import linux316 as L
from simulator.kernel.vdso_elf import SONAME_32, SONAME_64, VdsoImage

if TYPE_CHECKING:
    from simulator.kernel.kernel import Kernel
    from simulator.kernel.task import Task

SOURCE = "arch/x86/entry/vdso/vdso32/system_call.S"
NR_CLOCK_GETRES_64 = 229
NR_CLOCK_GETRES_32 = 266  # clock_getres, entry sys_clock_getres_time32
NR_GETCPU_32 = 318
MAX_CLOCKS = 16
# lib/vdso/gettimeofday.c __cvdso_clock_getres_common: VDSO_HRES | VDSO_RAW take
# hrtimer_res, VDSO_COARSE LOW_RES_NSEC; any other clock makes the system call.
HRES_RAW_CLOCKS = 1 << 0 | 1 << 1 | 1 << 7 | 1 << 11 | 1 << 4  # 0x893
COARSE_CLOCKS = 1 << 5 | 1 << 6  # 0x60
HRTIMER_RES = 1
LOW_RES_NSEC = 4_000_000  # TICK_NSEC at HZ=250
# The 4-byte NOP boot leaves when neither feature is there (optimize_nops; arch/x86/include/
# asm/nops.h): BYTES_NOP4 of a 64-bit kernel (nopl 0x0(%eax)) and of a 32-bit one (lea).
NOP4_64 = bytes((0x0F, 0x1F, 0x40, 0x00))
NOP4_32 = bytes((0x8D, 0x74, 0x26, 0x00))


@attrs.frozen
class Variant:
    """The patched ``__kernel_vsyscall``: which alternative, its code, and where
    int80_landing_pad sits in it (just after ``int $0x80``)."""

    name: str
    source: str
    code: bytes
    landing_pad: int
    sysenter_return: int | None = None  # 3.16's field; 6.9 returns to the landing pad


def _variant(name: str, alternative: bytes) -> Variant:
    head = assemble("push ecx\npush edx\npush ebp", mode=32) + alternative
    head += assemble("int 0x80", mode=32)
    code = head + assemble("pop ebp\npop edx\npop ecx\nret", mode=32)
    return Variant(name, SOURCE, code, len(head))


@functools.cache
def variants() -> dict[str, Variant]:
    """The three ways boot can patch the image (the NOPs of a 64-bit kernel for "int80")."""
    return {
        "sysenter": _variant("sysenter", assemble("mov ebp, esp\nsysenter", mode=32)),
        "syscall": _variant("syscall", assemble("mov ebp, ecx\nsyscall", mode=32)),
        "int80": _variant("int80", NOP4_64),
        "int80-i386": _variant("int80", NOP4_32),
    }


def select(kernel: str, vendor: str, *, sep: bool = True) -> Variant:
    """apply_alternatives on vdso_image_32 (init_vdso_image): on a 64-bit kernel
    ALTERNATIVE_2 "", SYSENTER_SEQUENCE, X86_FEATURE_SYSENTER32, SYSCALL_SEQUENCE,
    X86_FEATURE_SYSCALL32 (SYSENTER32 for Intel, SYSCALL32 for AMD); on an i386 kernel
    ALTERNATIVE "", SYSENTER_SEQUENCE, X86_FEATURE_SEP."""
    v = variants()
    if kernel == "x86_64":
        return v["syscall" if vendor == "amd" else "sysenter"]
    return v["sysenter" if sep else "int80-i386"]


def _getres_64(start: int) -> bytes:
    return assemble(
        f"""
cmp edi, {MAX_CLOCKS - 1}
ja r_fallback
mov eax, 1
mov ecx, edi
shl eax, cl
test eax, {HRES_RAW_CLOCKS}
jnz r_hres
test eax, {COARSE_CLOCKS}
jnz r_coarse
r_fallback:
mov eax, {NR_CLOCK_GETRES_64}
syscall
ret
r_hres:
mov edx, {HRTIMER_RES}
jmp r_store
r_coarse:
mov edx, {LOW_RES_NSEC}
r_store:
test rsi, rsi
jz r_done
mov qword ptr [rsi], 0
mov qword ptr [rsi+8], rdx
r_done:
xor eax, eax
ret
""",
        mode=64,
        address=start,
    )


def _functions_64(text_offset: int, vvar: int) -> tuple[bytes, dict[str, int]]:
    text, offsets = vdso_code.functions_64(text_offset, vvar)
    text = bytearray(text)
    start = text_offset + len(text)
    offsets["__vdso_clock_getres"] = start
    text += _getres_64(start)
    text += b"\xcc" * ((-len(text)) % 16)
    return bytes(text), offsets


@functools.cache
def image64() -> VdsoImage:
    """vdso64 (6.9 vdso.lds.S, LINUX_2.6): clock_gettime, gettimeofday, getcpu, time and
    clock_getres, each with its __vdso_ name; __vdso_sgx_enter_enclave (CONFIG_X86_SGX) left
    out."""
    exports = []
    for fn in ("clock_gettime", "gettimeofday", "getcpu", "time", "clock_getres"):
        exports.append((fn, f"__vdso_{fn}", "LINUX_2.6", True))
        exports.append((f"__vdso_{fn}", f"__vdso_{fn}", "LINUX_2.6", False))
    return vdso._build(
        elf.ELFCLASS64, elf.EM_X86_64, _functions_64, ("LINUX_2.6",), SONAME_64, exports
    )


def _extra_32(start: int, offsets: dict[str, int], wide: bool) -> tuple[bytes, dict[str, int]]:
    """__vdso_clock_getres, __vdso_clock_gettime64 and __vdso_getcpu in 32-bit code."""
    vsyscall = offsets["__kernel_vsyscall"]
    gettime = offsets["__vdso_clock_gettime"]
    text = bytearray()
    out: dict[str, int] = {}

    def add(name: str, body: str) -> None:
        at = start + len(text)
        out[name] = at
        text.extend(assemble(body, mode=32, address=at))
        text.extend(b"\xcc" * ((-len(text)) % 16))

    add(
        "__vdso_clock_getres",
        f"""
mov ecx, dword ptr [esp+4]
cmp ecx, {MAX_CLOCKS - 1}
ja r_fallback
mov eax, 1
shl eax, cl
test eax, {HRES_RAW_CLOCKS}
jnz r_hres
test eax, {COARSE_CLOCKS}
jnz r_coarse
r_fallback:
push ebx
mov ebx, dword ptr [esp+8]
mov ecx, dword ptr [esp+12]
mov eax, {NR_CLOCK_GETRES_32}
call {vsyscall:#x}
pop ebx
ret
r_hres:
mov edx, {HRTIMER_RES}
jmp r_store
r_coarse:
mov edx, {LOW_RES_NSEC}
r_store:
mov ecx, dword ptr [esp+8]
test ecx, ecx
jz r_done
mov dword ptr [ecx], 0
mov dword ptr [ecx+4], edx
r_done:
xor eax, eax
ret
""",
    )
    # ringsim widens __vdso_clock_gettime's old_timespec32 into the __kernel_timespec.
    add(
        "__vdso_clock_gettime64",
        f"""
sub esp, 8
lea eax, [esp]
push eax
push dword ptr [esp+16]
call {gettime:#x}
add esp, 8
test eax, eax
jnz g_out
mov ecx, dword ptr [esp+16]
mov edx, dword ptr [esp]
mov dword ptr [ecx], edx
mov dword ptr [ecx+4], 0
mov edx, dword ptr [esp+4]
mov dword ptr [ecx+8], edx
mov dword ptr [ecx+12], 0
g_out:
add esp, 8
ret
""",
    )
    if wide:
        cpunode = f"mov eax, {vdso_code.PER_CPU_SEG}\nlsl eax, eax\n"
        add(
            "__vdso_getcpu",
            cpunode
            + """
mov ecx, dword ptr [esp+4]
test ecx, ecx
jz c_node
mov edx, eax
and edx, 0xfff
mov dword ptr [ecx], edx
c_node:
mov ecx, dword ptr [esp+8]
test ecx, ecx
jz c_ret
shr eax, 12
mov dword ptr [ecx], eax
c_ret:
xor eax, eax
ret
""",
        )
    else:
        add(
            "__vdso_getcpu",
            f"""
push ebx
mov ebx, dword ptr [esp+8]
mov ecx, dword ptr [esp+12]
mov edx, dword ptr [esp+16]
mov eax, {NR_GETCPU_32}
call {vsyscall:#x}
pop ebx
ret
""",
        )
    return bytes(text), out


@functools.cache
def image32(variant: str, wide_gtod: bool) -> VdsoImage:
    """vdso32 (6.9 vdso32.lds.S): LINUX_2.6 __vdso_clock_gettime, __vdso_gettimeofday,
    __vdso_time, __vdso_clock_getres, __vdso_clock_gettime64, __vdso_getcpu; LINUX_2.5
    __kernel_vsyscall, __kernel_sigreturn, __kernel_rt_sigreturn."""
    code = _variant_by_key(variant).code

    def make(text_offset: int, vvar: int) -> tuple[bytes, dict[str, int]]:
        text, offsets = vdso_code.functions_32(text_offset, code, wide_gtod=wide_gtod, vvar=vvar)
        extra, more = _extra_32(text_offset + len(text), offsets, wide_gtod)
        offsets.update(more)
        return text + extra, offsets

    exports = [
        (name, name, "LINUX_2.6", False)
        for name in (
            "__vdso_clock_gettime",
            "__vdso_gettimeofday",
            "__vdso_time",
            "__vdso_clock_getres",
            "__vdso_clock_gettime64",
            "__vdso_getcpu",
        )
    ]
    exports += [
        (name, name, "LINUX_2.5", False)
        for name in ("__kernel_vsyscall", "__kernel_sigreturn", "__kernel_rt_sigreturn")
    ]
    return vdso._build(
        elf.ELFCLASS32,
        elf.EM_386,
        make,
        ("LINUX_2.6", "LINUX_2.5"),
        SONAME_32,
        exports,
        entry="__kernel_vsyscall",
    )


def _variant_by_key(key: str) -> Variant:
    return variants()[key]


def _key(k: Kernel) -> str:
    variant = k.vdso_variant
    for key, value in variants().items():
        if value is variant:
            return key
    raise LookupError(f"{variant!r} is not a 6.9 variant")


def current_image32(k: Kernel) -> VdsoImage:
    """The 32-bit image this kernel maps (vdso_image_32 as boot patched it)."""
    return image32(_key(k), k.kind == "x86_64")


def sym_int80_landing_pad(k: Kernel) -> int:
    """vdso_image_32.sym_int80_landing_pad: the label's offset in the image (vdso2c)."""
    image = current_image32(k)
    return image.symbol_offsets["__kernel_vsyscall"] + k.vdso_variant.landing_pad


def map_vdso(k: Kernel, task: Task, start_stack: int) -> list[tuple[int, int]]:
    """arch_setup_additional_pages / compat_arch_setup_additional_pages (6.9
    arch/x86/entry/vdso/vma.c): the 64-bit image for x86_64 processes, vdso_image_32 for i386
    ones (AT_SYSINFO = __kernel_vsyscall); x32's image is left out, as in the 3.16 model. The
    placement is the 3.16 model's (6.9 maps every vDSO with get_unmapped_area)."""
    if task.abi == "x32":
        task.vdso = 0
        return []
    if task.abi == "x86_64":
        image = image64()
        addr = vdso.vdso_addr(k, start_stack, image.size + 2 * vdso.PAGE)
        vdso._map_image(k, task, image, addr)
        k.note(
            "arch_setup_additional_pages -> map_vdso (arch/x86/entry/vdso/vma.c)",
            f"[vdso] (vdso_image_64) at {addr:#x}, [vvar] at {addr + image.size:#x}",
        )
        return [(abi.AT_SYSINFO_EHDR, addr)]
    image = current_image32(k)
    task_size = L.IA32_PAGE_OFFSET if k.kind == "x86_64" else L.PAGE_OFFSET_32
    base = vdso.mmap_base(k, task_size, ia32=True)
    addr = base - (image.size + 2 * vdso.PAGE)
    vdso._map_image(k, task, image, addr)
    entry = addr + image.symbol_offsets["__kernel_vsyscall"]
    pad = addr + sym_int80_landing_pad(k)
    task.sysenter_return = pad
    task.vdso32 = addr
    k.note(
        "compat_arch_setup_additional_pages -> map_vdso (arch/x86/entry/vdso/vma.c)",
        f"[vdso] (vdso_image_32, {k.vdso_variant.name} alternative) at {addr:#x}; AT_SYSINFO "
        f"= __kernel_vsyscall at {entry:#x}; int80_landing_pad at {pad:#x}",
    )
    return [(abi.AT_SYSINFO, entry), (abi.AT_SYSINFO_EHDR, addr)]
