"""The host side of the differential suite on its own: the probe, the builds, the records,
the vDSO dumps and the syscall stops a tracer sees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import abi
from tests.host import hostrun, probe, vdso
from tests.host.cases import (
    BY_NAME,
    CASES,
    FLAGS_PATTERN,
    PATTERN_32,
    PATTERN_64,
    Case,
    Ptr,
)

REPO = Path(__file__).resolve().parents[2]


class TestProbe:
    def test_release_and_every_finding(self, host):
        """The probe records uname's release and answers every question with a reason."""
        print(host.summary())
        assert host.release == os.uname().release
        assert tuple(host.findings) == probe.FINDINGS
        assert all(f.reason for f in host.findings.values())

    def test_vendor_table(self):
        """Hygon counts as AMD; Zhaoxin and Centaur count as Intel."""
        assert probe.VENDORS["HygonGenuine"] == probe.VENDORS["AuthenticAMD"] == "amd"
        assert probe.VENDORS["  Shanghai  "] == probe.VENDORS["CentaurHauls"] == "intel"
        assert probe.VENDORS["GenuineIntel"] == "intel"

    def test_vendor_from_cpuid(self, host):
        """On x86_64 Linux with binutils the vendor comes from CPUID leaf 0."""
        host.need("binutils")
        assert host["vendor"].reason.startswith("CPUID leaf 0: ")
        assert host.vendor in ("intel", "amd"), host["vendor"].reason

    def test_missing_names_the_need_and_the_reason(self):
        """missing() says which need failed and why; "no_x" asks for x to be false."""
        found = {name: probe.Finding(True, f"{name} found") for name in probe.FINDINGS}
        found["x32"] = probe.Finding(False, "SYSCALL 0x40000027 = -38 (ENOSYS)")
        host = probe.HostProbe("6.99", found)
        assert host.missing("binutils", "no_x32") is None
        assert host.missing("x32") == (
            "host kernel 6.99: needs x32, but: SYSCALL 0x40000027 = -38 (ENOSYS)"
        )
        assert "needs no_ia32" in host.missing("no_ia32")

    def test_not_x86_64_linux_skips_everything(self, tmp_path, monkeypatch):
        """Elsewhere the probe runs nothing and every need fails with the platform's reason."""
        fake = os.uname_result(("Darwin", "mac", "23.1.0", "v", "arm64"))
        monkeypatch.setattr(probe.os, "uname", lambda: fake)
        host = probe.probe_host(hostrun.Builder(tmp_path))
        assert not host["linux_x86_64"] and list(tmp_path.iterdir()) == []
        assert "needs linux_x86_64, but: os.uname(): Darwin 23.1.0 arm64" in host.missing()

    def test_no_32_bit_c_toolchain(self, tmp_path, host):
        """Where ``cc -m32`` cannot build (no gcc-multilib), cc32 is false, its reason says so
        and names gcc-multilib, and the 32-bit C cases skip with it; the rest still runs."""
        host.need("cc")
        real = hostrun.Toolchain.find()
        cc = tmp_path / "cc"
        cc.write_text(
            "#!/bin/sh\n"
            'for a in "$@"; do [ "$a" = -m32 ] && {\n'
            '  echo "elf.h:1172:10: fatal error: bits/auxv.h: No such file or directory" >&2\n'
            "  exit 1; }; done\n"
            f'exec {real.cc} "$@"\n'
        )
        cc.chmod(0o755)
        toolchain = hostrun.Toolchain(real.assembler, real.linker, str(cc))
        found = probe.probe_host(hostrun.Builder(tmp_path / "build", toolchain))
        reason = found.missing("cc32")
        print(reason)
        assert found["cc"] and not found["cc32"]
        assert "needs cc32, but: no 32-bit C toolchain" in reason
        assert "bits/auxv.h" in reason and "gcc-multilib" in reason


class TestBuild:
    def test_builds_land_in_the_session_folder(self, host, builder):
        """Programs are built under the session's temporary folder, never in the repo."""
        host.need("binutils")
        exe = hostrun.build_case(builder, BY_NAME["syscall-getpid"])
        assert exe.is_relative_to(builder.workdir) and not exe.is_relative_to(REPO)

    def test_case_include(self):
        """case.inc sets every register but the stack pointer; pointers are data-relative."""
        case = Case("t", "int80_64", 4, (1, Ptr(5, high=0xFFFF_FFFF), 3), b"0123456789")
        text = hostrun.case_include(case)
        assert ".set CASE_INT80, 1" in text
        assert ".set CASE_RCX, case_data + 5 + (0xffffffff << 32)" in text
        assert ".set CASE_RBX, 0x1" in text and ".set CASE_RAX, 0x4" in text
        assert ".set CASE_R15, 0xf0f0f0f0f0f0f0f0" in text and "CASE_RSP" not in text
        assert ".byte 0x30, 0x31," in text

    def test_no_tools_is_a_build_error(self, tmp_path):
        """Without binutils or a compiler, building says what is missing."""
        bare = hostrun.Builder(tmp_path, hostrun.Toolchain(None, None, None))
        with pytest.raises(hostrun.BuildError, match="binutils"):
            bare.assemble("x", "cpuid.s", 64)
        with pytest.raises(hostrun.BuildError, match="C compiler"):
            bare.compile("y", "vdso_dump.c", 64)

    def test_every_case_has_a_reason(self):
        """Each case says why its answer is the same in 6.9 and in the host's kernel."""
        assert len({c.name for c in CASES}) == len(CASES)
        assert all(c.why for c in CASES)


class TestRecords:
    def test_syscall_record(self, host, builder):
        """SYSCALL getpid: the pattern went in; RAX = pid, RCX = the return address,
        R11 = RFLAGS at the call, and nothing else changed."""
        host.need("binutils")
        case = BY_NAME["syscall-getpid"]
        record = hostrun.run_case(builder, case, host.release)
        print(record.observed())
        expected = dict(PATTERN_64, rax=case.number)
        assert {r: record.before[r] for r in expected} == expected
        assert record.before["rflags"] & 0xFFF == FLAGS_PATTERN
        assert record.ret == record.places["the process's pid"]
        assert record.observed()["changed"] == {
            "rax": "the process's pid",
            "rcx": "the return address",
            "r11": "RFLAGS at the call",
            "rip": "the return address",
        }

    def test_write_output_comes_before_the_record(self, host, builder):
        """What the case wrote is kept apart from the record that follows it."""
        host.need("binutils")
        case = BY_NAME["syscall-write-good"]
        record = hostrun.run_case(builder, case, host.release)
        assert record.output == case.data and record.ret == len(case.data)

    @pytest.mark.parametrize("name", ["int80_32-getpid", "kernel_vsyscall-getpid"])
    def test_32_bit_record(self, host, builder, name):
        """32-bit code: the pattern went in, EAX = pid and EIP moved on; nothing else."""
        case = BY_NAME[name]
        host.need(*case.host_needs)
        record = hostrun.run_case(builder, case, host.release)
        print(record.observed())
        expected = dict(PATTERN_32, eax=case.number)
        assert {r: record.before[r] for r in expected} == expected
        assert record.observed()["changed"] == {
            "eax": "the process's pid",
            "eip": "the return address",
        }

    def test_killed_process(self, host, builder):
        """A run that a signal ends gives a record with the signal and no registers."""
        host.need("binutils")
        case = BY_NAME["syscall-getpid"]
        exe = hostrun.build_case(builder, case)
        ran = hostrun.Ran(pid=1, returncode=-11, stdout=b"", stderr=b"")
        record, _ = hostrun.parse_record(case, exe, ran, host.release)
        assert (record.signal, record.ret, record.observed()) == (11, None, {"signal": "SIGSEGV"})


class TestVdso:
    def test_64_bit_exports(self, host, builder):
        """The host's 64-bit vDSO, dumped by a 64-bit C program, exports the clock calls."""
        host.need("cc")
        dump = hostrun.dump_vdso(builder, 64)
        symbols = vdso.exported_symbols(dump.image)
        print(f"host {host.release}, 64-bit vDSO exports:", sorted(symbols, key=str))
        assert dump.sysinfo == 0 and dump.sysinfo_ehdr
        assert ("__vdso_clock_gettime", "LINUX_2.6") in symbols

    def test_32_bit_exports(self, host, builder):
        """The host's 32-bit vDSO, dumped by a 32-bit C program: __kernel_vsyscall is where
        AT_SYSINFO points, and its bytes are those the 32-bit assembly program copied."""
        host.need("cc32", "ia32", "vdso32")
        dump = hostrun.dump_vdso(builder, 32)
        symbols = vdso.exported_symbols(dump.image)
        print(f"host {host.release}, 32-bit vDSO exports:", sorted(symbols, key=str))
        assert ("__kernel_vsyscall", "LINUX_2.5") in symbols
        offset = vdso.symbol_offset(dump.image, "__kernel_vsyscall")
        assert dump.sysinfo - dump.sysinfo_ehdr == offset
        code = host.kernel_vsyscall
        assert dump.image[offset : offset + len(code)] == code

    def test_kernel_vsyscall_listing(self, host, builder):
        """The bytes at a 32-bit program's AT_SYSINFO read as instructions up to a ret;
        objdump, where present, reads the same mnemonics."""
        host.need("asm32", "ia32", "vdso32")
        rows = vdso.listing(host.kernel_vsyscall)
        print(f"host {host.release} __kernel_vsyscall (ringsim's disassembler):")
        print(vdso.render(rows))
        other = hostrun.objdump_listing(host.kernel_vsyscall, builder.workdir)
        if other is not None:
            print("objdump:\n" + other)
            theirs = [line.split("\t")[-1].split()[0] for line in other.splitlines()]
            ours = [text.split()[0] for _, text in rows]
            assert theirs == ours
        assert rows[-1][1] == "ret" and not any("bad" in text for _, text in rows)


class TestPtrace:
    def test_syscall_stops(self, host, builder):
        """At the entry stop a tracer sees orig_rax = the number and rax = -ENOSYS; at the
        exit stop rax = the result."""
        host.need("binutils", "ptrace")
        case = BY_NAME["syscall-getpid"]
        record, entry, leave, statuses = hostrun.trace_case(builder, case, host.release)
        assert statuses == (0x857F, 0x857F)
        assert entry["orig_rax"] == case.number
        assert entry["rax"] == (-abi.errno_number("ENOSYS")) & (2**64 - 1)
        assert leave["rax"] == record.places["the process's pid"]
