"""What the host is: its kernel release, and what it can run, each answer with its reason.

The probe runs small programs from tests/host/src/ (built by hostrun.Builder) to ask the
kernel itself: whether x32 is enabled (a number with the x32 bit from 64-bit code), whether
ia32 emulation is on (INT 0x80 from 64-bit code, and a static 32-bit program), whether
32-bit programs get a vDSO (AT_SYSINFO), the CPU vendor (CPUID), and whether ptrace is
permitted. A test that needs something the host lacks skips with the finding's reason.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import attrs

from tests.host import hostrun
from tests.host.cases import BY_NAME, Case

# CPUID leaf 0 vendor strings, as ringsim's two vendor profiles count them: Hygon's Dhyana
# is a Zen derivative (AMD's SYSCALL rules), Zhaoxin and Centaur follow Intel's.
VENDORS: Mapping[str, str] = {
    "GenuineIntel": "intel",
    "AuthenticAMD": "amd",
    "HygonGenuine": "amd",
    "CentaurHauls": "intel",
    "  Shanghai  ": "intel",
}


@attrs.frozen
class Finding:
    """One answer: a value and how the probe came to it."""

    value: object
    reason: str

    def __bool__(self) -> bool:
        return bool(self.value)


@attrs.frozen
class HostProbe:
    """Everything the probe found, by name (see ``FINDINGS``)."""

    release: str
    findings: Mapping[str, Finding]
    kernel_vsyscall: bytes = b""  # up to 64 bytes at a 32-bit program's AT_SYSINFO

    def __getitem__(self, name: str) -> Finding:
        return self.findings[name]

    @property
    def vendor(self) -> str | None:
        return self.findings["vendor"].value  # type: ignore[return-value]

    def missing(self, *needs: str) -> str | None:
        """Why the host cannot run something that needs ``needs`` (finding names; "no_x"
        means finding x must be false), or None when it can. x86_64 Linux is always needed."""
        for need in ("linux_x86_64", *needs):
            name = need.removeprefix("no_")
            finding = self.findings[name]
            if bool(finding) == need.startswith("no_"):
                return f"host kernel {self.release}: needs {need}, but: {finding.reason}"
        return None

    def need(self, *needs: str) -> None:
        """In a test: skip, with the probe's reason, unless the host has all of ``needs``."""
        reason = self.missing(*needs)
        if reason:
            import pytest

            pytest.skip(reason)

    def summary(self) -> str:
        lines = [f"host kernel {self.release}"]
        lines += [f"  {name:13} {f.value!s:8} {f.reason}" for name, f in self.findings.items()]
        return "\n".join(lines)


FINDINGS = (
    "linux_x86_64",
    "binutils",
    "cc",
    "asm32",
    "cc32",
    "vendor",
    "x32",
    "ia32",
    "vdso32",
    "ptrace",
)


def _first_line(error: Exception) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    important = [line for line in lines if "error" in line.lower()]
    return (important or lines or [type(error).__name__])[-1].strip()[:160]


def _run_case(builder: hostrun.Builder, case: Case):
    exe = hostrun.build_case(builder, case)
    return hostrun.parse_record(case, exe, hostrun.run_program(exe), "probe")


def probe_host(builder: hostrun.Builder) -> HostProbe:
    """Ask the host everything in ``FINDINGS``; programs are built with ``builder``."""
    uname = os.uname()
    found: dict[str, Finding] = {}
    linux = uname.sysname == "Linux" and uname.machine == "x86_64"
    found["linux_x86_64"] = Finding(
        linux,
        f"os.uname(): {uname.sysname} {uname.release} {uname.machine}"
        + ("" if linux else ": the suite needs x86_64 Linux"),
    )
    unknown = "not probed: not x86_64 Linux"
    if not linux:
        for name in FINDINGS[1:]:
            found[name] = Finding(None if name == "vendor" else False, unknown)
        return HostProbe(uname.release, found)

    tc = builder.toolchain
    # binutils and the CPU vendor: cpuid.s, 64-bit.
    vendor_raw = None
    try:
        cpuid = builder.assemble("cpuid", "cpuid.s", 64)
        vendor_raw = hostrun.run_program(cpuid).stdout.decode("latin-1")
        found["binutils"] = Finding(True, f"{tc.assembler} --64 and {tc.linker} built cpuid.s")
    except (hostrun.BuildError, OSError) as e:
        found["binutils"] = Finding(False, f"cannot build 64-bit assembly: {_first_line(e)}")
        cpuid = None
    if vendor_raw is None:
        with open("/proc/cpuinfo", encoding="latin-1") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("vendor_id"):
                    vendor_raw = line.split(":", 1)[1].strip()
                    break
        source = "/proc/cpuinfo vendor_id (no CPUID program could be built)"
    else:
        source = "CPUID leaf 0"
    vendor = VENDORS.get(vendor_raw or "")
    found["vendor"] = Finding(
        vendor,
        f"{source}: {vendor_raw!r}"
        + (f", counted as {vendor}" if vendor else ": no ringsim vendor profile for it"),
    )

    try:
        builder.compile("vdso-dump-64", "vdso_dump.c", 64)
        found["cc"] = Finding(True, f"{tc.cc} built vdso_dump.c, freestanding and static")
    except (hostrun.BuildError, OSError) as e:
        found["cc"] = Finding(False, f"no working C compiler: {_first_line(e)}")

    # ia32 emulation, two ways: INT 0x80 from 64-bit code, and a 32-bit program.
    ways = []
    int80_64 = False
    if found["binutils"]:
        record, _ = _run_case(builder, BY_NAME["int80_64-getpid"])
        pid = record.places["the process's pid"]
        int80_64 = record.ret == pid
        ways.append(
            "INT 0x80 getpid from 64-bit code: "
            + (f"killed by signal {record.signal}" if record.signal else f"{record.ret}")
            + (" (its pid)" if int80_64 else "")
        )
    try:
        record, extra = _run_case(builder, BY_NAME["int80_32-getpid"])
        found["asm32"] = Finding(True, "as --32 and ld -m elf_i386 built entry32.s")
        ran32 = record.signal is None and record.ret == record.places["the process's pid"]
        ways.append(f"a static 32-bit program's INT 0x80 getpid: {record.ret}")
    except hostrun.BuildError as e:
        found["asm32"] = Finding(False, f"cannot build 32-bit assembly: {_first_line(e)}")
        ran32, extra = False, {}
    except (OSError, RuntimeError) as e:
        found["asm32"] = Finding(True, "as --32 and ld -m elf_i386 built entry32.s")
        ran32, extra = False, {}
        ways.append(f"a static 32-bit program does not run: {getattr(e, 'strerror', e)}")
    found["ia32"] = Finding(int80_64 or ran32, "; ".join(ways) or "nothing could be built")
    if ran32:
        sysinfo = extra.get("sysinfo", 0)
        found["vdso32"] = Finding(
            bool(sysinfo),
            f"a 32-bit program's AT_SYSINFO = {sysinfo:#x}, AT_SYSINFO_EHDR = "
            f"{extra.get('sysinfo_ehdr', 0):#x}",
        )
    else:
        found["vdso32"] = Finding(False, "no 32-bit program ran")

    try:
        builder.compile("vdso-dump-32", "vdso_dump.c", 32)
        found["cc32"] = Finding(True, f"{tc.cc} -m32 built vdso_dump.c")
    except (hostrun.BuildError, OSError) as e:
        found["cc32"] = Finding(
            False,
            f"no 32-bit C toolchain ({_first_line(e)}); Debian's gcc-multilib provides it",
        )

    if found["binutils"]:
        case = BY_NAME["syscall-x32-getpid"]
        record, _ = _run_case(builder, case)
        pid = record.places["the process's pid"]
        text = f"SYSCALL {case.number:#x} (getpid with the x32 bit) from 64-bit code = "
        if record.ret == pid:
            found["x32"] = Finding(True, text + f"{record.ret}, its pid")
        elif record.signal is not None:
            found["x32"] = Finding(False, text + f"killed by signal {record.signal}")
        else:
            found["x32"] = Finding(False, text + f"{record.ret} ({record.errno})")
    else:
        found["x32"] = Finding(False, "not probed: cannot build 64-bit assembly")

    if cpuid is not None:
        try:
            stops = hostrun.trace_first_syscall(cpuid)
            found["ptrace"] = Finding(
                True,
                "PTRACE_TRACEME, PTRACE_SYSCALL and PTRACE_GETREGS work (first stop: "
                f"orig_rax {stops.entry['orig_rax']}, rax {stops.entry['rax']:#x})",
            )
        except Exception as e:  # whatever refused it, the reason is in the message
            found["ptrace"] = Finding(False, f"ptrace is not permitted here: {_first_line(e)}")
    else:
        found["ptrace"] = Finding(False, "not probed: cannot build 64-bit assembly")
    findings = {name: found[name] for name in FINDINGS}
    return HostProbe(uname.release, findings, bytes(extra.get("code", b"")))
