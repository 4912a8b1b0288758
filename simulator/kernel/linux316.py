"""Linux 3.16's numbers for x86: selectors, MSR values, thread flags, sizes, the memory map.

Each value names the 3.16 file it comes from; tests pin them. Addresses that
are ringsim's own choice (where a table or a stack sits) are marked as such.
"""

from __future__ import annotations

import attrs

PROFILE = "linux-3.16"

# --- x86_64 GDT (arch/x86/include/asm/segment.h, CONFIG_X86_64) -------------
GDT_ENTRY_KERNEL32_CS = 1
GDT_ENTRY_KERNEL_CS = 2
GDT_ENTRY_KERNEL_DS = 3
GDT_ENTRY_DEFAULT_USER32_CS = 4
GDT_ENTRY_DEFAULT_USER_DS = 5
GDT_ENTRY_DEFAULT_USER_CS = 6
GDT_ENTRY_TSS_64 = 8  # needs two entries
GDT_ENTRY_LDT_64 = 10  # needs two entries
GDT_ENTRY_TLS_MIN_64 = 12
GDT_ENTRY_PER_CPU_64 = 15
GDT_ENTRIES_64 = 16

KERNEL32_CS = GDT_ENTRY_KERNEL32_CS * 8  # 0x08
KERNEL_CS_64 = GDT_ENTRY_KERNEL_CS * 8  # 0x10
KERNEL_DS_64 = GDT_ENTRY_KERNEL_DS * 8  # 0x18
USER32_CS = GDT_ENTRY_DEFAULT_USER32_CS * 8 + 3  # 0x23
USER_DS_64 = GDT_ENTRY_DEFAULT_USER_DS * 8 + 3  # 0x2b
USER32_DS = USER_DS_64
USER_CS_64 = GDT_ENTRY_DEFAULT_USER_CS * 8 + 3  # 0x33
TSS_SEL_64 = GDT_ENTRY_TSS_64 * 8  # 0x40
PER_CPU_SEG_64 = GDT_ENTRY_PER_CPU_64 * 8 + 3  # 0x7b

# GDT_ENTRY_INIT(flags, base, limit) values of gdt_page (arch/x86/kernel/cpu/common.c):
# the flags word holds the access byte (low) and the G/D/L/AVL nibble (bits 12-15).
GDT_INIT_64: dict[int, int] = {
    GDT_ENTRY_KERNEL32_CS: 0xC09B,
    GDT_ENTRY_KERNEL_CS: 0xA09B,
    GDT_ENTRY_KERNEL_DS: 0xC093,
    GDT_ENTRY_DEFAULT_USER32_CS: 0xC0FB,
    GDT_ENTRY_DEFAULT_USER_DS: 0xC0F3,
    GDT_ENTRY_DEFAULT_USER_CS: 0xA0FB,
}

# --- i386 GDT (arch/x86/include/asm/segment.h, CONFIG_X86_32) ---------------
GDT_ENTRY_TLS_MIN_32 = 6
GDT_ENTRY_KERNEL_CS_32 = 12
GDT_ENTRY_KERNEL_DS_32 = 13
GDT_ENTRY_DEFAULT_USER_CS_32 = 14
GDT_ENTRY_DEFAULT_USER_DS_32 = 15
GDT_ENTRY_TSS_32 = 16
GDT_ENTRY_PERCPU_32 = 27
GDT_ENTRIES_32 = 32

KERNEL_CS_32 = GDT_ENTRY_KERNEL_CS_32 * 8  # 0x60
KERNEL_DS_32 = GDT_ENTRY_KERNEL_DS_32 * 8  # 0x68
USER_CS_32 = GDT_ENTRY_DEFAULT_USER_CS_32 * 8 + 3  # 0x73
USER_DS_32 = GDT_ENTRY_DEFAULT_USER_DS_32 * 8 + 3  # 0x7b
TSS_SEL_32 = GDT_ENTRY_TSS_32 * 8  # 0x80
KERNEL_PERCPU_32 = GDT_ENTRY_PERCPU_32 * 8  # 0xd8

GDT_INIT_32: dict[int, int] = {
    GDT_ENTRY_KERNEL_CS_32: 0xC09A,
    GDT_ENTRY_KERNEL_DS_32: 0xC092,
    GDT_ENTRY_DEFAULT_USER_CS_32: 0xC0FA,
    GDT_ENTRY_DEFAULT_USER_DS_32: 0xC0F2,
    GDT_ENTRY_PERCPU_32: 0xC092,
}

GDT_ENTRY_TLS_ENTRIES = 3

# --- MSRs (arch/x86/kernel/cpu/common.c syscall_init; 3.15's vdso32-setup.c
# syscall32_cpu_init / enable_sep_cpu, whose values 3.16 keeps) ---------------
STAR = (USER32_CS << 48) | (KERNEL_CS_64 << 32)  # 0x0023001000000000
# X86_EFLAGS_TF|X86_EFLAGS_DF|X86_EFLAGS_IF|X86_EFLAGS_IOPL|X86_EFLAGS_AC
SYSCALL_MASK = 0x100 | 0x400 | 0x200 | 0x3000 | 0x40000  # 0x43700

# --- IDT (arch/x86/kernel/traps.c trap_init, early_trap_init) --------------
SYSCALL_VECTOR = 0x80  # IA32_SYSCALL_VECTOR on x86_64, SYSCALL_VECTOR on i386
# IST indexes (arch/x86/include/asm/page_64_types.h): 1-based as the gate holds them.
DOUBLEFAULT_STACK = 1
NMI_STACK = 2
DEBUG_STACK = 3
MCE_STACK = 4


@attrs.frozen
class GateSpec:
    """One IDT entry as trap_init sets it: handler symbol, gate type, DPL, IST."""

    vector: int
    handler: str
    trap: bool = False  # trap gate (IF kept) rather than interrupt gate
    dpl: int = 0
    ist: int = 0


def idt_gates(kernel: str) -> tuple[GateSpec, ...]:
    """The gates trap_init/early_trap_init install on ``kernel`` (3.16 traps.c).

    On x86_64 every gate is an interrupt gate (set_intr_gate, set_system_intr_gate);
    int3 and overflow are DPL 3 "system" gates and vector 0x80 is
    set_system_intr_gate(IA32_SYSCALL_VECTOR, ia32_syscall). On i386, vector 0x80 is
    set_system_trap_gate(SYSCALL_VECTOR, &system_call) and #DF is a task gate
    (set_task_gate(X86_TRAP_DF, GDT_ENTRY_DOUBLEFAULT_TSS)), which ringsim leaves
    out because it does not model task switches.
    """
    wide = kernel == "x86_64"
    gates = [
        GateSpec(0, "divide_error"),
        GateSpec(1, "debug", ist=DEBUG_STACK if wide else 0),
        GateSpec(2, "nmi", ist=NMI_STACK if wide else 0),
        GateSpec(3, "int3", dpl=3, ist=DEBUG_STACK if wide else 0),
        GateSpec(4, "overflow", dpl=3),
        GateSpec(5, "bounds"),
        GateSpec(6, "invalid_op"),
        GateSpec(7, "device_not_available"),
        GateSpec(9, "coprocessor_segment_overrun"),
        GateSpec(10, "invalid_TSS"),
        GateSpec(11, "segment_not_present"),
        GateSpec(12, "stack_segment"),
        GateSpec(13, "general_protection"),
        GateSpec(14, "page_fault"),
        GateSpec(15, "spurious_interrupt_bug"),
        GateSpec(16, "coprocessor_error"),
        GateSpec(17, "alignment_check"),
        GateSpec(18, "machine_check", ist=MCE_STACK if wide else 0),
        GateSpec(19, "simd_coprocessor_error"),
    ]
    if wide:
        gates.append(GateSpec(8, "double_fault", ist=DOUBLEFAULT_STACK))
        gates.append(GateSpec(SYSCALL_VECTOR, "ia32_syscall", dpl=3))
    else:
        gates.append(GateSpec(SYSCALL_VECTOR, "system_call", trap=True, dpl=3))
    return tuple(sorted(gates, key=lambda g: g.vector))


# --- thread_info flags (arch/x86/include/asm/thread_info.h) ----------------
TIF_SYSCALL_TRACE = 0
TIF_NOTIFY_RESUME = 1
TIF_SIGPENDING = 2
TIF_NEED_RESCHED = 3
TIF_SINGLESTEP = 4
TIF_SYSCALL_EMU = 6
TIF_SYSCALL_AUDIT = 7
TIF_SECCOMP = 8
TIF_IA32 = 17
TIF_FORK = 18
TIF_ADDR32 = 29
TIF_X32 = 30
TIF_SYSCALL_TRACEPOINT = 28
TIF_NOHZ = 19

TS_COMPAT = 0x0002  # thread_info->status (asm/thread_info.h)

# --- sizes -------------------------------------------------------------------
PAGE_SIZE = 4096
THREAD_SIZE_64 = 4 * PAGE_SIZE  # THREAD_SIZE_ORDER 2 (page_64_types.h, since 3.15)
THREAD_SIZE_32 = 2 * PAGE_SIZE  # THREAD_SIZE_ORDER 1 (page_32_types.h)
KERNEL_STACK_OFFSET = 5 * 8  # asm/thread_info.h, x86_64
EXCEPTION_STKSZ = PAGE_SIZE
PT_REGS_SIZE_64 = 21 * 8
PT_REGS_SIZE_32 = 17 * 4
X32_SYSCALL_BIT = 0x40000000
SYSCALL_MASK_X32 = ~X32_SYSCALL_BIT & 0xFFFF_FFFF  # __SYSCALL_MASK with x32 configured

# User-space limits: access_ok compares against the thread's addr_limit,
# USER_DS = TASK_SIZE_MAX on x86_64 for every task, and PAGE_OFFSET on i386
# (arch/x86/include/asm/uaccess.h, processor.h).
TASK_SIZE_MAX_64 = (1 << 47) - PAGE_SIZE
PAGE_OFFSET_32 = 0xC000_0000
IA32_PAGE_OFFSET = 0xFFFF_E000  # TASK_SIZE of a TIF_ADDR32 task (no ADDR_LIMIT_3GB)

# --- ringsim's memory map (addresses are ringsim's choice) ------------------
KERNEL_SPLIT_64 = 0xFFFF_8000_0000_0000


@attrs.frozen
class MemoryMap:
    """Where ringsim puts the kernel's tables, text and stacks, and a process's pages."""

    split: int
    gdt: int
    idt: int
    tss: int
    percpu: int
    ist_stacks: int  # IST n's stack top is ist_stacks + n * 0x2000
    kernel_text: int
    kernel_stacks: int  # pid's stack is kernel_stacks + pid * stride
    stack_stride: int
    thread_size: int
    user_text: int
    user_stack_top: int
    vdso32: int
    tls_block: int


MAP_64 = MemoryMap(
    split=KERNEL_SPLIT_64,
    gdt=0xFFFF_8800_0001_0000,
    idt=0xFFFF_8800_0001_1000,
    tss=0xFFFF_8800_0001_2000,
    percpu=0xFFFF_8800_0001_8000,
    ist_stacks=0xFFFF_8800_0002_0000,
    kernel_text=0xFFFF_FFFF_8100_0000,
    kernel_stacks=0xFFFF_8800_0100_0000,
    stack_stride=0x8000,
    thread_size=THREAD_SIZE_64,
    user_text=0x1_0000,
    user_stack_top=0x7FFF_FFFF_E000,
    vdso32=0xF7FF_C000,
    tls_block=0x60_0000,
)

MAP_32 = MemoryMap(
    split=PAGE_OFFSET_32,
    gdt=0xC180_0000,
    idt=0xC180_1000,
    tss=0xC180_2000,
    percpu=0xC180_6000,
    ist_stacks=0xC181_0000,
    kernel_text=0xC100_0000,
    kernel_stacks=0xC200_0000,
    stack_stride=0x4000,
    thread_size=THREAD_SIZE_32,
    user_text=0x1_0000,
    user_stack_top=0xBFFF_F000,
    vdso32=0xB7FF_C000,
    tls_block=0x0810_0000,
)

# Offsets in ringsim's per-CPU area (the real kernel's are link-time choices).
PERCPU_OLD_RSP = 0x00
PERCPU_KERNEL_STACK = 0x08
PERCPU_CURRENT_TASK = 0x10
