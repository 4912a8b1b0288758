"""Round trips through the ring transitions, for any user state the manuals admit."""

from hypothesis import assume, given
from hypothesis import strategies as st

from simulator.cpu import flags as F
from simulator.cpu.memory import is_canonical
from tests.support import (
    I386_USER_CS,
    I386_USER_DS,
    KERNEL_CODE,
    L_KERNEL_CODE,
    L_USER_CODE,
    L_USER_STACK_TOP,
    USER_CS,
    USER_DS,
    USER_STACK_TOP,
    legacy_cpu,
    long_mode_cpu,
)

GPRS = ("rax", "rbx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r12", "r13", "r14", "r15")
USER_FLAGS = F.CF | F.PF | F.AF | F.ZF | F.SF | F.DF | F.OF | F.AC | F.ID | F.IF | F.NT

user_flags = st.integers(0, USER_FLAGS).map(lambda f: (f & USER_FLAGS) | F.FIXED1)
registers = st.fixed_dictionaries({name: st.integers(0, (1 << 64) - 1) for name in GPRS})
# A page for the user code: low, high and at the very top of the lower half.
code_pages = st.sampled_from([0x40_0000, 0x7FFF_F000_0000, 0x7FFF_FFFF_F000])
offsets = st.integers(0, 0xFFE)


def _map_user_code(cpu, page: int, offset: int, code: bytes) -> int:
    if not cpu.space.is_mapped(page):
        cpu.space.map(page, 4096, user=True, writable=False, zero=True)
    rip = page + offset
    cpu.space.poke(rip, code)
    return rip


class TestSyscallSysret:
    @given(
        vendor=st.sampled_from(["intel", "amd"]),
        regs=registers,
        flags=user_flags,
        page=code_pages,
        offset=offsets,
    )
    def test_syscall_then_sysretq(self, vendor, regs, flags, page, offset):
        """SYSCALL then SYSRETQ returns to the next instruction at CPL 3 (SDM Vol. 2B SYSRET)."""
        cpu = long_mode_cpu(vendor)
        cpu.space.poke(KERNEL_CODE, bytes.fromhex("480f07"))  # sysretq
        rip = _map_user_code(cpu, page, offset, bytes.fromhex("0f05"))
        for name, value in regs.items():
            cpu.regs.write(name, value)
        cpu.regs.write("rip", rip)
        cpu.regs.write("rflags", flags)
        before = cpu.snapshot()
        first = cpu.step()
        assert first.outcome == "completed" and cpu.cpl == 0 and cpu.regs.read("rip") == KERNEL_CODE
        assert cpu.regs.read("r11") == flags and cpu.regs.read("rcx") == rip + 2
        assert cpu.regs.read("rflags") == (flags & ~0x43700) | 2
        second = cpu.step(deliver=False)
        next_rip = rip + 2
        if is_canonical(next_rip) or vendor == "amd":
            assert second.outcome == "completed"
            assert cpu.cpl == 3 and cpu.regs.read("rip") == next_rip
            assert cpu.segment("cs")[0] == USER_CS and cpu.segment("ss")[0] == USER_DS
            assert cpu.regs.read("rflags") == (flags & 0x3C7FD7) | 2
            for name in GPRS:
                assert cpu.regs.read(name) == before.reg(name)
        else:
            assert (second.outcome, second.fault.vector, second.fault.error_code) == (
                "faulted",
                13,
                0,
            )
            assert cpu.cpl == 0

    @given(offset=st.just(0xFFE))
    def test_amd_faults_at_cpl3_on_the_next_fetch(self, offset):
        """On AMD, SYSRETQ to a non-canonical RCX completes; the fetch then faults at CPL 3."""
        cpu = long_mode_cpu("amd")
        cpu.space.poke(KERNEL_CODE, bytes.fromhex("480f07"))
        rip = _map_user_code(cpu, 0x7FFF_FFFF_F000, offset, bytes.fromhex("0f05"))
        cpu.regs.write("rip", rip)
        cpu.step()
        assert cpu.step().outcome == "completed" and cpu.cpl == 3
        third = cpu.step(deliver=False)
        assert (third.fault.vector, third.fault.error_code, cpu.cpl) == (13, 0, 3)


class TestInt80Iretq:
    @given(
        vendor=st.sampled_from(["intel", "amd"]),
        regs=registers,
        flags=user_flags,
        page=code_pages,
        offset=offsets,
        rsp_off=st.integers(0x100, 0x3000),
    )
    def test_int80_then_iretq(self, vendor, regs, flags, page, offset, rsp_off):
        """INT 0x80 then IRETQ restores RIP, RSP, RFLAGS, CS and SS (SDM Vol. 2A INT n, IRET)."""
        cpu = long_mode_cpu(vendor)
        handler = KERNEL_CODE + 0x300
        cpu.space.poke(handler, bytes.fromhex("48cf"))  # iretq
        _patch_gate(cpu, 0x80, handler)
        rip = _map_user_code(cpu, page, offset, bytes.fromhex("cd80"))
        for name, value in regs.items():
            cpu.regs.write(name, value)
        cpu.regs.write("rip", rip)
        cpu.regs.write("rsp", USER_STACK_TOP - rsp_off)
        cpu.regs.write("rflags", flags)
        before = cpu.snapshot()
        assume(is_canonical(rip + 2))
        assert cpu.step().outcome == "completed" and cpu.cpl == 0
        assert (cpu.regs.read("rsp") + 40) % 16 == 0  # aligned before the five pushes
        assert cpu.step().outcome == "completed"
        after = cpu.snapshot()
        for name in ("rsp", "rflags", *GPRS):
            assert after.reg(name) == before.reg(name), name
        assert after.reg("rip") == rip + 2
        assert after.segment("cs") == before.segment("cs")
        assert after.segment("ss")[0] == before.segment("ss")[0]
        assert cpu.cpl == 3


class TestSysenterSysexit:
    @given(regs=registers, flags=user_flags, esp=st.integers(0x100, 0x3000))
    def test_legacy_sysenter_then_sysexit(self, regs, flags, esp):
        """SYSENTER then SYSEXIT with ECX/EDX set as Linux sets them returns to ring 3."""
        cpu = legacy_cpu("intel")
        user_esp = L_USER_STACK_TOP - esp
        ret = L_USER_CODE + 0x10
        kernel = bytes.fromhex("ba") + ret.to_bytes(4, "little")  # mov edx, SYSENTER_RETURN
        kernel += bytes.fromhex("b9") + user_esp.to_bytes(4, "little")  # mov ecx, user esp
        kernel += bytes.fromhex("fb0f35")  # sti; sysexit
        cpu.space.poke(L_KERNEL_CODE, kernel)
        cpu.space.poke(L_USER_CODE, bytes.fromhex("0f34"))
        for name in ("rax", "rbx", "rsi", "rdi", "rbp"):
            cpu.regs.write(name, regs[name] & 0xFFFF_FFFF)
        cpu.regs.write("rsp", user_esp)
        cpu.regs.write("rflags", flags & ~F.AC & ~F.ID)
        assert cpu.step().outcome == "completed" and cpu.cpl == 0
        assert cpu.regs.read("rflags") & F.IF == 0
        for _ in range(4):
            assert cpu.step().outcome == "completed"
        assert cpu.cpl == 3 and cpu.mode == "protected"
        assert cpu.regs.read("rip") == ret and cpu.regs.read("rsp") == user_esp
        assert cpu.segment("cs")[0] == I386_USER_CS and cpu.segment("ss")[0] == I386_USER_DS


def _patch_gate(cpu, vector: int, target: int) -> None:
    from simulator.cpu import Gate64
    from tests.support import IDT, KERNEL_CS

    gate = Gate64(offset=target, selector=KERNEL_CS, type=0xE, dpl=3, present=True)
    cpu.space.poke(IDT + 16 * vector, gate.encode())
