"""Register views, widths and RFLAGS rules."""

import pytest

from simulator.cpu import Registers, flags
from simulator.cpu import registers as R


class TestRegisterNumbers:
    def test_hardware_order(self):
        """RAX..RDI are numbered 0..7 as the ModRM reg field encodes them (SDM Vol. 2A §2.1.5 Table
        2-2).
        """
        assert tuple(range(8)) == (R.RAX, R.RCX, R.RDX, R.RBX, R.RSP, R.RBP, R.RSI, R.RDI)

    def test_rex_extended_order(self):
        """R8..R15 are numbered 8..15 with REX.R/B (SDM Vol. 2A §2.2.1.2 Table 2-4)."""
        assert (R.R8, R.R15) == (8, 15)

    def test_names_follow_numbers(self):
        """The name table lists the registers in their hardware order."""
        assert R.GPR_NAMES[R.RSP] == "rsp" and R.GPR_NAMES[R.R10] == "r10"


class TestViews:
    @pytest.mark.parametrize(
        ("name", "index", "width", "shift"),
        [
            ("rax", R.RAX, 64, 0),
            ("eax", R.RAX, 32, 0),
            ("ax", R.RAX, 16, 0),
            ("al", R.RAX, 8, 0),
            ("ah", R.RAX, 8, 8),
            ("bh", R.RBX, 8, 8),
            ("sil", R.RSI, 8, 0),
            ("dil", R.RDI, 8, 0),
            ("spl", R.RSP, 8, 0),
            ("bpl", R.RBP, 8, 0),
            ("r8d", R.R8, 32, 0),
            ("r9w", R.R9, 16, 0),
            ("r15b", R.R15, 8, 0),
            ("eip", R.RIP, 32, 0),
            ("eflags", R.RFLAGS, 32, 0),
        ],
    )
    def test_view_table(self, name, index, width, shift):
        """Each named view covers its register's bits (SDM Vol. 1 §3.4.1.1 Figure 3-5)."""
        v = R.view(name)
        assert (v.index, v.width, v.shift) == (index, width, shift)

    def test_names_are_case_insensitive(self):
        """RAX and rax name the same view."""
        assert R.view("RAX") == R.view("rax")


class TestWrites:
    def test_32_bit_write_zero_extends(self):
        """A 32-bit write clears bits 63:32 (SDM Vol. 1 §3.4.1.1)."""
        regs = Registers()
        regs.write("rax", 0xFFFF_FFFF_FFFF_FFFF)
        regs.write("eax", 0x1234)
        assert regs.read("rax") == 0x1234

    def test_16_bit_write_merges(self):
        """A 16-bit write leaves bits 63:16 alone (SDM Vol. 1 §3.4.1.1)."""
        regs = Registers()
        regs.write("rcx", 0x1111_2222_3333_4444)
        regs.write("cx", 0xABCD)
        assert regs.read("rcx") == 0x1111_2222_3333_ABCD

    def test_high_byte_write_merges(self):
        """Writing AH changes only bits 15:8 of RAX."""
        regs = Registers()
        regs.write("rax", 0x1111_2222_3333_4444)
        regs.write("ah", 0xEE)
        assert regs.read("rax") == 0x1111_2222_3333_EE44

    def test_r8b_write_merges(self):
        """Writing R8B changes only bits 7:0 of R8."""
        regs = Registers()
        regs.write("r8", 0xFFFF)
        regs.write("r8b", 0)
        assert regs.read("r8") == 0xFF00

    def test_eip_write_zero_extends(self):
        """Writing EIP clears the top half of RIP."""
        regs = Registers()
        regs.write("rip", 0xFFFF_FFFF_8100_0000)
        regs.write("eip", 0x1000)
        assert regs.read("rip") == 0x1000


class TestBadInput:
    def test_value_too_wide(self):
        """A value wider than the view is refused with the field and the bounds named."""
        with pytest.raises(
            ValueError, match=r"eax: expected 0 \.\. 0xffffffff.*received 0x100000000"
        ):
            Registers().write("eax", 1 << 32)

    def test_negative_value(self):
        """A negative value is refused."""
        with pytest.raises(ValueError, match="al"):
            Registers().write("al", -1)

    def test_not_an_int(self):
        """A non-int is a TypeError naming the field."""
        with pytest.raises(TypeError, match="rbx"):
            Registers().write("rbx", "0x10")

    def test_bool_is_not_a_register_value(self):
        """True is not accepted as the number 1."""
        with pytest.raises(TypeError):
            Registers().write("rbx", True)

    def test_unknown_name(self):
        """An unknown register name is refused with examples of good ones."""
        with pytest.raises(ValueError, match=r"register: expected a register name.*'rzx'"):
            Registers().read("rzx")

    def test_name_not_a_string(self):
        """A register name that is not a string is a TypeError."""
        with pytest.raises(TypeError, match="register"):
            Registers().read(3)


class TestRflags:
    @pytest.mark.parametrize(
        ("name", "bit"),
        [
            ("CF", 0),
            ("PF", 2),
            ("AF", 4),
            ("ZF", 6),
            ("SF", 7),
            ("TF", 8),
            ("IF", 9),
            ("DF", 10),
            ("OF", 11),
            ("NT", 14),
            ("RF", 16),
            ("VM", 17),
            ("AC", 18),
            ("VIF", 19),
            ("VIP", 20),
            ("ID", 21),
        ],
    )
    def test_bit_positions(self, name, bit):
        """Each flag sits at its bit of EFLAGS (SDM Vol. 1 §3.4.3 Figure 3-8)."""
        assert flags.NAMES[name] == 1 << bit

    def test_iopl_field(self):
        """IOPL is bits 13:12 (SDM Vol. 1 §3.4.3.3)."""
        assert flags.IOPL == 0x3000 and flags.iopl(0x3202) == 3

    def test_bit_1_reads_as_one(self):
        """Bit 1 of RFLAGS always reads as 1 (SDM Vol. 1 §3.4.3 Figure 3-8)."""
        regs = Registers()
        assert regs.read("rflags") == 2
        regs.write("rflags", 0x200)
        assert regs.read("rflags") == 0x202

    @pytest.mark.parametrize("bit", [3, 5, 15, 22, 31, 32, 63])
    def test_reserved_bits_refused(self, bit):
        """Reserved RFLAGS bits (3, 5, 15, 22-63) cannot be set."""
        with pytest.raises(ValueError, match="rflags: expected no reserved bit"):
            Registers().write("rflags", 1 << bit)

    def test_flags_view_merges(self):
        """Writing the 16-bit FLAGS view keeps bits above 15 (such as AC)."""
        regs = Registers()
        regs.write("rflags", flags.AC | flags.IF)
        regs.write("flags", flags.CF)
        assert regs.read("rflags") == flags.AC | flags.CF | 2

    def test_describe(self):
        """The describe helper names the set flags and the IOPL."""
        assert flags.describe(flags.IF | flags.ZF | 2) == "ZF IF IOPL=0"
