"""The assembler: conventional encodings, labels and branch sizes, syntax, errors."""

import pytest

from simulator.cpu.assembler import assemble, assemble_one
from simulator.cpu.disassembler import disassemble


def asm(text: str, mode: int = 64, address: int = 0) -> str:
    return assemble(text, mode=mode, address=address).hex(" ")


class TestEncodings:
    @pytest.mark.parametrize(
        ("text", "mode", "code"),
        [
            # SDM Vol. 2B MOV: B8+rd id, and C7 /0 for a sign-extendable imm32 in a 64-bit reg.
            ("mov eax, 3", 32, "b8 03 00 00 00"),
            ("mov rax, -1", 64, "48 c7 c0 ff ff ff ff"),
            ("mov rax, 0x123456789", 64, "48 b8 89 67 45 23 01 00 00 00"),
            ("movabs rax, 3", 64, "48 b8 03 00 00 00 00 00 00 00"),
            ("mov al, 0x12", 32, "b0 12"),
            ("mov r9b, 1", 64, "41 b1 01"),
            ("mov eax, ecx", 32, "89 c8"),
            ("mov ecx, dword ptr [eax]", 32, "8b 08"),
            ("mov byte ptr [rax], 1", 64, "c6 00 01"),
            ("mov qword ptr [rax], -1", 64, "48 c7 00 ff ff ff ff"),
            # The vDSO and glibc sequences (3.16 arch/x86/vdso/vdso32/sysenter.S, syscall.S).
            ("call dword ptr gs:[0x10]", 32, "65 ff 15 10 00 00 00"),
            ("call qword ptr gs:[0x10]", 64, "65 ff 14 25 10 00 00 00"),
            ("mov ss, ecx", 32, "8e d1"),
            ("mov ebp, esp", 32, "89 e5"),
            # 83 /r ib when the immediate fits a sign-extended byte (SDM Vol. 2A ADD).
            ("add rax, -8", 64, "48 83 c0 f8"),
            ("sub esp, 0x10", 32, "83 ec 10"),
            ("add eax, 0x1000", 32, "05 00 10 00 00"),
            ("add ecx, 0x1000", 32, "81 c1 00 10 00 00"),
            ("cmp al, 5", 32, "3c 05"),
            ("xor eax, eax", 32, "31 c0"),
            ("test eax, eax", 32, "85 c0"),
            ("test al, 1", 32, "a8 01"),
            ("test ecx, 1", 32, "f7 c1 01 00 00 00"),
            ("inc eax", 32, "40"),
            ("inc eax", 64, "ff c0"),
            ("dec byte ptr [rax]", 64, "fe 08"),
            ("neg rax", 64, "48 f7 d8"),
            ("shl eax, 1", 32, "d1 e0"),
            ("shr eax, cl", 32, "d3 e8"),
            ("sar rdx, 0x3f", 64, "48 c1 fa 3f"),
            ("push rbp", 64, "55"),
            ("push r12", 64, "41 54"),
            ("push 1", 64, "6a 01"),
            ("push 0x1000", 32, "68 00 10 00 00"),
            ("pop ecx", 32, "59"),
            ("lea rax, [rbx+rcx*4-8]", 64, "48 8d 44 8b f8"),
            ("lea eax, [ebp]", 32, "8d 45 00"),
            ("lea rax, [rsp+8]", 64, "48 8d 44 24 08"),
            ("mov rax, qword ptr [rip+0x10]", 64, "48 8b 05 10 00 00 00"),
            ("mov eax, dword ptr [eip+0x10]", 64, "67 8b 05 10 00 00 00"),
            ("mov eax, dword ptr fs:0x28", 64, "64 8b 04 25 28 00 00 00"),
            ("mov ax, word ptr [bx+si+4]", 16, "8b 40 04"),
            ("movzx eax, byte ptr [rdi]", 64, "0f b6 07"),
            ("movzx ecx, ax", 32, "0f b7 c8"),
            ("int 0x80", 32, "cd 80"),
            ("int3", 32, "cc"),
            ("ret", 64, "c3"),
            ("ret 8", 32, "c2 08 00"),
            ("syscall", 64, "0f 05"),
            ("sysret", 64, "0f 07"),
            ("sysretq", 64, "48 0f 07"),
            ("sysenter", 32, "0f 34"),
            ("sysexit", 32, "0f 35"),
            ("sysexitq", 64, "48 0f 35"),
            ("iret", 32, "cf"),
            ("iretd", 64, "cf"),
            ("iretq", 64, "48 cf"),
            ("iretw", 32, "66 cf"),
            ("swapgs", 64, "0f 01 f8"),
            ("rdmsr", 64, "0f 32"),
            ("wrmsr", 64, "0f 30"),
            ("rdtscp", 64, "0f 01 f9"),
            ("cli", 64, "fa"),
            ("sti", 64, "fb"),
            ("hlt", 64, "f4"),
            ("ud2", 64, "0f 0b"),
            ("lgdt [rax]", 64, "0f 01 10"),
            ("lidt [eax]", 32, "0f 01 18"),
            ("ltr ax", 64, "0f 00 d8"),
            ("lsl eax, ecx", 32, "0f 03 c1"),
            ("nop", 64, "90"),
            ("nop dword ptr [rax+rax*1]", 64, "0f 1f 04 00"),
            ("lock add dword ptr [rax], 1", 64, "f0 83 00 01"),
            ("mov byte ptr [rsi], spl", 64, "40 88 26"),
            ("mov ah, 1", 64, "b4 01"),
        ],
    )
    def test_encoding(self, text, mode, code):
        """The assembler picks the encoding gas/nasm would for each line."""
        assert asm(text, mode) == code


class TestProgram:
    def test_vdso_sysenter_body(self):
        """The 3.16 __kernel_vsyscall SYSENTER body assembles to its 20 known bytes."""
        text = """
        __kernel_vsyscall:
            push ecx
            push edx
            push ebp
        .Lenter_kernel:
            mov ebp, esp
            sysenter
            nop; nop; nop; nop; nop; nop; nop   # align the return point
            int 0x80                            # restart point: SYSENTER_RETURN-2
        SYSENTER_RETURN:
            pop ebp
            pop edx
            pop ecx
            ret
        """
        assert asm(text, 32) == "51 52 55 89 e5 0f 34 90 90 90 90 90 90 90 cd 80 5d 5a 59 c3"

    def test_labels_and_short_branches(self):
        """Backward and forward labels; short forms when in range."""
        code = asm("top: dec ecx\njne top\njmp done\ncall top\ndone: ret", 32, 0x1000)
        assert code == "49 75 fd eb 05 e8 f6 ff ff ff c3"

    def test_long_branch_when_out_of_range(self):
        """A jump over 200 bytes takes the rel32 form (0F 8x for Jcc)."""
        text = "je far\n" + "nop\n" * 200 + "far: ret"
        code = assemble(text, mode=64)
        assert code[:6] == bytes.fromhex("0f84c8000000")
        assert len(code) == 6 + 200 + 1

    def test_absolute_targets(self):
        """A numeric target is absolute; $ is the instruction's own address."""
        assert asm("jmp 0x401000", 64, 0x401000) == "eb fe"
        assert asm("jmp $", 32, 0x8000) == "eb fe"
        assert asm("call 0x401000", 64, 0x400000) == "e8 fb 0f 00 00"

    def test_comments_and_separators(self):
        """'#' starts a comment (a ';' inside it separates nothing); ';' separates statements."""
        assert asm("mov eax, 1; int 0x80  # exit; really", 32) == "b8 01 00 00 00 cd 80"

    def test_case_and_spacing(self):
        """Mnemonics, registers and size keywords are case-insensitive."""
        assert asm("MOV  EAX , DWORD PTR GS:[ 0x10 ]", 32) == "65 8b 05 10 00 00 00"

    def test_round_trip_listing(self):
        """The disassembler's text assembles back to the same bytes."""
        code = assemble("top: mov eax, [ebx+esi*2+0x10]\njb top\nint 0x80", mode=32, address=0x100)
        listing = disassemble(code, mode=32, address=0x100)
        again = "\n".join(text for _, _, text in listing)
        assert assemble(again, mode=32, address=0x100) == code

    def test_assemble_one(self):
        """assemble_one takes exactly one instruction."""
        assert assemble_one("syscall", mode=64) == b"\x0f\x05"
        with pytest.raises(ValueError, match="exactly one instruction, received 2"):
            assemble_one("nop; nop", mode=64)


class TestErrors:
    @pytest.mark.parametrize(
        ("text", "mode", "message"),
        [
            ("frobnicate eax", 64, "line 1: 'frobnicate eax': unknown mnemonic 'frobnicate'"),
            ("nop\nmov eax, bx", 64, "line 2: 'mov eax, bx': operand size mismatch"),
            ("mov al, 0x100", 64, "immediate 0x100 out of range for 8 bits"),
            ("add rax, 0x80000000", 64, "does not fit a sign-extended 32-bit field"),
            ("jmp nowhere", 64, "unknown label 'nowhere'"),
            ("mov rax, 1", 32, "register rax is only available in 64-bit mode"),
            ("mov ah, sil", 64, "ah, ch, dh and bh cannot be used with a REX prefix"),
            ("mov [rax], 1", 64, "operand size not specified"),
            ("lea eax, ecx", 32, "lea needs"),
            ("mov cs, ax", 32, "mov to cs is invalid"),
            ("swapgs", 32, "swapgs is only valid in 64-bit mode"),
            ("into", 64, "into is invalid in 64-bit mode"),
            ("mov eax, [rsp*2]", 64, "rsp cannot be an index register"),
            ("mov eax, [rax+ecx]", 64, "mixes register sizes"),
            ("push eax", 64, "32-bit operand is not encodable in 64-bit mode"),
            ("mov eax, [ebx", 32, "missing ']'"),
            ("a: nop\na: nop", 32, "label 'a' defined twice"),
        ],
    )
    def test_error(self, text, mode, message):
        """Errors are ValueErrors naming the line, its text and what is wrong."""
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
            assemble(text, mode=mode)

    def test_bad_arguments(self):
        """mode, address and text are checked with the field named."""
        with pytest.raises(ValueError, match="mode: expected one of 16, 32, 64"):
            assemble("nop", mode=8)
        with pytest.raises(ValueError, match=r"address: expected 0 \.\. 0xffff"):
            assemble("nop", mode=16, address=0x10000)
        with pytest.raises(TypeError, match="text: expected a str"):
            assemble(b"nop")
