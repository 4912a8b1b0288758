"""The kernel under random numbers, arguments and register files, through every mechanism."""

import functools

from hypothesis import given, settings
from hypothesis import strategies as st

import abi
from abi.strategies import register_files, syscall_numbers
from simulator import Machine
from simulator.kernel import matrix

ANY64 = st.integers(0, (1 << 64) - 1)
ANY32 = st.integers(0, (1 << 32) - 1)
# Calls that end the process or replace its image are fine to draw; the
# machine is restored before every example.
MECHANISMS = {
    "x86_64": ("syscall", "int80", "sysenter"),
    "x32": ("syscall", "int80", "sysenter"),
    "i386": ("kernel_vsyscall", "int80", "sysenter", "syscall"),
}


@functools.cache
def _machine(kernel: str, vendor: str):
    m = Machine.boot(kernel=kernel, cpu=vendor)
    m.fs.add_file("/etc/motd", b"hello\n")
    procs = {a: m.spawn(a) for a in (("i386",) if kernel == "i386" else MECHANISMS)}
    return m, procs, m.snapshot()


def _kernel_state(m):
    """What no system call may change: the GDT (but the TLS entries), the IDT, the MSRs,
    and every task's TLS descriptors."""
    k = m.kernel
    cpu = m.cpu
    gdt = bytearray(k.kspace.peek(k.map.gdt, 0x100))
    tls = k.tls_base_index() * 8
    gdt[tls : tls + 24] = bytes(24)  # the TLS entries are the running task's (load_TLS)
    return (
        bytes(gdt),
        k.kspace.peek(k.map.idt, 0x800),
        tuple(
            (n, v) for n, v in cpu.msr.values.items() if n not in (0xC000_0102,)
        ),  # KERNEL_GS_BASE swaps with GS.base
        cpu.gdtr,
        cpu.idtr,
        cpu.tr[0],
        tuple((pid, tuple(t.tls)) for pid, t in sorted(k.tasks.items())),
    )


configs = st.sampled_from(
    [
        ("x86_64", "intel", "x86_64"),
        ("x86_64", "intel", "i386"),
        ("x86_64", "intel", "x32"),
        ("x86_64", "amd", "x86_64"),
        ("x86_64", "amd", "i386"),
        ("i386", "intel", "i386"),
        ("i386", "amd", "i386"),
    ]
)


@st.composite
def invocations(draw):
    kernel, vendor, abi_name = draw(configs)
    via = draw(st.sampled_from(MECHANISMS[abi_name]))
    wide = abi_name != "i386"
    values = ANY64 if wide else ANY32
    number = draw(
        st.one_of(syscall_numbers(abi="i386" if not wide or via != "syscall" else abi_name), values)
    )
    args = draw(st.lists(values, min_size=6, max_size=6))
    return kernel, vendor, abi_name, via, number, args


class TestAttackerControlledArguments:
    @settings(max_examples=150)
    @given(invocations())
    def test_any_number_and_arguments(self, invocation):
        """Any 64-bit value in any argument register gets an errno, a value or a signal,
        and leaves the kernel's tables and MSRs intact."""
        kernel, vendor, abi_name, via, number, args = invocation
        m, procs, snap = _machine(kernel, vendor)
        m.restore(snap)
        p = procs[abi_name]
        before = _kernel_state(m)
        r = p.syscall(number, *args, via=via, trace=False, max_steps=20_000)
        assert r.outcome in ("returned", "exit", "signal"), (r.outcome, r.detail)
        if r.outcome == "returned":
            assert isinstance(r.ret, int)
            assert m.cpu.cpl == 3
            if r.errno is not None:
                assert abi.errno_number(r.errno) == -r.ret
        assert _kernel_state(m) == before


class TestRegistersPreserved:
    @given(register_files(abi="x86_64"))
    def test_syscall_keeps_all_but_rax_rcx_r11(self, regs):
        """Across SYSCALL getpid only RAX, RCX (return address) and R11 (RFLAGS) change."""
        m, procs, snap = _machine("x86_64", "intel")
        m.restore(snap)
        p = procs["x86_64"]
        p.set_registers({n: v for n, v in regs.items() if n != "rsp"})
        r = p.syscall("getpid", trace=False)
        assert r.ret == p.pid
        assert set(r.changed) <= {"rax", "rcx", "r11", "rip"}
        assert r.after.reg("rcx") == r.before.reg("rip") + 2
        assert r.after.reg("r11") == r.before.reg("rflags")

    @given(
        register_files(abi="i386"),
        st.sampled_from(
            [
                ("x86_64", "intel", "kernel_vsyscall"),
                ("x86_64", "intel", "int80"),
                ("x86_64", "amd", "kernel_vsyscall"),
                ("i386", "intel", "kernel_vsyscall"),
                ("i386", "amd", "int80"),
            ]
        ),
    )
    def test_i386_keeps_all_but_eax(self, regs, where):
        """For an i386 process every register but EAX, EIP and the documented clobbers of the
        mechanism (docs/mechanisms.md: EFLAGS on the SYSENTER exits) comes back as it was."""
        kernel, vendor, via = where
        m, procs, snap = _machine(kernel, vendor)
        m.restore(snap)
        p = procs["i386"]
        p.set_registers({n: v for n, v in regs.items() if n not in ("esp", "eax")})
        r = p.syscall("getpid", via=via, trace=False)
        assert r.ret == p.pid
        row = next(
            row
            for row in matrix.ROWS
            if (row.kernel, row.vendor, row.abi, row.via) == (kernel, vendor, "i386", via)
        )
        assert set(r.changed) <= {"eax", "eip", *row.clobbers}
