"""The linux-6.9 profile beside 3.16: entry paths, numbers, options, the vDSO, ptrace order.

Facts come from Linux 6.9: arch/x86/entry/common.c (do_syscall_64, do_int80_emulation,
do_fast_syscall_32), arch/x86/entry/entry_64.S, entry_64_compat.S, entry_32.S,
arch/x86/entry/calling.h (PUSH_AND_CLEAR_REGS), arch/x86/entry/syscall_{64,x32,32}.c,
arch/x86/kernel/cpu/common.c (syscall_init, idt_syscall_init), arch/x86/kernel/idt.c,
kernel/entry/common.c (syscall_trace_enter), arch/x86/kernel/process_64.c
(start_thread_common) and arch/x86/entry/vdso/vdso32/system_call.S, vdso.lds.S and
vdso32/vdso32.lds.S. The version scripts were read as the preprocessed vdso.lds and
vdso32.lds of IIIphr/linux_6.9.3-fine; the C and assembly as 6.9-era copies in the code index.
"""

import struct

import pytest

import abi
from abi import kernel_tables as T
from simulator import Machine
from simulator.cpu import Gate64
from simulator.cpu import msr as M
from simulator.kernel import bpf, vdso69
from simulator.kernel import linux69 as L69
from simulator.kernel import linux316 as L

ENOSYS = 38
MINUS_ENOSYS = (1 << 64) - ENOSYS
EFAULT = 14
X32_BIT = 0x4000_0000
NR_GETPID, NR_UMASK, NR_GETPID_I386 = 39, 95, 20
RAX, ORIG_RAX = 80, 120  # user_regs_struct offsets (arch/x86/include/uapi/asm/ptrace-abi.h)
SIXTYFOUR_REGS = {"rbx": 0xB1, "rbp": 0xB2, "r8": 0x81, "r9": 0x91, "r10": 0xA1, "r11": 0xB11}


def boot(kernel="x86_64", cpu="intel", **options):
    return Machine.boot(kernel=kernel, cpu=cpu, profile="linux-6.9", options=options or None)


def notes(result):
    return [f"{e.where}: {e.what}" for e in result.trace]


def symbols(result):
    return result.trace.symbols()


class TestNumbers:
    """Constants of 6.9 that differ from 3.16."""

    def test_syscall_mask(self):
        """idt_syscall_init (arch/x86/kernel/cpu/common.c): CF|PF|AF|ZF|SF|TF|IF|DF|OF|IOPL|NT|
        RF|AC|ID, 0x257fd5 (3.16 wrote 0x43700)."""
        assert L69.SYSCALL_MASK == 0x257FD5
        assert L.SYSCALL_MASK == 0x43700

    def test_table_sizes(self):
        """scripts/syscallhdr.sh --emit-nr on 6.9's tables: NR_syscalls 462, IA32_NR_syscalls
        462, X32_NR_syscalls 548 (the frozen x32 range 512-547)."""
        assert T.x64_sys_call().nr_syscalls == 462
        assert T.ia32_sys_call().nr_syscalls == 462
        assert T.ia32_sys_call(emulation=False).nr_syscalls == 462
        x32 = T.x32_sys_call()
        assert x32.nr_syscalls == 548
        assert x32.entries[547] == "compat_sys_pwritev64v2"

    def test_x32_table_is_split(self):
        """syscall_x32.c (6.9): common and x32 lines only; ioctl is 514 there and 16 is a hole
        (commit 6365b842aae4's example)."""
        x32 = T.x32_sys_call()
        assert x32.entries[16] == "sys_ni_syscall"
        assert x32.entries[514] == "compat_sys_ioctl"
        assert T.x64_sys_call().nr_syscalls < 512

    def test_no_stubs(self):
        """syscall_64.tbl and syscall_32.tbl (6.9): execve and rt_sigreturn are plain entries,
        no stub_execve."""
        x64, ia32 = T.x64_sys_call(), T.ia32_sys_call()
        assert x64.entries[59] == "sys_execve" and x64.entries[15] == "sys_rt_sigreturn"
        assert ia32.entries[11] == "compat_sys_execve"
        assert ia32.entries[173] == "compat_sys_rt_sigreturn"
        assert not any(e.startswith("stub") for e in x64.entries + ia32.entries)

    def test_profile_registered(self):
        """abi/profiles.py: linux-6.9 with its tables (arch/x86/entry/syscalls)."""
        profile = abi.get_profile("linux-6.9")
        assert profile.source_dir == "arch/x86/entry/syscalls"
        assert abi.syscall_number("read", abi="x86_64", profile="linux-6.9") == 0

    def test_work_bits_and_eventmsg(self):
        """include/linux/thread_info.h enum syscall_work_bit; include/uapi/linux/ptrace.h
        PTRACE_EVENTMSG_SYSCALL_ENTRY 1, EXIT 2."""
        assert (
            L69.SYSCALL_WORK_BIT_SECCOMP,
            L69.SYSCALL_WORK_BIT_SYSCALL_TRACEPOINT,
            L69.SYSCALL_WORK_BIT_SYSCALL_TRACE,
            L69.SYSCALL_WORK_BIT_SYSCALL_EMU,
            L69.SYSCALL_WORK_BIT_SYSCALL_AUDIT,
            L69.SYSCALL_WORK_BIT_SYSCALL_USER_DISPATCH,
            L69.SYSCALL_WORK_BIT_SYSCALL_EXIT_TRAP,
        ) == (0, 1, 2, 3, 4, 5, 6)
        assert (L69.PTRACE_EVENTMSG_SYSCALL_ENTRY, L69.PTRACE_EVENTMSG_SYSCALL_EXIT) == (1, 2)


class TestBoot:
    """syscall_init, idt_syscall_init, idt.c and the options."""

    def test_msrs_intel(self):
        """idt_syscall_init: LSTAR entry_SYSCALL_64, SYSENTER_* for entry_SYSENTER_compat,
        FMASK 0x257fd5; wrmsrl_cstar skips CSTAR on Intel; STAR as in 3.16."""
        m = boot()
        v = m.cpu.msr.values
        assert v[M.IA32_STAR] == 0x0023_0010_0000_0000
        assert v[M.IA32_LSTAR] == m.kernel.symbols["entry_SYSCALL_64"]
        assert v[M.IA32_SYSENTER_EIP] == m.kernel.symbols["entry_SYSENTER_compat"]
        assert v[M.IA32_SYSENTER_CS] == L.KERNEL_CS_64
        assert v[M.IA32_FMASK] == 0x257FD5
        assert v.get(M.IA32_CSTAR, 0) == 0

    def test_msrs_amd(self):
        """wrmsrl_cstar writes CSTAR = entry_SYSCALL_compat on a non-Intel CPU."""
        m = boot(cpu="amd")
        assert m.cpu.msr.values[M.IA32_CSTAR] == m.kernel.symbols["entry_SYSCALL_compat"]

    def test_msrs_ia32_off(self):
        """ia32 disabled: CSTAR = entry_SYSCALL32_ignore, SYSENTER_CS = GDT_ENTRY_INVALID_SEG."""
        m = boot(cpu="amd", ia32_emulation=False)
        v = m.cpu.msr.values
        assert v[M.IA32_CSTAR] == m.kernel.symbols["entry_SYSCALL32_ignore"]
        assert v[M.IA32_SYSENTER_CS] == 0 and v[M.IA32_SYSENTER_EIP] == 0

    def _gate(self, m, vector):
        raw = m.kernel.kspace.peek(m.kernel.map.idt + 16 * vector, 16)
        return Gate64.decode(raw)

    def test_int80_gate(self):
        """SYSG(IA32_SYSCALL_VECTOR, asm_int80_emulation): interrupt gate (0xE), DPL 3."""
        m = boot()
        gate = self._gate(m, 0x80)
        assert gate.type == 0xE and gate.dpl == 3
        assert gate.offset == m.kernel.symbols["asm_int80_emulation"]

    def test_int80_gate_ia32_off(self):
        """ia32_idt not installed: idt_setup_apic_and_irq_gates' set_intr_gate, DPL 0."""
        gate = self._gate(boot(ia32_emulation=False), 0x80)
        assert gate.dpl == 0

    def test_int3_not_on_ist(self):
        """def_idts/early_idts (6.9): SYSG(X86_TRAP_BP, asm_exc_int3), no IST (3.16 used
        DEBUG_STACK)."""
        gate = self._gate(boot(), 3)
        assert gate.dpl == 3 and gate.ist == 0

    def test_i386_int80_gate(self):
        """SYSG(IA32_SYSCALL_VECTOR, entry_INT80_32): an interrupt gate on i386 too (3.16: a
        trap gate)."""
        m = boot("i386")
        raw = int.from_bytes(m.kernel.kspace.peek(m.kernel.map.idt + 8 * 0x80, 8), "little")
        assert (raw >> 40) & 0xF == 0xE and (raw >> 45) & 3 == 3

    def test_option_errors(self):
        """Options are the two real knobs; i386 and 3.16 take none."""
        with pytest.raises(ValueError, match="options"):
            boot(x86=True)
        with pytest.raises(TypeError, match="expected a bool"):
            boot(x32="yes")
        with pytest.raises(ValueError, match="i386"):
            boot("i386", x32=True)
        with pytest.raises(ValueError, match=r"linux-3\.16"):
            Machine.boot(options={"x32": False})

    def test_default_profile_is_316(self):
        """Machine.boot keeps linux-3.16 as its default."""
        m = Machine.boot()
        assert m.profile == "linux-3.16" and "system_call" in m.kernel.symbols


class TestSyscall64:
    """entry_SYSCALL_64 and do_syscall_64."""

    def test_getpid_sysret(self):
        """A plain call returns by SYSRET: RCX = return address, R11 = RFLAGS, the rest kept."""
        p = boot().spawn()
        p.set_registers(SIXTYFOUR_REGS)
        r = p.syscall("getpid")
        assert r.ret == p.pid
        assert set(r.changed) == {"rax", "rcx", "r11", "rip"}
        assert any(n.endswith(": sysretq") for n in notes(r))

    def test_frame_and_enosys_preset(self):
        """PUSH_AND_CLEAR_REGS rax=$-ENOSYS: the ax slot is -ENOSYS, orig_ax the full rax."""
        m = boot()
        p = m.spawn()
        tracer = m.spawn()
        assert m.ptrace("PTRACE_ATTACH", p, tracer=tracer).ret == 0
        assert m.waitpid(p).stopped
        assert m.ptrace("PTRACE_SYSCALL", p).ret == 0
        assert p.syscall(0x1_0000_0000 | NR_GETPID).outcome == "stopped"
        assert m.waitpid(p).stopped
        assert m.ptrace("PTRACE_PEEKUSER", p, RAX).value == MINUS_ENOSYS
        assert m.ptrace("PTRACE_PEEKUSER", p, ORIG_RAX).value == 0x1_0000_0000 | NR_GETPID
        assert m.ptrace("PTRACE_GETEVENTMSG", p).value == L69.PTRACE_EVENTMSG_SYSCALL_ENTRY

    @pytest.mark.parametrize(
        ("number", "expect"),
        [
            (1000, -ENOSYS),
            ((1 << 64) - 2, -ENOSYS),  # -2: a negative int fails the unsigned compare
            (0xFFFF_FFFF_0000_0000 | NR_GETPID, "pid"),  # movslq: the high half is ignored
            (0x7FFF_FFFF, -ENOSYS),
        ],
    )
    def test_numbers(self, number, expect):
        """do_syscall_x64: (unsigned int)nr < NR_syscalls, nr = movslq %eax."""
        p = boot().spawn()
        r = p.syscall(number)
        assert r.ret == (p.pid if expect == "pid" else expect)

    def test_minus_one_skips_and_leaves_ax(self):
        """nr == -1: no call and regs->ax stays -ENOSYS (do_syscall_64's nr != -1 test)."""
        p = boot().spawn()
        r = p.syscall((1 << 64) - 1)
        assert r.ret == -ENOSYS
        assert any("nr = -1" in n for n in notes(r))
        assert not any("__x64_sys_ni_syscall" in n for n in notes(r))

    def test_x32_bit_rules(self):
        """do_syscall_x32: an x32 number without the bit, or a 64-bit number with it, is
        -ENOSYS; a common number with the bit works."""
        p = boot().spawn()
        assert p.syscall(X32_BIT | 16).ret == -ENOSYS
        assert p.syscall(514).ret == -ENOSYS
        assert p.syscall(X32_BIT | NR_GETPID).ret == p.pid
        assert p.syscall(X32_BIT | 548).ret == -ENOSYS

    def test_x32_off(self):
        """CONFIG_X86_X32_ABI off: do_syscall_x32 is compiled out, x32 numbers are -ENOSYS,
        and x32 executables are refused."""
        m = boot(x32=False)
        p = m.spawn()
        assert p.syscall(X32_BIT | NR_GETPID).ret == -ENOSYS
        with pytest.raises(ValueError, match="x32"):
            m.spawn("x32")

    def test_wrapper_reads_pt_regs(self):
        """__x64_sys_* decode di, si, dx, r10, r8, r9 from pt_regs (syscall_wrapper.h)."""
        p = boot().spawn()
        buf = p.alloc(64)
        r = p.syscall("read", 0, buf, 16)
        assert r.ret == 0
        assert any(
            n.startswith("__x64_sys_read (") and "di, si, dx, r10, r8, r9" in n for n in notes(r)
        )
        assert any("switch (nr) case 0" in n for n in notes(r))

    def test_iret_when_rcx_differs(self):
        """do_syscall_64: SYSRET only if regs->cx == regs->ip; a tracer that changes rcx at the
        exit stop gets the IRET exit (rcx comes back as written)."""
        m = boot()
        p, tracer = m.spawn(), m.spawn()
        assert m.ptrace("PTRACE_ATTACH", p, tracer=tracer).ret == 0
        assert m.waitpid(p).stopped
        assert m.ptrace("PTRACE_SYSCALL", p).ret == 0
        assert p.syscall("getpid").outcome == "stopped"
        assert m.waitpid(p).stopped
        assert m.ptrace("PTRACE_SYSCALL", p).ret == 0
        assert m.waitpid(p).stopped
        assert m.ptrace("PTRACE_POKEUSER", p, 88, 0x1234).ret == 0  # rcx slot
        assert m.ptrace("PTRACE_CONT", p).ret == 0
        assert m.waitpid(p).pid == 0
        r = p.last_result
        assert r.after.reg("rcx") == 0x1234
        assert any("not RCX == RIP" in n for n in notes(r))


class TestInt80:
    """asm_int80_emulation / do_int80_emulation."""

    def test_64bit_caller_keeps_r8_r11(self):
        """INT 0x80 from 64-bit code: r8-r11 come back unchanged (3.16 zeroed them)."""
        p = boot().spawn()
        p.set_registers(SIXTYFOUR_REGS)
        r = p.syscall("getpid", via="int80")
        assert r.ret == p.pid
        assert set(r.changed) == {"rax", "rip"}
        old = Machine.boot().spawn()
        old.set_registers(SIXTYFOUR_REGS)
        assert {"r8", "r9", "r10", "r11"} <= set(old.syscall("getpid", via="int80").changed)

    def test_orig_ax_truncated_and_i386_table(self):
        """do_int80_emulation: orig_ax = ax & GENMASK(31, 0), ax = -ENOSYS; the i386 table."""
        p = boot().spawn()
        r = p.syscall(0xFFFF_0000_0000_0000 | NR_GETPID_I386, via="int80")
        assert r.ret == p.pid
        assert any("GENMASK(31, 0)" in n for n in notes(r))
        assert any("__ia32_sys_getpid" in s for s in symbols(r))

    def test_out_of_range(self):
        """do_syscall_32_irqs_on: -ENOSYS above IA32_NR_syscalls."""
        p = boot().spawn()
        assert p.syscall(462, via="int80").ret == -ENOSYS

    def test_iret_exit(self):
        """error_return -> swapgs_restore_regs_and_return_to_usermode: IRETQ."""
        r = boot().spawn().syscall("getpid", via="int80")
        assert any(n.endswith(": iretq") for n in notes(r))

    def test_ia32_off_gp(self):
        """ia32 emulation off: the DPL 0 gate makes user INT 0x80 #GP(0x402), SIGSEGV."""
        p = boot(ia32_emulation=False).spawn()
        r = p.syscall("getpid", via="int80")
        assert r.signal == 11 and "0x402" in r.detail


class TestCompat:
    """32-bit processes: __kernel_vsyscall, SYSENTER, compat SYSCALL, INT 0x80."""

    @pytest.mark.parametrize(("cpu", "via"), [("intel", "sysenter"), ("amd", "syscall")])
    def test_fast_path_sysretl(self, cpu, via):
        """do_fast_syscall_32 (x86_64): regs->ip = landing pad, SYSRETL back to it; the vDSO
        pops ebp, edx, ecx; only eax and eip change."""
        p = boot(cpu=cpu).spawn("i386")
        r = p.syscall("getpid", via="kernel_vsyscall")
        assert r.ret == p.pid
        assert set(r.changed) == {"eax", "eip"}
        assert any("landing_pad" in n for n in notes(r))
        assert any("SYSRETL" in n for n in notes(r))

    def test_syscall_compat_cx_slot_is_ebp(self):
        """entry_SYSCALL_compat: PUSH_AND_CLEAR_REGS rcx=%rbp (arg2 in the cx slot)."""
        p = boot(cpu="amd").spawn("i386")
        buf = p.alloc(64)
        r = p.syscall("read", 0, buf, 16)
        assert r.ret == 0
        decode = [n for n in notes(r) if n.startswith("__ia32_sys_read (")]
        assert decode and f"{buf:#x}" in decode[0]

    def test_arg6_fault_is_efault_and_iret(self):
        """__do_fast_syscall_32: a fault fetching EBP from regs->sp (= ebp for SYSENTER) is
        -EFAULT and IRET to the landing pad, whose pop from that same bad stack faults."""
        p = boot().spawn("i386")
        r = p.run("push ecx\npush edx\npush ebp\nmov ebp, 0x10\nsysenter\n")
        text = notes(r)
        assert any("regs->ax = -EFAULT" in n for n in text)
        assert any(n.endswith(": iretq") for n in text)
        pad = p.task.vdso + vdso69.sym_int80_landing_pad(p.machine.kernel)
        assert r.signal == 11 and f"ip {pad:#x}" in r.detail

    def test_int80_from_32bit(self):
        """INT 0x80 from a 32-bit process on x86_64: the same do_int80_emulation."""
        p = boot().spawn("i386")
        r = p.syscall("getpid", via="int80")
        assert r.ret == p.pid and set(r.changed) == {"eax", "eip"}

    def test_ia32_off_refuses_32bit(self):
        """ia32_emulation=off: compat_elf_check_arch refuses i386 images."""
        with pytest.raises(ValueError, match="ia32_emulation"):
            boot(ia32_emulation=False).spawn("i386")


class TestI386Kernel:
    """entry_INT80_32 -> do_int80_syscall_32, entry_SYSENTER_32 -> do_SYSENTER_32."""

    @pytest.mark.parametrize("via", ["int80", "sysenter", "kernel_vsyscall"])
    def test_entries(self, via):
        """Each entry returns the result in eax and changes nothing else the process sees."""
        p = boot("i386").spawn("i386")
        r = p.syscall("getpid", via=via)
        assert r.ret == p.pid and set(r.changed) == {"eax", "eip"}

    def test_sysexit_and_iret(self):
        """SYSENTER leaves by SYSEXIT, INT 0x80 by IRET (restore_all_switch_stack)."""
        p = boot("i386").spawn("i386")
        assert any("SYSEXIT" in n for n in notes(p.syscall("getpid", via="kernel_vsyscall")))
        r = p.syscall("getpid", via="int80")
        assert any(n.startswith("restore_all_switch_stack") for n in notes(r))

    def test_bad_number(self):
        """do_syscall_32_irqs_on: 1000 is -ENOSYS."""
        p = boot("i386").spawn("i386")
        assert p.syscall(1000, via="int80").ret == -ENOSYS


class TestVdso:
    """system_call.S patched at boot, and the exported symbols."""

    def test_variants(self):
        """push ecx; push edx; push ebp; the alternative; int $0x80; int80_landing_pad: pop
        ebp; pop edx; pop ecx; ret."""
        v = vdso69.variants()
        assert v["sysenter"].code == bytes.fromhex("51525589e50f34cd805d5a59c3")
        assert v["syscall"].code == bytes.fromhex("51525589cd0f05cd805d5a59c3")
        assert v["int80"].code == bytes.fromhex("5152550f1f4000cd805d5a59c3")
        for variant in v.values():
            assert variant.code[variant.landing_pad - 2 : variant.landing_pad] == b"\xcd\x80"

    @pytest.mark.parametrize(
        ("kernel", "cpu", "name"),
        [
            ("x86_64", "intel", "sysenter"),
            ("x86_64", "amd", "syscall"),
            ("i386", "intel", "sysenter"),
        ],
    )
    def test_selection(self, kernel, cpu, name):
        """ALTERNATIVE_2 on X86_FEATURE_SYSENTER32 / SYSCALL32 (64-bit), SEP (32-bit)."""
        assert boot(kernel, cpu).kernel.vdso_variant.name == name

    def test_exports_32(self):
        """vdso32.lds (6.9.3): LINUX_2.6 six __vdso_ functions, LINUX_2.5 three __kernel_."""
        image = vdso69.image32("sysenter", True)
        assert set(image.symbol_offsets) == {
            "__vdso_clock_gettime", "__vdso_gettimeofday", "__vdso_time", "__vdso_clock_getres",
            "__vdso_clock_gettime64", "__vdso_getcpu", "__kernel_vsyscall",
            "__kernel_sigreturn", "__kernel_rt_sigreturn",
        }  # fmt: skip

    def test_exports_64(self):
        """vdso.lds (6.9.3) less __vdso_sgx_enter_enclave (CONFIG_X86_SGX)."""
        names = set(vdso69.image64().symbol_offsets)
        for fn in ("clock_gettime", "gettimeofday", "getcpu", "time", "clock_getres"):
            assert fn in names and f"__vdso_{fn}" in names
        assert len(names) == 10

    def test_clock_getres_64(self):
        """__cvdso_clock_getres_common: hrtimer_res (1 ns) for CLOCK_MONOTONIC, LOW_RES_NSEC
        (TICK_NSEC, 4 ms at HZ=250) for CLOCK_MONOTONIC_COARSE, with no system call."""
        p = boot().spawn()
        fn = p.vdso_symbol("__vdso_clock_getres")
        ts = p.alloc(16)
        for clock, nsec in ((1, 1), (6, 4_000_000)):
            r = p.run(f"mov edi, {clock}\nmov rsi, {ts:#x}\nmov rax, {fn:#x}\ncall rax\nhlt")
            assert r.stop == "hlt" and r.after.reg("rax") == 0
            assert struct.unpack("<qq", p.read_mem(ts, 16)) == (0, nsec)
            assert all(e.ring == 3 for e in r.trace if e.kind == "cpu")

    def test_vdso32_getcpu_and_gettime64(self):
        """The 32-bit __vdso_getcpu (LSL of the per-CPU segment) and __vdso_clock_gettime64
        (a struct __kernel_timespec) work from the vDSO."""
        p = boot().spawn("i386")
        cpu_node = p.alloc(16)
        getcpu = p.vdso_symbol("__vdso_getcpu")
        code = f"push 0\npush {cpu_node + 4:#x}\npush {cpu_node:#x}\ncall {getcpu:#x}\nhlt"
        r = p.run(code)
        assert r.stop == "hlt" and r.after.reg("eax") == 0
        assert p.read_mem(cpu_node, 8) == bytes(8)
        ts = p.alloc(16)
        gettime64 = p.vdso_symbol("__vdso_clock_gettime64")
        r = p.run(f"push {ts:#x}\npush 0\ncall {gettime64:#x}\nhlt")
        assert r.stop == "hlt" and r.after.reg("eax") == 0
        sec, nsec = struct.unpack("<qq", p.read_mem(ts, 16))
        assert sec > 1_000_000_000 and 0 <= nsec < 1_000_000_000


class TestPtraceOrder:
    """kernel/entry/common.c syscall_trace_enter: ptrace before seccomp."""

    def _filter(self, p, nr, action):
        program = bpf.assemble(
            [
                bpf.stmt(bpf.BPF_LD | bpf.BPF_W | bpf.BPF_ABS, 0),
                bpf.jump(bpf.BPF_JMP | bpf.BPF_JEQ | bpf.BPF_K, nr, 0, 1),
                bpf.stmt(bpf.BPF_RET | bpf.BPF_K, action),
                bpf.stmt(bpf.BPF_RET | bpf.BPF_K, bpf.SECCOMP_RET_ALLOW),
            ]
        )
        insns = p.alloc(64)
        p.write_mem(insns, program)
        fprog = p.alloc(16)
        p.write_mem(fprog, struct.pack("<HHIQ", len(program) // 8, 0, 0, insns))
        assert p.syscall("prctl", 22, bpf.SECCOMP_MODE_FILTER, fprog).ret == 0

    @pytest.mark.parametrize(("profile", "stops"), [("linux-6.9", True), ("linux-3.16", False)])
    def test_entry_stop_before_seccomp(self, profile, stops):
        """A call seccomp refuses (RET_ERRNO) still gives the 6.9 tracer its entry stop;
        3.16 ran seccomp first and skipped the stop."""
        m = Machine.boot(profile=profile)
        p, tracer = m.spawn(), m.spawn()
        self._filter(p, NR_GETPID, bpf.SECCOMP_RET_ERRNO | 1)
        assert m.ptrace("PTRACE_ATTACH", p, tracer=tracer).ret == 0
        assert m.waitpid(p).stopped
        assert m.ptrace("PTRACE_SYSCALL", p).ret == 0
        r = p.syscall("getpid")
        assert r.outcome == "stopped"  # 3.16 stops too, at the exit stop
        assert any("syscall-entry stop" in n for n in notes(r)) == stops

    def test_seccomp_sees_tracer_change(self):
        """seccomp runs after the stop, "to catch any tracer changes": a tracer that turns
        umask into getpid meets the getpid rule."""
        m = boot()
        p, tracer = m.spawn(), m.spawn()
        self._filter(p, NR_GETPID, bpf.SECCOMP_RET_ERRNO | 1)
        assert m.ptrace("PTRACE_ATTACH", p, tracer=tracer).ret == 0
        assert m.waitpid(p).stopped
        assert m.ptrace("PTRACE_SYSCALL", p).ret == 0
        assert p.syscall("umask", 0).outcome == "stopped"
        assert m.waitpid(p).stopped
        assert m.ptrace("PTRACE_POKEUSER", p, ORIG_RAX, NR_GETPID).ret == 0
        assert m.ptrace("PTRACE_CONT", p).ret == 0
        assert m.waitpid(p).pid == 0
        assert p.last_result.ret == -1  # -EPERM from the filter

    def _trace_stop(self, profile):
        """A tracee with PTRACE_O_TRACESECCOMP stopped at the RET_TRACE event of umask."""
        m = Machine.boot(profile=profile)
        p, tracer = m.spawn(), m.spawn()
        self._filter(p, NR_UMASK, bpf.SECCOMP_RET_TRACE | 1)
        assert m.ptrace("PTRACE_ATTACH", p, tracer=tracer).ret == 0
        assert m.waitpid(p).stopped
        assert m.ptrace("PTRACE_SETOPTIONS", p, 0, 0x80).ret == 0  # PTRACE_O_TRACESECCOMP
        assert m.ptrace("PTRACE_CONT", p).ret == 0
        assert m.waitpid(p).pid == 0
        assert p.syscall("umask", 0o77).outcome == "stopped"
        assert m.waitpid(p).status == (((7 << 8) | 5) << 8) | 0x7F  # PTRACE_EVENT_SECCOMP
        return m, p, tracer

    def test_seccomp_trace_recheck_allows(self):
        """kernel/seccomp.c (6.9) __seccomp_filter: after the tracer resumes, the filters run
        again with recheck_after_trace, and a TRACE result then means allow ("if
        (recheck_after_trace) return 0;"): one event stop, then umask runs."""
        m, p, _ = self._trace_stop("linux-6.9")
        assert m.ptrace("PTRACE_CONT", p).ret == 0
        assert m.waitpid(p).pid == 0  # no second event stop
        assert p.last_result.ret == 0o22 and p.task.umask == 0o77
        assert any("recheck after the trace: return 0" in n for n in notes(p.last_result))

    @pytest.mark.parametrize(("profile", "signal"), [("linux-6.9", 9), ("linux-3.16", 31)])
    def test_seccomp_trace_fatal_signal_skips(self, profile, signal):
        """kernel/seccomp.c since 4.20 (so 6.9): a fatal signal pending after the trace event
        is "goto skip", and SIGKILL kills the task; 3.16 did do_exit(SIGSYS)."""
        m, p, tracer = self._trace_stop(profile)
        assert tracer.syscall("kill", p.pid, 9).ret == 0
        assert m.ptrace("PTRACE_CONT", p).ret == 0
        w = m.waitpid(p)
        assert w.signaled and w.termsig == signal
        assert p.task.umask == 0o22  # the call was skipped


class TestExec:
    """execve without stub_execve, start_thread_common without force_iret."""

    def test_execve_plain_entry_and_iret(self):
        """__x64_sys_execve from the switch; start_thread_common sets flags IF|FIXED and the
        exit is IRET because regs->cx (zeroed) != regs->ip."""
        from simulator.cpu.assembler import assemble
        from simulator.kernel import elf

        base = 0x40_0000
        code = assemble("mov eax, 60\nxor edi, edi\nsyscall", mode=64, address=base)
        image = elf.build_executable(
            [elf.Segment(vaddr=base, data=code)],
            entry=base,
            elf_class=elf.ELFCLASS64,
            machine=elf.EM_X86_64,
        )
        m = Machine.boot(profile="linux-6.9", files={"/bin/t": image})
        p = m.spawn()
        path = p.alloc(16)
        p.write_mem(path, b"/bin/t\0")
        argv = p.alloc(16)
        p.write_mem(argv, struct.pack("<QQ", path, 0))
        r = p.syscall("execve", path, argv, 0)
        text = notes(r)
        assert any("__x64_sys_execve" in n for n in text)
        assert not any("stub_execve" in n for n in text)
        assert any("X86_EFLAGS_IF | X86_EFLAGS_FIXED" in n for n in text)
        assert any("not RCX == RIP" in n for n in text)


class TestReviewFixes69:
    """Defects a review found in the 6.9 profile, each pinned to its 6.9 source file."""

    @pytest.mark.parametrize("kernel", ["x86_64", "i386"])
    @pytest.mark.parametrize(
        ("flags", "name"), [(0x4, "__kernel_rt_sigreturn"), (0, "__kernel_sigreturn")]
    )
    def test_sig32_pretcode_from_mapped_vdso(self, kernel, flags, name):
        """arch/x86/kernel/signal_32.c (6.9) ia32_setup_frame / ia32_setup_rt_frame: without
        SA_RESTORER, pretcode is current->mm->context.vdso + vdso_image_32.sym___kernel_*
        sigreturn, offsets of the image 6.9 maps (arch/x86/entry/vdso/vdso32/sigreturn.S),
        and the handler's ret reaches sigreturn."""
        m = Machine.boot(kernel=kernel, cpu="intel", profile="linux-6.9")
        p = m.spawn("i386")
        code = p.alloc(4096, executable=True)
        marker = p.alloc(64)
        from simulator.cpu.assembler import assemble

        body = f"mov edi, {marker}\nmov dword ptr [edi], eax\nmov dword ptr [edi+4], esp\nret"
        p.write_mem(code, assemble(body, mode=32, address=code))
        act = p.alloc(32)
        p.write_mem(act, struct.pack("<II", code, flags) + bytes(12))
        assert p.syscall("rt_sigaction", 10, act, 0, 8, via="int80").ret == 0
        r = p.syscall("kill", p.pid, 10)
        assert r.outcome == "returned" and r.ret == 0, r
        eax, esp = struct.unpack("<II", p.read_mem(marker, 8))
        assert eax == 10
        pretcode = struct.unpack("<I", p.read_mem(esp, 4))[0]
        assert pretcode == p.task.vdso32 + vdso69.current_image32(m.kernel).symbol_offsets[name]

    def test_exit_loop_delivers_signal_raised_by_delivery(self):
        """kernel/entry/common.c (6.9) exit_to_user_mode_loop: "ti_work =
        read_thread_flags()" and loop while work is left. A 64-bit handler without
        SA_RESTORER cannot get a frame (arch/x86/kernel/signal_64.c x64_setup_rt_frame:
        -EFAULT), force_sigsegv queues SIGSEGV, and the next round of the loop kills with it."""
        m = boot()
        p = m.spawn()
        code = p.alloc(4096, executable=True)
        p.write_mem(code, b"\xc3")
        act = p.alloc(32)
        p.write_mem(act, struct.pack("<QQQQ", code, 0x4, 0, 0))  # SA_SIGINFO, no SA_RESTORER
        assert p.syscall("rt_sigaction", 10, act, 0, 8).ret == 0
        r = p.syscall("kill", p.pid, 10)
        assert r.outcome == "signal" and r.signal == 11
        assert not p.alive

    @pytest.mark.parametrize("via", ["int80", "kernel_vsyscall"])
    def test_i386_restore_regs_pop_zero(self, via):
        """arch/x86/entry/entry_32.S (6.9) RESTORE_REGS: popl %ds/%es/%fs each have
        _ASM_EXTABLE_TYPE(Nb, Nb, EX_TYPE_POP_ZERO). rt_sigreturn with no frame restores
        garbage selectors; they become null instead of an oops."""
        p = Machine.boot(kernel="i386", cpu="intel", profile="linux-6.9").spawn("i386")
        r = p.syscall(173, 0, 0, 0, 0, 0, 0, via=via, max_steps=20_000)
        assert r.outcome == "signal", r
        assert any("EX_TYPE_POP_ZERO" in n for n in notes(r))

    def _i386_exit_stop(self, via):
        m = Machine.boot(kernel="i386", profile="linux-6.9")
        tracer, child = m.spawn("i386"), m.spawn("i386")
        assert m.ptrace("PTRACE_ATTACH", child, tracer=tracer).ret == 0
        assert m.waitpid(child).stopped
        assert m.ptrace("PTRACE_SYSCALL", child).ret == 0
        assert child.syscall("getpid", via=via).outcome == "stopped"
        assert m.waitpid(child).stopped
        assert m.ptrace("PTRACE_SYSCALL", child).ret == 0
        assert m.waitpid(child).stopped  # the exit stop
        return m, child

    def test_i386_sysexit_fs_fixup(self):
        """arch/x86/entry/entry_32.S (6.9) entry_SYSENTER_32: "1: mov PT_FS(%esp), %fs" with
        _ASM_EXTABLE(1b, 2b) and "2: movl $0, PT_FS(%esp); jmp 1b": a tracer's bad fs (RPL 3,
        so putreg accepts it) is made null and SYSEXIT still returns."""
        m, child = self._i386_exit_stop("kernel_vsyscall")
        assert m.ptrace("PTRACE_POKEUSER", child, 36, 0x233B).ret == 0  # xfs, beyond the GDT
        assert m.ptrace("PTRACE_CONT", child).ret == 0
        assert m.waitpid(child).pid == 0
        r = child.last_result
        assert r.outcome == "returned" and r.ret == child.pid
        assert any("fixup 2: movl $0,PT_FS(%esp)" in n for n in notes(r))

    def test_i386_iret_fault_is_iret_error(self):
        """arch/x86/entry/entry_32.S (6.9): _ASM_EXTABLE(.Lirq_return, .Lasm_iret_error), and
        arch/x86/kernel/traps.c iret_error: do_trap(X86_TRAP_IRET, SIGILL, "iret exception",
        ILL_BADSTK). A tracer's CS of __USER_DS makes the IRET fault: SIGILL, not an oops."""
        m, child = self._i386_exit_stop("int80")
        assert m.ptrace("PTRACE_POKEUSER", child, 52, 0x7B).ret == 0  # xcs
        assert m.ptrace("PTRACE_CONT", child).ret == 0
        w = m.waitpid(child)
        assert w.signaled and w.termsig == 4
        assert any("iret_error" in n for n in notes(child.last_result))

    def test_x32_restart_syscall_keeps_x32_bit(self):
        """arch/x86/kernel/signal.c (6.9) get_nr_restart_syscall: "__NR_restart_syscall |
        (regs->orig_ax & __X32_SYSCALL_BIT)". An x32 call that a tracer turns into
        -ERESTART_RESTARTBLOCK (516) restarts as x32 restart_syscall (0x400000db)."""
        m = boot()
        tracer, child = m.spawn(), m.spawn("x32")
        assert m.ptrace("PTRACE_ATTACH", child, tracer=tracer).ret == 0
        assert m.waitpid(child).stopped
        assert m.ptrace("PTRACE_SYSCALL", child).ret == 0
        assert child.syscall("getpid").outcome == "stopped"
        assert m.waitpid(child).stopped
        assert m.ptrace("PTRACE_SYSCALL", child).ret == 0
        assert m.waitpid(child).stopped  # the exit stop
        assert m.ptrace("PTRACE_POKEUSER", child, RAX, (-516) & ((1 << 64) - 1)).ret == 0
        assert m.ptrace("PTRACE_SYSCALL", child, 0, 10).ret == 0  # SIGUSR1
        assert m.waitpid(child).stopped  # the signal-delivery stop
        assert m.ptrace("PTRACE_SYSCALL", child, 0, 0).ret == 0  # discard it
        w = m.waitpid(child)
        assert w.stopped and w.stopsig == 5  # entry stop of the restarted call
        regs = m.ptrace("PTRACE_GETREGS", child).value
        assert regs["orig_rax"] == X32_BIT | 219

    def test_vsyscall_native_refused(self):
        """arch/x86/entry/vsyscall/vsyscall_64.c (6.9): vsyscall_mode is one of { EMULATE,
        XONLY, NONE }; there is no native page, so the API refuses it, naming the field."""
        with pytest.raises(ValueError, match="vsyscall"):
            Machine.boot(profile="linux-6.9", vsyscall="native")
        assert Machine.boot(profile="linux-6.9", vsyscall="none").spawn().alive


def test_i386_execve_leaves_by_iret_without_force_iret():
    """arch/x86/kernel/process_32.c (6.9) start_thread sets ip, sp, the segments and
    flags = X86_EFLAGS_IF, with no force_iret(): do_fast_syscall_32 returns by SYSEXIT only
    when ip is the vDSO's landing pad (arch/x86/entry/common.c), so an execve through
    __kernel_vsyscall leaves by IRET to the new image's entry point anyway."""
    from scenarios.kernel_stories import _argv, _echo_program

    m = Machine.boot(kernel="i386", profile="linux-6.9")
    m.fs.add_executable("/bin/echo", _echo_program("i386"))
    p = m.spawn("i386")
    path, argv = _argv(p, ["/bin/echo", "hi"], wide=False)
    r = p.syscall("execve", path, argv, 0, via="kernel_vsyscall")
    assert [e.what for e in r.trace if e.kind == "cpu"][-1] == "iretd"
    assert any("no force_iret()" in e.what for e in r.trace if "start_thread" in e.where)
    p.resume(trace=False)
    assert p.stdout == b"hi" and p.exit_status == 0
