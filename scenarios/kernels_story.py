"""Linux 3.16 and 6.9 side by side: the same programs on both profiles, and what changed."""

from __future__ import annotations

from scenarios.story import DEFAULT, Options, Part, shown
from scenarios.vdso_stories import listing32
from simulator import Machine, SyscallResult

PROFILES = ("linux-3.16", "linux-6.9")
PATTERN = {"r8": 0x8888, "r9": 0x9999, "r10": 0xAAAA, "r11": 0xBBBB}


def _result(r: SyscallResult) -> str:
    if not r.modeled:
        raise RuntimeError(f"{r.name} reached a handler ringsim does not model")
    if r.signal is not None:
        return f"killed by {r.signal_name}"
    return f"{r.ret}" + (f" ({r.errno})" if r.errno else "")


def _path(r: SyscallResult) -> str:
    """The kernel routines a call went through, each once, in order."""
    symbols = [e.where.split(" (")[0] for e in r.trace or () if e.kind == "kernel"]
    return " -> ".join(dict.fromkeys(symbols))


def _vsyscall(m: Machine) -> str:
    p = m.spawn("i386")
    entry = p.vdso_symbol("__kernel_vsyscall", "LINUX_2.5")
    assert entry is not None
    return listing32(p, entry)


def run(opts: Options = DEFAULT) -> list[Part]:
    """The same calls on a 3.16 and a 6.9 x86_64 kernel: the path, the numbers a kernel
    accepts, what INT 0x80 leaves in r8-r11, and the 32-bit vDSO's __kernel_vsyscall."""
    vendor = opts.cpu or "intel"
    out: list[Part] = ["== Linux 3.16 and 6.9 side by side: the same programs, two kernels =="]
    out.append(
        f"Two x86_64 kernels on {vendor}: Linux 3.16, the article's, and Linux 6.9 "
        "(docs/linux69.md). The calls below are the same on both; what differs is what a "
        "program (or a tracer) can see."
    )
    machines = {name: opts.boot("x86_64", "intel", seed=1, profile=name) for name in PROFILES}
    out.append("")
    out.append("1. getpid through SYSCALL: the routines it passes")
    for name, m in machines.items():
        r = m.spawn("x86_64").syscall("getpid")
        out.append(f"   {name}: {len(r.trace or ())} steps: {_path(r)}")
        out += shown(f"-- {name}: getpid through SYSCALL", r.trace, in_text=False)
    out.append(
        "   3.16 saves the argument registers and calls through sys_call_table; 6.9 pushes "
        "the whole pt_regs with -ENOSYS in ax, clears the registers and dispatches in C "
        "(do_syscall_64, x64_sys_call's switch, the __x64_sys_getpid wrapper)."
    )
    out.append("")
    out.append("2. The number: what each kernel makes of odd values in RAX (SYSCALL)")
    cases = (
        (0x1_0000_0027, "getpid (39) with bit 32 set"),
        (59 | 0x4000_0000, "execve (59, a 64-bit-only entry) with the x32 bit"),
        (0x4000_0000 | 13, "rt_sigaction (13, a 64-bit-only slot) with the x32 bit, signal 0"),
        (1000, "above both tables"),
        ((1 << 64) - 1, "-1"),
    )
    for number, what in cases:
        answers = []
        for name, m in machines.items():
            p = m.spawn("x86_64")
            r = p.syscall(number, 0, 0, 0, 8, trace=False)
            answers.append(f"{name} {_result(r)}" + (" (its pid)" if r.ret == p.pid else ""))
        out.append(f"   {number:#x} ({what}): " + "; ".join(answers))
    out.append(
        "   3.16's x32 build masks the number with andl $__SYSCALL_MASK (so bit 32 is lost "
        "and the x32 bit is ignored: 59 reaches stub_execve with null pointers, -EFAULT, and 13 "
        "sys_rt_sigaction, which refuses signal 0, -EINVAL); 6.9 takes the number as an int "
        "(movslq) and gives x32 a table of its own, so a 64-bit-only slot with the x32 bit is "
        "-ENOSYS. -1 is -ENOSYS on both (6.9: 'skip', ax keeps its "
        "preset)."
    )
    out.append("")
    out.append("3. INT 0x80 from 64-bit code, with r8-r11 loaded (getpid, i386 number 20)")
    for name, m in machines.items():
        p = m.spawn("x86_64")
        p.set_registers(PATTERN)
        r = p.syscall("getpid", via="int80")
        changed = ", ".join(
            f"{reg} {before:#x}->{after:#x}" for reg, (before, after) in r.changed.items()
        )
        out.append(f"   {name}: = {_result(r)}; changed: {changed}")
        out += shown(f"-- {name}: getpid through INT 0x80 from 64-bit code", r.trace, in_text=False)
    out.append(
        "   3.16's ia32_syscall zeroes r8-r11 on the way out (CLEAR_RREGS); 6.9's "
        "do_int80_emulation saves and restores them with the rest of pt_regs."
    )
    out.append("")
    out.append("4. The 32-bit vDSO's __kernel_vsyscall, as the kernel patched it at boot")
    for name, m in machines.items():
        out.append(f"   {name}: {_vsyscall(m)}")
    out.append(
        "   3.16 carries three images and maps the one the CPU suits; 6.9 has one image "
        "(vdso32/system_call.S) with the SYSENTER or SYSCALL sequence patched in, and its "
        "int $0x80 is the landing pad both fast paths return to."
    )
    return out
