"""RDTSC, RDTSCP and LSL: the instructions the vDSO's clock and getcpu run in ring 3."""

from simulator.cpu import control as C
from simulator.cpu import flags as F
from simulator.cpu.assembler import assemble
from tests.support import USER_CODE, USER_DS, long_mode_cpu, put_code


def _cpu(code: str):
    cpu = long_mode_cpu()
    put_code(cpu, USER_CODE, assemble(code))
    return cpu


class TestRdtsc:
    def test_counts_instructions(self):
        """RDTSC loads EDX:EAX with the TSC; ringsim's TSC advances one per instruction."""
        cpu = _cpu("nop\nnop\nrdtsc")
        cpu.write_msr("IA32_TIME_STAMP_COUNTER", 0x1_0000_0005)
        for _ in range(3):
            assert cpu.step().outcome == "completed"
        assert (cpu.regs.read("rdx"), cpu.regs.read("rax")) == (1, 7)

    def test_tsd_at_cpl3_is_gp0(self):
        """With CR4.TSD=1, RDTSC at CPL 3 is #GP(0) (SDM Vol. 2B RDTSC)."""
        cpu = _cpu("rdtsc")
        cpu.cr4 = cpu.cr4 | C.CR4_TSD
        result = cpu.step(deliver=False)
        assert (result.fault.vector, result.fault.error_code) == (13, 0)

    def test_rdtscp_reads_tsc_aux(self):
        """RDTSCP also loads ECX with IA32_TSC_AUX[31:0] (SDM Vol. 2B RDTSCP)."""
        cpu = _cpu("rdtscp")
        cpu.write_msr("IA32_TSC_AUX", 0x1003)
        cpu.step()
        assert cpu.regs.read("rcx") == 0x1003


class TestLsl:
    def test_user_data_segment(self):
        """LSL of a DPL 3 flat data segment gives its byte limit and sets ZF (SDM Vol. 2A LSL)."""
        cpu = _cpu("lsl eax, ecx")
        cpu.regs.write("ecx", USER_DS)
        cpu.step()
        assert cpu.regs.read("eax") == 0xFFFF_FFFF and cpu.regs.read("rflags") & F.ZF

    def test_kernel_segment_invisible_at_cpl3(self):
        """LSL of a DPL 0 data segment at CPL 3 clears ZF and leaves the destination."""
        cpu = _cpu("lsl eax, ecx")
        cpu.regs.write("ecx", 0x18)
        cpu.regs.write("eax", 7)
        cpu.regs.write("rflags", F.ZF | 0x202)
        cpu.step()
        assert cpu.regs.read("eax") == 7 and not cpu.regs.read("rflags") & F.ZF

    def test_null_selector(self):
        """LSL of a null selector clears ZF without a fault."""
        cpu = _cpu("lsl eax, ecx")
        cpu.regs.write("ecx", 3)
        assert cpu.step().outcome == "completed"
        assert not cpu.regs.read("rflags") & F.ZF
