"""A state machine that mixes transitions, MSR writes, descriptor changes and faults."""

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from simulator.cpu import Fault, Gate64, msr
from simulator.cpu.memory import is_canonical
from tests.support import (
    GDT,
    HANDLERS,
    IDT,
    KERNEL_CODE,
    KERNEL_CS,
    USER_CODE,
    USER_CS,
    USER_DS,
    long_mode_cpu,
)

SYSRETQ, IRETQ = bytes.fromhex("480f07"), bytes.fromhex("48cf")
MSRS = [
    msr.IA32_STAR,
    msr.IA32_LSTAR,
    msr.IA32_CSTAR,
    msr.IA32_FMASK,
    msr.IA32_KERNEL_GS_BASE,
    msr.IA32_SYSENTER_EIP,
    msr.IA32_EFER,
    0x1234,
]
values = st.one_of(
    st.integers(0, (1 << 64) - 1),
    st.sampled_from([0, 0x7FFF_FFFF_FFFF, 0x8000_0000_0000, 0xFFFF_8000_0000_0000]),
)
user_regs = st.sampled_from(["rax", "rbx", "rdx", "rsi", "rdi", "rbp", "r8", "r12", "r15"])


class CPUMachine(RuleBasedStateMachine):
    """Invariants: no Python exception, CPL = CS.RPL, user state survives round trips."""

    def __init__(self) -> None:
        super().__init__()
        self.cpu = long_mode_cpu("intel")
        self.cpu.space.poke(KERNEL_CODE, SYSRETQ)
        self.cpu.space.poke(KERNEL_CODE + 0x300, IRETQ)
        gate = Gate64(offset=KERNEL_CODE + 0x300, selector=KERNEL_CS, type=0xE, dpl=3, present=True)
        self.cpu.space.poke(IDT + 16 * 0x80, gate.encode())
        self.user = self.cpu.snapshot()

    def _back_to_user(self) -> None:
        self.cpu.halted = False
        self.cpu.restore(self.user)

    @rule(reg=user_regs, value=st.integers(0, (1 << 64) - 1))
    def set_register(self, reg, value):
        self.cpu.regs.write(reg, value)
        self.user = self.cpu.snapshot()

    @precondition(lambda self: self.cpu.cpl == 3 and not self.cpu.halted)
    @rule()
    def syscall_round_trip(self):
        cpu = self.cpu
        cpu.space.poke(USER_CODE, bytes.fromhex("0f05"))
        cpu.regs.write("rip", USER_CODE)
        before = cpu.snapshot()
        first = cpu.step()
        if first.outcome != "completed" or cpu.regs.read("rip") != KERNEL_CODE:
            self._back_to_user()  # an MSR rule changed the way in
            return
        second = cpu.step()
        if second.outcome == "completed" and cpu.cpl == 3:
            for name in ("rax", "rbx", "rdx", "rsi", "rdi", "rbp", "r8", "r12", "r15", "rsp"):
                assert cpu.regs.read(name) == before.reg(name)
            assert cpu.regs.read("rcx") == USER_CODE + 2
        self._back_to_user()

    @precondition(lambda self: self.cpu.cpl == 3 and not self.cpu.halted)
    @rule()
    def int80_round_trip(self):
        cpu = self.cpu
        cpu.space.poke(USER_CODE, bytes.fromhex("cd80"))
        cpu.regs.write("rip", USER_CODE)
        before = cpu.snapshot()
        assert cpu.step().outcome == "completed"
        assert cpu.step().outcome == "completed"
        assert cpu.regs.read("rip") == USER_CODE + 2 and cpu.cpl == 3
        assert cpu.regs.read("rsp") == before.reg("rsp")
        self._back_to_user()

    @rule(number=st.sampled_from(MSRS), value=values)
    def write_msr(self, number, value):
        before = self.cpu.snapshot()
        result = self.cpu.write_msr(number, value)
        if result is not None:
            assert isinstance(result, Fault) and (result.vector, result.error_code) == (13, 0)
            assert self.cpu.snapshot() == before
        elif number in (msr.IA32_LSTAR, msr.IA32_SYSENTER_EIP, msr.IA32_KERNEL_GS_BASE):
            assert is_canonical(value)

    @precondition(lambda self: self.cpu.cpl == 3 and not self.cpu.halted)
    @rule(raw=st.integers(0, (1 << 64) - 1))
    def change_user_data_descriptor(self, raw):
        cpu = self.cpu
        cpu.space.poke(GDT + (USER_DS & ~7), raw.to_bytes(8, "little"))
        cpu.space.poke(USER_CODE, bytes.fromhex("8ed8"))  # mov ds, eax
        cpu.regs.write("eax", USER_DS)
        cpu.regs.write("rip", USER_CODE)
        result = cpu.step(deliver=False)
        assert result.outcome in ("completed", "faulted")
        if result.outcome == "faulted":
            assert result.fault.vector in (13, 11, 14)
        cpu.space.poke(GDT + (USER_DS & ~7), (0x00CFF3000000FFFF).to_bytes(8, "little"))
        self._back_to_user()

    @precondition(lambda self: not self.cpu.halted)
    @rule(code=st.binary(min_size=1, max_size=15), deliver=st.booleans())
    def run_random_bytes(self, code, deliver):
        cpu = self.cpu
        cpu.space.poke(USER_CODE, code)
        cpu.regs.write("rip", USER_CODE)
        result = cpu.step(deliver=deliver)
        assert result.outcome in (
            "completed",
            "faulted",
            "delivered",
            "halted",
            "not modeled",
            "shutdown",
        )
        if result.outcome == "delivered":
            assert cpu.cpl == 0 and cpu.regs.read("rip") >= HANDLERS
        self._back_to_user()

    @invariant()
    def cpl_is_cs_rpl(self):
        assert self.cpu.cpl == self.cpu.segment("cs")[0] & 3

    @invariant()
    def user_state_is_user(self):
        assert self.user.segment("cs")[0] == USER_CS


TestCPUMachine = CPUMachine.TestCase
