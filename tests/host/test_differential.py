"""ringsim's linux-6.9 profile against the kernel of the machine running the tests.

Each comparison runs a case on the host (tests/host/hostrun.py) and the same instruction
sequence in ringsim booted as the probe found the host (tests/host/sim.py), and compares
only what is the same in 6.9 and in the host's release: every case says why
(tests/host/cases.py). They must agree on the return value, on how the process ended, on
what it wrote, and on exactly which registers changed and to what, each value compared by
what it means on its side (RCX = "the return address", R11 = "RFLAGS at the call", RAX =
"the process's pid"). Each test prints the host's release beside both answers (pytest -rA).

Until the linux-6.9 profile lands, Machine.boot refuses it with a ValueError; only then do
the comparisons end as xfail (after the host side has run), so they compare as soon as it
exists.
"""

from __future__ import annotations

import pytest

from simulator import Machine
from tests.host import hostrun, sim, vdso
from tests.host.cases import BY_NAME, CASES, side_by_side

PENDING = "linux-6.9 profile not landed"


@pytest.fixture(scope="session")
def simulated(host):
    """ringsim booted as the host is (the host's vendor, its x32 and ia32 settings), or the
    error that booting raised."""
    host.need("vendor")
    try:
        return sim.Simulated(sim.boot(host))
    except ValueError as error:
        if sim.profile_missing(error):
            return error
        raise


def _simulator(simulated) -> sim.Simulated:
    if isinstance(simulated, Exception):
        pytest.xfail(f"{PENDING}: {simulated}")
    return simulated


@pytest.mark.parametrize("name", [case.name for case in CASES])
def test_case(name, host, builder, simulated):
    """The host and ringsim agree on the call's result and on every register it changed."""
    case = BY_NAME[name]
    host.need(*case.host_needs)
    ours = hostrun.run_case(builder, case, host.release)
    print(f"{case.name}: {case.why}")
    print(f"host kernel {host.release}: {ours.observed()}")
    theirs = _simulator(simulated).run(case)
    table = side_by_side(ours, theirs)
    print(table)
    assert theirs.observed() == ours.observed(), f"{case.why}\n{table}"


def test_ptrace_syscall_stops(host, builder, simulated):
    """A tracer sees the same registers at the entry and exit stops of SYSCALL getpid:
    orig_rax = 39 and rax = -ENOSYS at entry (every 6.x entry presets it), the result at
    exit, RCX and R11 as SYSCALL left them, the rest the pattern; the same wait statuses
    (PTRACE_O_TRACESYSGOOD). Unchanged since long before 6.9."""
    host.need("binutils", "ptrace")
    case = BY_NAME["syscall-getpid"]
    ours, entry, leave, statuses = hostrun.trace_case(builder, case, host.release)
    model = _simulator(simulated)
    theirs, their_entry, their_leave, their_statuses = model.trace_first_syscall(case)
    fields = [name for name in hostrun.USER_REGS_64 if name != "rsp"]
    rows = [f"syscall stops of {case.name}: host kernel {host.release} vs {model.release}"]
    mismatched = []
    for stop, a, b in (("entry", entry, their_entry), ("exit", leave, their_leave)):
        for field in fields:
            mine = ours.meaning(a[field], ret=field == "rax")
            other = theirs.meaning(b[field], ret=field == "rax") if field in b else "(absent)"
            mark = " " if mine == other else "*"
            rows.append(f"{mark} {stop:5} {field:9} {mine:30} {other}")
            if mine != other:
                mismatched.append(f"{stop} {field}")
    rows.append(f"  wait statuses: {statuses[0]:#x} {statuses[1]:#x} vs ")
    rows[-1] += f"{their_statuses[0]:#x} {their_statuses[1]:#x}"
    table = "\n".join(rows)
    print(table)
    assert (mismatched, their_statuses) == ([], statuses), table


def test_kernel_vsyscall_disassembly(host, simulated):
    """The host's 32-bit __kernel_vsyscall, read from a 32-bit process's memory at
    AT_SYSINFO, is instruction for instruction the simulator's for the host's vendor. 6.9
    and the host's release patch the same alternative into the one 32-bit vDSO (SYSCALL
    on AMD, SYSENTER on Intel)."""
    host.need("asm32", "ia32", "vdso32", "vendor")
    ours = vdso.listing(host.kernel_vsyscall)
    print(f"host kernel {host.release} ({host.vendor}) __kernel_vsyscall:\n{vdso.render(ours)}")
    model = _simulator(simulated)
    theirs = vdso.listing(model.kernel_vsyscall_code())
    print(f"{model.release} ({host.vendor}) __kernel_vsyscall:\n{vdso.render(theirs)}")
    rows = [f"__kernel_vsyscall on {host.vendor}: host kernel {host.release} vs {model.release}"]
    for i in range(max(len(ours), len(theirs))):
        mine = " ".join(ours[i]) if i < len(ours) else "-"
        other = " ".join(theirs[i]) if i < len(theirs) else "-"
        rows.append(f"{' ' if mine == other else '*'} {mine:34} {other}")
    assert theirs == ours, "\n".join(rows)


@pytest.mark.parametrize("bits", [64, 32])
def test_vdso_exports(bits, host, builder, simulated):
    """Every symbol (with its version) the simulated 6.9 vDSO exports, the host's exports
    too: later kernels add vDSO functions (getrandom in 6.11) and remove none."""
    host.need("cc" if bits == 64 else "cc32", *(() if bits == 64 else ("ia32", "vdso32")))
    ours = vdso.exported_symbols(hostrun.dump_vdso(builder, bits).image)
    print(f"host kernel {host.release}, {bits}-bit vDSO: {sorted(ours, key=str)}")
    model = _simulator(simulated)
    theirs = vdso.exported_symbols(model.vdso_image(bits))
    print(f"{model.release}, {bits}-bit vDSO: {sorted(theirs, key=str)}")
    missing = sorted(theirs - ours, key=str)
    assert not missing, f"exported by {model.release} but not by the host: {missing}"


class TestAdapter:
    """tests/host/sim.py itself, on a profile that exists today (linux-3.16)."""

    def test_profile_missing_recognises_only_that_error(self):
        """Only Machine.boot's refusal of the profile counts as 'not landed'."""
        try:
            Machine.boot(profile="linux-0.01")
        except ValueError as error:
            assert sim.profile_missing(error, "linux-0.01")
            assert not sim.profile_missing(error, "linux-6.9")
        assert not sim.profile_missing(ValueError("options: expected a bool, received 1"))

    def test_boot_options_follow_the_probe(self, host):
        """The options say x32 and ia32 emulation exactly as the probe found them."""
        assert sim.boot_options(host) == {
            "x32": bool(host["x32"]),
            "ia32_emulation": bool(host["ia32"]),
        }

    @pytest.mark.parametrize("name", ["syscall-write-good", "kernel_vsyscall-open-devnull"])
    def test_same_inputs_as_the_host(self, name, host, builder):
        """On linux-3.16 the adapter runs a case with the inputs the host's program had and
        answers with a complete record (3.16's answers are not compared: 3.16 is not the
        host's kernel)."""
        case = BY_NAME[name]
        host.need(*case.host_needs, "vendor")
        model = sim.Simulated(sim.boot(host, profile="linux-3.16", options=False), "linux-3.16")
        theirs = model.run(case)
        ours = hostrun.run_case(builder, case, host.release)
        print(side_by_side(ours, theirs))
        assert theirs.observed()["inputs"] == ours.observed()["inputs"]
        assert theirs.ret is not None and set(theirs.after) == set(theirs.before)
        assert theirs.observed()["changed"]["eip" if case.bits == 32 else "rip"] == (
            "the return address"
        )
