"""The scenarios: one per story of the article, in the article's order, landed or pending."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from scenarios import (
    bare_round_trips,
    cpu_foundations,
    kernel_stories,
    ptrace_stories,
    signal_stories,
    vdso_stories,
)


@attrs.frozen
class Scenario:
    """A story: its name, a one-line summary, and the function that tells it.

    A pending story (``run`` is None) waits for a capability that has not
    landed; it is listed as such and never faked.
    """

    name: str
    summary: str
    run: Callable[[], list[str]] | None = None

    @property
    def pending(self) -> bool:
        return self.run is None


def _build() -> tuple[Scenario, ...]:
    stories = (
        Scenario(
            "cpu-foundations",
            "Linux's GDT decoded from its bytes, a refused WRMSR, a ring-3 page fault",
            cpu_foundations.run,
        ),
        Scenario(
            "bare-cpu-round-trips",
            "SYSCALL/SYSRETQ and INT 0x80/IRETQ on a bare CPU, step by step, Intel and AMD",
            bare_round_trips.run,
        ),
        Scenario(
            "syscall-define-read",
            "SYSCALL_DEFINE3(read), its table line, __SYSCALL_COMMON and syscall_init's LSTAR",
            kernel_stories.syscall_define_read,
        ),
        Scenario(
            "x86_64-syscall-read",
            "read() through SYSCALL on x86_64, end to end",
            kernel_stories.x86_64_syscall_read,
        ),
        Scenario(
            "x86_32-read",
            "read() on an i386 kernel through SYSENTER and through INT 0x80",
            kernel_stories.x86_32_reads,
        ),
        Scenario(
            "ia32-compat",
            "a 32-bit program on a 64-bit kernel: ia32_sys_call_table, 3 rather than 0",
            kernel_stories.ia32_on_x86_64,
        ),
        Scenario(
            "every-way-in",
            "every kernel, vendor, process ABI and mechanism, and the refusals",
            kernel_stories.every_way_in,
        ),
        Scenario(
            "execve-compat",
            "execve and compat_sys_execve: pointers to pointers",
            kernel_stories.execve_stories,
        ),
        Scenario("failures", "the failures that teach", kernel_stories.failures),
        Scenario(
            "sysret-non-canonical",
            "SYSRET to a non-canonical RCX on Intel and AMD, and why Linux returns by IRET",
            kernel_stories.sysret_non_canonical,
        ),
        Scenario(
            "x32-execve",
            "x32 execve: 520 with the x32 bit, stub_x32_execve and compat_sys_execve",
            kernel_stories.x32_execve,
        ),
        Scenario(
            "vdso-gettimeofday",
            "gettimeofday through the vDSO, the vsyscall page and SYSCALL, side by side",
            vdso_stories.run,
        ),
        Scenario(
            "signal-handler",
            "a signal handler's frame and its return through rt_sigreturn (64- and 32-bit)",
            signal_stories.run,
        ),
        Scenario(
            "ptrace-syscall",
            "PTRACE_SYSCALL, syscall_trace_enter's work, a seccomp filter, and an strace",
            ptrace_stories.run,
        ),
    )
    names = [s.name for s in stories]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"scenario names used twice: {sorted(duplicates)}")
    return stories


SCENARIOS: tuple[Scenario, ...] = _build()
BY_NAME: dict[str, Scenario] = {s.name: s for s in SCENARIOS}
