"""The scenarios: one per story of the article, in the article's order, landed or pending."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from scenarios import (
    bare_round_trips,
    cpu_foundations,
    kernel_stories,
    kernels_story,
    mechanisms_story,
    ptrace_stories,
    signal_stories,
    vdso_stories,
)
from scenarios.story import CPUS, DEFAULT, KERNELS, Options, Part, Story


@attrs.frozen
class Scenario:
    """A story: its name, a one-line summary, the function that tells it, and which of
    ``ringsim run``'s options apply: the kernels and CPU vendors it can be told on (empty:
    the story chooses them itself) and whether a seed changes it.

    A pending story (``teller`` is None) waits for a capability that has not
    landed; it is listed as such and never faked.
    """

    name: str
    summary: str
    teller: Callable[[Options], Sequence[Part]] | None = None
    kernels: tuple[str, ...] = ()
    cpus: tuple[str, ...] = CPUS
    seeded: bool = True

    @property
    def pending(self) -> bool:
        return self.teller is None

    def check(self, options: Options) -> None:
        """A ValueError naming the option when ``options`` cannot apply to this story."""
        if options.kernel is not None and options.kernel not in self.kernels:
            runs_on = (
                f"it runs on the {' and '.join(self.kernels)} kernel only"
                if self.kernels
                else "it chooses its kernels itself"
            )
            raise ValueError(
                f"kernel: scenario {self.name!r} cannot be told on the {options.kernel} "
                f"kernel; {runs_on}"
            )
        if options.cpu is not None and options.cpu not in self.cpus:
            raise ValueError(
                f"cpu: scenario {self.name!r} cannot be told on {options.cpu}; expected one of "
                f"{', '.join(self.cpus) or 'none (it chooses its CPUs itself)'}"
            )
        if options.seed is not None and not self.seeded:
            raise ValueError(
                f"seed: scenario {self.name!r} has no randomness to seed (received {options.seed})"
            )

    def tell(self, options: Options = DEFAULT) -> Story:
        """Tell the story with ``options``: its text, and every trace it shows."""
        if not isinstance(options, Options):
            raise TypeError(f"options: expected scenarios.story.Options, received {options!r}")
        if self.teller is None:
            raise ValueError(f"scenario {self.name!r} is pending: its capability has not landed")
        self.check(options)
        return Story(self.name, self.summary, options, tuple(self.teller(options)))

    def run(self) -> list[str]:
        """The story's text lines with its own choices (what the tour prints)."""
        return self.tell().lines()


def _build() -> tuple[Scenario, ...]:
    stories = (
        Scenario(
            "cpu-foundations",
            "Linux's GDT decoded from its bytes, a refused WRMSR, a ring-3 page fault",
            cpu_foundations.run,
            seeded=False,
        ),
        Scenario(
            "bare-cpu-round-trips",
            "SYSCALL/SYSRETQ and INT 0x80/IRETQ on a bare CPU, step by step, Intel and AMD",
            bare_round_trips.run,
            seeded=False,
        ),
        Scenario(
            "syscall-define-read",
            "SYSCALL_DEFINE3(read), its table line, __SYSCALL_COMMON and syscall_init's LSTAR",
            kernel_stories.syscall_define_read,
            kernels=("x86_64",),
        ),
        Scenario(
            "x86_64-syscall-read",
            "read() through SYSCALL on x86_64, end to end",
            kernel_stories.x86_64_syscall_read,
            kernels=("x86_64",),
        ),
        Scenario(
            "x86_32-read",
            "read() on an i386 kernel through SYSENTER and through INT 0x80",
            kernel_stories.x86_32_reads,
            kernels=("i386",),
        ),
        Scenario(
            "mechanisms",
            "INT 0x80, SYSENTER and SYSCALL side by side, costed (a model, not a measurement)",
            mechanisms_story.run,
        ),
        Scenario(
            "ia32-compat",
            "a 32-bit program on a 64-bit kernel: ia32_sys_call_table, 3 rather than 0",
            kernel_stories.ia32_on_x86_64,
            kernels=("x86_64",),
        ),
        Scenario(
            "every-way-in",
            "every kernel, vendor, process ABI and mechanism, and the refusals",
            kernel_stories.every_way_in,
            kernels=KERNELS,
        ),
        Scenario(
            "execve-compat",
            "execve and compat_sys_execve: pointers to pointers",
            kernel_stories.execve_stories,
            kernels=("x86_64",),
        ),
        Scenario("failures", "the failures that teach", kernel_stories.failures),
        Scenario(
            "sysret-non-canonical",
            "SYSRET to a non-canonical RCX on Intel and AMD, and why Linux returns by IRET",
            kernel_stories.sysret_non_canonical,
            kernels=("x86_64",),
        ),
        Scenario(
            "x32-execve",
            "x32 execve: 520 with the x32 bit, stub_x32_execve and compat_sys_execve",
            kernel_stories.x32_execve,
            kernels=("x86_64",),
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
            kernels=("x86_64",),
        ),
        Scenario(
            "ptrace-syscall",
            "PTRACE_SYSCALL, syscall_trace_enter's work, a seccomp filter, and an strace",
            ptrace_stories.run,
            kernels=("x86_64",),
        ),
        Scenario(
            "linux-3.16-and-6.9",
            "the same programs on Linux 3.16 and 6.9: what moved, what vanished, what you can see",
            kernels_story.run,
            kernels=("x86_64",),
        ),
    )
    names = [s.name for s in stories]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"scenario names used twice: {sorted(duplicates)}")
    return stories


SCENARIOS: tuple[Scenario, ...] = _build()
BY_NAME: dict[str, Scenario] = {s.name: s for s in SCENARIOS}
