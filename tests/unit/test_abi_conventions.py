"""Unit tests for abi.conventions: the ways into the kernel, from both sides."""

import pytest

from abi import (
    CONVENTIONS,
    IA32_ARGS_TO_C,
    X32_SYSCALL_BIT,
    Reg,
    StackSlot,
    UnknownAbiError,
    convention,
    conventions_for,
)


class TestSyscall2:
    """Conventions agree with the syscall(2) manual page's x86 rows."""

    def test_i386_int80(self):
        """syscall(2): i386 uses `int $0x80`, number in eax, args ebx ecx edx esi edi ebp,
        results in eax and edx."""
        c = convention("i386", "int80")
        assert c.instruction == "int $0x80"
        assert c.caller.number == "eax"
        assert c.caller.registers == ("ebx", "ecx", "edx", "esi", "edi", "ebp")
        assert c.returns == ("eax", "edx")
        assert (c.register_width, c.pointer_width) == (32, 32)

    def test_x86_64_syscall(self):
        """syscall(2): x86-64 uses `syscall`, rax, args rdi rsi rdx r10 r8 r9, results rax rdx."""
        c = convention("x86_64", "syscall")
        assert c.caller.number == "rax"
        assert c.caller.registers == ("rdi", "rsi", "rdx", "r10", "r8", "r9")
        assert c.returns == ("rax", "rdx")
        assert (c.register_width, c.pointer_width) == (64, 64)

    def test_x32_syscall(self):
        """syscall(2): x32 uses x86-64's registers and ORs __X32_SYSCALL_BIT into the number."""
        c = convention("x32", "syscall")
        assert c.caller == convention("x86_64", "syscall").caller
        assert c.number_bit == X32_SYSCALL_BIT
        assert c.number_value(520) == 0x40000208
        assert (c.register_width, c.pointer_width) == (64, 32)

    def test_syscall_instruction_clobbers(self):
        """SYSCALL writes the return address to rcx and rflags to r11 (Intel SDM Vol. 2B),
        which is why syscall(2) puts the fourth argument in r10, not rcx."""
        c = convention("x86_64", "syscall")
        assert c.instruction_clobbers == ("rcx", "r11")
        assert "rcx" not in c.caller.registers
        assert c.entry.return_address == "rcx"


class TestVdsoConventions:
    """The 3.16 vDSO's __kernel_vsyscall turns the INT 0x80 registers into another layout."""

    def test_callers_set_the_int80_registers(self):
        """Callers of __kernel_vsyscall set the INT 0x80 registers (vdso32/sysenter.S and
        vdso32/syscall.S, Linux 3.16)."""
        int80 = convention("i386", "int80").caller
        assert convention("i386", "sysenter").caller == int80
        assert convention("i386", "syscall").caller == int80

    def test_sysenter_entry(self):
        """ia32entry.S (3.16), above ia32_sysenter_target: ebp holds the user stack, arg 6
        is at 0(%ebp); args 1-5 stay in ebx ecx edx esi edi."""
        entry = convention("i386", "sysenter").entry
        assert entry.args[:5] == tuple(Reg(r) for r in ("ebx", "ecx", "edx", "esi", "edi"))
        assert entry.args[5] == StackSlot("ebp", 0)
        assert entry.stack_pointer == "ebp"
        assert str(entry.args[5]) == "0(%ebp)"

    def test_compat_syscall_entry(self):
        """ia32entry.S (3.16), above ia32_cstar_target: ecx holds the return address, arg 2
        is in ebp, arg 6 at 0(%esp)."""
        c = convention("i386", "syscall")
        assert c.entry.args[1] == Reg("ebp")
        assert c.entry.args[5] == StackSlot("esp", 0)
        assert c.entry.return_address == "ecx"
        assert "rcx" in c.instruction_clobbers

    def test_sysenter_overwrites_esp(self):
        """SYSENTER loads ESP from an MSR, so the user esp does not survive it (sysenter.S)."""
        assert convention("i386", "sysenter").instruction_clobbers == ("esp",)


class TestArgMoves:
    """The 3.16 ia32entry.S moves 32-bit arguments into the 64-bit C argument registers."""

    def test_moves(self):
        """arch/x86/ia32/ia32entry.S (3.16, IA32_ARG_FIXUP): EBX->RDI, ECX->RSI, EDX->RDX,
        ESI->RCX, EDI->R8, EBP->R9, all zero-extended (32-bit moves)."""
        pairs = [(m.source, m.target) for m in IA32_ARGS_TO_C]
        assert pairs == [
            ("ebx", "rdi"),
            ("ecx", "rsi"),
            ("edx", "rdx"),
            ("esi", "rcx"),
            ("edi", "r8"),
            ("ebp", "r9"),
        ]
        assert all(m.zero_extend for m in IA32_ARGS_TO_C)
        assert [m.arg for m in IA32_ARGS_TO_C] == [1, 2, 3, 4, 5, 6]


class TestRegistry:
    """The registry holds one record per way in and refuses unknown lookups."""

    def test_five_conventions(self):
        """i386 has int80, sysenter and syscall; x86_64 and x32 have syscall."""
        assert [(c.abi, c.via) for c in CONVENTIONS.values()] == [
            ("i386", "int80"),
            ("i386", "sysenter"),
            ("i386", "syscall"),
            ("x86_64", "syscall"),
            ("x32", "syscall"),
        ]
        assert [c.via for c in conventions_for("i386")] == ["int80", "sysenter", "syscall"]

    def test_every_view_has_six_arguments(self):
        """Both views of every convention place six arguments."""
        for c in CONVENTIONS.values():
            assert len(c.caller.args) == len(c.entry.args) == 6

    def test_unknown_convention(self):
        """x86_64 via sysenter is not a convention; the error lists the known ones."""
        with pytest.raises(UnknownAbiError, match=r"abi, via: expected one of i386/int80"):
            convention("x86_64", "sysenter")

    def test_bad_register_name(self):
        """A location must name a general register."""
        with pytest.raises(ValueError, match="name: expected a general register"):
            Reg("xmm0")
