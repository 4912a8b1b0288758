"""Exception delivery through the IDT and the double-fault rules of SDM Vol. 3A §6.15."""

import itertools

import pytest

from simulator.cpu import Fault, Gate64
from simulator.cpu.execute import BENIGN, CONTRIBUTORY, PAGE_FAULT_CLASS, double_fault_combines
from tests.support import (
    HANDLERS,
    IDT,
    IST_STACK_TOP,
    KERNEL_CS,
    KERNEL_STACK_TOP,
    TSS,
    USER_CODE,
    USER_CS,
    USER_DS,
    USER_STACK_TOP,
    long_mode_cpu,
)

UD2, HLT = bytes.fromhex("0f0b"), b"\xf4"


def _gate(cpu, vector, **fields):
    values = {"offset": HANDLERS + 16 * vector, "selector": KERNEL_CS, "type": 0xE, "present": True}
    values.update(fields)
    cpu.space.poke(IDT + 16 * vector, Gate64(**values).encode())


def _run(cpu, code: bytes):
    cpu.space.poke(USER_CODE, code)
    return cpu.step()


class TestClasses:
    def test_contributory(self):
        """#DE, #TS, #NP, #SS, #GP (and #CP) are contributory (SDM Vol. 3A Table 6-4)."""
        assert {0, 10, 11, 12, 13, 21} == CONTRIBUTORY

    def test_page_fault_class(self):
        """#PF (and #VE) form the page-fault class (SDM Vol. 3A Table 6-4)."""
        assert {14, 20} == PAGE_FAULT_CLASS

    def test_benign(self):
        """#DB, NMI, #BP, #OF, #BR, #UD, #NM, #MF, #AC, #MC, #XM are benign (Table 6-4)."""
        assert {1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19} == BENIGN

    @pytest.mark.parametrize(
        ("first", "second", "df"),
        [
            (first, second, (f in "CP" and s == "C") or (f == "P" and s == "P"))
            for (f, first), (s, second) in itertools.product(
                [("B", 6), ("C", 13), ("P", 14)], [("B", 6), ("C", 11), ("P", 14)]
            )
        ],
    )
    def test_every_cell_of_table_6_5(self, first, second, df):
        """#DF only for contributory+contributory, #PF+#PF, #PF+contributory (Table 6-5)."""
        assert double_fault_combines(first, second) is df

    def test_software_interrupt_first_is_benign(self):
        """A fault while delivering INT n is handled serially: 0x80 is no exception class."""
        assert not double_fault_combines(0x80, 13)


class TestDelivery:
    def test_gp_delivered_with_error_code(self):
        """HLT at CPL 3 raises #GP(0), delivered on RSP0 with its error code (Vol. 3A §6.14)."""
        cpu = long_mode_cpu()
        result = _run(cpu, HLT)
        assert result.outcome == "delivered" and [f.vector for f in result.delivered] == [13]
        assert cpu.cpl == 0 and cpu.regs.read("rip") == HANDLERS + 16 * 13
        frame = cpu.space.peek(KERNEL_STACK_TOP - 48, 48)
        words = [int.from_bytes(frame[i : i + 8], "little") for i in range(0, 48, 8)]
        # A fault pushes RFLAGS with RF set (SDM Vol. 3A §18.3.1.1).
        assert words == [0, USER_CODE, USER_CS, 0x10202, USER_STACK_TOP - 0x100, USER_DS]

    def test_ud_delivered_without_error_code(self):
        """#UD pushes no error code: a 40-byte frame (SDM Vol. 3A §6.15 Interrupt 6)."""
        cpu = long_mode_cpu()
        _run(cpu, UD2)
        assert cpu.regs.read("rsp") == KERNEL_STACK_TOP - 40

    def test_contributory_then_contributory_is_df(self):
        """#GP whose gate is not present raises #NP: the two make #DF (Table 6-5)."""
        cpu = long_mode_cpu()
        _gate(cpu, 13, present=False)
        result = _run(cpu, HLT)
        assert [f.vector for f in result.delivered] == [13, 8]
        assert cpu.regs.read("rip") == HANDLERS + 16 * 8
        assert cpu.space.peek(cpu.regs.read("rsp"), 8) == bytes(8)  # #DF's error code is 0

    def test_benign_then_contributory_is_serial(self):
        """#UD whose gate is not present: the #NP is delivered on its own (Table 6-5)."""
        cpu = long_mode_cpu()
        _gate(cpu, 6, present=False)
        result = _run(cpu, UD2)
        assert [f.vector for f in result.delivered] == [6, 11]
        assert cpu.regs.read("rip") == HANDLERS + 16 * 11
        assert cpu.space.peek(cpu.regs.read("rsp"), 8) == (6 * 8 + 2 + 1).to_bytes(8, "little")

    def test_contributory_then_page_fault_is_serial(self):
        """#GP whose IDT entry lies on an unmapped page: the #PF is delivered (Table 6-5)."""
        cpu = long_mode_cpu()
        base = 0xFFFF_8800_0010_0000 - 0xE0  # gates 0..13 on an unmapped page, 14.. mapped
        cpu.space.map(0xFFFF_8800_0010_0000, 4096, user=False, zero=True)
        for v in range(14, 256):
            if base + 16 * v < 0xFFFF_8800_0010_1000:
                gate = Gate64(offset=HANDLERS + 16 * v, selector=KERNEL_CS, type=0xE, present=True)
                cpu.space.poke(base + 16 * v, gate.encode())
        from simulator.cpu import TableRegister

        cpu.idtr = TableRegister(base=base, limit=0xFFF)
        result = _run(cpu, HLT)
        assert [f.vector for f in result.delivered] == [13, 14]
        assert cpu.cr2 == base + 16 * 13

    def test_page_fault_then_page_fault_is_df(self):
        """#PF whose stack is unmapped faults again: #DF, delivered on IST1 (Table 6-5)."""
        cpu = long_mode_cpu()
        cpu.space.poke(TSS + 4, (0xFFFF_8800_0300_0000).to_bytes(8, "little"))  # RSP0 unmapped
        _gate(cpu, 8, ist=1)
        result = _run(cpu, bytes.fromhex("8b042500000000"))  # mov eax, [0]
        assert [f.vector for f in result.delivered] == [14, 8]
        assert cpu.regs.read("rsp") == IST_STACK_TOP - 48

    def test_df_that_faults_is_shutdown(self):
        """A fault while delivering #DF is a triple fault: the processor shuts down (§6.15)."""
        cpu = long_mode_cpu()
        _gate(cpu, 13, present=False)
        _gate(cpu, 8, present=False)
        result = _run(cpu, HLT)
        assert result.outcome == "shutdown" and cpu.shutdown
        assert cpu.step().outcome == "shutdown"

    def test_fault_reported_without_delivery_keeps_state(self):
        """With deliver=False a fault changes nothing (the state is as before the instruction)."""
        cpu = long_mode_cpu()
        cpu.space.poke(USER_CODE, HLT)
        before = cpu.snapshot()
        result = cpu.step(deliver=False)
        assert result.outcome == "faulted" and result.fault == Fault(
            13, 0, None, result.fault.detail
        )
        assert cpu.snapshot() == before
