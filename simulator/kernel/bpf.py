"""Seccomp's classic-BPF filters as Linux 3.16 checks, combines and runs them.

Sources (Linux 3.16): kernel/seccomp.c (seccomp_attach_filter, seccomp_check_filter,
seccomp_run_filters, mode1_syscalls), net/core/filter.c (sk_chk_filter,
chk_code_allowed, check_load_and_stores, sk_convert_filter, __sk_run_filter),
include/uapi/linux/filter.h, include/uapi/linux/bpf_common.h, include/uapi/linux/seccomp.h,
include/uapi/linux/prctl.h and arch/x86/include/asm/seccomp_{32,64}.h.

The API:

- ``parse_filter(data) -> list[Insn] | Refused``: the checks seccomp_attach_filter makes on
  the program itself, in 3.16's order: the length (0 or more than BPF_MAXINSNS), then
  sk_chk_filter, then seccomp_check_filter (which rewrites ``ld [k]`` into the seccomp_data
  load and ``ld #len`` into ``ld #64``), then sk_convert_filter. An accepted program comes
  back as its rewritten instructions. A refused one comes back as a ``Refused``: an ``int``
  subclass equal to the negative errno (so ``ret < 0`` and ``ret == -EINVAL`` read as in
  C) that also carries ``check`` (the kernel function that refused) and ``reason`` (a
  sentence). The function never raises for bad filter bytes; it raises TypeError only
  when ``data`` is not bytes at all.
- ``check_path_length(new_len, attached)``: seccomp_attach_filter's MAX_INSNS_PER_PATH
  rule (0 or -ENOMEM). 3.16 checks it before sk_chk_filter, so a caller that models the
  whole prctl runs it first.
- ``converted_length(program)``: what 3.16 stores as an attached filter's length, the
  number of internal-BPF instructions sk_convert_filter emits (the path rule counts these).
- ``seccomp_data(nr, arch, instruction_pointer, args) -> bytes``: the 64-byte context.
- ``run_filter(program, data) -> int`` and ``run_filters(programs_newest_first, data)``:
  the interpreter and seccomp_run_filters' combination (lowest action wins).
- ``stmt``, ``jump``, ``assemble``: build ``struct sock_filter`` records as bytes.

3.16 no longer interprets classic BPF: seccomp_attach_filter converts the checked program
with sk_convert_filter and runs the result in __sk_run_filter (or the x86 JIT, off by
default). ``run_filter`` interprets the classic program with exactly that converted
program's semantics: A and X start at 0, every ALU result is truncated to 32 bits,
comparisons are unsigned on 32-bit values (the converter moves a K with bit 31 set through
a zero-extending MOV32 first), a division by X == 0 ends the program returning 0, and the
seccomp_data load reads a native (little-endian) u32. Shift counts are reduced modulo 32:
__sk_run_filter shifts a u32 by a run-time count, which C leaves undefined past 31 and
which x86's SHL/SHR (and the JIT's) mask to 5 bits.

API misuse (a non-bytes filter, a field out of range) raises TypeError or ValueError
naming the field, what was expected and what was received.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import Final

from attrs import Attribute, field, frozen

from abi.audit import AUDIT_ARCH_I386, AUDIT_ARCH_X86_64
from abi.errnos import errno_number
from abi.syscalls import syscall_number

__all__ = [
    "AUDIT_ARCH_I386",
    "AUDIT_ARCH_X86_64",
    "BPF_A",
    "BPF_ABS",
    "BPF_ADD",
    "BPF_ALU",
    "BPF_AND",
    "BPF_B",
    "BPF_CLASS",
    "BPF_DIV",
    "BPF_H",
    "BPF_IMM",
    "BPF_IND",
    "BPF_JA",
    "BPF_JEQ",
    "BPF_JGE",
    "BPF_JGT",
    "BPF_JMP",
    "BPF_JSET",
    "BPF_K",
    "BPF_LD",
    "BPF_LDX",
    "BPF_LEN",
    "BPF_LSH",
    "BPF_MAXINSNS",
    "BPF_MEM",
    "BPF_MEMWORDS",
    "BPF_MISC",
    "BPF_MOD",
    "BPF_MODE",
    "BPF_MSH",
    "BPF_MUL",
    "BPF_NEG",
    "BPF_OP",
    "BPF_OR",
    "BPF_RET",
    "BPF_RSH",
    "BPF_SRC",
    "BPF_ST",
    "BPF_STX",
    "BPF_SUB",
    "BPF_TAX",
    "BPF_TXA",
    "BPF_W",
    "BPF_X",
    "BPF_XOR",
    "MAX_INSNS_PER_PATH",
    "MODE1_SYSCALLS_32",
    "MODE1_SYSCALLS_64",
    "PR_GET_NO_NEW_PRIVS",
    "PR_GET_SECCOMP",
    "PR_SET_NO_NEW_PRIVS",
    "PR_SET_SECCOMP",
    "SECCOMP_DATA_SIZE",
    "SECCOMP_MODE_DISABLED",
    "SECCOMP_MODE_FILTER",
    "SECCOMP_MODE_STRICT",
    "SECCOMP_RET_ACTION",
    "SECCOMP_RET_ALLOW",
    "SECCOMP_RET_DATA",
    "SECCOMP_RET_ERRNO",
    "SECCOMP_RET_KILL",
    "SECCOMP_RET_TRACE",
    "SECCOMP_RET_TRAP",
    "SKF_AD_OFF",
    "SOCK_FILTER_SIZE",
    "Insn",
    "Refused",
    "assemble",
    "check_path_length",
    "converted_length",
    "jump",
    "parse_filter",
    "run_filter",
    "run_filters",
    "seccomp_data",
    "stmt",
]

# --- include/uapi/linux/bpf_common.h and filter.h (3.16) ---------------------------------

# Instruction classes: BPF_CLASS(code) = code & 0x07.
BPF_LD: Final = 0x00
BPF_LDX: Final = 0x01
BPF_ST: Final = 0x02
BPF_STX: Final = 0x03
BPF_ALU: Final = 0x04
BPF_JMP: Final = 0x05
BPF_RET: Final = 0x06
BPF_MISC: Final = 0x07

# ld/ldx sizes: BPF_SIZE(code) = code & 0x18.
BPF_W: Final = 0x00
BPF_H: Final = 0x08
BPF_B: Final = 0x10
# ld/ldx modes: BPF_MODE(code) = code & 0xe0.
BPF_IMM: Final = 0x00
BPF_ABS: Final = 0x20
BPF_IND: Final = 0x40
BPF_MEM: Final = 0x60
BPF_LEN: Final = 0x80
BPF_MSH: Final = 0xA0

# alu/jmp operations: BPF_OP(code) = code & 0xf0.
BPF_ADD: Final = 0x00
BPF_SUB: Final = 0x10
BPF_MUL: Final = 0x20
BPF_DIV: Final = 0x30
BPF_OR: Final = 0x40
BPF_AND: Final = 0x50
BPF_LSH: Final = 0x60
BPF_RSH: Final = 0x70
BPF_NEG: Final = 0x80
BPF_MOD: Final = 0x90
BPF_XOR: Final = 0xA0
BPF_JA: Final = 0x00
BPF_JEQ: Final = 0x10
BPF_JGT: Final = 0x20
BPF_JGE: Final = 0x30
BPF_JSET: Final = 0x40
# Operand source: BPF_SRC(code) = code & 0x08.
BPF_K: Final = 0x00
BPF_X: Final = 0x08
# ret operand: BPF_RVAL(code) = code & 0x18.
BPF_A: Final = 0x10
# misc operations: BPF_MISCOP(code) = code & 0xf8.
BPF_TAX: Final = 0x00
BPF_TXA: Final = 0x80

BPF_MAXINSNS: Final = 4096
BPF_MEMWORDS: Final = 16
#: SKF_AD_OFF (-0x1000) as the u32 ``k`` holds it: ancillary loads start here.
SKF_AD_OFF: Final = 0xFFFFF000
#: The ancillary offsets filter.h (3.16) defines, SKF_AD_PROTOCOL (0) .. SKF_AD_RANDOM (56);
#: sk_chk_filter lets these through and refuses any other ``k >= SKF_AD_OFF``.
_SKF_AD_KNOWN: Final = frozenset(SKF_AD_OFF + off for off in range(0, 60, 4))

#: sizeof(struct sock_filter): u16 code, u8 jt, u8 jf, u32 k.
SOCK_FILTER_SIZE: Final = 8
_SOCK_FILTER = struct.Struct("<HBBI")

# --- include/uapi/linux/seccomp.h (3.16) ---------------------------------------------------

SECCOMP_MODE_DISABLED: Final = 0
SECCOMP_MODE_STRICT: Final = 1
SECCOMP_MODE_FILTER: Final = 2

SECCOMP_RET_KILL: Final = 0x00000000
SECCOMP_RET_TRAP: Final = 0x00030000
SECCOMP_RET_ERRNO: Final = 0x00050000
SECCOMP_RET_TRACE: Final = 0x7FF00000
SECCOMP_RET_ALLOW: Final = 0x7FFF0000
SECCOMP_RET_ACTION: Final = 0x7FFF0000
SECCOMP_RET_DATA: Final = 0x0000FFFF

#: struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6].
_SECCOMP_DATA = struct.Struct("<iIQ6Q")
SECCOMP_DATA_SIZE: Final = _SECCOMP_DATA.size

# --- include/uapi/linux/prctl.h (3.16) -----------------------------------------------------

PR_GET_SECCOMP: Final = 21
PR_SET_SECCOMP: Final = 22
PR_SET_NO_NEW_PRIVS: Final = 38
PR_GET_NO_NEW_PRIVS: Final = 39

# --- kernel/seccomp.c (3.16) ---------------------------------------------------------------

#: "Limit any path through the tree to 256KB worth of instructions."
MAX_INSNS_PER_PATH: Final = (1 << 18) // SOCK_FILTER_SIZE
#: seccomp_attach_filter adds this many instructions per filter already attached.
_PATH_PENALTY: Final = 4

#: mode1_syscalls: arch/x86/include/asm/seccomp_64.h maps __NR_seccomp_{read,write,exit,
#: sigreturn} to __NR_read, __NR_write, __NR_exit and __NR_rt_sigreturn.
MODE1_SYSCALLS_64: Final = tuple(
    syscall_number(name, abi="x86_64") for name in ("read", "write", "exit", "rt_sigreturn")
)
#: mode1_syscalls_32 (seccomp_64.h's __NR_ia32_*) and a 32-bit kernel's mode1_syscalls
#: (seccomp_32.h's __NR_*): read, write, exit and the old sigreturn of the i386 table.
MODE1_SYSCALLS_32: Final = tuple(
    syscall_number(name, abi="i386") for name in ("read", "write", "exit", "sigreturn")
)

_EINVAL: Final = errno_number("EINVAL")
_ENOMEM: Final = errno_number("ENOMEM")

_U32: Final = 0xFFFFFFFF
_U64: Final = (1 << 64) - 1

# chk_code_allowed (net/core/filter.c, 3.16): every classic opcode sk_chk_filter accepts.
_JUMPS_COND: Final = frozenset(
    BPF_JMP | op | src for op in (BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET) for src in (BPF_K, BPF_X)
)
_ALU_BINARY: Final = (
    BPF_ADD,
    BPF_SUB,
    BPF_MUL,
    BPF_DIV,
    BPF_MOD,
    BPF_AND,
    BPF_OR,
    BPF_XOR,
    BPF_LSH,
    BPF_RSH,
)
_SK_CODES: Final = frozenset(
    {BPF_ALU | op | src for op in _ALU_BINARY for src in (BPF_K, BPF_X)}
    | {BPF_ALU | BPF_NEG}
    | {BPF_LD | size | mode for size in (BPF_W, BPF_H, BPF_B) for mode in (BPF_ABS, BPF_IND)}
    | {BPF_LD | BPF_W | BPF_LEN, BPF_LD | BPF_IMM, BPF_LD | BPF_MEM}
    | {BPF_LDX | BPF_W | BPF_LEN, BPF_LDX | BPF_B | BPF_MSH, BPF_LDX | BPF_IMM}
    | {BPF_LDX | BPF_MEM, BPF_ST, BPF_STX, BPF_MISC | BPF_TAX, BPF_MISC | BPF_TXA}
    | {BPF_RET | BPF_K, BPF_RET | BPF_A, BPF_JMP | BPF_JA}
    | _JUMPS_COND
)
# seccomp_check_filter (kernel/seccomp.c, 3.16): the opcodes it keeps as they are. BPF_MOD,
# the H/B and IND loads and BPF_LDX|BPF_B|BPF_MSH pass sk_chk_filter but not this list.
_SECCOMP_KEPT: Final = frozenset(
    {BPF_ALU | op | src for op in _ALU_BINARY if op != BPF_MOD for src in (BPF_K, BPF_X)}
    | {BPF_ALU | BPF_NEG, BPF_LD | BPF_IMM, BPF_LDX | BPF_IMM}
    | {BPF_MISC | BPF_TAX, BPF_MISC | BPF_TXA, BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM}
    | {BPF_ST, BPF_STX, BPF_RET | BPF_K, BPF_RET | BPF_A, BPF_JMP | BPF_JA}
    | _JUMPS_COND
)
#: What seccomp_check_filter turns ``ld [k]`` into: 3.16 borrows this otherwise unused
#: classic encoding, and sk_convert_filter emits the seccomp_data load for it.
_SECCOMP_LD_W: Final = BPF_LDX | BPF_W | BPF_ABS


def _check_uint(name: str, value: object, bits: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an int, received {type(value).__name__} {value!r}")
    if not 0 <= value < (1 << bits):
        raise ValueError(
            f"{name}: expected an unsigned {bits}-bit value (0..{(1 << bits) - 1:#x}), "
            f"received {value!r}"
        )
    return value


def _u16(inst: object, attribute: Attribute, value: object) -> None:
    _check_uint(f"Insn.{attribute.name}", value, 16)


def _u8(inst: object, attribute: Attribute, value: object) -> None:
    _check_uint(f"Insn.{attribute.name}", value, 8)


def _u32(inst: object, attribute: Attribute, value: object) -> None:
    _check_uint(f"Insn.{attribute.name}", value, 32)


@frozen
class Insn:
    """One struct sock_filter: ``code`` (u16), ``jt`` and ``jf`` (u8), ``k`` (u32)."""

    code: int = field(validator=_u16)
    jt: int = field(default=0, validator=_u8)
    jf: int = field(default=0, validator=_u8)
    k: int = field(default=0, validator=_u32)

    def pack(self) -> bytes:
        """The 8 little-endian bytes of this struct sock_filter."""
        return _SOCK_FILTER.pack(self.code, self.jt, self.jf, self.k)

    @classmethod
    def unpack(cls, record: bytes) -> Insn:
        """The instruction in one 8-byte struct sock_filter record."""
        if not isinstance(record, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"record: expected {SOCK_FILTER_SIZE} bytes, received {type(record).__name__}"
            )
        if len(record) != SOCK_FILTER_SIZE:
            raise ValueError(
                f"record: expected {SOCK_FILTER_SIZE} bytes, received {len(record)} bytes"
            )
        return cls(*_SOCK_FILTER.unpack(record))


class Refused(int):
    """A refused filter: the negative errno as an int, with ``check`` and ``reason``.

    It compares and computes as the errno (``Refused(-22, ...) == -22``); ``errno`` is the
    plain int, ``check`` names the kernel function that refused, ``reason`` says why.
    """

    check: str
    reason: str

    def __new__(cls, errno: int, check: str, reason: str) -> Refused:
        if isinstance(errno, bool) or not isinstance(errno, int) or errno >= 0:
            raise ValueError(f"errno: expected a negative int, received {errno!r}")
        self = super().__new__(cls, errno)
        self.check = check
        self.reason = reason
        return self

    @property
    def errno(self) -> int:
        """The negative errno as a plain int."""
        return int(self)

    def __repr__(self) -> str:
        return f"Refused({int(self)}, check={self.check!r}, reason={self.reason!r})"

    def __str__(self) -> str:
        return f"{self.check}: {self.reason} ({int(self)})"


def _einval(check: str, reason: str) -> Refused:
    return Refused(-_EINVAL, check, reason)


def _sk_chk_filter(prog: list[Insn]) -> Refused | None:
    """sk_chk_filter (net/core/filter.c, 3.16): opcodes, operands, jumps, final RET, M[]."""
    flen = len(prog)
    where = "sk_chk_filter"
    for pc, ins in enumerate(prog):
        code, k = ins.code, ins.k
        if code not in _SK_CODES:
            return _einval(where, f"insn {pc}: code {code:#06x} is not a classic BPF opcode")
        if code in (BPF_ALU | BPF_DIV | BPF_K, BPF_ALU | BPF_MOD | BPF_K) and k == 0:
            return _einval(where, f"insn {pc}: division by the constant 0")
        if code in (BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM, BPF_ST, BPF_STX) and k >= BPF_MEMWORDS:
            return _einval(where, f"insn {pc}: scratch slot M[{k}] is past M[{BPF_MEMWORDS - 1}]")
        if code == BPF_JMP | BPF_JA and k >= flen - pc - 1:
            return _einval(where, f"insn {pc}: ja +{k} lands past the last instruction")
        if code in _JUMPS_COND and (pc + ins.jt + 1 >= flen or pc + ins.jf + 1 >= flen):
            return _einval(
                where,
                f"insn {pc}: jt +{ins.jt} or jf +{ins.jf} lands past the last instruction",
            )
        if (
            BPF_CLASS(code) == BPF_LD
            and BPF_MODE(code) == BPF_ABS
            and k >= SKF_AD_OFF
            and k not in _SKF_AD_KNOWN
        ):
            return _einval(where, f"insn {pc}: unknown ancillary load SKF_AD_OFF+{k - SKF_AD_OFF}")
    if prog[-1].code not in (BPF_RET | BPF_K, BPF_RET | BPF_A):
        return _einval(where, f"the last instruction (insn {flen - 1}) is not a ret")
    return _check_load_and_stores(prog)


def _check_load_and_stores(prog: list[Insn]) -> Refused | None:
    """check_load_and_stores (net/core/filter.c, 3.16): no M[k] read before a write on any path.

    All jumps go forward, so one pass suffices: each jump target's mask keeps only the
    slots valid on every edge into it, and the code right after a jump starts from "all
    valid" (it is reached only through masks, or not at all).
    """
    all_valid = (1 << BPF_MEMWORDS) - 1
    masks = [all_valid] * len(prog)
    memvalid = 0
    for pc, ins in enumerate(prog):
        memvalid &= masks[pc]
        code = ins.code
        if code in (BPF_ST, BPF_STX):
            memvalid |= 1 << ins.k
        elif code in (BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM):
            if not memvalid & (1 << ins.k):
                return _einval(
                    "check_load_and_stores",
                    f"insn {pc}: M[{ins.k}] may be read before anything is stored in it",
                )
        elif code == BPF_JMP | BPF_JA:
            masks[pc + 1 + ins.k] &= memvalid
            memvalid = all_valid
        elif code in _JUMPS_COND:
            masks[pc + 1 + ins.jt] &= memvalid
            masks[pc + 1 + ins.jf] &= memvalid
            memvalid = all_valid
    return None


def _seccomp_check_filter(prog: list[Insn]) -> list[Insn] | Refused:
    """seccomp_check_filter (kernel/seccomp.c, 3.16): seccomp's opcodes, rewritten loads."""
    out: list[Insn] = []
    where = "seccomp_check_filter"
    for pc, ins in enumerate(prog):
        code, k = ins.code, ins.k
        if code == BPF_LD | BPF_W | BPF_ABS:
            # The kernel rewrites the code before it checks k; either way it is refused.
            if k >= SECCOMP_DATA_SIZE or k & 3:
                return _einval(
                    where,
                    f"insn {pc}: ld [{k}] is not a 4-byte-aligned offset inside the "
                    f"{SECCOMP_DATA_SIZE}-byte struct seccomp_data",
                )
            out.append(Insn(_SECCOMP_LD_W, ins.jt, ins.jf, k))
        elif code == BPF_LD | BPF_W | BPF_LEN:
            out.append(Insn(BPF_LD | BPF_IMM, ins.jt, ins.jf, SECCOMP_DATA_SIZE))
        elif code == BPF_LDX | BPF_W | BPF_LEN:
            out.append(Insn(BPF_LDX | BPF_IMM, ins.jt, ins.jf, SECCOMP_DATA_SIZE))
        elif code in _SECCOMP_KEPT:
            out.append(ins)
        else:
            return _einval(where, f"insn {pc}: code {code:#06x} is not allowed in a seccomp filter")
    return out


def _converted_insns(ins: Insn) -> int:
    """How many internal-BPF instructions sk_convert_filter (3.16) emits for one insn."""
    code = ins.code
    if code in _JUMPS_COND:
        # A K with bit 31 set goes through a MOV32 into a temporary first.
        extra = 1 if BPF_SRC(code) == BPF_K and ins.k & 0x80000000 else 0
        if ins.jf == 0 or (ins.jt == 0 and BPF_OP(code) == BPF_JEQ):
            return extra + 1
        return extra + 2  # Jxx to jt, then JA to jf
    if BPF_CLASS(code) == BPF_RET:
        return 2  # MOV32 into R0, EXIT
    if code == BPF_LDX | BPF_B | BPF_MSH:
        return 6
    return 1


def converted_length(program: Sequence[Insn]) -> int:
    """The length 3.16 records for an attached filter: sk_convert_filter's instruction count.

    One prologue instruction (ctx into its register), then per classic instruction: two
    for a ret, two for a conditional jump whose jf is not 0 (unless it is a jeq with jt 0,
    which becomes jne), one more for a jump compared with a K that has bit 31 set, one for
    everything else.
    """
    prog = _check_program(program)
    return 1 + sum(_converted_insns(ins) for ins in prog)


def check_path_length(new_len: int, attached: Iterable[int]) -> int:
    """seccomp_attach_filter's size rule (kernel/seccomp.c, 3.16): 0, or -ENOMEM.

    ``new_len`` is the new filter's classic length (fprog->len); ``attached`` holds the
    lengths of the filters already attached, which in 3.16 are their converted lengths
    (filter->prog->len, see ``converted_length``). Each attached filter costs 4 more.
    """
    total = _check_uint("new_len", new_len, 32)
    for i, length in enumerate(attached):
        total += _check_uint(f"attached[{i}]", length, 32) + _PATH_PENALTY
    return -_ENOMEM if total > MAX_INSNS_PER_PATH else 0


def parse_filter(data: bytes) -> list[Insn] | Refused:
    """Check a filter as seccomp_attach_filter (3.16) does; its rewritten instructions or a refusal.

    ``data`` is the array of struct sock_filter (fprog->filter). The kernel counts the
    program in instructions; bytes that are empty or not a whole number of 8-byte records
    are refused with -EINVAL like an empty program. See the module docstring for the order.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"data: expected bytes (an array of 8-byte struct sock_filter), "
            f"received {type(data).__name__}"
        )
    raw = bytes(data)
    where = "seccomp_attach_filter"
    if not raw:
        return _einval(where, "the program is empty (fprog->len == 0)")
    if len(raw) % SOCK_FILTER_SIZE:
        return _einval(
            where, f"{len(raw)} bytes is not a whole number of {SOCK_FILTER_SIZE}-byte insns"
        )
    count = len(raw) // SOCK_FILTER_SIZE
    if count > BPF_MAXINSNS:
        return _einval(where, f"{count} instructions is more than BPF_MAXINSNS ({BPF_MAXINSNS})")
    prog = [Insn(*fields) for fields in _SOCK_FILTER.iter_unpack(raw)]
    refused = _sk_chk_filter(prog)
    if refused is not None:
        return refused
    # sk_convert_filter cannot refuse what the two checks accepted: its jump-range and
    # length tests (len > BPF_MAXINSNS in 3.16) repeat sk_chk_filter's.
    return _seccomp_check_filter(prog)


def seccomp_data(nr: int, arch: int, instruction_pointer: int, args: Sequence[int]) -> bytes:
    """struct seccomp_data as populate_seccomp_data fills it, in x86's byte order (64 bytes)."""
    if isinstance(nr, bool) or not isinstance(nr, int):
        raise TypeError(f"nr: expected an int, received {type(nr).__name__} {nr!r}")
    if not -(1 << 31) <= nr < (1 << 31):
        raise ValueError(f"nr: expected a C int (-2**31..2**31-1), received {nr!r}")
    _check_uint("arch", arch, 32)
    _check_uint("instruction_pointer", instruction_pointer, 64)
    if isinstance(args, (str, bytes)) or not isinstance(args, Sequence):
        raise TypeError(f"args: expected a sequence of 6 ints, received {type(args).__name__}")
    if len(args) != 6:
        raise ValueError(f"args: expected 6 arguments, received {len(args)}")
    for i, arg in enumerate(args):
        _check_uint(f"args[{i}]", arg, 64)
    return _SECCOMP_DATA.pack(nr, arch, instruction_pointer, *args)


def BPF_CLASS(code: int) -> int:
    """The instruction class: code & 0x07."""
    return code & 0x07


def BPF_MODE(code: int) -> int:
    """The ld/ldx addressing mode: code & 0xe0."""
    return code & 0xE0


def BPF_OP(code: int) -> int:
    """The alu/jmp operation: code & 0xf0."""
    return code & 0xF0


def BPF_SRC(code: int) -> int:
    """The operand source, BPF_K or BPF_X: code & 0x08."""
    return code & 0x08


def _check_program(program: Sequence[Insn]) -> Sequence[Insn]:
    if isinstance(program, (str, bytes, bytearray)) or not isinstance(program, Sequence):
        raise TypeError(
            "program: expected a sequence of Insn (as parse_filter returns), "
            f"received {type(program).__name__}"
        )
    if not program:
        raise ValueError("program: expected at least one instruction, received none")
    for i, ins in enumerate(program):
        if not isinstance(ins, Insn):
            raise TypeError(f"program[{i}]: expected an Insn, received {type(ins).__name__}")
    return program


def _check_data(data: bytes) -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data: expected struct seccomp_data bytes, received {type(data).__name__}")
    if len(data) != SECCOMP_DATA_SIZE:
        raise ValueError(
            f"data: expected {SECCOMP_DATA_SIZE} bytes (struct seccomp_data), "
            f"received {len(data)} bytes"
        )
    return bytes(data)


def _alu(op: int, a: int, operand: int) -> int | None:
    """One 32-bit ALU operation; None for a division by zero (the program returns 0)."""
    if op == BPF_ADD:
        return (a + operand) & _U32
    if op == BPF_SUB:
        return (a - operand) & _U32
    if op == BPF_MUL:
        return (a * operand) & _U32
    if op == BPF_DIV:
        return None if operand == 0 else a // operand
    if op == BPF_AND:
        return a & operand
    if op == BPF_OR:
        return a | operand
    if op == BPF_XOR:
        return a ^ operand
    if op == BPF_LSH:
        return (a << (operand & 31)) & _U32
    if op == BPF_RSH:
        return a >> (operand & 31)
    raise AssertionError(op)


def run_filter(program: Sequence[Insn], data: bytes) -> int:
    """Run one accepted filter on a struct seccomp_data; its u32 return value.

    ``program`` is what parse_filter returned (the rewritten instructions). An instruction
    parse_filter never returns, or a jump that leaves the program, raises ValueError naming
    it: the kernel never runs such a program.
    """
    prog = _check_program(program)
    ctx = _check_data(data)
    a = x = 0
    mem = [0] * BPF_MEMWORDS
    pc = 0
    n = len(prog)
    while 0 <= pc < n:
        ins = prog[pc]
        code, k = ins.code, ins.k
        cls = code & 0x07
        pc += 1
        if cls == BPF_RET:
            return k if code == BPF_RET | BPF_K else a
        if cls == BPF_JMP:
            if code == BPF_JMP | BPF_JA:
                pc += k
                continue
            operand = x if code & BPF_X else k
            op = code & 0xF0
            if op == BPF_JEQ:
                taken = a == operand
            elif op == BPF_JGT:
                taken = a > operand
            elif op == BPF_JGE:
                taken = a >= operand
            elif op == BPF_JSET:
                taken = bool(a & operand)
            else:
                raise ValueError(f"program[{pc - 1}].code: {code:#06x} is not a seccomp jump")
            pc += ins.jt if taken else ins.jf
        elif cls == BPF_ALU:
            if code == BPF_ALU | BPF_NEG:
                a = -a & _U32
                continue
            if code not in _SECCOMP_KEPT:
                raise ValueError(f"program[{pc - 1}].code: {code:#06x} is not a seccomp alu op")
            result = _alu(code & 0xF0, a, x if code & BPF_X else k)
            if result is None:
                return 0  # __sk_run_filter: a division by X == 0 ends the program with 0
            a = result
        elif code == _SECCOMP_LD_W:
            if k + 4 > SECCOMP_DATA_SIZE:
                raise ValueError(f"program[{pc - 1}].k: {k} is outside struct seccomp_data")
            a = int.from_bytes(ctx[k : k + 4], "little")
        elif code == BPF_LD | BPF_IMM:
            a = k
        elif code == BPF_LDX | BPF_IMM:
            x = k
        elif code == BPF_LD | BPF_MEM and k < BPF_MEMWORDS:
            a = mem[k]
        elif code == BPF_LDX | BPF_MEM and k < BPF_MEMWORDS:
            x = mem[k]
        elif code == BPF_ST and k < BPF_MEMWORDS:
            mem[k] = a
        elif code == BPF_STX and k < BPF_MEMWORDS:
            mem[k] = x
        elif code == BPF_MISC | BPF_TAX:
            x = a
        elif code == BPF_MISC | BPF_TXA:
            a = x
        else:
            raise ValueError(
                f"program[{pc - 1}]: {ins!r} is not an instruction parse_filter returns"
            )
    raise ValueError(f"program: control reached insn {pc}, outside the {n}-insn program")


def run_filters(programs_newest_first: Sequence[Sequence[Insn]], data: bytes) -> int:
    """seccomp_run_filters (kernel/seccomp.c, 3.16): every filter runs; the lowest action wins.

    Filters run newest first (current->seccomp.filter, then ->prev). A filter's value
    replaces the running one only when its action (value & SECCOMP_RET_ACTION, which
    ignores bit 31) is strictly lower, so among equal actions the newest filter's data
    stays. With no filter at all the kernel WARNs and returns SECCOMP_RET_KILL.
    """
    if isinstance(programs_newest_first, (str, bytes)) or not isinstance(
        programs_newest_first, Sequence
    ):
        raise TypeError(
            "programs_newest_first: expected a sequence of programs, "
            f"received {type(programs_newest_first).__name__}"
        )
    ctx = _check_data(data)
    if not programs_newest_first:
        return SECCOMP_RET_KILL
    ret = SECCOMP_RET_ALLOW
    for program in programs_newest_first:
        cur = run_filter(program, ctx)
        if (cur & SECCOMP_RET_ACTION) < (ret & SECCOMP_RET_ACTION):
            ret = cur
    return ret


def stmt(code: int, k: int = 0) -> bytes:
    """BPF_STMT(code, k): one struct sock_filter record with jt = jf = 0."""
    return Insn(_check_uint("code", code, 16), 0, 0, _check_uint("k", k, 32)).pack()


def jump(code: int, k: int, jt: int, jf: int) -> bytes:
    """BPF_JUMP(code, k, jt, jf): one struct sock_filter record."""
    return Insn(
        _check_uint("code", code, 16),
        _check_uint("jt", jt, 8),
        _check_uint("jf", jf, 8),
        _check_uint("k", k, 32),
    ).pack()


def assemble(records: Iterable[bytes | Insn]) -> bytes:
    """The sock_filter array for ``records`` (8-byte records from stmt/jump, or Insn)."""
    if isinstance(records, (str, bytes, bytearray)) or not isinstance(records, Iterable):
        raise TypeError(
            f"records: expected an iterable of 8-byte records or Insn, "
            f"received {type(records).__name__}"
        )
    out = bytearray()
    for i, record in enumerate(records):
        if isinstance(record, Insn):
            out += record.pack()
        elif isinstance(record, (bytes, bytearray)):
            if len(record) != SOCK_FILTER_SIZE:
                raise ValueError(
                    f"records[{i}]: expected {SOCK_FILTER_SIZE} bytes, received {len(record)}"
                )
            out += record
        else:
            raise TypeError(
                f"records[{i}]: expected 8 bytes or an Insn, received {type(record).__name__}"
            )
    return bytes(out)
