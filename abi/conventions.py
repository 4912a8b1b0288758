"""Syscall calling conventions as data: one record per way into the kernel."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import attrs

from abi.errors import UnknownAbiError
from abi.registers import ABI_REGISTERS, ABIS, GPRS_32, GPRS_64, POINTER_WIDTH, REGISTER_WIDTH

_ALL_REGISTERS = frozenset(GPRS_32) | frozenset(GPRS_64)


def _check_register(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if value not in _ALL_REGISTERS:
        raise ValueError(
            f"{attribute.name}: expected a general register name such as 'ebx' or 'rdi', "
            f"received {value!r}"
        )


@attrs.frozen
class Reg:
    """An argument carried in a register."""

    name: str = attrs.field(validator=_check_register)

    def __str__(self) -> str:
        return self.name


@attrs.frozen
class StackSlot:
    """An argument in memory at ``offset(%base)``: the user stack, read by the kernel."""

    base: str = attrs.field(validator=_check_register)
    offset: int = 0

    def __str__(self) -> str:
        return f"{self.offset}(%{self.base})"


ArgLocation = Reg | StackSlot


def _locations(*names: str) -> tuple[ArgLocation, ...]:
    return tuple(Reg(name) for name in names)


@attrs.frozen
class RegisterView:
    """Where the syscall number and the six arguments are, from one side of the entry.

    ``stack_pointer`` names the register holding the user stack pointer when that is not the
    stack pointer itself (SYSENTER leaves it in EBP); ``return_address`` names the register
    that holds the user's return address (SYSCALL leaves it in RCX/ECX).
    """

    number: str = attrs.field(validator=_check_register)
    args: tuple[ArgLocation, ...] = attrs.field()
    stack_pointer: str | None = None
    return_address: str | None = None

    @args.validator
    def _check_args(self, attribute: attrs.Attribute, value: tuple) -> None:
        if len(value) != 6 or not all(isinstance(a, Reg | StackSlot) for a in value):
            raise ValueError(f"args: expected six Reg or StackSlot locations, received {value!r}")

    @property
    def registers(self) -> tuple[str, ...]:
        """The argument registers, in argument order (stack slots left out)."""
        return tuple(a.name for a in self.args if isinstance(a, Reg))


@attrs.frozen
class Convention:
    """One way a process enters the kernel for a syscall, seen from both sides.

    ``caller`` is what the process sets up before the instruction (for the vDSO paths, the
    registers it sets before ``call __kernel_vsyscall``: the INT 0x80 ones); ``entry`` is
    what the kernel's entry routine finds. ``instruction_clobbers`` are the full registers
    the instruction itself overwrites (SYSCALL from a 32-bit process still writes RCX and
    R11). ``number_bit`` is ORed into the number (x32).
    """

    name: str
    abi: str = attrs.field(validator=attrs.validators.in_(ABIS))
    via: str
    instruction: str
    caller: RegisterView
    entry: RegisterView
    returns: tuple[str, ...]
    instruction_clobbers: tuple[str, ...]
    entry_routine: str
    source: str
    caller_routine: str | None = None
    number_bit: int = 0

    @property
    def register_width(self) -> int:
        """The width of the process's registers in bits."""
        return REGISTER_WIDTH[self.abi]

    @property
    def pointer_width(self) -> int:
        """The width of the process's pointers in bits."""
        return POINTER_WIDTH[self.abi]

    def number_value(self, table_number: int) -> int:
        """The value the caller puts in the number register for a table number."""
        return self.number_bit | table_number


_INT80_ARGS = ("ebx", "ecx", "edx", "esi", "edi", "ebp")
_SYSCALL64_ARGS = ("rdi", "rsi", "rdx", "r10", "r8", "r9")

I386_INT80 = Convention(
    name="i386-int80",
    abi="i386",
    via="int80",
    instruction="int $0x80",
    caller=RegisterView("eax", _locations(*_INT80_ARGS)),
    entry=RegisterView("eax", _locations(*_INT80_ARGS)),
    returns=("eax", "edx"),
    instruction_clobbers=(),
    entry_routine="system_call (entry_32.S) / ia32_syscall (ia32entry.S)",
    source="syscall(2); arch/x86/ia32/ia32entry.S comment above ia32_syscall",
)

I386_SYSENTER = Convention(
    name="i386-sysenter",
    abi="i386",
    via="sysenter",
    instruction="sysenter",
    caller=RegisterView("eax", _locations(*_INT80_ARGS)),
    # The vDSO pushes ecx, edx and ebp, then copies esp into ebp: the pushed ebp (arg 6) is
    # at 0(%ebp) and ebp is the user stack pointer.
    entry=RegisterView(
        "eax",
        (*_locations("ebx", "ecx", "edx", "esi", "edi"), StackSlot("ebp", 0)),
        stack_pointer="ebp",
    ),
    returns=("eax", "edx"),
    instruction_clobbers=("esp",),
    entry_routine="ia32_sysenter_target (entry_32.S and ia32entry.S)",
    source="arch/x86/vdso/vdso32/sysenter.S; ia32entry.S comment above ia32_sysenter_target",
    caller_routine="__kernel_vsyscall (vdso32/sysenter.S)",
)

I386_SYSCALL = Convention(
    name="i386-syscall",
    abi="i386",
    via="syscall",
    instruction="syscall",
    caller=RegisterView("eax", _locations(*_INT80_ARGS)),
    # The vDSO pushes ebp (arg 6, now at 0(%esp)) and copies ecx into ebp, because SYSCALL
    # writes the return address into ecx.
    entry=RegisterView(
        "eax",
        (*_locations("ebx", "ebp", "edx", "esi", "edi"), StackSlot("esp", 0)),
        return_address="ecx",
    ),
    returns=("eax", "edx"),
    instruction_clobbers=("rcx", "r11"),
    entry_routine="ia32_cstar_target (ia32entry.S)",
    source="arch/x86/vdso/vdso32/syscall.S; ia32entry.S comment above ia32_cstar_target",
    caller_routine="__kernel_vsyscall (vdso32/syscall.S)",
)

X86_64_SYSCALL = Convention(
    name="x86_64-syscall",
    abi="x86_64",
    via="syscall",
    instruction="syscall",
    caller=RegisterView("rax", _locations(*_SYSCALL64_ARGS)),
    entry=RegisterView("rax", _locations(*_SYSCALL64_ARGS), return_address="rcx"),
    returns=("rax", "rdx"),
    instruction_clobbers=("rcx", "r11"),
    entry_routine="system_call (entry_64.S)",
    source="syscall(2); SYSCALL writes RCX and R11 (Intel SDM Vol. 2B, SYSCALL)",
)

X32_SYSCALL = Convention(
    name="x32-syscall",
    abi="x32",
    via="syscall",
    instruction="syscall",
    caller=RegisterView("rax", _locations(*_SYSCALL64_ARGS)),
    entry=RegisterView("rax", _locations(*_SYSCALL64_ARGS), return_address="rcx"),
    returns=("rax", "rdx"),
    instruction_clobbers=("rcx", "r11"),
    entry_routine="system_call (entry_64.S), number masked with __SYSCALL_MASK",
    source="syscall(2); arch/x86/include/uapi/asm/unistd.h",
    number_bit=0x40000000,
)


def _registry(*conventions: Convention) -> Mapping[str, Convention]:
    registry: dict[str, Convention] = {}
    for convention in conventions:
        if convention.name in registry:
            raise ValueError(f"convention {convention.name!r} is registered twice")
        visible = ABI_REGISTERS[convention.abi]
        for view in (convention.caller, convention.entry):
            for register in (view.number, *view.registers):
                if register not in visible:
                    raise ValueError(
                        f"convention {convention.name!r}: {register!r} is not an "
                        f"{convention.abi} register"
                    )
        registry[convention.name] = convention
    return MappingProxyType(registry)


#: Every convention, by name.
CONVENTIONS: Mapping[str, Convention] = _registry(
    I386_INT80, I386_SYSENTER, I386_SYSCALL, X86_64_SYSCALL, X32_SYSCALL
)


def convention(abi: str, via: str) -> Convention:
    """The convention ``abi`` uses with entry instruction ``via`` (int80, sysenter, syscall)."""
    for candidate in CONVENTIONS.values():
        if candidate.abi == abi and candidate.via == via:
            return candidate
    known = ", ".join(f"{c.abi}/{c.via}" for c in CONVENTIONS.values())
    raise UnknownAbiError(f"abi, via: expected one of {known}, received {abi}/{via}")


def conventions_for(abi: str) -> tuple[Convention, ...]:
    """The conventions of one ABI, in registry order."""
    if abi not in ABIS:
        raise UnknownAbiError(f"abi: expected one of {', '.join(ABIS)}, received {abi!r}")
    return tuple(c for c in CONVENTIONS.values() if c.abi == abi)


@attrs.frozen
class ArgMove:
    """One move of a 32-bit syscall argument into a 64-bit C argument register."""

    arg: int
    source: str
    target: str
    zero_extend: bool = True


#: How a 3.16 64-bit kernel passes a 32-bit process's arguments to the C handler: 32-bit
#: moves and an xchg (IA32_ARG_FIXUP in arch/x86/ia32/ia32entry.S; later releases write
#: the same moves inline under "32bit syscall -> 64bit C ABI argument conversion"), so
#: every argument is zero-extended.
IA32_ARGS_TO_C: tuple[ArgMove, ...] = (
    ArgMove(1, "ebx", "rdi"),
    ArgMove(2, "ecx", "rsi"),
    ArgMove(3, "edx", "rdx"),
    ArgMove(4, "esi", "rcx"),
    ArgMove(5, "edi", "r8"),
    ArgMove(6, "ebp", "r9"),
)
