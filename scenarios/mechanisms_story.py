"""The three mechanisms side by side: getpid through INT 0x80, SYSENTER and SYSCALL, costed."""

from __future__ import annotations

from scenarios.story import DEFAULT, Options, Part, shown
from simulator import SyscallResult
from simulator.cost import LABEL, CostEstimate, estimate

# (title, kernel, process ABI, via): the same call through each way in, on one CPU.
WAYS = (
    ("INT 0x80 / IRET", "i386", "i386", "int80"),
    ("SYSENTER / SYSEXIT (vDSO)", "i386", "i386", "sysenter"),
    ("SYSCALL / SYSRETQ", "x86_64", "x86_64", "syscall"),
)


def _call(opts: Options, kernel: str, abi_name: str, via: str) -> SyscallResult:
    m = opts.boot(kernel, "intel", seed=1)
    return m.spawn(abi_name).syscall("getpid", via=via, trace=True)


def _costed(title: str, kernel: str, r: SyscallResult, cost: CostEstimate) -> list[Part]:
    """A call's steps, each with the units it is charged, under a title."""
    assert r.trace is not None
    events = list(r.trace)
    instructions = sum(1 for e in events if e.kind == "cpu")
    heading = (
        f"-- {title} on the {kernel} kernel: getpid = {r.ret}; {len(events)} steps "
        f"({instructions} instructions, {len(events) - instructions} kernel steps)"
    )
    out: list[Part] = [heading, *shown(heading, r.trace, in_text=False)]
    out.append("   step ring units  what: charged as")
    for s in cost.steps:
        what = s.what if s.where.startswith(("Intel SDM", "AMD APM")) else s.where
        out.append(f"   {s.step:>4} {s.ring:>4} {s.units:>5}  {what}: {s.why}")
    out.append(f"   cost ({LABEL}): {cost.summary()}")
    return out


def run(opts: Options = DEFAULT) -> list[Part]:
    """getpid through INT 0x80 and SYSENTER on an i386 kernel and through SYSCALL on an x86_64
    one, each step costed; then a table, the PTI what-if, and why INT 0x80 gave way."""
    vendor = {"intel": "an Intel", "amd": "an AMD"}[opts.cpu or "intel"]
    out: list[Part] = ["== The three mechanisms side by side: INT 0x80, SYSENTER and SYSCALL =="]
    out.append(
        f"The same getpid on {vendor} CPU, costed by simulator.cost: {LABEL}. Units are "
        "relative; 1 unit ~ 10 cycles on the scale the model was calibrated to (an i386 "
        "SYSENTER getpid of 432 cycles, Kernel Mode Linux, Linux Journal 2003; docs/cost-model.md)."
    )
    rows = []
    for title, kernel, abi_name, via in WAYS:
        r = _call(opts, kernel, abi_name, via)
        assert r.trace is not None
        cost, with_pti = estimate(r.trace), estimate(r.trace, pti=True)
        out += _costed(title, kernel, r, cost)
        rows.append((title, kernel, len(r.trace), cost, with_pti))
    fastest = min(cost.total for *_, cost, _ in rows)
    out.append(f"Side by side ({LABEL}):")
    out.append(
        f"   {'mechanism':<26} {'kernel':<7} {'steps':>5} {'units':>5} {'cycles':>6} "
        f"{'ratio':>5} {'PTI':>4}"
    )
    for title, kernel, steps, cost, with_pti in rows:
        out.append(
            f"   {title:<26} {kernel:<7} {steps:>5} {cost.total:>5} {cost.cycles:>6} "
            f"{cost.total / fastest:>5.2f} {with_pti.total:>4}"
        )
    int80, sysenter, syscall = (row[3] for row in rows)
    pti80, pti_sysenter, pti_syscall = (row[4] for row in rows)
    cr3 = pti_syscall.units_of("pti_cr3")
    out.append(
        f"With PTI (a what-if: Linux 3.16 has no page-table isolation; it came with 4.15): "
        f"every round trip pays {pti_syscall.entries + pti_syscall.exits} CR3 switches, "
        f"+{cr3} units: INT 0x80 {pti80.total}, SYSENTER {pti_sysenter.total}, SYSCALL "
        f"{pti_syscall.total}. The gap stays {pti80.total - pti_sysenter.total} units, the ratio "
        f"falls from {int80.total / sysenter.total:.2f} to {pti80.total / pti_sysenter.total:.2f}; "
        f"SYSCALL with PTI, {pti_syscall.cycles} model cycles, is near the 632 cycles uarch-bench "
        f"counted on a 2018 Skylake for SYSCALL to a nonexistent number (693 for getuid)."
    )
    hardware = int80.units_of("int_gate") + int80.units_of("iret")
    fast = sysenter.units_of("sysenter") + sysenter.units_of("sysexit")
    out.append(
        f"Why INT 0x80 gave way: INT and IRET are {hardware} of its {int80.total} units. INT n "
        "reads the IDT gate and the code segment's descriptor, checks the gate's DPL against "
        "CPL, fetches SS0:ESP0 from the TSS, switches stacks and pushes five words; IRET pops "
        "them and checks both selectors again."
    )
    frame = sysenter.units_of("build_frame")
    out.append(
        f"SYSENTER and SYSEXIT are {fast} units: their targets and selectors come from MSRs the "
        f"kernel wrote at boot, nothing is read from the GDT, IDT or TSS and nothing is pushed. "
        f"The kernel pays in software for what the CPU no longer does (sysenter_past_esp builds "
        f"the frame, {frame} units) and the vDSO adds instructions, so the path has more steps "
        f"({rows[1][2]} against {rows[0][2]}) and still costs {sysenter.total} units: steps are "
        f"not cost. SYSCALL is the same bargain ({syscall.total} units); SYSEXIT's "
        f"{sysenter.units_of('sysexit') - syscall.units_of('sysret')} units over SYSRET stand "
        "for the ~30 cycles Lutomirski measured between the two exits, less his POPFQ and STI "
        "share."
    )
    m = opts.boot("x86_64", "intel", seed=1)
    compat = []
    # AMD has no SYSENTER in compatibility mode (APM Vol. 3 SYSENTER: #UD in long mode): its
    # __kernel_vsyscall is the SYSCALL variant, which enters ia32_cstar_target.
    fast = ("sysenter", "SYSENTER (ia32_sysenter_target)")
    if m.vendor == "amd":
        fast = ("kernel_vsyscall", "SYSCALL through __kernel_vsyscall (ia32_cstar_target)")
    for via in ("int80", fast[0]):
        trace = m.spawn("i386").syscall("getpid", via=via, trace=True).trace
        assert trace is not None
        compat.append(estimate(trace))
    out.append(
        f"On the x86_64 kernel a 32-bit process sees the same gap: INT 0x80 (ia32_syscall) "
        f"{compat[0].total} units, {fast[1]} {compat[1].total}."
    )
    out.append(
        "History: i386 Linux made its system calls with int $0x80 until 2.5.53 mapped a page "
        "holding the best way in for the CPU (now the vDSO's __kernel_vsyscall): 'sysenter is "
        "quite a bit faster on modern Pentium processors' (LWN, 'How to speed up system calls'), "
        "and int 0x80 was notoriously slow on the Pentium 4. GNU Mach measured SYSENTER "
        "2.2 times as fast as its trap gate. On x86_64, SYSCALL is the native way in and INT "
        "0x80 stays for 32-bit code."
    )
    return out
