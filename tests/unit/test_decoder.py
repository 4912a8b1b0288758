"""The decoder: known encodings, operands, prefixes, #UD and #GP cases, truncation."""

import pytest

from simulator.cpu.decoder import decode
from simulator.cpu.disassembler import disassemble, format_instruction
from simulator.cpu.instruction import (
    Imm,
    Instruction,
    Mem,
    Reg,
    Rel,
    SegReg,
    Truncated,
    Undefined,
    Unmodeled,
)
from simulator.cpu.registers import R8, R12, R13, RAX, RBP, RBX, RCX, RDI, RDX, RSI, RSP
from simulator.cpu.segments import DS, FS, GS, SS


def dec(hexbytes: str, mode: int):
    return decode(bytes.fromhex(hexbytes), mode=mode)


def ins(hexbytes: str, mode: int) -> Instruction:
    result = dec(hexbytes, mode)
    assert isinstance(result, Instruction), result
    assert result.length == len(bytes.fromhex(hexbytes))
    return result


class TestSystemInstructions:
    @pytest.mark.parametrize(
        ("code", "mode", "mnemonic", "op_size"),
        [
            # SDM Vol. 2B SYSCALL: 0F 05.
            ("0f05", 64, "syscall", 4),
            # SDM Vol. 2B SYSRET: REX.W + 0F 07 is SYSRETQ (64-bit return); 0F 07 returns to
            # compatibility mode.
            ("480f07", 64, "sysret", 8),
            ("0f07", 64, "sysret", 4),
            # SDM Vol. 2B SYSENTER: 0F 34. SYSEXIT: 0F 35, REX.W + 0F 35 returns to 64-bit.
            ("0f34", 32, "sysenter", 4),
            ("0f34", 64, "sysenter", 4),
            ("0f35", 32, "sysexit", 4),
            ("480f35", 64, "sysexit", 8),
            # SDM Vol. 2A IRET/IRETD/IRETQ: CF, with the operand size choosing the form.
            ("cf", 32, "iret", 4),
            ("48cf", 64, "iret", 8),
            ("66cf", 32, "iret", 2),
            ("cf", 16, "iret", 2),
            # SDM Vol. 2B SWAPGS: 0F 01 F8. RDMSR 0F 32, WRMSR 0F 30, RDTSC 0F 31, RDTSCP 0F 01 F9.
            ("0f01f8", 64, "swapgs", 4),
            ("0f32", 64, "rdmsr", 4),
            ("0f30", 64, "wrmsr", 4),
            ("0f31", 32, "rdtsc", 4),
            ("0f01f9", 64, "rdtscp", 4),
            # SDM Vol. 2A CLI FA, STI FB, HLT F4, INT3 CC; Vol. 2B UD2 0F 0B.
            ("fa", 32, "cli", 4),
            ("fb", 64, "sti", 4),
            ("f4", 16, "hlt", 2),
            ("cc", 64, "int3", 4),
            ("0f0b", 64, "ud2", 4),
            ("ce", 32, "into", 4),
        ],
    )
    def test_known_encoding(self, code, mode, mnemonic, op_size):
        """Each encoding decodes to the SDM's instruction and operand size."""
        result = ins(code, mode)
        assert (result.mnemonic, result.op_size, result.operands) == (mnemonic, op_size, ())

    def test_int_0x80(self):
        """CD 80 is INT 0x80 with an imm8 (SDM Vol. 2A INT n)."""
        assert ins("cd80", 32).operands == (Imm(0x80, 1, 1),)

    def test_rex_w_flag(self):
        """rex_w records REX.W, which SYSRET/SYSEXIT/IRET read as the 64-bit form."""
        assert ins("480f07", 64).rex_w and not ins("0f07", 64).rex_w

    def test_lgdt_lidt_ltr(self):
        """LGDT 0F 01 /2 and LIDT /3 take a pseudo-descriptor (size 0); LTR 0F 00 /3 a word."""
        lgdt = ins("0f0110", 64)
        assert lgdt.mnemonic == "lgdt" and lgdt.operands == (Mem(0, base=RAX),)
        assert ins("0f0118", 32).mnemonic == "lidt"
        assert ins("0f00d8", 64).operands == (Reg(RAX, 2),)
        assert ins("0f0018", 64).operands == (Mem(2, base=RAX),)

    def test_lsl(self):
        """LSL r32, r32/m16 (SDM Vol. 2A LSL: 0F 03 /r)."""
        result = ins("0f03c1", 32)
        assert (result.mnemonic, result.operands) == ("lsl", (Reg(RAX, 4), Reg(RCX, 4)))
        assert ins("0f0301", 64).operands == (Reg(RAX, 4), Mem(2, base=RCX))


class TestVdso:
    """The 3.16 32-bit vDSO's __kernel_vsyscall (arch/x86/vdso/vdso32/sysenter.S, syscall.S)."""

    SYSENTER = "51 52 55 89 e5 0f 34 90 90 90 90 90 90 90 cd 80 5d 5a 59 c3"
    SYSCALL = "55 89 cd 0f 05 b9 2b 00 00 00 8e d1 89 e9 5d c3"

    def test_sysenter_variant(self):
        """push ecx/edx/ebp; mov ebp, esp; sysenter; 7 nops; int 0x80; pop ebp/edx/ecx; ret."""
        listing = disassemble(bytes.fromhex(self.SYSENTER), mode=32)
        texts = [text for _, _, text in listing]
        assert texts == [
            "push ecx",
            "push edx",
            "push ebp",
            "mov ebp, esp",
            "sysenter",
            *["nop"] * 7,
            "int 0x80",
            "pop ebp",
            "pop edx",
            "pop ecx",
            "ret",
        ]
        # The restart point is SYSENTER_RETURN - 2: int 0x80 sits at offset 14, returns at 16.
        assert [a for a, _, t in listing if t in ("int 0x80", "pop ebp")] == [14, 16]

    def test_syscall_variant(self):
        """push ebp; mov ebp, ecx; syscall; mov ecx, __USER32_DS; mov ss, ecx; ...; ret."""
        texts = [t for _, _, t in disassemble(bytes.fromhex(self.SYSCALL), mode=32)]
        assert texts == [
            "push ebp",
            "mov ebp, ecx",
            "syscall",
            "mov ecx, 0x2b",
            "mov ss, cx",
            "mov ecx, ebp",
            "pop ebp",
            "ret",
        ]

    def test_glibc_call_gs_0x10(self):
        """65 FF 15 10 00 00 00 is call dword ptr gs:[0x10], glibc's call *%gs:0x10."""
        result = ins("65ff1510000000", 32)
        assert result.mnemonic == "call" and result.op_size == 4
        assert result.operands == (Mem(4, disp=0x10, seg=GS, addr_size=4),)
        assert format_instruction(result) == "call dword ptr gs:[0x10]"

    def test_call_qword_gs_in_64_bit(self):
        """In 64-bit mode an absolute address needs a SIB (mod=00 rm=101 is RIP-relative)."""
        result = ins("65ff142510000000", 64)
        assert result.operands == (Mem(8, disp=0x10, seg=GS, addr_size=8),)


class TestOperands:
    def test_mov_eax_3(self):
        """B8+rd id: mov eax, 3 (SDM Vol. 2B MOV)."""
        result = ins("b803000000", 32)
        assert result.operands == (Reg(RAX, 4), Imm(3, 4, 4))
        assert ins("b803000000", 64).operands == (Reg(RAX, 4), Imm(3, 4, 4))

    def test_mov_imm64_and_sign_extended_imm32(self):
        """REX.W B8 takes an imm64; REX.W C7 /0 an imm32 sign-extended to 64 bits."""
        assert ins("48b80100000000000080", 64).operands[1] == Imm(0x8000_0000_0000_0001, 8, 8)
        assert ins("48c7c0ffffffff", 64).operands == (Reg(RAX, 8), Imm(2**64 - 1, 8, 4))

    def test_rip_relative(self):
        """mod=00 rm=101 in 64-bit mode is RIP-relative (SDM Vol. 2A §2.2.1.6)."""
        result = ins("488b0510000000", 64)
        assert result.operands == (Reg(RAX, 8), Mem(8, disp=0x10, rip=True))
        assert format_instruction(result) == "mov rax, qword ptr [rip+0x10]"

    def test_eip_relative(self):
        """With 67 the same form is EIP-relative: still rip, address size 4."""
        assert ins("678b0510000000", 64).operands[1] == Mem(4, disp=0x10, rip=True, addr_size=4)

    def test_mod00_rm101_is_absolute_in_32_bit(self):
        """Outside 64-bit mode mod=00 rm=101 is a plain disp32."""
        assert ins("8b0510000000", 32).operands[1] == Mem(4, disp=0x10, addr_size=4)

    def test_lea_sib(self):
        """lea rax, [rbx+rcx*4-8]: SIB scale 4, disp8 sign-extended."""
        result = ins("488d448bf8", 64)
        assert result.mnemonic == "lea"
        assert result.operands == (Reg(RAX, 8), Mem(0, base=RBX, index=RCX, scale=4, disp=-8))

    def test_sib_without_base_and_index(self):
        """SIB base=101 with mod=00 has no base and a disp32; index=100 means no index."""
        assert ins("8b04b500010000", 32).operands[1] == Mem(
            4, index=RSI, scale=4, disp=0x100, addr_size=4
        )
        assert ins("8b0424", 32).operands[1] == Mem(4, base=RSP, addr_size=4)

    def test_rex_extensions(self):
        """REX.X makes index 100 mean r12; REX.B with rm=101 and mod=01 is r13."""
        assert ins("4a8b0420", 64).operands[1] == Mem(8, base=RAX, index=R12)
        assert ins("498b4500", 64).operands[1] == Mem(8, base=R13)
        assert ins("4c8bc0", 64).operands == (Reg(R8, 8), Reg(RAX, 8))

    def test_16_bit_forms(self):
        """[bx+si], [bp+disp8] and [disp16] (SDM Vol. 2A Table 2-1)."""
        assert ins("8b00", 16).operands[1] == Mem(2, base=RBX, index=RSI, addr_size=2)
        assert ins("8b4604", 16).operands[1] == Mem(2, base=RBP, disp=4, addr_size=2)
        assert ins("8b063412", 16).operands[1] == Mem(2, disp=0x1234, addr_size=2)
        assert ins("8b05", 16).operands[1] == Mem(2, index=RDI, addr_size=2)

    def test_32_bit_addressing_from_16_bit_code(self):
        """67 in 16-bit code selects 32-bit addressing."""
        assert ins("678b00", 16).operands[1] == Mem(2, base=RAX, addr_size=4)

    def test_high_byte_registers(self):
        """Byte registers 4-7 are AH..BH without REX, SPL..DIL with any REX."""
        assert ins("88e0", 64).operands == (Reg(RAX, 1), Reg(RAX, 1, high=True))
        assert ins("4088e0", 64).operands == (Reg(RAX, 1), Reg(RSP, 1))

    def test_rex_before_legacy_prefix_is_ignored(self):
        """A REX followed by a legacy prefix is ignored (SDM Vol. 2A §2.2.1)."""
        result = ins("4866b80300", 64)
        assert result.op_size == 2 and not result.rex_w
        assert ins("6648b80300000000000000", 64).op_size == 8  # REX.W wins over 66

    def test_rex_is_inc_dec_outside_64_bit(self):
        """40-4F are INC/DEC r16/r32 in 16- and 32-bit code."""
        assert ins("40", 32).mnemonic == "inc" and ins("40", 32).operands == (Reg(RAX, 4),)
        assert ins("4f", 16).mnemonic == "dec" and ins("4f", 16).operands == (Reg(RDI, 2),)

    def test_push_pop_sizes(self):
        """PUSH/POP default to 64 bits in 64-bit mode; 66 gives 16; REX.B extends."""
        assert ins("50", 64).operands == (Reg(RAX, 8),)
        assert ins("4150", 64).operands == (Reg(R8, 8),)
        assert ins("6650", 64).operands == (Reg(RAX, 2),)
        assert ins("6af8", 64).operands == (Imm(2**64 - 8, 8, 1),)
        assert ins("6af8", 32).operands == (Imm(2**32 - 8, 4, 1),)
        assert ins("68ffffff7f", 64).operands == (Imm(0x7FFF_FFFF, 8, 4),)
        assert ins("ff30", 64).operands == (Mem(8, base=RAX),)
        assert ins("8f00", 32).operands == (Mem(4, base=RAX, addr_size=4),)

    def test_branches(self):
        """Jcc carries its condition nibble; E9 is rel16 with 66 outside 64-bit mode only."""
        je = ins("74fe", 64)
        assert (je.mnemonic, je.cond, je.operands) == ("jcc", 4, (Rel(-2, 1),))
        assert ins("0f8f00010000", 32).cond == 15
        assert ins("66e90010", 32).operands == (Rel(0x1000, 2),)
        assert ins("66e900100000", 64).operands == (Rel(0x1000, 4),)
        assert ins("e8fbffffff", 64).operands == (Rel(-5, 4),)
        assert ins("c21000", 32).operands == (Imm(0x10, 2, 2),)

    def test_shift_counts(self):
        """D1 has an implicit count of 1, D3 counts by CL, C1 by an imm8."""
        assert ins("d1e0", 32).operands[1] == Imm(1, 1, 0)
        assert ins("d3e8", 32).operands[1] == Reg(RCX, 1)
        result = ins("c1f803", 32)
        assert (result.mnemonic, result.operands[1]) == ("sar", Imm(3, 1, 1))

    def test_alu_and_group_1(self):
        """83 /5 sign-extends its imm8; 05 is add eAX, imm32."""
        assert ins("4883e808", 64).operands == (Reg(RAX, 8), Imm(8, 8, 1))
        assert ins("4883e808", 64).mnemonic == "sub"
        assert ins("0578563412", 32).operands == (Reg(RAX, 4), Imm(0x12345678, 4, 4))
        assert ins("11c8", 32).mnemonic == "adc"

    def test_movzx_and_unary(self):
        """movzx 0F B6/B7 keeps the source size; neg/not/mul are F7 /3 /2 /4."""
        assert ins("0fb607", 64).operands == (Reg(RAX, 4), Mem(1, base=RDI))
        assert ins("480fb7c1", 64).operands == (Reg(RAX, 8), Reg(RCX, 2))
        assert [ins(c, 32).mnemonic for c in ("f7d8", "f7d0", "f7e1")] == ["neg", "not", "mul"]

    def test_mov_segment_registers(self):
        """8C with a register destination takes the operand size; 8E reads a word."""
        assert ins("8cd8", 32).operands == (Reg(RAX, 4), SegReg(DS))
        assert ins("8c18", 32).operands == (Mem(2, base=RAX, addr_size=4), SegReg(DS))
        assert ins("8ed1", 32).operands == (SegReg(SS), Reg(RCX, 2))

    def test_segment_overrides(self):
        """FS/GS apply in 64-bit mode; ES/CS/SS/DS overrides are ignored there."""
        assert ins("648b00", 64).operands[1].seg == FS
        assert ins("3e8b00", 64).operands[1].seg is None
        assert ins("3e8b00", 32).operands[1].seg == DS

    def test_multibyte_nop(self):
        """0F 1F /0 is NOP r/m; 66 prefixes pad it (SDM Vol. 2B NOP, Table 4-12)."""
        result = ins("66660f1f840000000000", 64)
        assert result.mnemonic == "nop" and result.op_size == 2
        assert ins("90", 64).mnemonic == "nop"
        assert ins("0f1f440000", 32).length == 5


class TestUndefined:
    @pytest.mark.parametrize(
        "code",
        [
            *("06", "07", "0e", "16", "17", "1e", "1f", "27", "2f", "37", "3f", "60", "61"),
            *("62c0", "820000", "9a000000000000", "ce", "d40a", "d50a", "d6", "ea000000000000"),
        ],
    )
    def test_invalid_in_64_bit_mode(self, code):
        """One-byte opcodes marked i64 in SDM Vol. 2D Table A-2 are #UD in 64-bit mode."""
        result = dec(code, 64)
        assert isinstance(result, Undefined) and result.vector == 6
        assert not isinstance(dec(code, 32), Undefined)

    def test_vex_in_64_bit_mode(self):
        """C4/C5 are VEX prefixes in 64-bit mode: not modelled, not #UD."""
        assert dec("c5f877", 64) == Unmodeled(bytes.fromhex("c5f877"), "vex")
        assert dec("c400", 32).mnemonic == "les"

    @pytest.mark.parametrize(
        ("code", "mode"),
        [
            ("0f01f8", 32),  # SWAPGS outside 64-bit mode (SDM Vol. 2B SWAPGS)
            ("8dc0", 64),  # LEA with a register source
            ("8ec8", 32),  # MOV CS, r/m (SDM Vol. 2B MOV: "#UD if the DS... CS register")
            ("8ef0", 32),  # Sreg encoding 6
            ("8cf8", 32),  # Sreg encoding 7
            ("fed0", 32),  # FE /2
            ("ffff", 64),  # FF /7
            ("ffd8", 64),  # FF /3 (far call) with a register
            ("c6c800", 32),  # C6 /1
            ("0f04", 64),
            ("0f0a", 64),
            ("0f0b", 64),  # UD2 is an Instruction: filtered below
            ("0fb9c0", 64),  # UD1
            ("0fba0000", 64),  # 0F BA /0
        ],
    )
    def test_undefined_encodings(self, code, mode):
        """Encodings no processor defines (or invalid operand forms) are #UD."""
        result = dec(code, mode)
        if code == "0f0b":
            assert result.mnemonic == "ud2"
        else:
            assert isinstance(result, Undefined) and result.vector == 6, result


class TestLock:
    @pytest.mark.parametrize(
        "code",
        ["f08900", "f001c0", "f03900", "f00f05", "f08500", "f0fec0", "f0d120"],
    )
    def test_lock_refused(self, code):
        """LOCK on MOV, a register destination, CMP, SYSCALL, TEST or a shift is #UD."""
        result = dec(code, 64)
        assert isinstance(result, Undefined) and "LOCK" in result.reason

    @pytest.mark.parametrize(
        "code", ["f0830001", "f00100", "f0ff00", "f0fe08", "f0f718", "f0f710", "f01100"]
    )
    def test_lock_allowed_with_memory_destination(self, code):
        """LOCK ADD/INC/DEC/NEG/NOT/ADC with a memory destination is legal."""
        result = ins(code, 64)
        assert result.lock

    def test_lock_on_unmodeled(self):
        """LOCK XCHG m, r stays a real (unmodelled) instruction; LOCK CPUID is #UD."""
        assert isinstance(dec("f08700", 64), Unmodeled)
        assert isinstance(dec("f00fa2", 64), Undefined)


class TestLength:
    def test_fifteen_bytes_is_the_limit(self):
        """14 prefixes and a one-byte opcode decode; one more byte is #GP(0) (SDM 2A §2.3.11)."""
        assert ins("66" * 14 + "90", 64).length == 15
        result = dec("66" * 15 + "90", 64)
        assert isinstance(result, Undefined) and result.vector == 13

    def test_long_instruction_with_prefixes(self):
        """A 16-byte lock add with 6 prefixes is #GP even though each part is legal."""
        code = "2e2e2e2e2e2ef04881842400000000" + "78563412"
        result = dec(code, 64)
        assert isinstance(result, Undefined) and result.vector == 13

    @pytest.mark.parametrize(
        ("code", "mode", "needed"),
        [("", 64, 1), ("b803", 32, 5), ("0f", 64, 2), ("66", 32, 2), ("8b04", 32, 3)],
    )
    def test_truncated(self, code, mode, needed):
        """Running out of bytes reports how many are needed."""
        assert dec(code, mode) == Truncated(needed)


class TestUnmodeled:
    @pytest.mark.parametrize(
        ("code", "mode", "name"),
        [
            ("0fa2", 64, "cpuid"),
            ("0fbec0", 64, "movsx"),
            ("63c8", 64, "movsxd"),
            ("87c8", 64, "xchg"),
            ("4190", 64, "xchg"),
            ("f390", 64, "pause"),
            ("f3a4", 64, "rep movsb"),
            ("f3a6", 32, "repe cmpsb"),
            ("d9c0", 32, "x87: d9 c0"),
            ("0f1000", 64, "sse: 0f 10"),
            ("0f380000", 64, "0f 38 map"),
            ("d1c0", 32, "rol"),
            ("a10000000000000000", 64, "mov (moffs)"),
            ("0f01c1", 64, "vmcall"),
            ("ff18", 64, "call far"),
            ("8fc8", 64, "xop"),
            ("f7c878563412", 32, "test (undocumented /1)"),
            ("06", 32, "push es"),
        ],
    )
    def test_named(self, code, mode, name):
        """A real instruction outside the subset is named, with its whole length."""
        result = dec(code, mode)
        assert result == Unmodeled(bytes.fromhex(code), name)


class TestArguments:
    def test_bad_mode(self):
        """mode must be 16, 32 or 64."""
        with pytest.raises(ValueError, match="mode: expected one of 16, 32, 64, received 8"):
            decode(b"\x90", mode=8)

    def test_bad_data(self):
        """data must be bytes-like."""
        with pytest.raises(TypeError, match="data: expected bytes"):
            decode([0x90], mode=64)

    def test_memoryview(self):
        """A memoryview and a bytearray decode like bytes."""
        assert decode(memoryview(b"\x90\x90"), mode=64) == decode(bytearray(b"\x90"), mode=64)

    def test_format_needs_instruction(self):
        """format_instruction refuses anything but an Instruction."""
        with pytest.raises(TypeError, match="ins: expected an Instruction"):
            format_instruction(Truncated(1))


def test_registers_are_named_consistently():
    """The register constants used above are the hardware numbers."""
    assert (RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI) == tuple(range(8))
