"""arch/x86/entry/entry_32.S (Linux 6.9): the i386 kernel's entry_INT80_32 and entry_SYSENTER_32.

SAVE_ALL pt_regs_ax=$-ENOSYS builds struct pt_regs with -ENOSYS already in the ax slot; the
C code (do_int80_syscall_32, do_SYSENTER_32 in simulator.kernel.common69) does the rest.
INT 0x80 leaves by IRET (restore_all_switch_stack), SYSENTER by SYSEXIT when
do_fast_syscall_32 allows it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.cpu import flags as F
from simulator.cpu.assembler import assemble
from simulator.cpu.registers import RAX, RBP, RBX, RCX, RDI, RDX, RFLAGS, RSI, RSP
from simulator.cpu.segments import DS, ES, FS, GS
from simulator.kernel import common69
from simulator.kernel import entry_32 as E32
from simulator.kernel import linux69 as L69
from simulator.kernel import linux316 as L

if TYPE_CHECKING:
    from simulator.kernel.kernel import Kernel

SOURCE = "arch/x86/entry/entry_32.S"
_PT = E32._PT
_M32 = 0xFFFF_FFFF
GPR_ORDER = E32.GPR_ORDER


def where(symbol: str) -> str:
    return f"{symbol} ({SOURCE})"


def place(k: Kernel) -> None:
    """Lay out entry_32.S's 6.9 entries and exits."""
    k.routine(("entry_SYSENTER_32", sysenter_32))
    k.routine(("entry_INT80_32", int80_32))
    k.routine(("sysenter_exit_69", sysenter_exit), (None, assemble("sti\nsysexit", mode=32)))
    k.routine(("restore_all_69", restore_all), ("irq_return_69", assemble("iret", mode=32)))


def _save_all(k: Kernel, sp: int) -> int:
    """SAVE_ALL pt_regs_ax=$-ENOSYS below an orig_ax already pushed at ``sp``; returns esp."""
    cpu = k.cpu
    r = cpu.r
    words = [r[reg] & _M32 for _, reg in GPR_ORDER]
    words += [-k.errno("ENOSYS") & _M32, cpu.sel[DS], cpu.sel[ES], cpu.sel[FS], cpu.sel[GS]]
    base = sp - 11 * 4
    k.kwrite_words(base, words, 4)
    for name, sel in (("ds", L.USER_DS_32), ("es", L.USER_DS_32), ("fs", L.KERNEL_PERCPU_32)):
        fault = cpu.load_segment(name, sel)
        if fault is not None:
            k.stop("oops", f"SAVE_ALL could not load {name}: {fault}")
    r[RSP] = base
    r[RFLAGS] &= ~F.DF
    k.note(
        where("SAVE_ALL pt_regs_ax=$-ENOSYS"),
        "cld; push gs, fs, es, ds, -ENOSYS (the ax slot), ebp, edi, esi, edx, ecx, ebx; ds = "
        "es = __USER_DS, fs = __KERNEL_PERCPU",
    )
    return base


def int80_32(k: Kernel) -> None:
    """entry_INT80_32: INT 0x80 through the DPL 3 interrupt gate (IF clear on entry).

    Arguments (the comment above entry_INT80_32):
      eax  system call number
      ebx  arg1, ecx arg2, edx arg3, esi arg4, edi arg5, ebp arg6
    """
    r = k.cpu.r
    sp = (r[RSP] - 4) & _M32
    k.kwrite(sp, r[RAX] & _M32, 4)
    k.note(where("entry_INT80_32"), f"ASM_CLAC; pushl %eax (orig_ax {r[RAX] & _M32:#x})")
    _save_all(k, sp)
    k.note(where("entry_INT80_32"), "movl %esp,%eax; call do_int80_syscall_32")
    common69.do_int80_syscall_32(k)


def sysenter_32(k: Kernel) -> None:
    """entry_SYSENTER_32 (6.9).

    Arguments (the comment above entry_SYSENTER_32):
      eax  system call number
      ebx  arg1, ecx arg2, edx arg3, esi arg4, edi arg5
      ebp  user stack
      0(%ebp) arg6
    """
    r = k.cpu.r
    top = k.kread(k.map.tss + 4, 4)
    flags = r[RFLAGS] & _M32
    frame = [r[RAX] & _M32, 0, L.USER_CS_32, flags, 0, L.USER_DS_32]
    sp = top - 6 * 4
    k.kwrite_words(sp, frame, 4)
    k.note(
        where("entry_SYSENTER_32"),
        f"movl TSS_entry2task_stack(%esp),%esp ({top:#x}); push __USER_DS, 0 (sp placeholder), "
        "flags (pushfl: IF clear), __USER_CS, 0 (ip placeholder), %eax (orig_ax)",
    )
    _save_all(k, sp)
    if flags & (L69.X86_EFLAGS_NT | L69.X86_EFLAGS_AC | L69.X86_EFLAGS_TF):
        r[RFLAGS] = L69.X86_EFLAGS_FIXED
        k.note(where(".Lsysenter_fix_flags"), "NT, AC or TF set: pushl $X86_EFLAGS_FIXED; popfl")
    k.note(where("entry_SYSENTER_32"), "movl %esp,%eax; call do_SYSENTER_32")
    common69.do_SYSENTER_32(k)


def sysenter_exit(k: Kernel) -> None:
    """The opportunistic SYSEXIT: edx = regs->ip, ecx = regs->sp, fs, ebx, esi, edi, ebp from
    pt_regs; the flags but IF (btrl), then eax; sti; sysexit back to the vDSO, which pops ecx
    and edx."""
    cpu = k.cpu
    r = cpu.r
    base = r[RSP] & _M32

    def slot(name: str) -> int:
        return k.kread(base + _PT[name], 4)

    r[RDX], r[RCX] = slot("ip"), slot("sp")
    # 1: mov PT_FS(%esp),%fs has _ASM_EXTABLE(1b, 2b): "2: movl $0,PT_FS(%esp); jmp 1b".
    E32.load_user_selector(
        k,
        base + _PT["fs"],
        "fs",
        where("entry_SYSENTER_32"),
        "1: mov PT_FS(%esp),%fs: {fault}; fixup 2: movl $0,PT_FS(%esp); jmp 1b",
    )
    r[RBX], r[RSI], r[RDI], r[RBP] = slot("bx"), slot("si"), slot("di"), slot("bp")
    r[RFLAGS] = slot("flags") & ~L69.X86_EFLAGS_IF
    r[RAX] = slot("ax")
    r[RSP] = (k.kread(k.map.tss + 4, 4) - 8) & _M32
    k.note(
        where("entry_SYSENTER_32"),
        "Opportunistic SYSEXIT: movl PT_EIP,%edx; movl PT_OLDESP,%ecx; mov PT_FS,%fs; popl "
        "ebx, esi, edi, ebp; to the entry stack; btrl $X86_EFLAGS_IF_BIT; popfl; popl %eax; "
        "sti; sysexit",
    )


def restore_all(k: Kernel) -> None:
    """restore_all_switch_stack: RESTORE_REGS pop=4 (ebx..eax, ds, es, fs, gs; orig_ax
    skipped), then .Lirq_return: iret."""
    cpu = k.cpu
    r = cpu.r
    base = r[RSP] & _M32
    # popl %ds/%es/%fs each have _ASM_EXTABLE_TYPE(Nb, Nb, EX_TYPE_POP_ZERO).
    E32.restore_regs(
        k,
        base,
        where("RESTORE_REGS"),
        "popl %{name}: {fault}; EX_TYPE_POP_ZERO: 0 at (%esp), pop again",
    )
    r[RSP] = base + 12 * 4
    k.note(
        where("restore_all_switch_stack"),
        "SWITCH_TO_ENTRY_STACK, SWITCH_TO_USER_CR3 (not modeled); RESTORE_REGS pop=4: ebx, "
        "ecx, edx, esi, edi, ebp, eax, ds, es, fs; skip orig_ax; iret",
    )
