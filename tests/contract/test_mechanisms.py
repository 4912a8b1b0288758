"""Contract tests generated from simulator.kernel.matrix: every row, run against the simulator.

Each row of the matrix says, from the 3.16 sources and the manuals, what one
``Process.syscall(..., via=...)`` does on one machine. These tests make the
simulator prove it: one Machine per (kernel, vendor), a fresh process per test
with every general register seeded with a distinct value (and arithmetic flags
set), so that a register the kernel touches shows up in ``r.changed``.
Where the simulator disagrees with the sources, the test is a strict xfail
whose reason names the disagreement (see DISAGREEMENTS).
"""

from __future__ import annotations

import pytest

import abi
from simulator import Machine
from simulator import machine as facade
from simulator.kernel import matrix
from simulator.kernel.matrix import ROWS, Row
from simulator.trace import CPU, FAULT, KERNEL

FILE_PATH = "/etc/mechanisms"
FILE_DATA = b"mechanisms of 3.16\n"
O_RDONLY = 0
PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS = 38, 39
EBADF, EFAULT, EINVAL = 9, 14, 22
BAD_FD = 0x77
ARG6 = 0x6A6A_6A6A
HIGH_BITS = 0x5A5A << 32  # set above bit 31 of a pointer: cut away by a 32-bit path
EXIT_MNEMONICS = {
    "SYSRETQ": "sysretq",
    "SYSRETL": "sysret",
    "SYSEXIT": "sysexit",
    "IRETQ": "iretq",
    "IRET": "iretd",
}

# Distinct values in every general register the call does not load itself. The last two
# instructions leave CF, PF, SF and OF set and ZF clear (0x7fffffff - 0xffffffff = 0x80000000).
SEED_64 = {
    "rbx": 0x0B0B_0B0B_0B0B_0B0B,
    "rcx": 0x0C0C_0C0C_0C0C_0C0C,
    "rdx": 0x0D0D_0D0D_0D0D_0D0D,
    "rsi": 0x0E0E_0E0E_0E0E_0E0E,
    "rdi": 0x0F0F_0F0F_0F0F_0F0F,
    "rbp": 0x0A0A_0A0A_0A0A_0A0A,
    "r8": 0x0808_0808_0808_0808,
    "r9": 0x0909_0909_0909_0909,
    "r10": 0x1010_1010_1010_1010,
    "r11": 0x1111_1111_1111_1111,
    "r12": 0x1212_1212_1212_1212,
    "r13": 0x1313_1313_1313_1313,
    "r14": 0x1414_1414_1414_1414,
    "r15": 0x1515_1515_1515_1515,
}
SEED_32 = {
    "ebx": 0x0B0B_0B0B,
    "ecx": 0x0C0C_0C0C,
    "edx": 0x0D0D_0D0D,
    "esi": 0x0E0E_0E0E,
    "edi": 0x0F0F_0F0F,
    "ebp": 0x0A0A_0A0A,
}
SEED_FLAGS = "mov eax, 0x7fffffff\nsub eax, 0xffffffff"

_EFLAGS_ADDQ = (
    "the simulator keeps the caller's arithmetic flags through SYSENTER/SYSEXIT; 3.16's "
    "ia32_sysenter_target pushes pt_regs->flags with pushfq after `addq $(KERNEL_STACK_OFFSET),"
    "%rsp` and sysexit_from_sys_call's popfq reloads them, so CF, PF, AF, ZF, SF and OF come "
    "back as that addq left them (arch/x86/ia32/ia32entry.S)"
)
_EFLAGS_XORL = (
    "the simulator keeps the caller's arithmetic flags and DF through SYSENTER/SYSEXIT; 3.16's "
    "sysenter_exit reloads no flags before `sti; sysexit` (`movl PT_EIP(%esp),%edx; movl "
    "PT_OLDESP(%esp),%ecx; xorl %ebp,%ebp; ... ENABLE_INTERRUPTS_SYSEXIT`), so the flags are "
    "those of `xorl %ebp,%ebp` (ZF=PF=1, CF=SF=OF=0) with DF cleared by SAVE_ALL's cld "
    "(arch/x86/kernel/entry_32.S)"
)
#: (test, row key) -> the disagreement between the simulator and the sources.
DISAGREEMENTS: dict[tuple[str, tuple[str, str, str, str]], str] = {}
# (The SYSENTER flags disagreement this suite found is fixed: the fast exits now return the
# flags of ia32entry.S's addq and entry_32.S's xorl, as _EFLAGS_ADDQ and _EFLAGS_XORL say.)

OK_ROWS = tuple(r for r in ROWS if r.outcome == "ok")
WIDE_OK_ROWS = tuple(r for r in OK_ROWS if r.result == "rax")
DEAD_ROWS = tuple(r for r in ROWS if r.outcome != "ok")
KILLED_ROWS = tuple(r for r in ROWS if r.outcome == "killed")


def _ident(r: Row) -> str:
    return "-".join(r.key)


def _params(rows: tuple[Row, ...], test: str) -> list:
    """One pytest.param per row, a strict xfail where DISAGREEMENTS names the row."""
    out = []
    for r in rows:
        reason = DISAGREEMENTS.get((test, r.key))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(r, id=_ident(r), marks=marks))
    return out


@pytest.fixture(scope="module")
def machines():
    """One booted Machine per (kernel, vendor), made on first use and shared by the module."""
    booted: dict[tuple[str, str], Machine] = {}

    def get(kernel: str, vendor: str) -> Machine:
        if (kernel, vendor) not in booted:
            m = Machine.boot(kernel=kernel, cpu=vendor)
            m.fs.add_file(FILE_PATH, FILE_DATA)
            booted[kernel, vendor] = m
        return booted[kernel, vendor]

    return get


def _seed(p, values: dict[str, int]) -> None:
    """Give registers distinct values (and set arithmetic flags) with real instructions."""
    code = "\n".join(f"mov {reg}, {value:#x}" for reg, value in values.items())
    run = p.run(f"{code}\n{SEED_FLAGS}", trace=False)
    assert run.stop == "end", run


def _spawn(machines, r: Row):
    """A fresh process of the row's ABI with seeded registers."""
    p = machines(r.kernel, r.vendor).spawn(r.abi)
    _seed(p, SEED_32 if r.abi == "i386" else SEED_64)
    return p


def _number(r: Row, name: str) -> int:
    """The number the process puts in eax/rax for ``name`` on this row's table."""
    number = abi.syscall_number(name, abi=r.numbers)
    assert number & abi.X32_SYSCALL_BIT == r.number_bit
    return number


def _table_entry(r: Row, number: int) -> tuple[int, str]:
    """The index and entry point the row's table holds for ``number`` (from abi/'s tables)."""
    if r.table == "ia32_sys_call_table":
        table = abi.ia32_sys_call_table()
    elif r.kernel == "x86_64":
        table = abi.x86_64_sys_call_table(x32=True)
    else:
        table = abi.i386_sys_call_table()
    index = number & ~abi.X32_SYSCALL_BIT
    return index, table.entries[index]


def _assert_reaches(result, r: Row, number: int) -> None:
    """The trace shows the row's entry routine, its table's entry for ``number``, and the
    handler that entry names."""
    index, handler = _table_entry(r, number)
    assert r.entry is not None and r.table is not None
    wheres = result.trace.symbols()
    assert r.entry.where in wheres, wheres
    assert any(
        e.where.startswith(f"{r.table} (") and f"{r.table}[{index}] = {handler}" in e.what
        for e in result.trace
    ), result.trace.render()
    assert any(w.startswith(f"{handler} (") for w in wheres), wheres


def _open(p, r: Row):
    """open(FILE_PATH, O_RDONLY, 0) by the row's number and mechanism: a new fd."""
    path = p.alloc(64)
    p.write_mem(path, FILE_PATH.encode() + b"\0")
    opened = p.syscall(_number(r, "open"), path, O_RDONLY, 0, via=r.via)
    assert opened.ret is not None and opened.ret >= 3, opened
    return opened


# ------------------------------------------------------------------ the data itself


class TestMatrixData:
    """The matrix covers what Process.syscall offers, and docs/mechanisms.md is its render."""

    def test_every_combination_once(self):
        """Each kernel × vendor × ABI × mechanism Process.syscall accepts has exactly one row."""
        offered = {
            (kernel, vendor, process, via)
            for kernel in facade.KERNELS
            for vendor in facade.VENDORS
            for process in facade.ABIS
            for via in facade.VIAS
            if (kernel == "x86_64" or process == "i386")
            and (via != "kernel_vsyscall" or process == "i386")
        }
        keys = [r.key for r in ROWS]
        assert len(keys) == len(set(keys))
        assert set(keys) == offered

    def test_docs_page_is_the_render(self):
        """docs/mechanisms.md equals render() (regenerate: python -m simulator.kernel.matrix
        --write)."""
        assert matrix.DOC_PATH.read_text() == matrix.render()

    def test_check_flag_agrees(self):
        """``python -m simulator.kernel.matrix --check`` accepts the committed page."""
        assert matrix.main(["--check"]) == 0

    def test_main_prints_the_page(self, capsys):
        """``python -m simulator.kernel.matrix`` prints the rendered page."""
        assert matrix.main([]) == 0
        assert capsys.readouterr().out == matrix.render()

    def test_outcomes_and_exits_are_consistent(self):
        """A row that comes back names its exit; a refused one names a fault and no kernel
        path; a killed one both."""
        for r in ROWS:
            assert (r.fault is None) == (r.outcome == "ok")
            assert (r.entry is None) == (r.outcome == "refused")
            assert (r.exit is None) == (r.outcome == "refused")

    @pytest.mark.parametrize("r", [r for r in ROWS if r.via == "kernel_vsyscall"], ids=_ident)
    def test_vsyscall_variant_is_the_booted_one(self, machines, r):
        """The __kernel_vsyscall variant a row names is the one sysenter_setup picked at boot."""
        m = machines(r.kernel, r.vendor)
        picked = [e.what for e in m.boot_trace if e.where.startswith("sysenter_setup")]
        assert len(picked) == 1
        variant = "syscall" if "SYSCALL variant" in r.instruction else "sysenter"
        assert f"the {variant} variant" in picked[0]


# ------------------------------------------------------------------ calls that come back


@pytest.mark.parametrize("r", _params(OK_ROWS, "table"))
def test_number_reaches_the_table_entry(machines, r):
    """open(path, O_RDONLY, 0) then read(fd, buf, 5) by number: the row's entry routine and
    table are on the path, the table entry is the expected handler, and arguments 1-3 land
    in order (the file's bytes arrive in buf)."""
    p = _spawn(machines, r)
    opened = _open(p, r)
    _assert_reaches(opened, r, _number(r, "open"))
    fd = opened.ret
    buf = p.alloc(64)
    number = _number(r, "read")
    read = p.syscall(number, fd, buf, 5, via=r.via)
    assert read.ret == 5, read
    assert p.read_mem(buf, 5) == FILE_DATA[:5]
    _assert_reaches(read, r, number)


@pytest.mark.parametrize("r", _params(OK_ROWS, "args"))
def test_arguments_four_to_six(machines, r):
    """prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) succeeds only if arguments 2-5 arrive in
    order (a nonzero argument 3, 4 or 5, or a 0 in argument 2, is -EINVAL), with every other
    register holding garbage; argument 6 is read where the row says."""
    p = _spawn(machines, r)
    number = _number(r, "prctl")
    for args in ((1, 0x33, 0, 0), (1, 0, 0x44, 0), (1, 0, 0, 0x55), (0, 0, 0, 0)):
        refused = p.syscall(number, PR_SET_NO_NEW_PRIVS, *args, via=r.via)
        assert refused.ret == -EINVAL, (args, refused)
    done = p.syscall(number, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, ARG6, via=r.via)
    assert done.ret == 0, done
    _assert_reaches(done, r, number)
    assert p.syscall(number, PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0, via=r.via).ret == 1
    if r.arg6.startswith("0(%"):
        # Argument 6 travels on the user stack: the entry routine's fetch finds it there.
        assert any(e.kind == KERNEL and f"arg6 = {ARG6:#x}" in e.what for e in done.trace), (
            done.trace.render()
        )


@pytest.mark.parametrize("r", _params(WIDE_OK_ROWS, "cut"))
def test_arguments_are_cut_as_the_row_says(machines, r):
    """From 64-bit code a buffer pointer with bits above 31 set reaches read() whole on a
    64-bit path (-EFAULT: nothing is mapped there) and cut to its low 32 bits on a 32-bit one
    (the read lands in the real buffer)."""
    p = _spawn(machines, r)
    fd = _open(p, r).ret
    buf = p.alloc(64)
    read = p.syscall(_number(r, "read"), fd, buf | HIGH_BITS, 5, via=r.via)
    if r.arg_bits == 32:
        assert read.ret == 5, read
        assert p.read_mem(buf, 5) == FILE_DATA[:5]
    else:
        assert r.arg_bits == 64
        assert read.ret == -EFAULT, read


@pytest.mark.parametrize("r", _params(OK_ROWS, "result"))
def test_result_lands_in_the_return_register(machines, r):
    """umask(0o27) returns the old mask and the next umask returns 0o27, getpid the pid, and
    read(0x77, ...) -EBADF sign-extended to the register's width: all in eax/rax."""
    p = _spawn(machines, r)
    number = _number(r, "umask")
    first = p.syscall(number, 0o27, via=r.via)
    assert first.ret == 0o22 and first.after.reg(r.result) == 0o22, first
    _assert_reaches(first, r, number)
    second = p.syscall(number, 0o22, via=r.via)
    assert second.ret == 0o27 and second.after.reg(r.result) == 0o27, second
    got = p.syscall(_number(r, "getpid"), via=r.via)
    assert got.ret == p.pid and got.after.reg(r.result) == p.pid
    bad = p.syscall(_number(r, "read"), BAD_FD, p.alloc(16), 5, via=r.via)
    width = 64 if r.result == "rax" else 32
    assert bad.ret == -EBADF and bad.errno == "EBADF"
    assert bad.after.reg(r.result) == (-EBADF) & ((1 << width) - 1)


@pytest.mark.parametrize("r", _params(OK_ROWS, "registers"))
def test_exactly_the_documented_registers_change(machines, r):
    """With every register seeded, umask(0o27) changes exactly the return register, the
    instruction pointer and the row's documented registers."""
    p = _spawn(machines, r)
    got = p.syscall(_number(r, "umask"), 0o27, via=r.via)
    assert got.ret == 0o22, got
    assert set(got.changed) == {r.result, r.ip, *r.clobbers}, got.changed
    after = {reg: new for reg, (_, new) in got.changed.items()}
    if "rcx" in r.clobbers:
        assert after["rcx"] == got.after.reg("rip")  # SYSCALL's return address
    if "r11" in r.clobbers and "r8" not in r.clobbers:
        assert after["r11"] == got.after.reg("rflags")  # SYSCALL's saved rflags
    for reg in ("r8", "r9", "r10", "r11"):
        if "r8" in r.clobbers:
            assert after[reg] == 0  # CLEAR_RREGS


@pytest.mark.parametrize("r", _params(OK_ROWS, "exit"))
def test_exit_instruction(machines, r):
    """The kernel returns with the row's exit instruction, and with no other."""
    p = _spawn(machines, r)
    got = p.syscall(_number(r, "umask"), 0o27, via=r.via)
    exits = [
        e.what
        for e in got.trace
        if e.kind == CPU and e.ring == 0 and e.what in EXIT_MNEMONICS.values()
    ]
    assert exits == [EXIT_MNEMONICS[r.exit]], got.trace.render()


# ------------------------------------------------------------------ calls that do not


@pytest.mark.parametrize("r", _params(DEAD_ROWS, "fault"))
def test_refused_call_dies_of_the_documented_fault(machines, r):
    """The process dies of the row's signal, and the trace shows the row's fault vector and
    error code delivered from user mode."""
    assert r.fault is not None
    p = _spawn(machines, r)
    got = p.syscall("getpid", via=r.via)
    assert got.ret is None and got.outcome == "signal", got
    assert got.signal == r.fault.signal_number
    assert got.signal_name == r.fault.signal
    assert not p.alive
    assert any(e.kind == FAULT and e.what.startswith(r.fault.label) for e in got.trace)
    detail = f"user-mode vector {r.fault.vector} at ip"
    if r.fault.error_code is not None:
        code = f"error code {r.fault.error_code:#x}"
        assert any(detail in e.what and code in e.what for e in got.trace), got.trace.render()
    else:
        assert any(detail in e.what for e in got.trace), got.trace.render()
    if r.outcome == "refused":
        assert not any(e.kind == KERNEL and "sys_call_table" in e.where for e in got.trace)


@pytest.mark.parametrize("r", _params(KILLED_ROWS, "killed"))
def test_killed_call_runs_then_returns_to_nowhere(machines, r):
    """With a readable 0(%ebp), the call runs through the row's entry routine and table and
    leaves by the row's exit instruction, to sysenter_return, where the fetch faults."""
    assert r.fault is not None and r.exit is not None
    p = machines(r.kernel, r.vendor).spawn(r.abi)
    stack = p.alloc(16)  # below 4 GiB: the zero-extended ebp still points at it
    _seed(p, {**SEED_64, "rbp": stack})
    number = _number(r, "getpid")
    got = p.syscall(number, via=r.via)
    assert got.signal == r.fault.signal_number, got
    _assert_reaches(got, r, number)
    exits = [
        e.what
        for e in got.trace
        if e.kind == CPU and e.ring == 0 and e.what in EXIT_MNEMONICS.values()
    ]
    assert exits == [EXIT_MNEMONICS[r.exit]], got.trace.render()
    assert any(e.kind == FAULT and e.what.startswith(r.fault.label) for e in got.trace)
