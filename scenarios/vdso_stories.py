"""The article's vDSO section: gettimeofday three ways, and when the vDSO has to give up."""

from __future__ import annotations

import abi
from scenarios.story import DEFAULT, Options, Part, shown
from simulator import Process, SyscallResult
from simulator.cpu.disassembler import disassemble
from simulator.kernel import vdso as V
from simulator.libc import find_vdso_symbol

ADVANCE_NS = 1_234_567_000  # time since boot when the story starts: 1.234567 s


def listing32(p: Process, entry: int) -> str:
    """The 32-bit code at ``entry`` in ``p`` (__kernel_vsyscall), disassembled up to its ret
    (or its first 8 instructions), one string."""
    texts = [text for _, _, text in disassemble(p.read_mem(entry, 32), mode=32, address=entry)]
    return "; ".join(texts[: texts.index("ret") + 1] if "ret" in texts else texts[:8])


def _timeval(p: Process, address: int) -> str:
    size = 8 if p.abi != "i386" else 4
    raw = p.read_mem(address, 2 * size)
    sec = int.from_bytes(raw[:size], "little")
    usec = int.from_bytes(raw[size:], "little")
    return f"{{tv_sec={sec}, tv_usec={usec}}}"


def _rings(r: SyscallResult) -> str:
    events = list(r.trace or ())
    rings = sorted({e.ring for e in events if e.kind == "cpu"})
    steps = sum(1 for e in events if e.kind == "cpu")
    kernel = sum(1 for e in events if e.kind == "kernel")
    at = "/".join(map(str, rings))
    return f"{steps} instructions, {kernel} kernel steps, instructions at ring {at}"


def _show(r: SyscallResult, title: str) -> list[Part]:
    return shown(f"-- {title}", r.trace)


def three_ways(opts: Options = DEFAULT) -> list[Part]:
    """gettimeofday through the vDSO, through the vsyscall page and through SYSCALL."""
    m = opts.boot("x86_64", "intel", seed=1)
    m.advance_time(ADVANCE_NS)
    p = m.spawn("x86_64")
    out = ["== gettimeofday() three ways on x86_64: vDSO, vsyscall page, SYSCALL =="]
    out.append("The process's memory map (/proc/PID/maps); [vdso] sits a random 0-511 pages")
    out.append("above the randomised stack (vdso_addr), [vvar] right after it:")
    out += ["   " + line for line in p.maps()]
    base = dict(p.task.auxv)[abi.AT_SYSINFO_EHDR]
    found = find_vdso_symbol(p.read_mem, base, "__vdso_gettimeofday", "LINUX_2.6")
    out.append(
        f"glibc's start-up: AT_SYSINFO_EHDR = {base:#x}; the ELF header, DT_HASH, dynsym and "
        f"the LINUX_2.6 version definition give __vdso_gettimeofday at {found:#x}"
    )
    tv = p.alloc(16)
    results = []
    for via, title in (
        ("vdso", "through the vDSO (arch/x86/vdso/vclock_gettime.c): ring 3 throughout"),
        ("vsyscall_page", "through the vsyscall page at 0xffffffffff600000 (vsyscall=emulate)"),
        ("syscall", "through the real system call (SYSCALL -> sys_gettimeofday)"),
    ):
        r = p.syscall("gettimeofday", tv, 0, via=via)
        results.append((via, r, _timeval(p, tv)))
        out += _show(r, title)
    out.append("Side by side, at the same simulated moment:")
    for via, r, value in results:
        out.append(f"   {via:<14} ret {r.ret}  {value}  {_rings(r)}")
    return out


def when_the_vdso_gives_up(opts: Options = DEFAULT) -> list[Part]:
    """A tick in the middle of a read, the jiffies clocksource, vsyscall=none."""
    out = ["== When the vDSO retries or gives up =="]
    m = opts.boot("x86_64", "intel", seed=1)
    m.advance_time(ADVANCE_NS)
    p = m.spawn("x86_64")
    ts = p.alloc(16)
    p.syscall("getpid")
    m.tick_after(8)
    r = p.syscall("clock_gettime", 0, ts, via="vdso")
    rdtsc = sum(1 for e in r.trace or () if e.kind == "cpu" and e.what == "rdtsc")
    out.append(
        f"A timer tick lands between the reader's two looks at the sequence count: it reads "
        f"the TSC {rdtsc} times (read_seqcount_retry in do_realtime), ret {r.ret}, "
        f"{_rings(r)}"
    )
    out += [f"   {e.what}" for e in r.trace or () if "tick" in e.what]
    m.set_clocksource("jiffies")
    tv = p.alloc(16)
    r = p.syscall("gettimeofday", tv, 0, via="vdso")
    out.append(
        "Clocksource jiffies: update_vsyscall writes vclock_mode VCLOCK_NONE and the vDSO "
        f"falls back to the system call (vdso_fallback_gtod): ret {r.ret} {_timeval(p, tv)}, "
        f"{_rings(r)}"
    )
    out += [f"   ring 3 {e.what} at {e.address:#x}" for e in r.trace or () if e.what == "syscall"]
    kernel = [e.where for e in r.trace or () if e.kind == "kernel"]
    out.append("   then " + ", ".join(dict.fromkeys(kernel)))
    q = opts.boot("x86_64", "intel", vsyscall="none").spawn("x86_64")
    r = q.syscall("time", 0, via="vsyscall_page")
    out.append(f"vsyscall=none: no page at {V.VSYSCALL_ADDR:#x}; calling time there: ")
    out[-1] += f"killed by {r.signal_name}" if r.signal is not None else f"ret {r.ret}"
    q = opts.boot("x86_64", "intel").spawn("x86_64")
    run = q.run(f"mov rax, {V.VSYSCALL_ADDR + 0x10:#x}\ncall rax")
    out.append(
        f"vsyscall=emulate, a call to +0x10 (not an entry point): {run.stop}"
        + (f" ({run.detail})" if run.detail else "")
    )
    out += [f"   {e.what}" for e in run.trace or () if "misaligned" in e.what]
    return out


def kernel_vsyscall(opts: Options = DEFAULT) -> list[Part]:
    """The 32-bit vDSO: __kernel_vsyscall per kernel and vendor, and its gettimeofday."""
    out = ["== The 32-bit vDSO: __kernel_vsyscall, chosen at boot by CPU feature =="]
    machines = (("x86_64", "intel"), ("x86_64", "amd"), ("i386", "intel"))
    for kernel, vendor in [(k, v) for k, v in machines if v in opts.cpus()]:
        m = opts.boot(kernel, vendor, seed=1)
        p = m.spawn("i386")
        entry = dict(p.task.auxv)[abi.AT_SYSINFO]
        out.append(
            f"{kernel} kernel on {vendor}: the {m.kernel.vdso_variant.name} variant at "
            f"AT_SYSINFO {entry:#x}: {listing32(p, entry)}"
        )
    m = opts.boot("x86_64", "amd", seed=1)
    m.advance_time(ADVANCE_NS)
    p = m.spawn("i386")
    tv = p.alloc(16)
    r = p.syscall("gettimeofday", tv, 0, via="vdso")
    out.append(
        f"A 32-bit process's __vdso_gettimeofday on the 64-bit kernel: ret {r.ret} "
        f"{_timeval(p, tv)}, {_rings(r)}"
    )
    r = p.syscall("getpid", via="kernel_vsyscall", trace=True)
    out += _show(r, "getpid through call *%gs:0x10 (libc's TLS copy of AT_SYSINFO)")
    return out


def run(opts: Options = DEFAULT) -> list[Part]:
    """The whole vDSO story."""
    return [*three_ways(opts), "", *when_the_vdso_gives_up(opts), "", *kernel_vsyscall(opts)]
