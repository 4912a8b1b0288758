"""arch/x86/vdso/vma.c, vsyscall_64.c (Linux 3.16): vDSO images, placement, vsyscall page.

The images are built once per Python process (they are the same for every
boot with the same variant) and mapped into each process: the 64-bit one at
vdso_addr() above the stack, the 32-bit one in the mmap area; the vvar page,
which update_vsyscall writes, right after either image.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import abi
from simulator.kernel import elf, vdso32, vdso_code
from simulator.kernel import linux316 as L
from simulator.kernel.vdso_elf import SONAME_32, SONAME_64, VdsoImage, VdsoSymbol, build_vdso

if TYPE_CHECKING:
    from simulator.kernel.kernel import Kernel
    from simulator.kernel.task import Task

PAGE = 4096
PMD_SIZE = 2 << 20
PTRS_PER_PTE = 512
VSYSCALL_ADDR = 0xFFFF_FFFF_FF60_0000  # VSYSCALL_ADDR (arch/x86/include/uapi/asm/vsyscall.h)
VSYSCALL_OFFSETS = {0x000: "gettimeofday", 0x400: "time", 0x800: "getcpu"}
VSYSCALL_MODES = ("native", "emulate", "none")
STACK_RND_MASK_64 = 0x3F_FFFF  # arch/x86/include/asm/elf.h
STACK_RND_MASK_32 = 0x7FF
MIN_GAP = 128 << 20  # arch/x86/mm/mmap.c


def _sizes(symbols: list[tuple[str, int]], end: int) -> dict[str, int]:
    ordered = sorted(symbols, key=lambda item: item[1])
    sizes = {}
    for i, (name, offset) in enumerate(ordered):
        following = ordered[i + 1][1] if i + 1 < len(ordered) else end
        sizes[name] = following - offset
    return sizes


def _build(elf_class: int, machine: int, make, versions, soname, exports, entry=None) -> VdsoImage:
    """Assemble at the text offset and vvar offset the image itself fixes (two passes: the
    code's length does not depend on where it sits)."""
    text, offsets = make(0x800, 0x10000)
    symbols = [VdsoSymbol(name=n, offset=0, size=1, version=v, weak=w) for n, _, v, w in exports]
    probe = build_vdso(
        elf_class=elf_class,
        machine=machine,
        text=text,
        symbols=symbols,
        versions=versions,
        soname=soname,
        entry=entry,
    )
    text, offsets = make(probe.text_offset, probe.size)
    sizes = _sizes(list(offsets.items()), probe.text_offset + len(text))
    symbols = [
        VdsoSymbol(
            name=name,
            offset=offsets[target] - probe.text_offset,
            size=sizes[target],
            version=version,
            weak=weak,
        )
        for name, target, version, weak in exports
    ]
    image = build_vdso(
        elf_class=elf_class,
        machine=machine,
        text=text,
        symbols=symbols,
        versions=versions,
        soname=soname,
        text_offset=probe.text_offset,
        entry=entry,
    )
    if image.size != probe.size or image.text_offset != probe.text_offset:
        raise RuntimeError("the vDSO image moved between the two assembly passes")
    return image


@functools.cache
def image64() -> VdsoImage:
    """arch/x86/vdso/vdso.so: the four functions, each with its weak alias, version LINUX_2.6."""
    exports = []
    for fn in ("clock_gettime", "gettimeofday", "time", "getcpu"):
        exports.append((f"__vdso_{fn}", f"__vdso_{fn}", "LINUX_2.6", False))
        exports.append((fn, f"__vdso_{fn}", "LINUX_2.6", True))
    return _build(
        elf.ELFCLASS64,
        elf.EM_X86_64,
        lambda text_offset, vvar: vdso_code.functions_64(text_offset, vvar),
        ("LINUX_2.6",),
        SONAME_64,
        exports,
    )


@functools.cache
def image32(variant: str, wide_gtod: bool) -> VdsoImage:
    """arch/x86/vdso/vdso32-{int80,sysenter,syscall}.so: __kernel_vsyscall and the sigreturn
    trampolines (LINUX_2.5), the clock functions (LINUX_2.6)."""
    code = vdso32.VARIANTS[variant].code
    exports = [
        ("__kernel_vsyscall", "__kernel_vsyscall", "LINUX_2.5", False),
        ("__kernel_sigreturn", "__kernel_sigreturn", "LINUX_2.5", False),
        ("__kernel_rt_sigreturn", "__kernel_rt_sigreturn", "LINUX_2.5", False),
        ("__vdso_clock_gettime", "__vdso_clock_gettime", "LINUX_2.6", False),
        ("__vdso_gettimeofday", "__vdso_gettimeofday", "LINUX_2.6", False),
        ("__vdso_time", "__vdso_time", "LINUX_2.6", False),
    ]
    return _build(
        elf.ELFCLASS32,
        elf.EM_386,
        lambda text_offset, vvar: vdso_code.functions_32(
            text_offset, code, wide_gtod=wide_gtod, vvar=vvar
        ),
        ("LINUX_2.6", "LINUX_2.5"),
        SONAME_32,
        exports,
        entry="__kernel_vsyscall",
    )


def get_random_int(k: Kernel) -> int:
    """get_random_int, from the machine's seeded generator."""
    return k.random.getrandbits(32)


def randomize_stack_top(k: Kernel, top: int, *, wide: bool) -> int:
    """randomize_stack_top (fs/binfmt_elf.c): up to STACK_RND_MASK pages below STACK_TOP."""
    mask = STACK_RND_MASK_64 if wide else STACK_RND_MASK_32
    return ((top + PAGE - 1) & ~(PAGE - 1)) - ((get_random_int(k) & mask) << 12)


def mmap_base(k: Kernel, task_size: int, *, ia32: bool) -> int:
    """mmap_base (arch/x86/mm/mmap.c): TASK_SIZE - gap - mmap_rnd(), the gap at least 128 MiB."""
    rnd = get_random_int(k) % (1 << 8) if ia32 else get_random_int(k) % (1 << 28)
    return (task_size - MIN_GAP - (rnd << 12)) & ~(PAGE - 1)


def vdso_addr(k: Kernel, start: int, length: int) -> int:
    """vdso_addr (arch/x86/vdso/vma.c, 3.16): a random page in the 2 MiB above the stack.

    end = the stack's PMD rounded up (at most TASK_SIZE_MAX) less the length;
    offset = get_random_int() & (PTRS_PER_PTE - 1); addr = start + offset pages,
    clamped to end, page-aligned (align_vdso_addr's AMD family 15h adjustment is left out).
    """
    end = (start + PMD_SIZE - 1) & ~(PMD_SIZE - 1)
    end = min(end, L.TASK_SIZE_MAX_64)
    end -= length
    offset = get_random_int(k) & (PTRS_PER_PTE - 1)
    addr = start + (offset << 12)
    addr = min(addr, end)
    return (addr + PAGE - 1) & ~(PAGE - 1)


def _map_image(k: Kernel, task: Task, image: VdsoImage, addr: int) -> None:
    mm = task.mm
    mm.map(
        addr, image.size, user=True, writable=False, executable=True, data=image.data, replace=True
    )
    mm.map_shared(addr + image.size, k.timekeeper.vvar, user=True, writable=False, executable=False)
    task.vmas.append((addr, addr + image.size, "r-xp", "[vdso]"))
    task.vmas.append((addr + image.size, addr + image.size + PAGE, "r--p", "[vvar]"))
    task.vdso = addr


def mapped_image32(k: Kernel) -> VdsoImage:
    """The 32-bit vDSO image this kernel maps for i386 processes: vdso_image_32 as the
    kernel's profile builds it and boot patched it (the linux-6.9 image's symbols lie at
    other offsets than the 3.16 one's)."""
    if k.options.get("profile") == "linux-6.9":
        from simulator.kernel import vdso69

        return vdso69.current_image32(k)
    return image32(k.vdso_variant.name, k.kind == "x86_64")


def map_vdso(k: Kernel, task: Task, start_stack: int) -> list[tuple[int, int]]:
    """arch_setup_additional_pages: map the process's vDSO; return its auxv entries.

    64-bit processes: map_vdso(&vdso_image_64, true) at vdso_addr(start_stack, end_mapping);
    i386 processes: map_vdso(selected_vdso32, false) in the mmap area, sysenter_return set;
    x32 processes: ringsim leaves the x32 vDSO (vdsox32) out and maps none.
    """
    if k.options.get("profile") == "linux-6.9":
        from simulator.kernel import vdso69

        return vdso69.map_vdso(k, task, start_stack)
    if task.abi == "x32":
        task.vdso = 0
        return []
    if task.abi == "x86_64":
        image = image64()
        length = image.size + 2 * PAGE
        addr = vdso_addr(k, start_stack, length)
        _map_image(k, task, image, addr)
        k.note(
            "arch_setup_additional_pages -> vdso_addr (arch/x86/vdso/vma.c)",
            f"[vdso] at {addr:#x} (stack at {start_stack:#x}), [vvar] at {addr + image.size:#x}",
        )
        return [(abi.AT_SYSINFO_EHDR, addr)]
    variant = k.vdso_variant.name
    image = image32(variant, k.kind == "x86_64")
    task_size = L.IA32_PAGE_OFFSET if k.kind == "x86_64" else L.PAGE_OFFSET_32
    base = mmap_base(k, task_size, ia32=True)
    addr = base - (image.size + 2 * PAGE)
    _map_image(k, task, image, addr)
    entry = addr + image.symbol_offsets["__kernel_vsyscall"]
    ret = vdso32.VARIANTS[variant].sysenter_return
    task.sysenter_return = entry + ret if ret is not None else addr
    task.vdso32 = addr
    k.note(
        "arch_setup_additional_pages -> map_vdso (arch/x86/vdso/vma.c)",
        f"[vdso] ({variant} variant) at {addr:#x} in the mmap area below {base:#x}; "
        f"AT_SYSINFO = __kernel_vsyscall at {entry:#x}",
    )
    return [(abi.AT_SYSINFO, entry), (abi.AT_SYSINFO_EHDR, addr)]


@functools.cache
def vsyscall_page() -> bytes:
    """arch/x86/kernel/vsyscall_emu_64.S: three entry points 1024 bytes apart, each
    ``mov $__NR_xxx, %rax; syscall; ret``, the rest 0xcc."""
    from simulator.cpu.assembler import assemble

    page = bytearray(b"\xcc" * PAGE)
    for offset, number in ((0x000, 96), (0x400, 201), (0x800, 309)):
        code = assemble(f"mov rax, {number}\nsyscall\nret")
        page[offset : offset + len(code)] = code
    return bytes(page)


def map_vsyscall(k: Kernel, mode: str) -> None:
    """map_vsyscall: the fixed page at VSYSCALL_ADDR, executable in native mode, readable but
    NX in emulate mode (PAGE_KERNEL_VVAR: every call faults and is emulated), absent in none."""
    if mode == "none":
        return
    k.kspace.map(
        VSYSCALL_ADDR,
        PAGE,
        user=True,
        writable=False,
        executable=mode == "native",
        data=vsyscall_page(),
    )
