"""Seccomp classic-BPF filters: constants, the 3.16 checkers, the interpreter, the combination."""

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

import abi
from simulator.kernel import bpf as B
from simulator.kernel.bpf import (
    BPF_A,
    BPF_ABS,
    BPF_ADD,
    BPF_ALU,
    BPF_AND,
    BPF_B,
    BPF_DIV,
    BPF_H,
    BPF_IMM,
    BPF_IND,
    BPF_JA,
    BPF_JEQ,
    BPF_JGE,
    BPF_JGT,
    BPF_JMP,
    BPF_JSET,
    BPF_K,
    BPF_LD,
    BPF_LDX,
    BPF_LEN,
    BPF_LSH,
    BPF_MAXINSNS,
    BPF_MEM,
    BPF_MISC,
    BPF_MOD,
    BPF_MSH,
    BPF_MUL,
    BPF_NEG,
    BPF_OR,
    BPF_RET,
    BPF_RSH,
    BPF_ST,
    BPF_STX,
    BPF_SUB,
    BPF_TAX,
    BPF_TXA,
    BPF_W,
    BPF_X,
    BPF_XOR,
    MAX_INSNS_PER_PATH,
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_ERRNO,
    SECCOMP_RET_KILL,
    SECCOMP_RET_TRACE,
    SECCOMP_RET_TRAP,
    SKF_AD_OFF,
    Insn,
    Refused,
    assemble,
    check_path_length,
    converted_length,
    jump,
    parse_filter,
    run_filter,
    run_filters,
    seccomp_data,
    stmt,
)

EINVAL = abi.errno_number("EINVAL")
ENOMEM = abi.errno_number("ENOMEM")
EPERM = abi.errno_number("EPERM")
X86_64 = abi.AUDIT_ARCH_X86_64
I386 = abi.AUDIT_ARCH_I386

RET_ALLOW = stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)


def data(nr=0, arch=X86_64, ip=0, args=(0, 0, 0, 0, 0, 0)):
    return seccomp_data(nr, arch, ip, list(args))


def accepted(*records):
    prog = parse_filter(assemble(records))
    assert not isinstance(prog, Refused), prog
    return prog


def run(*records, ctx=None):
    return run_filter(accepted(*records), ctx if ctx is not None else data())


def refused(*records):
    result = parse_filter(assemble(records))
    assert isinstance(result, Refused), result
    assert result == -EINVAL and result.errno == -EINVAL
    return result


class TestConstants:
    """Every constant, pinned with the Linux 3.16 file that defines it."""

    @pytest.mark.parametrize(
        ("name", "value", "source"),
        [
            ("BPF_LD", 0x00, "include/uapi/linux/bpf_common.h"),
            ("BPF_LDX", 0x01, "include/uapi/linux/bpf_common.h"),
            ("BPF_ST", 0x02, "include/uapi/linux/bpf_common.h"),
            ("BPF_STX", 0x03, "include/uapi/linux/bpf_common.h"),
            ("BPF_ALU", 0x04, "include/uapi/linux/bpf_common.h"),
            ("BPF_JMP", 0x05, "include/uapi/linux/bpf_common.h"),
            ("BPF_RET", 0x06, "include/uapi/linux/bpf_common.h"),
            ("BPF_MISC", 0x07, "include/uapi/linux/bpf_common.h"),
            ("BPF_W", 0x00, "include/uapi/linux/bpf_common.h"),
            ("BPF_H", 0x08, "include/uapi/linux/bpf_common.h"),
            ("BPF_B", 0x10, "include/uapi/linux/bpf_common.h"),
            ("BPF_IMM", 0x00, "include/uapi/linux/bpf_common.h"),
            ("BPF_ABS", 0x20, "include/uapi/linux/bpf_common.h"),
            ("BPF_IND", 0x40, "include/uapi/linux/bpf_common.h"),
            ("BPF_MEM", 0x60, "include/uapi/linux/bpf_common.h"),
            ("BPF_LEN", 0x80, "include/uapi/linux/bpf_common.h"),
            ("BPF_MSH", 0xA0, "include/uapi/linux/bpf_common.h"),
            ("BPF_ADD", 0x00, "include/uapi/linux/bpf_common.h"),
            ("BPF_SUB", 0x10, "include/uapi/linux/bpf_common.h"),
            ("BPF_MUL", 0x20, "include/uapi/linux/bpf_common.h"),
            ("BPF_DIV", 0x30, "include/uapi/linux/bpf_common.h"),
            ("BPF_OR", 0x40, "include/uapi/linux/bpf_common.h"),
            ("BPF_AND", 0x50, "include/uapi/linux/bpf_common.h"),
            ("BPF_LSH", 0x60, "include/uapi/linux/bpf_common.h"),
            ("BPF_RSH", 0x70, "include/uapi/linux/bpf_common.h"),
            ("BPF_NEG", 0x80, "include/uapi/linux/bpf_common.h"),
            ("BPF_MOD", 0x90, "include/uapi/linux/bpf_common.h"),
            ("BPF_XOR", 0xA0, "include/uapi/linux/bpf_common.h"),
            ("BPF_JA", 0x00, "include/uapi/linux/bpf_common.h"),
            ("BPF_JEQ", 0x10, "include/uapi/linux/bpf_common.h"),
            ("BPF_JGT", 0x20, "include/uapi/linux/bpf_common.h"),
            ("BPF_JGE", 0x30, "include/uapi/linux/bpf_common.h"),
            ("BPF_JSET", 0x40, "include/uapi/linux/bpf_common.h"),
            ("BPF_K", 0x00, "include/uapi/linux/bpf_common.h"),
            ("BPF_X", 0x08, "include/uapi/linux/bpf_common.h"),
            ("BPF_MAXINSNS", 4096, "include/uapi/linux/bpf_common.h"),
            ("BPF_A", 0x10, "include/uapi/linux/filter.h"),
            ("BPF_TAX", 0x00, "include/uapi/linux/filter.h"),
            ("BPF_TXA", 0x80, "include/uapi/linux/filter.h"),
            ("BPF_MEMWORDS", 16, "include/uapi/linux/filter.h"),
            ("SKF_AD_OFF", 0xFFFFF000, "include/uapi/linux/filter.h (-0x1000 as u32)"),
            ("SOCK_FILTER_SIZE", 8, "include/uapi/linux/filter.h (struct sock_filter)"),
            ("SECCOMP_MODE_DISABLED", 0, "include/uapi/linux/seccomp.h"),
            ("SECCOMP_MODE_STRICT", 1, "include/uapi/linux/seccomp.h"),
            ("SECCOMP_MODE_FILTER", 2, "include/uapi/linux/seccomp.h"),
            ("SECCOMP_RET_KILL", 0x00000000, "include/uapi/linux/seccomp.h"),
            ("SECCOMP_RET_TRAP", 0x00030000, "include/uapi/linux/seccomp.h"),
            ("SECCOMP_RET_ERRNO", 0x00050000, "include/uapi/linux/seccomp.h"),
            ("SECCOMP_RET_TRACE", 0x7FF00000, "include/uapi/linux/seccomp.h"),
            ("SECCOMP_RET_ALLOW", 0x7FFF0000, "include/uapi/linux/seccomp.h"),
            ("SECCOMP_RET_ACTION", 0x7FFF0000, "include/uapi/linux/seccomp.h"),
            ("SECCOMP_RET_DATA", 0x0000FFFF, "include/uapi/linux/seccomp.h"),
            ("SECCOMP_DATA_SIZE", 64, "include/uapi/linux/seccomp.h (struct seccomp_data)"),
            ("AUDIT_ARCH_X86_64", 0xC000003E, "include/uapi/linux/audit.h"),
            ("AUDIT_ARCH_I386", 0x40000003, "include/uapi/linux/audit.h"),
            ("PR_GET_SECCOMP", 21, "include/uapi/linux/prctl.h"),
            ("PR_SET_SECCOMP", 22, "include/uapi/linux/prctl.h"),
            ("PR_SET_NO_NEW_PRIVS", 38, "include/uapi/linux/prctl.h"),
            ("PR_GET_NO_NEW_PRIVS", 39, "include/uapi/linux/prctl.h"),
            ("MAX_INSNS_PER_PATH", 32768, "kernel/seccomp.c ((1 << 18) / 8)"),
        ],
    )
    def test_value(self, name, value, source):
        """The constant has the value its source file gives it in Linux 3.16."""
        assert getattr(B, name) == value, source

    def test_mode1_syscalls_64(self):
        """arch/x86/include/asm/seccomp_64.h (3.16): read, write, exit, rt_sigreturn."""
        assert B.MODE1_SYSCALLS_64 == (0, 1, 60, 15)

    def test_mode1_syscalls_32(self):
        """seccomp_64.h's __NR_ia32_* and seccomp_32.h (3.16): read, write, exit, sigreturn."""
        assert B.MODE1_SYSCALLS_32 == (3, 4, 1, 119)

    def test_exports(self):
        """Everything in __all__ exists."""
        for name in B.__all__:
            assert hasattr(B, name), name


class TestBuilders:
    """stmt, jump, assemble and Insn lay out struct sock_filter (filter.h, 3.16)."""

    def test_stmt_layout(self):
        """BPF_STMT: u16 code, u8 jt = 0, u8 jf = 0, u32 k, little endian."""
        assert stmt(BPF_LD | BPF_W | BPF_ABS, 4) == bytes([0x20, 0, 0, 0, 4, 0, 0, 0])

    def test_jump_layout(self):
        """BPF_JUMP carries jt and jf in bytes 2 and 3."""
        rec = jump(BPF_JMP | BPF_JEQ | BPF_K, 0xC000003E, 1, 2)
        assert rec == struct.pack("<HBBI", 0x15, 1, 2, 0xC000003E)

    def test_assemble_mixes_records_and_insns(self):
        """assemble concatenates 8-byte records and Insn values in order."""
        out = assemble([stmt(BPF_LD | BPF_IMM, 7), Insn(BPF_RET | BPF_A)])
        assert out == stmt(BPF_LD | BPF_IMM, 7) + stmt(BPF_RET | BPF_A)

    def test_insn_round_trip(self):
        """Insn.unpack inverts Insn.pack."""
        ins = Insn(BPF_JMP | BPF_JSET | BPF_X, 3, 4, 0xDEADBEEF)
        assert Insn.unpack(ins.pack()) == ins


class TestAccepted:
    """What seccomp_attach_filter (3.16) accepts, and how seccomp_check_filter rewrites it."""

    def test_single_ret(self):
        """A lone ret is a whole filter."""
        assert accepted(RET_ALLOW) == [Insn(BPF_RET | BPF_K, k=SECCOMP_RET_ALLOW)]

    def test_load_rewritten_to_seccomp_load(self):
        """seccomp_check_filter turns ld [k] into BPF_LDX|BPF_W|BPF_ABS, the seccomp load."""
        prog = accepted(stmt(BPF_LD | BPF_W | BPF_ABS, 60), RET_ALLOW)
        assert prog[0] == Insn(BPF_LDX | BPF_W | BPF_ABS, k=60)

    def test_len_loads_become_immediates(self):
        """ld #len and ldx #len become ld #64 and ldx #64 (sizeof(struct seccomp_data))."""
        prog = accepted(stmt(BPF_LD | BPF_W | BPF_LEN), stmt(BPF_LDX | BPF_W | BPF_LEN), RET_ALLOW)
        assert prog[:2] == [Insn(BPF_LD | BPF_IMM, k=64), Insn(BPF_LDX | BPF_IMM, k=64)]

    def test_maxinsns_accepted(self):
        """Exactly BPF_MAXINSNS instructions pass (3.16's sk_convert_filter tests len > 4096)."""
        prog = parse_filter(stmt(BPF_LD | BPF_IMM, 1) * (BPF_MAXINSNS - 1) + RET_ALLOW)
        assert isinstance(prog, list) and len(prog) == BPF_MAXINSNS

    def test_memory_written_on_every_path(self):
        """check_load_and_stores accepts a slot stored on both branches before the join."""
        accepted(
            jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 2),
            stmt(BPF_ST, 3),
            stmt(BPF_JMP | BPF_JA, 1),
            stmt(BPF_ST, 3),
            stmt(BPF_LD | BPF_MEM, 3),
            stmt(BPF_RET | BPF_A),
        )

    def test_code_after_ja_starts_all_valid(self):
        """check_load_and_stores: the instruction after a ja starts with every slot valid."""
        accepted(
            stmt(BPF_JMP | BPF_JA, 1),
            stmt(BPF_LD | BPF_MEM, 5),
            RET_ALLOW,
        )


class TestRefused:
    """Each refusal of seccomp_attach_filter, sk_chk_filter and seccomp_check_filter (3.16)."""

    def test_empty(self):
        """fprog->len == 0 is -EINVAL."""
        result = parse_filter(b"")
        assert result == -EINVAL and result.check == "seccomp_attach_filter"

    def test_partial_record(self):
        """Bytes that are not whole 8-byte records are -EINVAL."""
        result = parse_filter(RET_ALLOW + b"\x00")
        assert result == -EINVAL and "8-byte" in result.reason

    def test_too_many(self):
        """More than BPF_MAXINSNS instructions is -EINVAL."""
        result = parse_filter(RET_ALLOW * (BPF_MAXINSNS + 1))
        assert result == -EINVAL and "BPF_MAXINSNS" in result.reason

    @pytest.mark.parametrize("code", [0x0D, 0xFFFF, BPF_ALU | 0xB0 | BPF_K, BPF_MISC | 0x08])
    def test_unknown_opcode(self, code):
        """chk_code_allowed refuses an opcode outside its table."""
        assert refused(stmt(code), RET_ALLOW).check == "sk_chk_filter"

    @pytest.mark.parametrize("op", [BPF_DIV, BPF_MOD])
    def test_division_by_constant_zero(self, op):
        """sk_chk_filter refuses div or mod by K == 0."""
        result = refused(stmt(BPF_ALU | op | BPF_K, 0), RET_ALLOW)
        assert result.check == "sk_chk_filter" and "constant 0" in result.reason

    @pytest.mark.parametrize("code", [BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM, BPF_ST, BPF_STX])
    def test_memory_slot_out_of_range(self, code):
        """sk_chk_filter refuses M[k] with k >= BPF_MEMWORDS."""
        assert refused(stmt(code, 16), RET_ALLOW).check == "sk_chk_filter"

    def test_ja_past_end(self):
        """A ja must land on an instruction of the program."""
        assert refused(stmt(BPF_JMP | BPF_JA, 1), RET_ALLOW).check == "sk_chk_filter"

    @pytest.mark.parametrize(("jt", "jf"), [(1, 0), (0, 1), (255, 255)])
    def test_conditional_past_end(self, jt, jf):
        """Both targets of a conditional jump must be in the program."""
        rec = jump(BPF_JMP | BPF_JEQ | BPF_K, 0, jt, jf)
        assert refused(rec, RET_ALLOW).check == "sk_chk_filter"

    def test_last_not_ret(self):
        """The last instruction must be a ret."""
        result = refused(RET_ALLOW, stmt(BPF_LD | BPF_IMM, 0))
        assert result.check == "sk_chk_filter" and "ret" in result.reason

    def test_unknown_ancillary(self):
        """sk_chk_filter refuses an ancillary offset it does not know (SKF_AD_OFF + 60)."""
        result = refused(stmt(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + 60), RET_ALLOW)
        assert result.check == "sk_chk_filter"

    def test_memory_read_before_write(self):
        """check_load_and_stores (3.16 has it) refuses reading a slot never stored."""
        result = refused(stmt(BPF_LD | BPF_MEM, 0), RET_ALLOW)
        assert result.check == "check_load_and_stores"

    def test_memory_written_on_one_branch_only(self):
        """A slot stored on only one branch may not be read after the join."""
        result = refused(
            jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
            stmt(BPF_ST, 2),
            stmt(BPF_LDX | BPF_MEM, 2),
            RET_ALLOW,
        )
        assert result.check == "check_load_and_stores"

    @pytest.mark.parametrize(
        "code",
        [
            BPF_ALU | BPF_MOD | BPF_K,
            BPF_ALU | BPF_MOD | BPF_X,
            BPF_LD | BPF_H | BPF_ABS,
            BPF_LD | BPF_B | BPF_ABS,
            BPF_LD | BPF_W | BPF_IND,
            BPF_LD | BPF_H | BPF_IND,
            BPF_LD | BPF_B | BPF_IND,
            BPF_LDX | BPF_B | BPF_MSH,
        ],
    )
    def test_not_allowed_in_seccomp(self, code):
        """seccomp_check_filter refuses opcodes sk_chk_filter allows (MOD, H/B, IND, MSH)."""
        assert refused(stmt(code, 1), RET_ALLOW).check == "seccomp_check_filter"

    @pytest.mark.parametrize("k", [1, 2, 3, 62, 64, 68, 0x1000, SKF_AD_OFF])
    def test_load_offset(self, k):
        """ld [k] needs k 4-byte aligned and below 64; a known ancillary k fails here too."""
        result = refused(stmt(BPF_LD | BPF_W | BPF_ABS, k), RET_ALLOW)
        assert result.check == "seccomp_check_filter"

    def test_sk_chk_filter_runs_first(self):
        """A filter bad for both checkers is refused by sk_chk_filter, which runs first."""
        result = refused(stmt(BPF_ALU | BPF_MOD | BPF_K, 3), stmt(BPF_LD | BPF_IMM, 0))
        assert result.check == "sk_chk_filter"

    def test_refused_is_an_int(self):
        """Refused is the negative errno, with a readable reason."""
        result = parse_filter(b"")
        assert isinstance(result, int) and result < 0 and int(result) == -EINVAL
        assert "seccomp_attach_filter" in str(result) and "Refused(-22" in repr(result)


class TestPathLength:
    """seccomp_attach_filter's MAX_INSNS_PER_PATH rule (kernel/seccomp.c, 3.16)."""

    def test_first_filter_limit(self):
        """A first filter may be as long as the limit (the kernel compares with >)."""
        assert check_path_length(MAX_INSNS_PER_PATH, []) == 0
        assert check_path_length(MAX_INSNS_PER_PATH + 1, []) == -ENOMEM

    def test_penalty_per_attached_filter(self):
        """Each attached filter counts its length plus 4."""
        attached = [100, 200]
        room = MAX_INSNS_PER_PATH - (100 + 4) - (200 + 4)
        assert check_path_length(room, attached) == 0
        assert check_path_length(room + 1, attached) == -ENOMEM

    def test_converted_length(self):
        """sk_convert_filter's count: prologue, 2 per ret, MOV32 for K >= 2**31, JA for jf."""
        prog = accepted(
            stmt(BPF_LD | BPF_W | BPF_ABS, 4),  # 1
            jump(BPF_JMP | BPF_JEQ | BPF_K, X86_64, 1, 0),  # MOV32 + JEQ = 2
            stmt(BPF_RET | BPF_K, 0),  # 2
            jump(BPF_JMP | BPF_JEQ | BPF_K, 5, 0, 1),  # JNE = 1
            jump(BPF_JMP | BPF_JGT | BPF_K, 5, 0, 1),  # JGT (jf == 0 is false) + JA = 2
            RET_ALLOW,  # 2
            RET_ALLOW,  # 2
        )
        assert converted_length(prog) == 1 + 1 + 2 + 2 + 1 + 2 + 2 + 2


def libseccomp_filter(errno_calls, allow_calls, default):
    """A filter laid out as libseccomp 2.x emits it for one x86_64 architecture."""
    body = []
    for nr in errno_calls:
        body += [
            jump(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
            stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        ]
    for nr in allow_calls:
        body += [jump(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1), RET_ALLOW]
    return assemble(
        [
            stmt(BPF_LD | BPF_W | BPF_ABS, 4),  # seccomp_data.arch
            jump(BPF_JMP | BPF_JEQ | BPF_K, X86_64, 1, 0),
            stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL),
            stmt(BPF_LD | BPF_W | BPF_ABS, 0),  # seccomp_data.nr
            jump(BPF_JMP | BPF_JGE | BPF_K, abi.X32_SYSCALL_BIT, 0, 1),
            stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL),
            *body,
            stmt(BPF_RET | BPF_K, default),
        ]
    )


def nr64(name):
    return abi.syscall_number(name, abi="x86_64")


class TestLibseccompShape:
    """A libseccomp-2.x-shaped filter run on x86_64, i386 and x32 seccomp_data."""

    @pytest.fixture
    def prog(self):
        raw = libseccomp_filter(
            [nr64("open"), nr64("socket")],
            [nr64("read"), nr64("write"), nr64("exit_group")],
            SECCOMP_RET_TRAP | 7,
        )
        prog = parse_filter(raw)
        assert isinstance(prog, list)
        return prog

    @pytest.mark.parametrize("name", ["read", "write", "exit_group"])
    def test_allowed(self, prog, name):
        """A listed syscall is allowed."""
        assert run_filter(prog, data(nr64(name))) == SECCOMP_RET_ALLOW

    @pytest.mark.parametrize("name", ["open", "socket"])
    def test_errno(self, prog, name):
        """An ERRNO-listed syscall returns SECCOMP_RET_ERRNO | EPERM."""
        assert run_filter(prog, data(nr64(name))) == SECCOMP_RET_ERRNO | EPERM

    def test_default(self, prog):
        """Any other syscall gets the default action with its data."""
        assert run_filter(prog, data(nr64("getpid"))) == SECCOMP_RET_TRAP | 7

    def test_arch_mismatch_kills(self, prog):
        """An i386 arch value in seccomp_data (int 0x80 on x86_64) is killed."""
        i386_read = abi.syscall_number("read", abi="i386")
        assert run_filter(prog, data(i386_read, arch=I386)) == SECCOMP_RET_KILL

    def test_x32_bit_kills(self, prog):
        """An x32 number (read | __X32_SYSCALL_BIT) carries AUDIT_ARCH_X86_64 and is killed."""
        assert run_filter(prog, data(abi.syscall_number("read", abi="x32"))) == SECCOMP_RET_KILL

    def test_args_do_not_matter(self, prog):
        """The filter looks only at arch and nr."""
        ctx = data(nr64("read"), ip=0x400000, args=(1, 2, 3, 4, 5, 2**64 - 1))
        assert run_filter(prog, ctx) == SECCOMP_RET_ALLOW


class TestInterpreter:
    """run_filter follows the converted program's semantics (__sk_run_filter, 3.16)."""

    def test_seccomp_data_layout(self):
        """struct seccomp_data: int nr, u32 arch, u64 ip, u64 args[6], little endian."""
        raw = seccomp_data(-1, X86_64, 0x1122334455667788, [1, 2, 3, 4, 5, 6])
        assert len(raw) == 64
        assert struct.unpack("<iIQ6Q", raw) == (-1, X86_64, 0x1122334455667788, 1, 2, 3, 4, 5, 6)

    @pytest.mark.parametrize(
        ("offset", "value"),
        [(0, 0xFFFFFFFF), (4, X86_64), (8, 0x55667788), (12, 0x11223344), (16, 1), (60, 0xAB)],
    )
    def test_loads_native_words(self, offset, value):
        """ld [k] reads a little-endian u32 of seccomp_data (no byte swapping)."""
        ctx = seccomp_data(-1, X86_64, 0x1122334455667788, [1, 0, 0, 0, 0, 0xAB << 32])
        assert run(stmt(BPF_LD | BPF_W | BPF_ABS, offset), stmt(BPF_RET | BPF_A), ctx=ctx) == value

    def test_registers_start_at_zero(self):
        """A and X are 0 when the program starts."""
        assert run(stmt(BPF_MISC | BPF_TXA), stmt(BPF_RET | BPF_A)) == 0

    def test_len_is_64(self):
        """ld #len reads sizeof(struct seccomp_data)."""
        assert run(stmt(BPF_LD | BPF_W | BPF_LEN), stmt(BPF_RET | BPF_A)) == 64

    @pytest.mark.parametrize(
        ("op", "a", "k", "expected"),
        [
            (BPF_ADD, 0xFFFFFFFF, 2, 1),
            (BPF_SUB, 0, 1, 0xFFFFFFFF),
            (BPF_MUL, 0x10000, 0x10000, 0),
            (BPF_DIV, 7, 2, 3),
            (BPF_AND, 0xF0F0, 0xFF00, 0xF000),
            (BPF_OR, 0xF0, 0x0F, 0xFF),
            (BPF_XOR, 0xFF, 0x0F, 0xF0),
            (BPF_LSH, 1, 31, 0x80000000),
            (BPF_LSH, 1, 33, 2),
            (BPF_RSH, 0x80000000, 31, 1),
            (BPF_RSH, 0x80000000, 32, 0x80000000),
        ],
    )
    def test_alu_k(self, op, a, k, expected):
        """32-bit ALU with K: results wrap at 2**32, shift counts are taken modulo 32."""
        result = run(
            stmt(BPF_LD | BPF_IMM, a), stmt(BPF_ALU | op | BPF_K, k), stmt(BPF_RET | BPF_A)
        )
        assert result == expected

    def test_alu_x(self):
        """The X forms use the X register."""
        result = run(
            stmt(BPF_LDX | BPF_IMM, 5),
            stmt(BPF_LD | BPF_IMM, 100),
            stmt(BPF_ALU | BPF_SUB | BPF_X),
            stmt(BPF_RET | BPF_A),
        )
        assert result == 95

    def test_neg(self):
        """neg is two's complement in 32 bits."""
        assert run(stmt(BPF_LD | BPF_IMM, 1), stmt(BPF_ALU | BPF_NEG), stmt(BPF_RET | BPF_A)) == (
            0xFFFFFFFF
        )

    def test_division_by_x_zero_returns_zero(self):
        """Division by X == 0 ends the program with 0, which seccomp reads as KILL."""
        result = run(
            stmt(BPF_LD | BPF_IMM, 9),
            stmt(BPF_ALU | BPF_DIV | BPF_X),
            RET_ALLOW,
        )
        assert result == SECCOMP_RET_KILL

    def test_scratch_memory_and_tax_txa(self):
        """st/stx/ld M[]/ldx M[] and tax/txa move values as expected."""
        result = run(
            stmt(BPF_LD | BPF_IMM, 11),
            stmt(BPF_ST, 15),
            stmt(BPF_MISC | BPF_TAX),
            stmt(BPF_STX, 0),
            stmt(BPF_LD | BPF_IMM, 0),
            stmt(BPF_LDX | BPF_MEM, 15),
            stmt(BPF_LD | BPF_MEM, 0),
            stmt(BPF_ALU | BPF_ADD | BPF_X),
            stmt(BPF_RET | BPF_A),
        )
        assert result == 22

    @pytest.mark.parametrize(
        ("op", "a", "k", "taken"),
        [
            (BPF_JEQ, 5, 5, True),
            (BPF_JEQ, 5, 6, False),
            (BPF_JGT, 0xFFFFFFFF, 1, True),
            (BPF_JGT, 1, 0xFFFFFFFF, False),
            (BPF_JGE, 0x80000000, 0x80000000, True),
            (BPF_JGE, 0x7FFFFFFF, 0x80000000, False),
            (BPF_JSET, 0b1010, 0b0010, True),
            (BPF_JSET, 0b1010, 0b0101, False),
        ],
    )
    def test_jumps_are_unsigned(self, op, a, k, taken):
        """Comparisons are unsigned 32-bit, even for K with bit 31 set."""
        result = run(
            stmt(BPF_LD | BPF_IMM, a),
            jump(BPF_JMP | op | BPF_K, k, 0, 1),
            stmt(BPF_RET | BPF_K, 1),
            stmt(BPF_RET | BPF_K, 2),
        )
        assert result == (1 if taken else 2)

    def test_jump_x_and_ja(self):
        """Jumps compare with X when BPF_X is set; ja skips k instructions."""
        result = run(
            stmt(BPF_LDX | BPF_IMM, 3),
            stmt(BPF_LD | BPF_IMM, 3),
            jump(BPF_JMP | BPF_JEQ | BPF_X, 0, 0, 2),
            stmt(BPF_JMP | BPF_JA, 1),
            stmt(BPF_RET | BPF_K, 1),
            stmt(BPF_RET | BPF_K, 2),
        )
        assert result == 2


class TestRunFilters:
    """seccomp_run_filters (kernel/seccomp.c, 3.16): all run, the lowest action wins."""

    def ret(self, value):
        return accepted(stmt(BPF_RET | BPF_K, value))

    def test_lowest_action_wins(self):
        """ERRNO beats TRACE and ALLOW whatever the order."""
        progs = [
            self.ret(SECCOMP_RET_ALLOW),
            self.ret(SECCOMP_RET_ERRNO | 1),
            self.ret(SECCOMP_RET_TRACE),
        ]
        assert run_filters(progs, data()) == SECCOMP_RET_ERRNO | 1
        assert run_filters(progs[::-1], data()) == SECCOMP_RET_ERRNO | 1

    def test_kill_wins(self):
        """KILL (0) beats everything."""
        progs = [self.ret(SECCOMP_RET_TRAP), self.ret(SECCOMP_RET_KILL | 5)]
        assert run_filters(progs, data()) == SECCOMP_RET_KILL | 5

    def test_ties_keep_newest_data(self):
        """Among equal actions the first run (newest) filter's data stays (strict <)."""
        progs = [self.ret(SECCOMP_RET_ERRNO | 13), self.ret(SECCOMP_RET_ERRNO | 1)]
        assert run_filters(progs, data()) == SECCOMP_RET_ERRNO | 13

    def test_all_allow(self):
        """Filters that all allow leave SECCOMP_RET_ALLOW."""
        assert run_filters([self.ret(SECCOMP_RET_ALLOW)] * 3, data()) == SECCOMP_RET_ALLOW

    def test_bit_31_is_ignored(self):
        """SECCOMP_RET_ACTION (0x7fff0000 in 3.16) drops bit 31: 0xffff0000 acts as ALLOW."""
        progs = [self.ret(0xFFFF0000), self.ret(SECCOMP_RET_TRACE)]
        assert run_filters(progs, data()) == SECCOMP_RET_TRACE
        assert run_filters([self.ret(0xFFFF0000)], data()) == SECCOMP_RET_ALLOW
        assert run_filters([self.ret(0x80000000), self.ret(SECCOMP_RET_ERRNO)], data()) == (
            0x80000000
        )

    def test_unknown_action_takes_priority_by_value(self):
        """An undefined action (0x00010000) is lower than ERRNO, so it wins the comparison."""
        progs = [self.ret(SECCOMP_RET_ERRNO), self.ret(0x00010000)]
        assert run_filters(progs, data()) == 0x00010000

    def test_no_filter_kills(self):
        """With no filter attached seccomp_run_filters WARNs and returns KILL."""
        assert run_filters([], data()) == SECCOMP_RET_KILL

    def test_filters_see_the_same_data(self):
        """Every filter reads the same seccomp_data."""
        check_nr = accepted(
            stmt(BPF_LD | BPF_W | BPF_ABS, 0),
            jump(BPF_JMP | BPF_JEQ | BPF_K, 39, 0, 1),
            stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 2),
            RET_ALLOW,
        )
        assert run_filters([self.ret(SECCOMP_RET_ALLOW), check_nr], data(39)) == (
            SECCOMP_RET_ERRNO | 2
        )
        assert run_filters([self.ret(SECCOMP_RET_ALLOW), check_nr], data(40)) == (SECCOMP_RET_ALLOW)


# Instructions from which the property test builds programs; slots and jumps are kept in
# range, so most programs pass and the interpreter is exercised rather than the checker.
_ALU_CODES = [
    BPF_ALU | op | src
    for op in (BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH)
    for src in (BPF_K, BPF_X)
] + [BPF_ALU | BPF_NEG]
_JMP_CODES = [BPF_JMP | op | src for op in (BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET) for src in (0, 8)]
_RETS = st.sampled_from([BPF_RET | BPF_K, BPF_RET | BPF_A])
_u32s = st.one_of(st.integers(0, 70), st.integers(0, 2**32 - 1))


@st.composite
def seccomp_programs(draw):
    size = draw(st.integers(1, 24))
    out = []
    for pc in range(size - 1):
        room = size - pc - 2
        kind = draw(st.sampled_from(["alu", "ld", "ldx", "mem", "misc", "jmp", "ja", "ret"]))
        if kind == "alu":
            out.append(Insn(draw(st.sampled_from(_ALU_CODES)), k=draw(_u32s) or 1))
        elif kind == "ld":
            code = draw(
                st.sampled_from(
                    [BPF_LD | BPF_W | BPF_ABS, BPF_LD | BPF_IMM, BPF_LD | BPF_W | BPF_LEN]
                )
            )
            k = draw(st.integers(0, 15)) * 4 if code == BPF_LD | BPF_W | BPF_ABS else draw(_u32s)
            out.append(Insn(code, k=k))
        elif kind == "ldx":
            code = draw(st.sampled_from([BPF_LDX | BPF_IMM, BPF_LDX | BPF_W | BPF_LEN]))
            out.append(Insn(code, k=draw(_u32s)))
        elif kind == "mem":
            code = draw(st.sampled_from([BPF_ST, BPF_STX, BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM]))
            out.append(Insn(code, k=draw(st.integers(0, 15))))
        elif kind == "misc":
            out.append(Insn(BPF_MISC | draw(st.sampled_from([BPF_TAX, BPF_TXA]))))
        elif kind == "jmp":
            jt, jf = draw(st.integers(0, room)), draw(st.integers(0, room))
            out.append(Insn(draw(st.sampled_from(_JMP_CODES)), jt, jf, draw(_u32s)))
        elif kind == "ja":
            out.append(Insn(BPF_JMP | BPF_JA, k=draw(st.integers(0, room))))
        else:
            out.append(
                Insn(draw(st.sampled_from([BPF_RET | BPF_K, BPF_RET | BPF_A])), k=draw(_u32s))
            )
    out.append(Insn(draw(st.sampled_from([BPF_RET | BPF_K, BPF_RET | BPF_A])), k=draw(_u32s)))
    return assemble(out)


_contexts = st.builds(
    seccomp_data,
    st.integers(-(2**31), 2**31 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**64 - 1),
    st.lists(st.integers(0, 2**64 - 1), min_size=6, max_size=6),
)


class TestProperties:
    """Properties over generated programs and bytes."""

    @given(seccomp_programs(), _contexts)
    def test_accepted_programs_return_u32(self, raw, ctx):
        """An accepted program never raises and returns a u32; a refused one is -EINVAL."""
        prog = parse_filter(raw)
        if isinstance(prog, Refused):
            assert prog == -EINVAL
            return
        result = run_filter(prog, ctx)
        assert type(result) is int and 0 <= result <= 0xFFFFFFFF
        combined = run_filters([prog, prog], ctx)
        action = result & B.SECCOMP_RET_ACTION
        assert combined == (result if action < SECCOMP_RET_ALLOW else SECCOMP_RET_ALLOW)

    @given(st.binary(max_size=200))
    def test_parse_never_raises(self, raw):
        """parse_filter answers any bytes with instructions or a Refused -EINVAL."""
        result = parse_filter(raw)
        assert isinstance(result, list) or result == -EINVAL


class TestMisuse:
    """Misuse of the Python API raises TypeError or ValueError naming the field."""

    @pytest.mark.parametrize("value", ["\x06", None, [RET_ALLOW]])
    def test_parse_filter_data_type(self, value):
        """parse_filter wants bytes."""
        with pytest.raises(TypeError, match="data"):
            parse_filter(value)

    @pytest.mark.parametrize(
        ("kwargs", "exc", "field"),
        [
            ({"code": -1}, ValueError, "Insn.code"),
            ({"code": 0x10000}, ValueError, "Insn.code"),
            ({"code": 6, "jt": 256}, ValueError, "Insn.jt"),
            ({"code": 6, "jf": -1}, ValueError, "Insn.jf"),
            ({"code": 6, "k": 2**32}, ValueError, "Insn.k"),
            ({"code": "6"}, TypeError, "Insn.code"),
            ({"code": True}, TypeError, "Insn.code"),
        ],
    )
    def test_insn_fields(self, kwargs, exc, field):
        """Insn checks each field's width and type."""
        with pytest.raises(exc, match=field):
            Insn(**kwargs)

    def test_builders(self):
        """stmt and jump name the field that does not fit."""
        with pytest.raises(ValueError, match="k"):
            stmt(BPF_RET | BPF_K, 2**32)
        with pytest.raises(ValueError, match="jt"):
            jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 256, 0)
        with pytest.raises(TypeError, match="code"):
            stmt(1.0)

    def test_assemble(self):
        """assemble wants 8-byte records or Insn."""
        with pytest.raises(ValueError, match=r"records\[0\]"):
            assemble([b"\x00" * 7])
        with pytest.raises(TypeError, match=r"records\[1\]"):
            assemble([RET_ALLOW, 6])
        with pytest.raises(TypeError, match="records"):
            assemble(RET_ALLOW)

    def test_insn_unpack(self):
        """Insn.unpack wants exactly one record."""
        with pytest.raises(ValueError, match="record"):
            Insn.unpack(b"\x00" * 9)

    @pytest.mark.parametrize(
        ("args", "exc", "field"),
        [
            (("0", X86_64, 0, [0] * 6), TypeError, "nr"),
            ((2**31, X86_64, 0, [0] * 6), ValueError, "nr"),
            ((0, -1, 0, [0] * 6), ValueError, "arch"),
            ((0, X86_64, 2**64, [0] * 6), ValueError, "instruction_pointer"),
            ((0, X86_64, 0, [0] * 5), ValueError, "args"),
            ((0, X86_64, 0, 0), TypeError, "args"),
            ((0, X86_64, 0, [0, 0, 0, 0, 0, -1]), ValueError, r"args\[5\]"),
        ],
    )
    def test_seccomp_data(self, args, exc, field):
        """seccomp_data checks nr, arch, instruction_pointer and the six args."""
        with pytest.raises(exc, match=field):
            seccomp_data(*args)

    def test_run_filter(self):
        """run_filter wants a program of Insn and 64 bytes of seccomp_data."""
        prog = accepted(RET_ALLOW)
        with pytest.raises(ValueError, match="data"):
            run_filter(prog, b"\x00" * 63)
        with pytest.raises(TypeError, match="data"):
            run_filter(prog, "x" * 64)
        with pytest.raises(TypeError, match="program"):
            run_filter(RET_ALLOW, data())
        with pytest.raises(TypeError, match=r"program\[0\]"):
            run_filter([RET_ALLOW], data())
        with pytest.raises(ValueError, match="program"):
            run_filter([], data())

    def test_run_filter_unchecked_program(self):
        """An instruction parse_filter never returns is named, not run."""
        with pytest.raises(ValueError, match=r"program\[0\]"):
            run_filter([Insn(BPF_LD | BPF_H | BPF_ABS), Insn(BPF_RET | BPF_A)], data())
        with pytest.raises(ValueError, match="program"):
            run_filter([Insn(BPF_LD | BPF_IMM)], data())

    def test_run_filters(self):
        """run_filters wants a sequence of programs."""
        with pytest.raises(TypeError, match="programs_newest_first"):
            run_filters(None, data())

    def test_check_path_length(self):
        """check_path_length names the length that is not a u32."""
        with pytest.raises(ValueError, match="new_len"):
            check_path_length(-1, [])
        with pytest.raises(TypeError, match=r"attached\[0\]"):
            check_path_length(1, ["1"])

    def test_refused_errno(self):
        """Refused holds a negative errno only."""
        with pytest.raises(ValueError, match="errno"):
            Refused(22, "x", "y")
