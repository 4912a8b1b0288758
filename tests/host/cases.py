"""The differential cases as data, and the record both sides (host and simulator) answer with.

A case is one system call made by one instruction: its mechanism, the number and arguments,
and the bytes its pointer arguments point into. Every other general register holds a fixed
pattern. Each case says why its answer is the same in Linux 6.9 and in a later kernel: the
suite compares the host's kernel with ringsim's linux-6.9 profile only on such behaviour.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

import abi

X32_BIT = abi.X32_SYSCALL_BIT

# The four ways in: (word size in bits, the number register, the argument registers).
MECHANISMS: Mapping[str, tuple[int, str, tuple[str, ...]]] = {
    "syscall": (64, "rax", ("rdi", "rsi", "rdx", "r10", "r8", "r9")),
    "int80_64": (64, "rax", ("rbx", "rcx", "rdx", "rsi", "rdi", "rbp")),
    "int80_32": (32, "eax", ("ebx", "ecx", "edx", "esi", "edi", "ebp")),
    "kernel_vsyscall": (32, "eax", ("ebx", "ecx", "edx", "esi", "edi", "ebp")),
}
ENTRY_TEXT = {
    "syscall": "SYSCALL from 64-bit code",
    "int80_64": "INT 0x80 from 64-bit code",
    "int80_32": "INT 0x80 from 32-bit code",
    "kernel_vsyscall": "call *AT_SYSINFO (__kernel_vsyscall) from 32-bit code",
}

REGS_64 = abi.ABI_REGISTERS["x86_64"]  # rax rcx rdx rbx rsp rbp rsi rdi r8..r15
REGS_32 = abi.ABI_REGISTERS["i386"]  # eax ecx edx ebx esp ebp esi edi
RECORD_REGS_64 = (*REGS_64, "rip", "rflags")
RECORD_REGS_32 = (*REGS_32, "eip", "eflags")

# The pattern: register number n holds the digit n in every nibble (r15: f0f0...), so a
# value that moved between registers, or lost its upper half, shows. rsp keeps the stack.
PATTERN_64: Mapping[str, int] = {
    name: (0xF0F0_F0F0_F0F0_F0F0 if n == 15 else n * 0x1111_1111_1111_1111)
    for n, name in enumerate(REGS_64)
    if name != "rsp"
}
PATTERN_32: Mapping[str, int] = {
    name: n * 0x1111_1111 for n, name in enumerate(REGS_32) if name != "esp"
}
# The flags both sides set before the call (mov al, 0x80; add al, 0x80): CF PF ZF OF, with
# IF and the reserved bit 1. No mov after it changes a flag.
FLAGS_PATTERN = 0xA47
FLAGS_SETUP = (("mov", "al", 0x80), ("add", "al", 0x80))

BAD_USER = 0x8  # below mmap_min_addr: never mapped
KERNEL_POINTER = 0xFFFF_8000_0000_0000  # the kernel half: access_ok refuses it
BAD_FD = 999


@attrs.frozen
class Ptr:
    """A pointer argument: ``offset`` bytes into the case's data, with ``high`` in the upper
    32 bits (for INT 0x80 from 64-bit code, which must ignore them)."""

    offset: int = 0
    high: int = 0


@attrs.frozen
class Case:
    """One system call, made once, by one mechanism."""

    name: str
    via: str = attrs.field(validator=attrs.validators.in_(tuple(MECHANISMS)))
    number: int
    args: tuple[int | Ptr, ...] = ()
    data: bytes = b""
    why: str = ""  # why the answer is the same in 6.9 and in the host's kernel
    needs: tuple[str, ...] = ()  # probe findings that must hold ("x32", "no_x32")

    @property
    def bits(self) -> int:
        return MECHANISMS[self.via][0]

    @property
    def host_needs(self) -> tuple[str, ...]:
        """The probe findings the host needs to run the case (see probe.FINDINGS)."""
        if self.bits == 64:
            return ("binutils", *self.needs)  # INT 0x80 with ia32 off is compared too
        vdso = ("vdso32",) if self.via == "kernel_vsyscall" else ()
        return ("asm32", "ia32", *vdso, *self.needs)

    def registers(self, data_address: int) -> dict[str, int]:
        """Every general register but the stack pointer, as the case loads them, with its
        data at ``data_address``."""
        bits, number_reg, arg_regs = MECHANISMS[self.via]
        values = dict(PATTERN_64 if bits == 64 else PATTERN_32)
        mask = (1 << bits) - 1
        values[number_reg] = self.number & mask
        for reg, arg in zip(arg_regs, self.args, strict=False):  # unused ones keep the pattern
            if isinstance(arg, Ptr):
                values[reg] = (arg.high << 32 | (data_address + arg.offset)) & mask
            else:
                values[reg] = arg & mask
        return values

    def pointer_registers(self) -> dict[str, int]:
        """The registers that hold a pointer into the case's data, by their offset there."""
        arg_regs = MECHANISMS[self.via][2]
        return {
            reg: arg.offset
            for reg, arg in zip(arg_regs, self.args, strict=False)
            if isinstance(arg, Ptr)
        }


@attrs.frozen
class Record:
    """What one side saw: the registers right before and right after the entering
    instruction, how the process ended, what it wrote, and the addresses that differ between
    the sides by nature (``places``: the return address, the case's data, the pid), so that
    values can be compared by what they mean."""

    case: str
    side: str  # "host" or "ringsim"
    release: str  # the host's uname release, or the simulator's profile
    bits: int
    before: Mapping[str, int] = attrs.field(factory=dict)
    after: Mapping[str, int] = attrs.field(factory=dict)
    signal: int | None = None
    output: bytes = b""
    places: Mapping[str, int] = attrs.field(factory=dict)
    data_size: int = 0
    note: str = ""

    @property
    def ret(self) -> int | None:
        """The return register, signed at the word size; None when the process did not
        come back."""
        if not self.after:
            return None
        raw = self.after["rax" if self.bits == 64 else "eax"]
        return raw - (1 << self.bits) if raw >> (self.bits - 1) else raw

    @property
    def errno(self) -> str | None:
        ret = self.ret
        return abi.errno_name(-ret) if ret is not None and -4095 <= ret <= -1 else None

    @property
    def changed(self) -> dict[str, tuple[int, int]]:
        """Each register whose value differs after the call: (before, after)."""
        return {
            reg: (self.before[reg], self.after[reg])
            for reg in self.before
            if reg in self.after and self.before[reg] != self.after[reg]
        }

    def meaning(self, value: int, *, ret: bool = False) -> str:
        """``value`` by what it means on this side: the name of a place (an address, or the
        flags at the call), else hex. A return value (``ret``) may also be the process's pid
        or an errno; other registers are not read that way (a pattern is no errno)."""
        for name, place in self.places.items():
            if value == place and (ret or name != "the process's pid"):
                return name
        data = self.places.get("case data")
        if data is not None:
            # A pointer into the case's data, possibly with junk in the upper half (which
            # INT 0x80 from 64-bit code must ignore).
            for low, high in ((value, ""), (value & 0xFFFF_FFFF, f"({value >> 32:#x} << 32) + ")):
                if data <= low < data + max(self.data_size, 1):
                    offset = f"+{low - data}" if low > data else ""
                    return f"{high}case data{offset}"
        if ret:
            signed = value - (1 << self.bits) if value >> (self.bits - 1) else value
            if -4095 <= signed <= -1:
                return f"-{abi.errno_name(-signed)}"
            return str(signed)
        return f"{value:#x}"

    def observed(self) -> dict[str, object]:
        """What the comparison compares: the return value, how the process ended, what it
        wrote, the inputs, and every register that changed with its new value, each by its
        meaning."""
        if self.signal is not None:
            return {"signal": abi.SIGNAL_NAMES.get(self.signal, str(self.signal))}
        if not self.after:
            return {"ret": None, "note": self.note}
        rax = "rax" if self.bits == 64 else "eax"
        return {
            "ret": self.meaning(self.after[rax], ret=True),
            "changed": {
                reg: self.meaning(after, ret=reg == rax) for reg, (_, after) in self.changed.items()
            },
            "inputs": {
                reg: self.meaning(value)
                for reg, value in self.before.items()
                if reg not in ("rsp", "esp")
            },
            "output": self.output,
        }


def _cases() -> tuple[Case, ...]:
    msg = b"ringsim: hello from the differential suite\n"
    missing = b"/nonexistent-ringsim/missing\0"
    devnull = b"/dev/null\0"
    buf16 = bytes(16)
    out = []

    def family(via: str, nr: Mapping[str, int], *, wide: bool) -> None:
        """The same calls through one mechanism (numbers from the table it reaches)."""

        def add(name, number, args=(), data=b"", *, why, needs=()):
            out.append(Case(f"{via}-{name}", via, number, tuple(args), data, why, needs))

        add(
            "getpid",
            nr["getpid"],
            why="getpid returns the caller's tgid in every release; the registers that "
            + (
                "SYSCALL itself writes (RCX, R11) and RAX change, nothing else (6.9 restores "
                "every other register from pt_regs, as the host's kernel does)"
                if via == "syscall"
                else "change are the return register (and the instruction pointer) only: "
                "r8-r11 are preserved by INT 0x80 from 64-bit code since 4.17"
                if via == "int80_64"
                else "change are the return register and the instruction pointer only, "
                "in every release"
            ),
        )
        add(
            "read-eof",
            nr["read"],
            (0, Ptr(), 16),
            buf16,
            why="fd 0 reads end of file on both sides (the host's is /dev/null, ringsim's a "
            "console that reads EOF): 0, the buffer untouched",
        )
        add(
            "read-bad-fd", nr["read"], (BAD_FD, Ptr(), 16), buf16, why="fdget finds nothing: -EBADF"
        )
        add(
            "read-eof-bad-pointer",
            nr["read"],
            (0, BAD_USER, 16),
            why="access_ok passes a user address; end of file copies nothing, so the unmapped "
            "buffer is never touched: 0 in every release",
        )
        if wide and via == "syscall":
            add(
                "read-kernel-pointer",
                nr["read"],
                (0, KERNEL_POINTER, 16),
                why="vfs_read's access_ok refuses a kernel-half buffer: -EFAULT",
            )
        add(
            "write-good",
            nr["write"],
            (1, Ptr(), len(msg)),
            msg,
            why="fd 1 takes every byte on both sides (the host's a pipe, ringsim's a console): "
            "the count",
        )
        add(
            "write-bad-fd",
            nr["write"],
            (BAD_FD, Ptr(), len(msg)),
            msg,
            why="fdget finds nothing: -EBADF",
        )
        add(
            "write-bad-pointer",
            nr["write"],
            (1, BAD_USER, 16),
            why="copy_from_user faults on the first byte: nothing written, -EFAULT",
        )
        if via == "int80_64":
            add(
                "write-upper-halves",
                nr["write"],
                (0xDEAD_BEEF_0000_0001, Ptr(high=0xFFFF_FFFF), 0x1_0000_0000 | len(msg)),
                msg,
                why="the ia32 wrappers (6.9's __ia32_sys_write, the host's too) use the low "
                "32 bits of each register: write(1, msg, len)",
            )
        if wide and via == "syscall":
            add(
                "write-kernel-pointer",
                nr["write"],
                (1, KERNEL_POINTER, 16),
                why="vfs_write's access_ok refuses a kernel-half buffer: -EFAULT",
            )
        add("open-missing", nr["open"], (Ptr(), 0, 0), missing, why="path walk: -ENOENT")
        add(
            "open-devnull",
            nr["open"],
            (Ptr(), 0, 0),
            devnull,
            why="/dev/null exists on both sides; the lowest free descriptor is 3",
        )
        add("open-bad-pointer", nr["open"], (BAD_USER, 0, 0), why="getname faults: -EFAULT")
        add("close-bad-fd", nr["close"], (BAD_FD,), why="close_fd finds nothing: -EBADF")
        add("close-good", nr["close"], (2,), why="fd 2 is open on both sides: 0")
        add(
            "execve-missing",
            nr["execve"],
            (Ptr(), 0, 0),
            missing,
            why="argv and envp NULL (allowed, counted as empty); the path walk fails: -ENOENT "
            "(the order of opening and counting changed in 6.x; with NULL arrays it cannot "
            "matter)",
        )
        add(
            "execve-bad-pointer",
            nr["execve"],
            (BAD_USER, 0, 0),
            why="getname faults before anything else: -EFAULT",
        )
        add(
            "execve-devnull",
            nr["execve"],
            (Ptr(), 0, 0),
            devnull,
            why="a character device is no regular file and has no execute bit: -EACCES",
        )
        add(
            "nr-1000",
            1000,
            why="1000 is above both tables (6.9: 462 entries; later kernels fewer than 1000): "
            "-ENOSYS",
        )
        add(
            "nr-minus-1",
            -1,
            why="-1 skips the call and leaves the -ENOSYS every 6.x entry presets",
        )

    family("syscall", {n: abi.syscall_number(n, abi="x86_64") for n in _NAMES}, wide=True)
    family("int80_64", {n: abi.syscall_number(n, abi="i386") for n in _NAMES}, wide=True)
    family("int80_32", {n: abi.syscall_number(n, abi="i386") for n in _NAMES}, wide=False)
    family("kernel_vsyscall", {n: abi.syscall_number(n, abi="i386") for n in _NAMES}, wide=False)

    getpid64 = abi.syscall_number("getpid", abi="x86_64")
    getpid32 = abi.syscall_number("getpid", abi="i386")
    out += [
        Case(
            "syscall-nr-high-bits",
            "syscall",
            1 << 32 | getpid64,
            why="6.9's entry_SYSCALL_64 hands do_syscall_64 the number as a signed int "
            "(movslq %eax), as later kernels do: the high half is ignored, this is getpid",
        ),
        Case(
            "syscall-nr-x32-only-without-bit",
            "syscall",
            512,
            why="512..547 are x32-only since the tables split (5.4); the 64-bit table has "
            "nothing there: -ENOSYS",
        ),
        Case(
            "int80_64-nr-high-bits",
            "int80_64",
            1 << 32 | getpid32,
            why="do_int80_emulation keeps the low 32 bits of RAX as the number: getpid",
        ),
        Case(
            "syscall-x32-bit-x32-off",
            "syscall",
            X32_BIT | getpid64,
            why="without CONFIG_X86_X32_ABI (or with x32 off) a number with the x32 bit "
            "reaches no table: -ENOSYS",
            needs=("no_x32",),
        ),
        Case(
            "syscall-x32-getpid",
            "syscall",
            X32_BIT | abi.syscall_number("getpid", abi="x32") & ~X32_BIT,
            why="with x32 on, getpid through the x32 table (do_syscall_x32, since 5.4)",
            needs=("x32",),
        ),
        Case(
            "syscall-x32-64-bit-only",
            "syscall",
            X32_BIT | abi.syscall_number("rt_sigaction", abi="x86_64"),
            why="rt_sigaction's 64-bit entry (13) is not in the x32 table since the split: -ENOSYS",
            needs=("x32",),
        ),
        Case(
            "syscall-x32-read-bad-fd",
            "syscall",
            X32_BIT | abi.syscall_number("read", abi="x86_64"),
            (BAD_FD, 0, 16),
            why="read is common to both tables: -EBADF through the x32 one",
            needs=("x32",),
        ),
    ]
    return tuple(out)


_NAMES = ("read", "write", "open", "close", "getpid", "execve")
CASES: tuple[Case, ...] = _cases()
BY_NAME: Mapping[str, Case] = {case.name: case for case in CASES}


def side_by_side(host: Record, sim: Record) -> str:
    """The two records' observations in two columns, the host release above them."""
    ho, so = host.observed(), sim.observed()
    lines = [
        f"case {host.case} ({ENTRY_TEXT[BY_NAME[host.case].via]}): host kernel {host.release} "
        f"vs {sim.release}",
        f"  {'':22} {'host':34} ringsim",
    ]

    def row(label, a, b):
        mark = " " if a == b else "*"
        lines.append(f"{mark} {label:22} {a!s:34} {b!s}")

    for key in sorted(set(ho) | set(so)):
        a, b = ho.get(key), so.get(key)
        if isinstance(a, dict) or isinstance(b, dict):
            a, b = a or {}, b or {}
            absent = "(unchanged)" if key == "changed" else "-"
            for reg in sorted(set(a) | set(b)):
                row(f"{key}.{reg}", a.get(reg, absent), b.get(reg, absent))
        else:
            row(key, a, b)
    if host.note or sim.note:
        lines.append(f"  notes: host {host.note!r}; ringsim {sim.note!r}")
    return "\n".join(lines)
