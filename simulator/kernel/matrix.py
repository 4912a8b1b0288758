"""Every kernel × process ABI × way in × CPU vendor of Linux 3.16, as data, and its rendering.

Each ``Row`` says what one ``Process.syscall(..., via=...)`` does on one machine,
as the 3.16 sources and the Intel and AMD manuals say it: the entry routine and
table it reaches (or the fault the CPU raises and the signal the process dies
of), the exit instruction, whose syscall numbers count, how the arguments
arrive, which registers the process sees change, and the lines that decide it.
``docs/mechanisms.md`` is ``render()``; ``python -m simulator.kernel.matrix``
prints it, ``--write`` regenerates the page and ``--check`` compares it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import attrs

import abi

KERNELS = ("x86_64", "i386")
VENDORS = ("intel", "amd")
ABIS = ("x86_64", "i386", "x32")
VIAS = ("syscall", "int80", "sysenter", "kernel_vsyscall")
EXITS = ("SYSRETQ", "SYSRETL", "SYSEXIT", "IRETQ", "IRET")
OUTCOMES = ("ok", "refused", "killed")
DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "mechanisms.md"

_VENDOR_NAMES = {"intel": "Intel", "amd": "AMD"}
# The registers a process can see, by its return register (64-bit code or 32-bit code).
_VISIBLE = {
    "rax": frozenset(
        [
            "rax",
            "rbx",
            "rcx",
            "rdx",
            "rsi",
            "rdi",
            "rbp",
            "rsp",
            "rflags",
            *(f"r{n}" for n in range(8, 16)),
        ]
    ),
    "eax": frozenset(["eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "eflags"]),
}
# Signal numbers of arch/x86/include/uapi/asm/signal.h.
_SIGNALS = {"SIGILL": 4, "SIGSEGV": 11}


def _short_file(path: str) -> str:
    return path.rsplit("/", 1)[-1]


@attrs.frozen
class Entry:
    """A kernel entry routine: its symbol and the 3.16 file that defines it."""

    symbol: str
    file: str

    @property
    def where(self) -> str:
        """How ringsim's trace names it: ``system_call (arch/x86/kernel/entry_64.S)``."""
        return f"{self.symbol} ({self.file})"

    def __str__(self) -> str:
        return f"{self.symbol} ({_short_file(self.file)})"


@attrs.frozen
class Fault:
    """The CPU exception that refuses a call, and the signal the process dies of."""

    mnemonic: str = attrs.field(validator=attrs.validators.matches_re(r"#[A-Z]{2}"))
    vector: int = attrs.field(validator=[attrs.validators.ge(0), attrs.validators.le(255)])
    error_code: int | None
    signal: str = attrs.field(validator=attrs.validators.in_(tuple(_SIGNALS)))
    at: str
    source: str

    @property
    def signal_number(self) -> int:
        return _SIGNALS[self.signal]

    @property
    def label(self) -> str:
        """``#UD`` or ``#PF(0x14)``: the fault with its error code, if it pushes one."""
        if self.error_code is None:
            return self.mnemonic
        return f"{self.mnemonic}({self.error_code:#x})"

    def __str__(self) -> str:
        return f"{self.label} (vector {self.vector}) -> {self.signal}"


@attrs.frozen
class Row:
    """One kernel × vendor × process ABI × mechanism, as the sources say it behaves.

    ``entry``/``table``/``exit`` are None when the CPU refuses the instruction,
    and so are ``numbers``, ``arg_bits``, ``arguments`` and ``arg6``; ``fault``
    is None when the call comes back. ``numbers`` is the ABI whose syscall
    numbers the mechanism reaches (``number_bit`` is ORed in by the caller);
    ``arg_bits`` is how many bits of each argument register reach the handler;
    ``arg6`` is where argument 6 is read from; ``clobbers`` are the registers
    the process sees change besides ``result`` and the instruction pointer
    (when they held other values).
    """

    kernel: str = attrs.field(validator=attrs.validators.in_(KERNELS))
    vendor: str = attrs.field(validator=attrs.validators.in_(VENDORS))
    abi: str = attrs.field(validator=attrs.validators.in_(ABIS))
    via: str = attrs.field(validator=attrs.validators.in_(VIAS))
    instruction: str
    entry: Entry | None
    table: str | None
    exit: str | None = attrs.field(validator=attrs.validators.optional(attrs.validators.in_(EXITS)))
    numbers: str | None = attrs.field(
        validator=attrs.validators.optional(attrs.validators.in_(ABIS))
    )
    number_bit: int
    arg_bits: int | None = attrs.field(
        validator=attrs.validators.optional(attrs.validators.in_((32, 64)))
    )
    arguments: str | None
    arg6: str | None
    result: str = attrs.field(validator=attrs.validators.in_(("rax", "eax")))
    clobbers: tuple[str, ...]
    clobbers_why: str
    fault: Fault | None
    sources: tuple[str, ...]
    note: str = ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.kernel, self.vendor, self.abi, self.via)

    @property
    def outcome(self) -> str:
        """``ok`` (the call comes back), ``refused`` (the CPU faults on the instruction) or
        ``killed`` (the kernel runs the call, then the return lands on a fault)."""
        if self.fault is None:
            return "ok"
        return "refused" if self.entry is None else "killed"

    @property
    def ip(self) -> str:
        return "rip" if self.result == "rax" else "eip"

    @property
    def outcome_text(self) -> str:
        path = f"{self.entry} -> {self.table}" if self.entry is not None else ""
        if self.fault is None:
            return f"ok: {path}"
        if self.entry is None:
            return f"{self.fault}"
        return f"{path}, then {self.fault}"

    @property
    def numbering(self) -> str:
        if self.numbers is None:
            return "-"
        if self.number_bit:
            return f"{self.numbers}: the x86_64 table, number + {self.number_bit:#x}"
        return f"{self.numbers} ({self.table})"


def _check_rows(rows: tuple[Row, ...]) -> tuple[Row, ...]:
    """The registry's checks: every combination once, and each row consistent with itself."""
    expected = {
        (kernel, vendor, process, via)
        for kernel in KERNELS
        for vendor in VENDORS
        for process in (ABIS if kernel == "x86_64" else ("i386",))
        for via in VIAS
        if via != "kernel_vsyscall" or process == "i386"
    }
    seen: set[tuple[str, str, str, str]] = set()
    for row in rows:
        if row.key in seen:
            raise ValueError(f"rows: {row.key} appears twice")
        seen.add(row.key)
        if row.key not in expected:
            raise ValueError(f"rows: {row.key} is not a combination Process.syscall offers")
        if row.number_bit != (abi.X32_SYSCALL_BIT if row.numbers == "x32" else 0):
            raise ValueError(f"rows: {row.key} number_bit does not match numbers={row.numbers}")
        if not set(row.clobbers) <= _VISIBLE[row.result] - {row.result}:
            raise ValueError(f"rows: {row.key} clobbers {row.clobbers}, not all visible to it")
        if row.outcome not in OUTCOMES or (row.outcome != "ok" and row.clobbers):
            raise ValueError(f"rows: {row.key} does not come back but lists changed registers")
        reached = (row.table, row.exit, row.numbers, row.arg_bits, row.arguments, row.arg6)
        if row.outcome == "refused" and any(v is not None for v in reached):
            raise ValueError(f"rows: {row.key} is refused by the CPU but says what the kernel does")
        if row.outcome != "refused" and any(v is None for v in reached):
            raise ValueError(f"rows: {row.key} reaches the kernel but leaves a field empty")
    missing = expected - seen
    if missing:
        raise ValueError(f"rows: missing {sorted(missing)}")
    return rows


# --------------------------------------------------------------------------- entries

SYSTEM_CALL_64 = Entry("system_call", "arch/x86/kernel/entry_64.S")
IA32_SYSCALL = Entry("ia32_syscall", "arch/x86/ia32/ia32entry.S")
IA32_SYSENTER_TARGET = Entry("ia32_sysenter_target", "arch/x86/ia32/ia32entry.S")
IA32_CSTAR_TARGET = Entry("ia32_cstar_target", "arch/x86/ia32/ia32entry.S")
SYSTEM_CALL_32 = Entry("system_call", "arch/x86/kernel/entry_32.S")
SYSENTER_TARGET_32 = Entry("ia32_sysenter_target", "arch/x86/kernel/entry_32.S")

# --------------------------------------------------------------------------- sources

SDM_SYSCALL = (
    "Intel SDM Vol. 2B SYSCALL: RCX := RIP (the next instruction); R11 := RFLAGS; "
    "RFLAGS &= ~IA32_FMASK; RIP := IA32_LSTAR"
)
SDM_SYSCALL_UD = (
    "Intel SDM Vol. 2B SYSCALL, Operation: IF (CS.L ≠ 1) or (IA32_EFER.LMA ≠ 1) or "
    "(IA32_EFER.SCE ≠ 1) THEN #UD (opcode table: Compat/Leg Mode Invalid)"
)
APM_SYSCALL_COMPAT = (
    "AMD APM Vol. 3 SYSCALL: from compatibility mode RIP := CSTAR; RCX := return address; "
    "R11 := RFLAGS"
)
APM_SYSCALL_SCE = (
    "AMD APM Vol. 3 SYSCALL, Exceptions: #UD when the system call extension bit (SCE) of "
    "EFER is 0 (legacy mode included)"
)
APM_SYSENTER = (
    "AMD APM Vol. 3 SYSENTER: 'This instruction is valid only in legacy mode' "
    "(#UD in 64-bit and in compatibility mode)"
)
SDM_SYSENTER = (
    "Intel SDM Vol. 2B SYSENTER: valid in 64-bit and compatibility mode; loads CS, SS, "
    "RSP = IA32_SYSENTER_ESP and RIP = IA32_SYSENTER_EIP (64-bit mode); saves nothing"
)
SDM_SYSRETQ = "Intel SDM Vol. 2B SYSRET: RIP := RCX; RFLAGS := (R11 & 3C7FD7H) | 2"
APM_SYSRETL = (
    "AMD APM Vol. 3 SYSRET (32-bit operand, to compatibility mode): EIP := ECX; "
    "RFLAGS := R11 with RF and VM cleared"
)
SDM_SYSEXIT = "Intel SDM Vol. 2B SYSEXIT: EIP := EDX; ESP := ECX; flags affected: none"
SDM_PF_CODE = (
    "Intel SDM Vol. 3A §4.7: #PF error code 0x14 = P 0 (not present), U/S 1 (user mode), "
    "I/D 1 (instruction fetch, EFER.NXE set)"
)
TRAPS_UD = 'arch/x86/kernel/traps.c: DO_ERROR(X86_TRAP_UD, SIGILL, "invalid opcode", invalid_op)'
FAULT_SEGV = (
    "arch/x86/mm/fault.c __bad_area_nosemaphore: a user-mode fault with no VMA is "
    "force_sig_info_fault(SIGSEGV, SEGV_MAPERR, ...)"
)
HEAD_64_SCE = "arch/x86/kernel/head_64.S: btsl $_EFER_SCE, %eax /* Enable System Call */"
HEAD_32_NO_SCE = (
    "arch/x86/kernel/head_32.S sets no EFER.SCE, and vdso32-setup.c defines "
    "vdso32_syscall() as (0) on CONFIG_X86_32: a 32-bit kernel never enables SYSCALL"
)
SYSCALL_INIT_LSTAR = (
    "arch/x86/kernel/cpu/common.c syscall_init: wrmsrl(MSR_LSTAR, system_call); "
    "MSR_SYSCALL_MASK = TF|DF|IF|IOPL|AC"
)
SYSCALL_INIT_CSTAR = (
    "arch/x86/kernel/cpu/common.c syscall_init (CONFIG_IA32_EMULATION): "
    "MSR_CSTAR = ia32_cstar_target"
)
SYSCALL_INIT_SYSENTER = (
    "arch/x86/kernel/cpu/common.c syscall_init (CONFIG_IA32_EMULATION): MSR_IA32_SYSENTER_CS "
    "= __KERNEL_CS, SYSENTER_ESP = 0, SYSENTER_EIP = ia32_sysenter_target, on AMD as well"
)
ENABLE_SEP_CPU = (
    "arch/x86/kernel/cpu/common.c enable_sep_cpu: MSR_IA32_SYSENTER_CS = __KERNEL_CS, "
    "SYSENTER_ESP = tss->x86_tss.sp1, SYSENTER_EIP = ia32_sysenter_target"
)
TRAP_INIT_64 = (
    "arch/x86/kernel/traps.c trap_init: set_system_intr_gate(IA32_SYSCALL_VECTOR, "
    "ia32_syscall): vector 0x80 is a DPL 3 interrupt gate"
)
TRAP_INIT_32 = (
    "arch/x86/kernel/traps.c trap_init: set_system_trap_gate(SYSCALL_VECTOR, &system_call): "
    "vector 0x80 is a DPL 3 trap gate"
)
SYSTEM_CALL_64_SRC = (
    "arch/x86/kernel/entry_64.S system_call: SAVE_ARGS 8,0; cmpl $__NR_syscall_max,%eax; "
    "movq %r10,%rcx; call *sys_call_table(,%rax,8)"
)
SYSTEM_CALL_X32_SRC = (
    "arch/x86/kernel/entry_64.S system_call (CONFIG_X86_X32_ABI): andl $__SYSCALL_MASK,%eax "
    "before the compare; the x32 entries 512-544 sit in the same sys_call_table"
)
X32_BIT = "arch/x86/include/uapi/asm/unistd.h: #define __X32_SYSCALL_BIT 0x40000000"
SYSRET_CHECK = (
    "arch/x86/kernel/entry_64.S sysret_check: movq RIP-ARGOFFSET(%rsp),%rcx; "
    "RESTORE_ARGS 1,-ARG_SKIP,0; movq PER_CPU(old_rsp),%rsp; USERGS_SYSRET64 (swapgs; sysretq)"
)
IA32_SYSCALL_SRC = (
    "arch/x86/ia32/ia32entry.S ia32_syscall: movl %eax,%eax; pushq %rax; SAVE_ARGS 0,1,0; "
    "cmpq $(IA32_NR_syscalls-1),%rax; IA32_ARG_FIXUP; call *ia32_sys_call_table(,%rax,8)"
)
IA32_ARG_FIXUP = (
    "arch/x86/ia32/ia32entry.S IA32_ARG_FIXUP: movl %edi,%r8d; movl %ebp,%r9d; "
    "xchg %ecx,%esi; movl %ebx,%edi; movl %edx,%edx (32-bit moves: bits 63-32 dropped)"
)
IA32_SYSRET = (
    "arch/x86/ia32/ia32entry.S ia32_sysret: movq %rax,RAX-ARGOFFSET(%rsp); "
    "CLEAR_RREGS -ARGOFFSET (r8-r11 slots = 0); jmp int_ret_from_sys_call"
)
INT_RET_FROM_SYS_CALL = (
    "arch/x86/kernel/entry_64.S int_ret_from_sys_call -> retint_swapgs -> restore_args: "
    "RESTORE_ARGS 1,8,1; irq_return: INTERRUPT_RETURN (iretq)"
)
IA32_SYSENTER_SRC = (
    "arch/x86/ia32/ia32entry.S ia32_sysenter_target: movq PER_CPU_VAR(kernel_stack),%rsp; "
    "addq $(KERNEL_STACK_OFFSET),%rsp; ENABLE_INTERRUPTS; pushq $__USER32_DS; pushq %rbp; "
    "pushfq; ...; pushq %r10 (TI_sysenter_return); 1: movl (%rbp),%ebp (fixup ia32_badarg); "
    "IA32_ARG_FIXUP; call *ia32_sys_call_table(,%rax,8)"
)
SYSEXIT_FROM_SYS_CALL = (
    "arch/x86/ia32/ia32entry.S sysexit_from_sys_call: andl $~0x200,EFLAGS-R11(%rsp); "
    "movl RIP-R11(%rsp),%edx; RESTORE_ARGS 0,24,0,0,0,0; xorq %r8..%r11; popfq; popq %rcx; "
    "ENABLE_INTERRUPTS_SYSEXIT32 (swapgs; sti; sysexit); work pending -> sysexit_audit (IRET)"
)
IA32_BADARG = (
    "arch/x86/ia32/ia32entry.S ia32_badarg: movq $-EFAULT,%rax; jmp ia32_sysret "
    "(ia32_badsys likewise with -ENOSYS): both leave by IRET"
)
SYSENTER_RETURN = (
    "thread_info->sysenter_return is set only when a 32-bit vDSO with VDSO32_SYSENTER_RETURN "
    "is mapped (arch/x86/vdso/vma.c load_vdso32); a 64-bit or x32 task has 0 there, or a "
    "stale value copied from its parent at fork"
)
IA32_CSTAR_SRC = (
    "arch/x86/ia32/ia32entry.S ia32_cstar_target: movl %esp,%r8d; SAVE_ARGS 8,0,0; "
    "movq %rbp,RCX-ARGOFFSET(%rsp) /* this lies slightly to ptrace */; movl %ebp,%ecx; "
    "1: movl (%r8),%r9d; IA32_ARG_FIXUP 1; call *ia32_sys_call_table(,%rax,8)"
)
SYSRETL_FROM_SYS_CALL = (
    "arch/x86/ia32/ia32entry.S sysretl_from_sys_call: RESTORE_ARGS 0,-ARG_SKIP,0,0,0; "
    "movl RIP-ARGOFFSET(%rsp),%ecx; movl EFLAGS-ARGOFFSET(%rsp),%r11d; xorq %r10,%r9,%r8; "
    "movl RSP-ARGOFFSET(%rsp),%esp; USERGS_SYSRET32 (swapgs; sysretl)"
)
VDSO_SYSENTER = (
    "arch/x86/vdso/vdso32/sysenter.S __kernel_vsyscall: push %ecx; push %edx; push %ebp; "
    "movl %esp,%ebp; sysenter; ... VDSO32_SYSENTER_RETURN: pop %ebp; pop %edx; pop %ecx; ret"
)
VDSO_SYSCALL = (
    "arch/x86/vdso/vdso32/syscall.S __kernel_vsyscall: push %ebp; movl %ecx,%ebp; syscall; "
    "movl $__USER32_DS,%ecx; movl %ecx,%ss; movl %ebp,%ecx; popl %ebp; ret"
)
SYSENTER_SETUP = (
    "arch/x86/vdso/vdso32-setup.c sysenter_setup: on x86_64 vdso32_syscall() "
    "(X86_FEATURE_SYSCALL32, AMD) is tried before vdso32_sysenter() (X86_FEATURE_SYSENTER32, "
    "Intel); on i386 vdso32_sysenter() is X86_FEATURE_SEP and vdso32_syscall() is (0)"
)
SYSTEM_CALL_32_SRC = (
    "arch/x86/kernel/entry_32.S system_call: pushl %eax; SAVE_ALL; "
    "cmpl $(NR_syscalls),%eax; call *sys_call_table(,%eax,4); movl %eax,PT_EAX(%esp)"
)
RESTORE_ALL = (
    "arch/x86/kernel/entry_32.S restore_all: RESTORE_REGS 4 (every register SAVE_ALL pushed); "
    "irq_return: INTERRUPT_RETURN (iret)"
)
SYSENTER_32_SRC = (
    "arch/x86/kernel/entry_32.S ia32_sysenter_target: movl TSS_sysenter_sp0(%esp),%esp; "
    "sysenter_past_esp: pushl $__USER_DS; pushl %ebp; pushfl; orl $X86_EFLAGS_IF,(%esp); ...; "
    "SAVE_ALL (cld first); cmpl $__PAGE_OFFSET-3,%ebp; 1: movl (%ebp),%ebp; "
    "call *sys_call_table(,%eax,4)"
)
SYSENTER_EXIT_32 = (
    "arch/x86/kernel/entry_32.S sysenter_exit: movl PT_EIP(%esp),%edx; "
    "movl PT_OLDESP(%esp),%ecx; xorl %ebp,%ebp; mov PT_FS(%esp),%fs; "
    "ENABLE_INTERRUPTS_SYSEXIT (sti; sysexit): no popfl, the saved flags are never reloaded"
)

# --------------------------------------------------------------------------- faults

UD_SYSCALL_COMPAT = Fault(
    "#UD",
    6,
    None,
    "SIGILL",
    at="the SYSCALL of the vDSO sequence, in compatibility mode",
    source=SDM_SYSCALL_UD,
)
UD_SYSCALL_LEGACY_INTEL = Fault(
    "#UD",
    6,
    None,
    "SIGILL",
    at="the SYSCALL of the vDSO sequence, in legacy protected mode",
    source=SDM_SYSCALL_UD,
)
UD_SYSCALL_LEGACY_AMD = Fault(
    "#UD",
    6,
    None,
    "SIGILL",
    at="the SYSCALL of the vDSO sequence: legacy mode is allowed on AMD, EFER.SCE = 0 is not",
    source=APM_SYSCALL_SCE,
)
UD_SYSENTER_64 = Fault(
    "#UD",
    6,
    None,
    "SIGILL",
    at="the SYSENTER, in 64-bit mode",
    source=APM_SYSENTER,
)
UD_SYSENTER_COMPAT = Fault(
    "#UD",
    6,
    None,
    "SIGILL",
    at="the SYSENTER of the vDSO sequence, in compatibility mode",
    source=APM_SYSENTER,
)
PF_SYSENTER_RETURN = Fault(
    "#PF",
    14,
    0x14,
    "SIGSEGV",
    at="the instruction fetch at sysenter_return (0), in compatibility mode",
    source=SDM_PF_CODE,
)

# --------------------------------------------------------------------------- shared cells

I_SYSCALL_64 = "SYSCALL (64-bit mode)"
I_INT80_64 = "INT 0x80 (64-bit mode)"
I_SYSENTER_64 = "SYSENTER (64-bit mode)"
I_INT80_COMPAT = "INT 0x80 (compatibility mode)"
I_INT80_LEGACY = "INT 0x80 (protected mode)"
I_VDSO_SYSENTER = "call into the vDSO SYSENTER sequence: push ecx, edx, ebp; mov ebp, esp; SYSENTER"
I_VDSO_SYSCALL = "call into the vDSO SYSCALL sequence: push ebp; mov ebp, ecx; SYSCALL"
I_VSYSCALL_SYSENTER = "call *%gs:0x10 -> __kernel_vsyscall, SYSENTER variant (vdso32/sysenter.S)"
I_VSYSCALL_SYSCALL = "call *%gs:0x10 -> __kernel_vsyscall, SYSCALL variant (vdso32/syscall.S)"

A_SYSCALL_64 = (
    "whole 64-bit rdi, rsi, rdx, r10, r8, r9 (system_call moves r10 to rcx); "
    "the handler's C types decide"
)
A_SYSCALL_X32 = (
    "whole 64-bit rdi, rsi, rdx, r10, r8, r9, as for x86_64; the handler's C types "
    "(compat ones for the x32 entries 512-544) decide"
)
A_INT80_64 = (
    "cut to 32 bits: ebx, ecx, edx, esi, edi, ebp, moved into rdi, rsi, rdx, rcx, r8, r9 "
    "by 32-bit movl (IA32_ARG_FIXUP)"
)
A_IA32 = (
    "32-bit ebx, ecx, edx, esi, edi, zero-extended into rdi, rsi, rdx, rcx, r8 (IA32_ARG_FIXUP)"
)
A_IA32_INT80 = (
    "32-bit ebx, ecx, edx, esi, edi, ebp, zero-extended into rdi, rsi, rdx, rcx, r8, r9 "
    "(IA32_ARG_FIXUP)"
)
A_SYSENTER_64 = (
    "cut to 32 bits: ebx, ecx, edx, esi, edi, moved into rdi, rsi, rdx, rcx, r8 by 32-bit "
    "movl (IA32_ARG_FIXUP)"
)
A_IA32_CSTAR = (
    "32-bit ebx, ebp (arg 2: SYSCALL took ecx), edx, esi, edi, zero-extended (IA32_ARG_FIXUP 1)"
)
A_I386 = "32-bit ebx, ecx, edx, esi, edi, ebp; SAVE_ALL's frame is the handler's argument list"
A_I386_SYSENTER = "32-bit ebx, ecx, edx, esi, edi; SAVE_ALL's frame is the handler's argument list"

SIX_R9 = "r9"
SIX_EBP_CUT = "ebp (low 32 bits of rbp)"
SIX_EBP = "ebp"
SIX_EBP_STACK_64 = "0(%ebp), the ebp the vDSO pushed: movl (%rbp),%ebp"
SIX_EBP_STACK_64_RAW = "0(%ebp) with ebp = low 32 bits of rbp: movl (%rbp),%ebp"
SIX_ESP_STACK = "0(%esp), the ebp the vDSO pushed: movl (%r8),%r9d"
SIX_EBP_STACK_32 = "0(%ebp), the ebp the vDSO pushed: movl (%ebp),%ebp below __PAGE_OFFSET-3"

WHY_SYSCALL_64 = (
    "SYSCALL writes rcx (return address) and r11 (rflags); sysret_check reloads neither "
    "from user values and SYSRETQ reads them back"
)
WHY_INT80_64 = (
    "ia32_sysret's CLEAR_RREGS zeroes the r8-r11 slots that restore_args reloads; every "
    "other register comes back from pt_regs or was callee-saved"
)
WHY_IA32_INT80 = (
    "IRETQ restores eflags and restore_args reloads ecx, edx, esi, edi; r8-r11 are zeroed "
    "but 32-bit code cannot see them"
)
WHY_IA32_SYSENTER = (
    "the arithmetic flags CF, PF, AF, ZF, SF, OF come back as "
    "addq $(KERNEL_STACK_OFFSET),%rsp left them (SF 1, ZF CF OF 0; PF and AF from the stack "
    "address), because pushfq runs after that addq and sysexit_from_sys_call's popfq reloads "
    "them; ecx and edx (SYSEXIT's esp and eip) and ebp (arg 6) are popped back by the vDSO"
)
WHY_IA32_CSTAR = (
    "ecx (SYSRETL's eip) is restored by the vDSO's movl %ebp,%ecx and ebp by its pop; eflags "
    "come back from the r11 SYSCALL saved; r8-r11 are invisible to 32-bit code"
)
WHY_I386_INT80 = "RESTORE_REGS 4 pops every register SAVE_ALL pushed and IRET reloads eflags"
WHY_I386_SYSENTER = (
    "sysenter_exit reloads no flags, so CF, PF, AF, ZF, SF, OF are as xorl %ebp,%ebp "
    "leaves them (ZF PF 1, CF SF OF 0, AF undefined) and DF as SAVE_ALL's cld leaves it (0); "
    "ecx and edx (SYSEXIT's esp and eip) and ebp (zeroed) are popped back by the vDSO"
)
WHY_NONE_REFUSED = "the process does not come back"

NOTE_INT80_64 = (
    "INT 0x80 from 64-bit code is a compat call: i386 numbers, compat handlers "
    "(TS_COMPAT is set), pointers above 4 GiB cut to their low 32 bits."
)
NOTE_SYSCALL_64 = (
    "Work pending (a signal, tracing) or a ptregs stub (execve, rt_sigreturn) leaves by "
    "IRETQ instead."
)
NOTE_SYSCALL_X32 = (
    "The number carries __X32_SYSCALL_BIT; system_call masks it off to index the shared table."
)
NOTE_SYSENTER_64_AMD = (
    "syscall_init writes the SYSENTER MSRs on AMD too, but the CPU never reads them in long mode."
)
NOTE_COMPAT_SYSCALL_INTEL = "The SYSCALL instruction does not exist in compatibility mode on Intel."
NOTE_COMPAT_SYSCALL_AMD = (
    "AMD's compatibility-mode SYSCALL, as the SYSCALL vDSO does it; the vDSO reloads SS after "
    "SYSRETL."
)
NOTE_COMPAT_SYSENTER_INTEL = (
    "Work pending, a bad number or an unreadable 0(%ebp) leaves by IRETQ through ia32_sysret "
    "instead."
)
NOTE_COMPAT_SYSENTER_AMD = "Which is why sysenter_setup gives AMD the SYSCALL image."
NOTE_VSYSCALL_INTEL = "The SYSENTER image: X86_FEATURE_SYSENTER32 is set on Intel."
NOTE_VSYSCALL_AMD = "The SYSCALL image: X86_FEATURE_SYSCALL32 is set on AMD."
NOTE_LEGACY_SYSCALL_INTEL = "Intel has no legacy-mode SYSCALL at all."
NOTE_LEGACY_SYSCALL_AMD = (
    "AMD has a legacy-mode SYSCALL, but EFER.SCE is clear under a 32-bit kernel."
)
NOTE_LEGACY_SYSENTER = "Work pending or an unreadable 0(%ebp) leaves by IRET instead."
NOTE_LEGACY_VSYSCALL = "The SYSENTER image: X86_FEATURE_SEP, on AMD as on Intel."
NOTE_SYSENTER_64_INTEL = (
    "ia32_sysenter_target treats the call as a 32-bit one: i386 numbers, 32-bit arguments, "
    "argument 6 from 0(%ebp). It returns (by SYSEXIT, or by IRET through ia32_badarg when "
    "0(%ebp) cannot be read) in compatibility mode to thread_info->sysenter_return, which a "
    "64-bit or x32 task never had set: the fetch at 0 is a not-present #PF and the process "
    "dies of SIGSEGV."
)


def _syscall_64(vendor: str, process: str) -> Row:
    """SYSCALL from 64-bit code (x86_64 or x32): system_call, back by SYSRETQ."""
    x32 = process == "x32"
    return Row(
        kernel="x86_64",
        vendor=vendor,
        abi=process,
        via="syscall",
        instruction=I_SYSCALL_64,
        entry=SYSTEM_CALL_64,
        table="sys_call_table",
        exit="SYSRETQ",
        numbers=process,
        number_bit=abi.X32_SYSCALL_BIT if x32 else 0,
        arg_bits=64,
        arguments=A_SYSCALL_X32 if x32 else A_SYSCALL_64,
        arg6=SIX_R9,
        result="rax",
        clobbers=("rcx", "r11"),
        clobbers_why=WHY_SYSCALL_64,
        fault=None,
        sources=(
            SDM_SYSCALL,
            HEAD_64_SCE,
            SYSCALL_INIT_LSTAR,
            SYSTEM_CALL_64_SRC,
            *((SYSTEM_CALL_X32_SRC, X32_BIT) if x32 else ()),
            SYSRET_CHECK,
            SDM_SYSRETQ,
        ),
        note=NOTE_SYSCALL_X32 if x32 else NOTE_SYSCALL_64,
    )


def _int80_64(vendor: str, process: str) -> Row:
    """INT 0x80 from 64-bit code (x86_64 or x32): ia32_syscall, a compat call, back by IRETQ."""
    return Row(
        kernel="x86_64",
        vendor=vendor,
        abi=process,
        via="int80",
        instruction=I_INT80_64,
        entry=IA32_SYSCALL,
        table="ia32_sys_call_table",
        exit="IRETQ",
        numbers="i386",
        number_bit=0,
        arg_bits=32,
        arguments=A_INT80_64,
        arg6=SIX_EBP_CUT,
        result="rax",
        clobbers=("r8", "r9", "r10", "r11"),
        clobbers_why=WHY_INT80_64,
        fault=None,
        sources=(
            TRAP_INIT_64,
            IA32_SYSCALL_SRC,
            IA32_ARG_FIXUP,
            IA32_SYSRET,
            INT_RET_FROM_SYS_CALL,
        ),
        note=NOTE_INT80_64,
    )


def _sysenter_64(vendor: str, process: str) -> Row:
    """SYSENTER from 64-bit code: #UD on AMD; on Intel a 32-bit call that returns to nowhere."""
    intel = vendor == "intel"
    return Row(
        kernel="x86_64",
        vendor=vendor,
        abi=process,
        via="sysenter",
        instruction=I_SYSENTER_64,
        entry=IA32_SYSENTER_TARGET if intel else None,
        table="ia32_sys_call_table" if intel else None,
        exit="SYSEXIT" if intel else None,
        numbers="i386" if intel else None,
        number_bit=0,
        arg_bits=32 if intel else None,
        arguments=A_SYSENTER_64 if intel else None,
        arg6=SIX_EBP_STACK_64_RAW if intel else None,
        result="rax",
        clobbers=(),
        clobbers_why=WHY_NONE_REFUSED,
        fault=PF_SYSENTER_RETURN if intel else UD_SYSENTER_64,
        sources=(
            (
                SDM_SYSENTER,
                SYSCALL_INIT_SYSENTER,
                IA32_SYSENTER_SRC,
                IA32_BADARG,
                SYSEXIT_FROM_SYS_CALL,
                SYSENTER_RETURN,
                SDM_PF_CODE,
                FAULT_SEGV,
            )
            if intel
            else (APM_SYSENTER, SYSCALL_INIT_SYSENTER, TRAPS_UD)
        ),
        note=NOTE_SYSENTER_64_INTEL if intel else NOTE_SYSENTER_64_AMD,
    )


def _compat_syscall(vendor: str) -> Row:
    """The vDSO's SYSCALL sequence in compatibility mode: #UD on Intel, ia32_cstar_target on AMD."""
    intel = vendor == "intel"
    return Row(
        kernel="x86_64",
        vendor=vendor,
        abi="i386",
        via="syscall",
        instruction=I_VDSO_SYSCALL,
        entry=None if intel else IA32_CSTAR_TARGET,
        table=None if intel else "ia32_sys_call_table",
        exit=None if intel else "SYSRETL",
        numbers=None if intel else "i386",
        number_bit=0,
        arg_bits=None if intel else 32,
        arguments=None if intel else A_IA32_CSTAR,
        arg6=None if intel else SIX_ESP_STACK,
        result="eax",
        clobbers=(),
        clobbers_why=WHY_NONE_REFUSED if intel else WHY_IA32_CSTAR,
        fault=UD_SYSCALL_COMPAT if intel else None,
        sources=(
            (SDM_SYSCALL_UD, TRAPS_UD)
            if intel
            else (
                APM_SYSCALL_COMPAT,
                SYSCALL_INIT_CSTAR,
                VDSO_SYSCALL,
                IA32_CSTAR_SRC,
                IA32_ARG_FIXUP,
                SYSRETL_FROM_SYS_CALL,
                APM_SYSRETL,
            )
        ),
        note=NOTE_COMPAT_SYSCALL_INTEL if intel else NOTE_COMPAT_SYSCALL_AMD,
    )


def _compat_int80(vendor: str) -> Row:
    """INT 0x80 from a 32-bit process on a 64-bit kernel: ia32_syscall, back by IRETQ."""
    return Row(
        kernel="x86_64",
        vendor=vendor,
        abi="i386",
        via="int80",
        instruction=I_INT80_COMPAT,
        entry=IA32_SYSCALL,
        table="ia32_sys_call_table",
        exit="IRETQ",
        numbers="i386",
        number_bit=0,
        arg_bits=32,
        arguments=A_IA32_INT80,
        arg6=SIX_EBP,
        result="eax",
        clobbers=(),
        clobbers_why=WHY_IA32_INT80,
        fault=None,
        sources=(
            TRAP_INIT_64,
            IA32_SYSCALL_SRC,
            IA32_ARG_FIXUP,
            IA32_SYSRET,
            INT_RET_FROM_SYS_CALL,
        ),
    )


_COMPAT_SYSENTER_SOURCES = (
    SDM_SYSENTER,
    SYSCALL_INIT_SYSENTER,
    VDSO_SYSENTER,
    IA32_SYSENTER_SRC,
    IA32_ARG_FIXUP,
    SYSEXIT_FROM_SYS_CALL,
    SDM_SYSEXIT,
)
_COMPAT_CSTAR_SOURCES = (
    APM_SYSCALL_COMPAT,
    SYSCALL_INIT_CSTAR,
    VDSO_SYSCALL,
    IA32_CSTAR_SRC,
    IA32_ARG_FIXUP,
    SYSRETL_FROM_SYS_CALL,
    APM_SYSRETL,
)


def _compat_sysenter(vendor: str) -> Row:
    """The vDSO's SYSENTER sequence in compatibility mode: ia32_sysenter_target, or #UD on AMD."""
    intel = vendor == "intel"
    return Row(
        kernel="x86_64",
        vendor=vendor,
        abi="i386",
        via="sysenter",
        instruction=I_VDSO_SYSENTER,
        entry=IA32_SYSENTER_TARGET if intel else None,
        table="ia32_sys_call_table" if intel else None,
        exit="SYSEXIT" if intel else None,
        numbers="i386" if intel else None,
        number_bit=0,
        arg_bits=32 if intel else None,
        arguments=A_IA32 if intel else None,
        arg6=SIX_EBP_STACK_64 if intel else None,
        result="eax",
        clobbers=("eflags",) if intel else (),
        clobbers_why=WHY_IA32_SYSENTER if intel else WHY_NONE_REFUSED,
        fault=None if intel else UD_SYSENTER_COMPAT,
        sources=_COMPAT_SYSENTER_SOURCES if intel else (APM_SYSENTER, TRAPS_UD),
        note=NOTE_COMPAT_SYSENTER_INTEL if intel else NOTE_COMPAT_SYSENTER_AMD,
    )


def _compat_vsyscall(vendor: str) -> Row:
    """call *%gs:0x10 on a 64-bit kernel: the SYSENTER image on Intel, the SYSCALL one on AMD."""
    intel = vendor == "intel"
    return Row(
        kernel="x86_64",
        vendor=vendor,
        abi="i386",
        via="kernel_vsyscall",
        instruction=I_VSYSCALL_SYSENTER if intel else I_VSYSCALL_SYSCALL,
        entry=IA32_SYSENTER_TARGET if intel else IA32_CSTAR_TARGET,
        table="ia32_sys_call_table",
        exit="SYSEXIT" if intel else "SYSRETL",
        numbers="i386",
        number_bit=0,
        arg_bits=32,
        arguments=A_IA32 if intel else A_IA32_CSTAR,
        arg6=SIX_EBP_STACK_64 if intel else SIX_ESP_STACK,
        result="eax",
        clobbers=("eflags",) if intel else (),
        clobbers_why=WHY_IA32_SYSENTER if intel else WHY_IA32_CSTAR,
        fault=None,
        sources=(SYSENTER_SETUP, *(_COMPAT_SYSENTER_SOURCES if intel else _COMPAT_CSTAR_SOURCES)),
        note=NOTE_VSYSCALL_INTEL if intel else NOTE_VSYSCALL_AMD,
    )


def _legacy_syscall(vendor: str) -> Row:
    """SYSCALL on a 32-bit kernel: #UD on both vendors."""
    intel = vendor == "intel"
    return Row(
        kernel="i386",
        vendor=vendor,
        abi="i386",
        via="syscall",
        instruction=I_VDSO_SYSCALL,
        entry=None,
        table=None,
        exit=None,
        numbers=None,
        number_bit=0,
        arg_bits=None,
        arguments=None,
        arg6=None,
        result="eax",
        clobbers=(),
        clobbers_why=WHY_NONE_REFUSED,
        fault=UD_SYSCALL_LEGACY_INTEL if intel else UD_SYSCALL_LEGACY_AMD,
        sources=(SDM_SYSCALL_UD if intel else APM_SYSCALL_SCE, HEAD_32_NO_SCE, TRAPS_UD),
        note=NOTE_LEGACY_SYSCALL_INTEL if intel else NOTE_LEGACY_SYSCALL_AMD,
    )


def _legacy_int80(vendor: str) -> Row:
    """INT 0x80 on a 32-bit kernel: system_call through the trap gate, back by IRET."""
    return Row(
        kernel="i386",
        vendor=vendor,
        abi="i386",
        via="int80",
        instruction=I_INT80_LEGACY,
        entry=SYSTEM_CALL_32,
        table="sys_call_table",
        exit="IRET",
        numbers="i386",
        number_bit=0,
        arg_bits=32,
        arguments=A_I386,
        arg6=SIX_EBP,
        result="eax",
        clobbers=(),
        clobbers_why=WHY_I386_INT80,
        fault=None,
        sources=(TRAP_INIT_32, SYSTEM_CALL_32_SRC, RESTORE_ALL),
    )


_LEGACY_SYSENTER_SOURCES = (
    ENABLE_SEP_CPU,
    VDSO_SYSENTER,
    SYSENTER_32_SRC,
    SYSENTER_EXIT_32,
    SDM_SYSEXIT,
)


def _legacy_sysenter(vendor: str, via: str) -> Row:
    """SYSENTER on a 32-bit kernel (the vDSO sequence, or __kernel_vsyscall): back by SYSEXIT."""
    vsyscall = via == "kernel_vsyscall"
    return Row(
        kernel="i386",
        vendor=vendor,
        abi="i386",
        via=via,
        instruction=I_VSYSCALL_SYSENTER if vsyscall else I_VDSO_SYSENTER,
        entry=SYSENTER_TARGET_32,
        table="sys_call_table",
        exit="SYSEXIT",
        numbers="i386",
        number_bit=0,
        arg_bits=32,
        arguments=A_I386_SYSENTER,
        arg6=SIX_EBP_STACK_32,
        result="eax",
        clobbers=("eflags",),
        clobbers_why=WHY_I386_SYSENTER,
        fault=None,
        sources=(SYSENTER_SETUP, *_LEGACY_SYSENTER_SOURCES)
        if vsyscall
        else _LEGACY_SYSENTER_SOURCES,
        note=NOTE_LEGACY_VSYSCALL if vsyscall else NOTE_LEGACY_SYSENTER,
    )


def _machine_rows(kernel: str, vendor: str) -> tuple[Row, ...]:
    """The rows of one machine, in the order x86_64, i386, x32 and syscall, int80, sysenter."""
    if kernel == "i386":
        return (
            _legacy_syscall(vendor),
            _legacy_int80(vendor),
            _legacy_sysenter(vendor, "sysenter"),
            _legacy_sysenter(vendor, "kernel_vsyscall"),
        )
    return (
        _syscall_64(vendor, "x86_64"),
        _int80_64(vendor, "x86_64"),
        _sysenter_64(vendor, "x86_64"),
        _compat_syscall(vendor),
        _compat_int80(vendor),
        _compat_sysenter(vendor),
        _compat_vsyscall(vendor),
        _syscall_64(vendor, "x32"),
        _int80_64(vendor, "x32"),
        _sysenter_64(vendor, "x32"),
    )


#: Every row: the x86_64 kernel first, Intel before AMD.
ROWS: tuple[Row, ...] = _check_rows(
    tuple(r for kernel in KERNELS for vendor in VENDORS for r in _machine_rows(kernel, vendor))
)


def row(kernel: str, vendor: str, abi_name: str, via: str) -> Row:
    """The row of one kernel, vendor, process ABI and mechanism."""
    for candidate in ROWS:
        if candidate.key == (kernel, vendor, abi_name, via):
            return candidate
    raise ValueError(
        f"kernel, vendor, abi, via: expected a combination Process.syscall offers, "
        f"received {(kernel, vendor, abi_name, via)}"
    )


# --------------------------------------------------------------------------- rendering


def _cell(text: str | None) -> str:
    """A table cell: '-' for nothing, Markdown's '*' and '|' escaped."""
    if text is None:
        return "-"
    return text.replace("*", "\\*").replace("|", "\\|")


def _changed(r: Row) -> str:
    return ", ".join(r.clobbers) if r.clobbers else "none"


def render(rows: tuple[Row, ...] = ROWS) -> str:
    """docs/mechanisms.md: a summary table, then one table and its sources per machine."""
    out = [
        "# System call mechanisms of Linux 3.16, row by row",
        "",
        "<!-- Generated from simulator/kernel/matrix.py by "
        "`python -m simulator.kernel.matrix --write`; edit the data, not this page. -->",
        "",
        "Every way `Process.syscall(..., via=...)` offers into a 3.16 kernel, for each kernel, "
        "CPU vendor and process ABI, as the kernel sources and the Intel and AMD manuals say "
        "it behaves. `tests/contract/test_mechanisms.py` runs every row against the "
        "simulator: the number reaches the named table entry, the arguments arrive in order "
        "and cut as the row says, the result lands in the return register, exactly the "
        "listed registers change, and a refused call dies of the listed fault and signal.",
        "",
        "How to read a row:",
        "",
        "- *outcome*: `ok:` the entry routine and the table it calls through; otherwise the "
        "fault (with its vector and error code) and the signal the process dies of.",
        "- *exit*: the instruction the kernel returns with on the fast path.",
        "- *numbers*: whose syscall numbers the mechanism reaches.",
        "- *arguments*: how arguments 1-5 reach the handler, and where argument 6 is read.",
        "- *also changed*: the registers the process sees change besides the return register "
        "and the instruction pointer, when they held other values before the call.",
        "",
        "## Summary",
        "",
        "| kernel | vendor | process | via | outcome | exit |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r.kernel} | {_VENDOR_NAMES[r.vendor]} | {r.abi} | `{r.via}` | "
            f"{_cell(r.outcome_text)} | {r.exit or '-'} |"
        )
    for kernel in KERNELS:
        for vendor in VENDORS:
            group = [r for r in rows if r.kernel == kernel and r.vendor == vendor]
            if not group:
                continue
            out += [
                "",
                f"## {kernel} kernel on {_VENDOR_NAMES[vendor]}",
                "",
                "| process | via | instruction | outcome | exit | numbers | arguments | "
                "argument 6 | also changed |",
                "|---|---|---|---|---|---|---|---|---|",
            ]
            for r in group:
                out.append(
                    f"| {r.abi} | `{r.via}` | {_cell(r.instruction)} | {_cell(r.outcome_text)} "
                    f"| {r.exit or '-'} | {_cell(r.numbering)} | {_cell(r.arguments)} "
                    f"| {_cell(r.arg6)} | {_changed(r)} |"
                )
            out += ["", "Why, row by row:", ""]
            for r in group:
                lead = f"- **{r.abi}, `{r.via}`**: {_cell(r.outcome_text)}."
                out.append(f"{lead} {_cell(r.note)}" if r.note else lead)
                if r.fault is not None:
                    out.append(f"  - Fault: {_cell(r.fault.label)} at {_cell(r.fault.at)}.")
                out.append(f"  - Registers: {_changed(r)}: {_cell(r.clobbers_why)}.")
                for source in r.sources:
                    out.append(f"  - {_cell(source)}")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print docs/mechanisms.md, or write it (``--write``), or compare it (``--check``)."""
    parser = argparse.ArgumentParser(
        prog="python -m simulator.kernel.matrix", description=__doc__.splitlines()[0]
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help=f"regenerate {DOC_PATH}")
    group.add_argument("--check", action="store_true", help=f"exit 1 if {DOC_PATH} is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        DOC_PATH.write_text(text)
        print(f"wrote {DOC_PATH} ({len(ROWS)} rows)")
        return 0
    if args.check:
        current = DOC_PATH.read_text() if DOC_PATH.exists() else ""
        if current != text:
            print(f"{DOC_PATH} is stale: run python -m simulator.kernel.matrix --write")
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
