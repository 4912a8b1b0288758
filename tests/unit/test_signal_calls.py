"""rt_sigaction, rt_sigprocmask, kill, tgkill, getppid (kernel/signal.c, kernel/sys.c, 3.16)
and the default actions on the way out of the kernel."""

import pytest

from simulator import Machine

SIGTERM, SIGKILL, SIGSTOP, SIGUSR1, SIGCHLD = 15, 9, 19, 10, 17
SA_RESTART = 0x1000_0000


@pytest.fixture
def m():
    return Machine.boot()


def _sigaction(p, handler, flags=0, restorer=0, mask=0, *, word=8):
    address = p.alloc(64)
    blob = b"".join(v.to_bytes(word, "little") for v in (handler, flags, restorer))
    p.write_mem(address, blob + mask.to_bytes(8, "little"))
    return address


class TestSigaction:
    def test_set_and_read_back(self, m):
        """rt_sigaction stores handler, flags, restorer and mask, and gives the old action
        back in the same struct sigaction layout (8-byte fields on x86_64)."""
        p = m.spawn("x86_64")
        act = _sigaction(p, 0x401000, SA_RESTART, 0x402000, 1 << (SIGUSR1 - 1))
        assert p.syscall("rt_sigaction", SIGTERM, act, 0, 8).ret == 0
        old = p.alloc(64)
        assert p.syscall("rt_sigaction", SIGTERM, 0, old, 8).ret == 0
        raw = p.read_mem(old, 32)
        fields = [int.from_bytes(raw[i : i + 8], "little") for i in range(0, 32, 8)]
        assert fields == [0x401000, SA_RESTART, 0x402000, 1 << (SIGUSR1 - 1)]

    def test_compat_layout(self, m):
        """compat_sys_rt_sigaction reads struct compat_sigaction: 4-byte handler, flags,
        restorer, then the 8-byte compat_sigset_t (kernel/signal.c 3.16)."""
        p = m.spawn("i386")
        act = _sigaction(p, 0x8049000, SA_RESTART, 0x804A000, 0, word=4)
        assert p.syscall("rt_sigaction", SIGTERM, act, 0, 8, via="int80").ret == 0
        assert p.task.sigactions[SIGTERM] == (0x8049000, SA_RESTART, 0x804A000, 0)

    @pytest.mark.parametrize("sig", [SIGKILL, SIGSTOP, 0, 65])
    def test_refused_signals(self, m, sig):
        """do_sigaction: -EINVAL for an invalid number or for setting SIGKILL/SIGSTOP."""
        p = m.spawn("x86_64")
        act = _sigaction(p, 0x401000)
        assert p.syscall("rt_sigaction", sig, act, 0, 8).errno == "EINVAL"

    def test_bad_sigsetsize(self, m):
        """sigsetsize must be sizeof(sigset_t), 8."""
        p = m.spawn("x86_64")
        assert p.syscall("rt_sigaction", SIGTERM, 0, 0, 4).errno == "EINVAL"

    def test_unreadable_act(self, m):
        """An unreadable struct sigaction is -EFAULT."""
        p = m.spawn("x86_64")
        assert p.syscall("rt_sigaction", SIGTERM, 0x5000_0000, 0, 8).errno == "EFAULT"

    def test_x32_handler(self, m):
        """x32_setup_rt_frame (arch/x86/kernel/signal.c 3.16): an rt_sigframe_x32 (424 bytes:
        u64 pretcode, ucontext_x32 with the 64-bit sigcontext at +24, compat siginfo at +296);
        rdi = sig, rsi = &info, rdx = &uc; sys32_x32_rt_sigreturn (513 | the x32 bit) puts
        every register back."""
        from simulator.cpu.assembler import assemble

        p = m.spawn("x32")
        code = p.alloc(4096, executable=True)
        marker = p.alloc(64)
        body = (
            f"mov eax, {marker}\nmov qword ptr [rax], rdi\nmov qword ptr [rax+8], rsi\n"
            "mov qword ptr [rax+16], rdx\nmov qword ptr [rax+24], rsp\nmov r12, rdi\nret"
        )
        p.write_mem(code, assemble(body, mode=64, address=code))
        restorer = code + 0x200
        p.write_mem(restorer, assemble("mov eax, 0x40000201\nsyscall", mode=64, address=restorer))
        act = _sigaction(p, code, 0x0400_0000 | 0x4, restorer, word=4)
        assert p.syscall("rt_sigaction", SIGUSR1, act, 0, 8).ret == 0
        p.set_registers({"r12": 0x1212})
        r = p.syscall("kill", p.pid, SIGUSR1)
        assert r.outcome == "returned" and r.ret == 0
        rdi, rsi, rdx, rsp = (
            int.from_bytes(p.read_mem(marker + i, 8), "little") for i in (0, 8, 16, 24)
        )
        assert (rdi, rsi - rsp, rdx - rsp) == (SIGUSR1, 296, 8)
        assert int.from_bytes(p.read_mem(rsp, 8), "little") == restorer
        assert p.registers()["r12"] == 0x1212


class TestMask:
    def test_block_keeps_pending_and_unblock_delivers(self, m):
        """A blocked signal stays pending (no TIF_SIGPENDING); unblocking it delivers it on
        the way out of rt_sigprocmask: SIGTERM's default action terminates."""
        p = m.spawn("x86_64")
        setp = p.alloc(16)
        p.write_mem(setp, (1 << (SIGTERM - 1)).to_bytes(8, "little"))
        assert p.syscall("rt_sigprocmask", 0, setp, 0, 8).ret == 0  # SIG_BLOCK
        assert p.syscall("kill", p.pid, SIGTERM).ret == 0
        assert SIGTERM in p.task.pending_signals and p.alive
        r = p.syscall("rt_sigprocmask", 1, setp, 0, 8)  # SIG_UNBLOCK
        assert r.signal == SIGTERM and not p.alive

    def test_sigkill_cannot_be_blocked(self, m):
        """set_current_blocked drops SIGKILL and SIGSTOP from the mask."""
        p = m.spawn("x86_64")
        setp, old = p.alloc(16), p.alloc(16)
        p.write_mem(setp, ((1 << 64) - 1).to_bytes(8, "little"))
        assert p.syscall("rt_sigprocmask", 2, setp, 0, 8).ret == 0
        assert p.syscall("rt_sigprocmask", 0, 0, old, 8).ret == 0
        mask = int.from_bytes(p.read_mem(old, 8), "little")
        assert mask == (1 << 64) - 1 & ~(1 << (SIGKILL - 1)) & ~(1 << (SIGSTOP - 1))

    def test_bad_how(self, m):
        """how outside SIG_BLOCK/SIG_UNBLOCK/SIG_SETMASK is -EINVAL."""
        p = m.spawn("x86_64")
        setp = p.alloc(16)
        assert p.syscall("rt_sigprocmask", 7, setp, 0, 8).errno == "EINVAL"


class TestKill:
    def test_kill_self_default_terminate(self, m):
        """kill(getpid(), SIGTERM): delivered on the way out (do_signal), default terminate;
        the wait status is the signal number."""
        p = m.spawn("x86_64")
        r = p.syscall("kill", p.pid, SIGTERM)
        assert r.signal == SIGTERM and p.task.exit_code == SIGTERM

    def test_kill_ignored_by_default(self, m):
        """SIGCHLD's default action is to be ignored: sig_ignored drops it."""
        p = m.spawn("x86_64")
        assert p.syscall("kill", p.pid, SIGCHLD).ret == 0 and p.alive
        assert not p.task.pending_signals

    def test_sig_ign(self, m):
        """SIG_IGN makes SIGTERM harmless."""
        p = m.spawn("x86_64")
        p.syscall("rt_sigaction", SIGTERM, _sigaction(p, 1), 0, 8)
        assert p.syscall("kill", p.pid, SIGTERM).ret == 0 and p.alive

    def test_kill_another_process(self, m):
        """The signal waits in the other process until its next return to user mode."""
        a, b = m.spawn("x86_64"), m.spawn("x86_64")
        assert a.syscall("kill", b.pid, SIGTERM).ret == 0
        assert b.alive and SIGTERM in b.task.pending_signals
        assert b.syscall("getpid").signal == SIGTERM

    def test_errors(self, m):
        """-ESRCH for no such process, -EINVAL for a bad signal; signal 0 only checks."""
        p = m.spawn("x86_64")
        assert p.syscall("kill", 999, SIGTERM).errno == "ESRCH"
        assert p.syscall("kill", p.pid, 65).errno == "EINVAL"
        assert p.syscall("kill", p.pid, 0).ret == 0

    def test_tgkill(self, m):
        """tgkill(tgid, tid, sig): tid must be a thread of tgid (-ESRCH), both > 0 (-EINVAL)."""
        p = m.spawn("x86_64")
        assert p.syscall("tgkill", p.pid, p.pid + 1, SIGTERM).errno == "ESRCH"
        assert p.syscall("tgkill", 0, p.pid, SIGTERM).errno == "EINVAL"
        assert p.syscall("tgkill", p.pid, p.pid, SIGTERM).signal == SIGTERM


class TestGetppid:
    def test_parent(self, m):
        """getppid: the real parent's pid, 0 without one."""
        parent = m.spawn("x86_64")
        child = m.spawn("x86_64", parent=parent)
        assert child.syscall("getppid").ret == parent.pid
        assert parent.syscall("getppid").ret == 0


def _install(p, sig, flags=0x0400_0000 | 0x4, handler_body=None):
    """A handler that stores rdi and rsi at a marker and returns, and a restorer that calls
    rt_sigreturn (15), as glibc's __restore_rt does."""
    from simulator.cpu.assembler import assemble

    code = p.alloc(4096, executable=True)
    marker = p.alloc(64)
    body = handler_body or (
        f"mov rax, {marker}\nmov qword ptr [rax], rdi\nmov qword ptr [rax+8], rsi\n"
        "mov qword ptr [rax+16], rdx\nmov qword ptr [rax+24], rsp\nret"
    )
    p.write_mem(code, assemble(body, mode=64, address=code))
    restorer = code + 0x200
    p.write_mem(restorer, assemble("mov eax, 15\nsyscall", mode=64, address=restorer))
    act = _sigaction(p, code, flags, restorer)
    assert p.syscall("rt_sigaction", sig, act, 0, 8).ret == 0
    return code, restorer, marker


class TestHandler64:
    def test_frame_and_arguments(self, m):
        """__setup_rt_frame (arch/x86/kernel/signal.c 3.16): rdi = signal, rsi = &frame->info,
        rdx = &frame->uc; the handler's rsp is the frame, rsp % 16 == 8 (round_down(sp, 16) - 8
        below the 128-byte red zone); pretcode = sa_restorer; siginfo si_signo/si_code/si_pid
        (SI_USER from kill); uc_sigmask is the mask before delivery."""
        p = m.spawn("x86_64")
        _, restorer, marker = _install(p, SIGUSR1)
        user_sp = p.registers()["rsp"]
        r = p.syscall("kill", p.pid, SIGUSR1)
        assert r.ret == 0 and r.outcome == "returned"
        rdi, rsi, rdx, rsp = (
            int.from_bytes(p.read_mem(marker + i, 8), "little") for i in (0, 8, 16, 24)
        )
        frame = rsp  # at the handler's first instruction rsp points at pretcode
        assert rdi == SIGUSR1
        assert (rsi, rdx) == (frame + 312, frame + 8)
        assert frame % 16 == 8 and frame + 440 <= user_sp - 128
        assert int.from_bytes(p.read_mem(frame, 8), "little") == restorer
        info = p.read_mem(frame + 312, 24)
        assert int.from_bytes(info[0:4], "little") == SIGUSR1
        assert int.from_bytes(info[8:12], "little") == 0  # SI_USER
        assert int.from_bytes(info[16:20], "little") == p.pid

    def test_every_register_restored(self, m):
        """rt_sigreturn's restore_sigcontext puts every register back; the call returns 0
        (kill's result from the saved ax); RCX is -1 and R11 the flags, as the IRET exit that
        delivered the signal left them in pt_regs (FIXUP_TOP_OF_STACK)."""
        p = m.spawn("x86_64")
        _install(p, SIGUSR1)
        values = {
            n: 0x1000 + i
            for i, n in enumerate(("rbx", "rbp", "r8", "r9", "r12", "r13", "r14", "r15"))
        }
        p.set_registers(values)
        r = p.syscall("kill", p.pid, SIGUSR1)
        after = p.registers()
        assert all(after[n] == v for n, v in values.items())
        assert after["rax"] == 0 and after["rcx"] == (1 << 64) - 1
        assert set(r.changed) <= {"rax", "rcx", "r11", "rip"}
        assert p.task.blocked == 0

    def test_signal_blocked_while_the_handler_runs(self, m):
        """signal_setup_done blocks the signal itself (no SA_NODEFER) while its handler runs;
        the saved uc_sigmask restores the old mask at rt_sigreturn."""
        p = m.spawn("x86_64")
        marker = p.alloc(16)
        body = (
            "mov rdi, 0\nmov rsi, 0\nmov rdx, " + str(marker) + "\nmov r10, 8\nmov eax, 14\n"
            "syscall\nret"
        )  # rt_sigprocmask(SIG_BLOCK, NULL, &old, 8)
        _install(p, SIGUSR1, handler_body=body)
        p.syscall("kill", p.pid, SIGUSR1)
        assert int.from_bytes(p.read_mem(marker, 8), "little") == 1 << (SIGUSR1 - 1)
        assert p.task.blocked == 0

    def test_resethand(self, m):
        """SA_RESETHAND: the action goes back to SIG_DFL once delivered."""
        p = m.spawn("x86_64")
        _install(p, SIGUSR1, flags=0x0400_0000 | 0x8000_0000)
        assert p.syscall("kill", p.pid, SIGUSR1).ret == 0
        assert p.task.sigactions[SIGUSR1][0] == 0
        assert p.syscall("kill", p.pid, SIGUSR1).signal == SIGUSR1

    def test_no_restorer_is_sigsegv(self, m):
        """x86-64 should always use SA_RESTORER: without it __setup_rt_frame fails and
        signal_setup_done's force_sigsegv queues SIGSEGV, whose default action kills."""
        p = m.spawn("x86_64")
        _install(p, SIGUSR1, flags=0x4)
        assert p.syscall("kill", p.pid, SIGUSR1).signal == 11

    def test_corrupted_frame_is_sigsegv(self, m):
        """rt_sigreturn with rsp pointing at unmapped memory: signal_fault, SIGSEGV."""
        p = m.spawn("x86_64")
        r = p.run("mov rsp, 0x50000000\nmov eax, 15\nsyscall")
        assert r.signal == 11

    def test_bad_cs_gets_rpl_3(self, m):
        """restore_sigcontext loads cs with RPL 3 forced (COPY_SEG_CPL3): a frame whose cs says
        the kernel's 0x10 comes back as 0x13, and the IRET to it faults: SIGSEGV, not a ring 0
        return."""
        p = m.spawn("x86_64")
        body = "mov rax, qword ptr [rsp]\nmov word ptr [rsp+192], 0x10\nret"
        _install(p, SIGUSR1, handler_body=body)
        r = p.syscall("kill", p.pid, SIGUSR1)
        assert r.signal == 11


class TestSeccompTrap:
    def test_handler_reads_si_syscall(self, m):
        """SECCOMP_RET_TRAP|data (kernel/seccomp.c 3.16 seccomp_send_sigsys): SIGSYS with
        si_code SYS_SECCOMP (1), si_errno = data, si_call_addr = the address after the
        SYSCALL, si_syscall and si_arch; syscall_rollback leaves rax = the number, which is
        what the call returns once the handler is back through rt_sigreturn."""
        from simulator.kernel import bpf

        p = m.spawn("x86_64")
        marker = p.alloc(64)
        body = (
            f"mov rax, {marker}\nmov ecx, dword ptr [rsi+4]\nmov dword ptr [rax], ecx\n"
            "mov ecx, dword ptr [rsi+8]\nmov dword ptr [rax+4], ecx\n"
            "mov rcx, qword ptr [rsi+16]\nmov qword ptr [rax+8], rcx\n"
            "mov ecx, dword ptr [rsi+24]\nmov dword ptr [rax+16], ecx\n"
            "mov ecx, dword ptr [rsi+28]\nmov dword ptr [rax+20], ecx\nret"
        )
        _install(p, 31, handler_body=body)
        ld = bpf.BPF_LD | bpf.BPF_W | bpf.BPF_ABS
        jeq = bpf.BPF_JMP | bpf.BPF_JEQ | bpf.BPF_K
        ret = bpf.BPF_RET | bpf.BPF_K
        program = bpf.assemble(
            [
                bpf.stmt(ld, 0),
                bpf.jump(jeq, 39, 0, 1),  # getpid
                bpf.stmt(ret, bpf.SECCOMP_RET_TRAP | 7),
                bpf.stmt(ret, bpf.SECCOMP_RET_ALLOW),
            ]
        )
        filt = p.alloc(64)
        p.write_mem(filt, program)
        fprog = p.alloc(16)
        p.write_mem(fprog, (4).to_bytes(2, "little") + bytes(6) + filt.to_bytes(8, "little"))
        assert p.syscall("prctl", 22, 2, fprog, 0, 0).ret == 0
        r = p.syscall("getpid")
        assert r.outcome == "returned" and r.ret == 39
        errno, code = (int.from_bytes(p.read_mem(marker + i, 4), "little") for i in (0, 4))
        call_addr = int.from_bytes(p.read_mem(marker + 8, 8), "little")
        syscall, arch = (int.from_bytes(p.read_mem(marker + i, 4), "little") for i in (16, 20))
        assert (errno, code, syscall, arch) == (7, 1, 39, 0xC000_003E)
        assert call_addr == r.before.reg("rip") + 2  # KSTK_EIP: just after the SYSCALL


KERNELS_32 = [("x86_64", "intel"), ("x86_64", "amd"), ("i386", "intel")]


def _install32(p, sig, flags):
    """A 32-bit handler that stores eax, edx, ecx and esp at a marker; no SA_RESTORER, so the
    return goes through the vDSO's __kernel_rt_sigreturn / __kernel_sigreturn."""
    from simulator.cpu.assembler import assemble

    code = p.alloc(4096, executable=True)
    marker = p.alloc(64)
    body = (
        f"mov edi, {marker}\nmov dword ptr [edi], eax\nmov dword ptr [edi+4], edx\n"
        "mov dword ptr [edi+8], ecx\nmov dword ptr [edi+12], esp\nret"
    )
    p.write_mem(code, assemble(body, mode=32, address=code))
    act = p.alloc(32)
    p.write_mem(act, code.to_bytes(4, "little") + flags.to_bytes(4, "little") + bytes(12))
    via = "int80"
    assert p.syscall("rt_sigaction", sig, act, 0, 8, via=via).ret == 0
    return marker


class TestHandler32:
    @pytest.mark.parametrize(("kernel", "vendor"), KERNELS_32)
    def test_rt_frame(self, kernel, vendor):
        """SA_SIGINFO: ia32_setup_rt_frame (x86_64) / __setup_rt_frame (i386), 3.16: eax = sig,
        edx = &frame->info, ecx = &frame->uc (-mregparm=3), ((esp + 4) & 15) == 0 at entry,
        pretcode = the vDSO's __kernel_rt_sigreturn, pinfo/puc point into the frame, retcode is
        movl $173,%eax; int $0x80; every register comes back."""
        from abi import signals as S

        m = Machine.boot(kernel=kernel, cpu=vendor)
        p = m.spawn("i386")
        marker = _install32(p, SIGUSR1, 0x4)
        p.set_registers({"esi": 0x2222, "edi": 0x3333, "ebp": 0x4444})
        r = p.syscall("kill", p.pid, SIGUSR1)
        assert r.outcome == "returned" and r.ret == 0
        eax, edx, ecx, esp = (
            int.from_bytes(p.read_mem(marker + i, 4), "little") for i in (0, 4, 8, 12)
        )
        frame = esp
        assert eax == SIGUSR1 and (esp + 4) % 16 == 0
        assert (edx, ecx) == (frame + 16, frame + 144)
        words = [int.from_bytes(p.read_mem(frame + i, 4), "little") for i in (0, 4, 8, 12)]
        image = __import__("simulator.kernel.vdso", fromlist=["image32"]).image32(
            m.kernel.vdso_variant.name, kernel == "x86_64"
        )
        assert words[0] == p.task.vdso32 + image.symbol_offsets["__kernel_rt_sigreturn"]
        assert words[1:] == [SIGUSR1, frame + 16, frame + 144]
        assert p.read_mem(frame + 260, 8) == S.RT_SIGRETURN_RETCODE
        regs = p.registers()
        assert (regs["esi"], regs["edi"], regs["ebp"]) == (0x2222, 0x3333, 0x4444)
        assert set(r.changed) <= {"eax", "eip", "eflags", "fs"}
        if kernel == "x86_64":
            # RELOAD_SEG (ia32_signal.c 3.16) ORs 3 into the saved selector: fs 0 comes back 3.
            assert r.changed.get("fs") == (0, 3)
        assert p.task.blocked == 0

    @pytest.mark.parametrize(("kernel", "vendor"), KERNELS_32)
    def test_legacy_frame(self, kernel, vendor):
        """Without SA_SIGINFO the legacy sigframe: eax = sig, edx = ecx = 0, pretcode = the
        vDSO's __kernel_sigreturn (popl %eax; movl $119,%eax; int $0x80), sig at +4, the
        sigcontext at +8, and the return restores every register through sys(32)_sigreturn."""
        m = Machine.boot(kernel=kernel, cpu=vendor)
        p = m.spawn("i386")
        marker = _install32(p, SIGUSR1, 0)
        p.set_registers({"esi": 0x2222, "edi": 0x3333, "ebp": 0x4444})
        r = p.syscall("kill", p.pid, SIGUSR1)
        assert r.outcome == "returned" and r.ret == 0
        eax, edx, ecx, esp = (
            int.from_bytes(p.read_mem(marker + i, 4), "little") for i in (0, 4, 8, 12)
        )
        assert (eax, edx, ecx) == (SIGUSR1, 0, 0)
        assert int.from_bytes(p.read_mem(esp + 4, 4), "little") == SIGUSR1
        regs = p.registers()
        assert (regs["esi"], regs["edi"], regs["ebp"]) == (0x2222, 0x3333, 0x4444)

    @pytest.mark.parametrize(("kernel", "vendor"), KERNELS_32)
    def test_bad_frame_is_sigsegv(self, kernel, vendor):
        """sigreturn with esp on unmapped memory: signal_fault, SIGSEGV."""
        m = Machine.boot(kernel=kernel, cpu=vendor)
        p = m.spawn("i386")
        assert p.run("mov esp, 0x50000000\nmov eax, 173\nint 0x80").signal == 11


class TestForceSig:
    def test_blocked_sigsys_from_seccomp_trap_kills(self, m):
        """force_sig_info (kernel/signal.c 3.16): a blocked signal is unblocked and its handler
        reset to SIG_DFL, so a seccomp TRAP with SIGSYS blocked kills with SIGSYS."""
        from simulator.kernel import bpf

        p = m.spawn("x86_64")
        _install(p, 31)
        setp = p.alloc(16)
        p.write_mem(setp, (1 << 30).to_bytes(8, "little"))
        assert p.syscall("rt_sigprocmask", 0, setp, 0, 8).ret == 0
        program = bpf.assemble([bpf.stmt(bpf.BPF_RET | bpf.BPF_K, bpf.SECCOMP_RET_TRAP)])
        filt = p.alloc(16)
        p.write_mem(filt, program)
        fprog = p.alloc(16)
        p.write_mem(fprog, (1).to_bytes(2, "little") + bytes(6) + filt.to_bytes(8, "little"))
        assert p.syscall("prctl", 22, 2, fprog, 0, 0).ret == 0
        r = p.syscall("getpid")  # traps; SIGSYS is blocked, so force_sig_info makes it kill
        assert r.signal == 31 and p.task.killed_by == 31


class TestReviewFixes:
    def test_kill_finds_the_target_before_checking_the_signal(self, m):
        """valid_signal is checked in check_kill_permission, after the target is found
        (kernel/signal.c 3.x): kill(no such pid, 100) is -ESRCH, not -EINVAL."""
        p = m.spawn("x86_64")
        assert p.syscall("kill", 999, 100).errno == "ESRCH"
        assert p.syscall("kill", p.pid, 100).errno == "EINVAL"

    def test_resethand_keeps_flags_and_mask(self, m):
        """SA_ONESHOT in get_signal_to_deliver resets only sa_handler: the flags, restorer and
        mask a later rt_sigaction reads back are unchanged."""
        p = m.spawn("x86_64")
        flags = 0x0400_0000 | 0x8000_0000
        _, restorer, _ = _install(p, SIGUSR1, flags=flags)
        p.syscall("kill", p.pid, SIGUSR1)
        assert p.task.sigactions[SIGUSR1] == (0, flags, restorer, 0)

    def test_lowest_number_first(self, m):
        """next_signal (kernel/signal.c 3.x): synchronous signals first, then the lowest number,
        whatever order they were sent in: SIGUSR1 (10) before SIGTERM (15)."""
        p = m.spawn("x86_64")
        setp = p.alloc(16)
        both = (1 << (SIGUSR1 - 1)) | (1 << (SIGTERM - 1))
        p.write_mem(setp, both.to_bytes(8, "little"))
        p.syscall("rt_sigprocmask", 0, setp, 0, 8)
        p.syscall("kill", p.pid, SIGTERM)
        p.syscall("kill", p.pid, SIGUSR1)
        r = p.syscall("rt_sigprocmask", 1, setp, 0, 8)
        assert r.signal == SIGUSR1  # 10 < 15: the lowest number goes first

    def test_ptrace_cannot_change_cs_of_a_64_bit_tracee(self, m):
        """set_segment_reg (arch/x86/kernel/ptrace.c 3.16): "Can't actually change these in
        64-bit mode": POKEUSER cs on a 64-bit tracee is ignored, and returns 0."""
        tracer, child = m.spawn("x86_64"), m.spawn("x86_64")
        m.ptrace("PTRACE_ATTACH", child, tracer=tracer)
        m.waitpid(child)
        m.ptrace("PTRACE_SYSCALL", child)
        child.syscall("getpid")
        m.waitpid(child)
        assert m.ptrace("PTRACE_POKEUSER", child, 17 * 8, 0x23).ret == 0
        assert m.ptrace("PTRACE_PEEKUSER", child, 17 * 8).value == 0x33


class TestFaultSignals:
    def test_sigsegv_handler_sees_cr2(self, m):
        """A user #PF on x86_64 (3.16): error_entry's full pt_regs, force_sig_info(SIGSEGV)
        with si_code SEGV_MAPERR and si_addr = CR2 (__bad_area_nosemaphore), delivered by the
        exit work to the handler; the sigcontext carries trapno 14, err and cr2."""
        p = m.spawn("x86_64")
        marker = p.alloc(64)
        body = (
            f"mov rax, {marker}\nmov ecx, dword ptr [rsi+8]\nmov dword ptr [rax], ecx\n"
            "mov rcx, qword ptr [rsi+16]\nmov qword ptr [rax+8], rcx\n"
            "mov rcx, qword ptr [rdx+40+160]\nmov qword ptr [rax+16], rcx\n"
            "mov rcx, qword ptr [rdx+40+176]\nmov qword ptr [rax+24], rcx\n"
            "mov edi, 42\nmov eax, 231\nsyscall"
        )
        _install(p, 11, handler_body=body)
        r = p.run("mov rax, qword ptr [0x5000]")
        assert r.stop == "exit" and p.task.exit_code == 42 << 8
        code, addr, trapno, cr2 = (
            int.from_bytes(p.read_mem(marker + i, 8 if i else 4), "little") for i in (0, 8, 16, 24)
        )
        assert (code, addr, trapno, cr2) == (1, 0x5000, 14, 0x5000)

    def test_sigsegv_without_handler_still_kills_with_the_fault_detail(self, m):
        """With SIG_DFL the exit work's default action kills; the result names the fault."""
        p = m.spawn("x86_64")
        r = p.run("mov rax, qword ptr [0x5000]")
        assert r.signal == 11 and "CR2 = 0x5000" in r.detail

    def test_traced_fault_is_a_signal_delivery_stop(self, m):
        """A traced task's SIGSEGV goes to its tracer first (ptrace_signal): status 0xb7f;
        resuming with signal 0 discards it and the task refaults, with 11 it dies."""
        tracer, child = m.spawn("x86_64"), m.spawn("x86_64")
        m.ptrace("PTRACE_ATTACH", child, tracer=tracer)
        m.waitpid(child)
        m.ptrace("PTRACE_CONT", child)
        assert child.run("mov rax, qword ptr [0x5000]").stop == "stopped"
        assert m.waitpid(child).status == 0xB7F
        m.ptrace("PTRACE_CONT", child, 0, 11)
        w = m.waitpid(child)
        assert w.signaled and w.termsig == 11


class TestJobControl:
    def test_stop_and_continue(self, m):
        """SIGSTOP's default action (do_signal_stop): TASK_STOPPED; the parent's wait with
        WUNTRACED reports (SIGSTOP << 8) | 0x7f once; SIGCONT (prepare_signal) wakes it, a
        WCONTINUED wait reports 0xffff, and the call it was making finishes."""
        parent = m.spawn("x86_64")
        child = m.spawn("x86_64", parent=parent)
        r = child.syscall("kill", child.pid, SIGSTOP)
        assert r.outcome == "stopped"
        assert m.waitpid(child).pid == 0  # without WUNTRACED nothing to report
        assert m.waitpid(child, 2).status == 0x137F
        assert m.waitpid(child, 2).pid == 0  # reported once
        assert parent.syscall("kill", child.pid, 18).ret == 0  # SIGCONT
        assert m.waitpid(child, 8).status == 0xFFFF
        assert m.schedule() == [(child.pid, "returned")]
        assert child.last_result.ret == 0

    def test_sigkill_ends_a_stopped_task(self, m):
        """SIGKILL wakes a stopped task, which dies of it."""
        parent = m.spawn("x86_64")
        child = m.spawn("x86_64", parent=parent)
        child.syscall("kill", child.pid, 20)  # SIGTSTP: stop too
        assert parent.syscall("kill", child.pid, SIGKILL).ret == 0
        assert m.schedule() == [(child.pid, "signal")]
        assert m.waitpid(child).termsig == SIGKILL


@pytest.mark.parametrize(("kernel", "vendor"), KERNELS_32)
def test_sigsegv_handler_32(kernel, vendor):
    """A 32-bit process's #PF reaches its SA_SIGINFO handler on both kernels (entry_32.S
    error_code on i386, error_entry on x86_64): si_code SEGV_MAPERR and si_addr = CR2 in the
    32-bit siginfo (union at 12)."""
    from simulator.cpu.assembler import assemble

    m = Machine.boot(kernel=kernel, cpu=vendor)
    p = m.spawn("i386")
    code = p.alloc(4096, executable=True)
    marker = p.alloc(16)
    body = (
        f"mov edi, {marker}\nmov ecx, dword ptr [edx+8]\nmov dword ptr [edi], ecx\n"
        "mov ecx, dword ptr [edx+12]\nmov dword ptr [edi+4], ecx\n"
        "mov ebx, 7\nmov eax, 1\nint 0x80"
    )
    p.write_mem(code, assemble(body, mode=32, address=code))
    act = p.alloc(32)
    p.write_mem(act, code.to_bytes(4, "little") + (0x4).to_bytes(4, "little") + bytes(12))
    assert p.syscall("rt_sigaction", 11, act, 0, 8, via="int80").ret == 0
    r = p.run("mov eax, dword ptr [0x5000]")
    assert r.stop == "exit" and p.task.exit_code == 7 << 8
    si_code, si_addr = (int.from_bytes(p.read_mem(marker + i, 4), "little") for i in (0, 4))
    assert (si_code, si_addr) == (1, 0x5000)


def test_fix_eflags_value():
    """FIX_EFLAGS (arch/x86/include/asm/sighandling.h, 3.12-3.18): AC | OF | DF | TF | SF |
    ZF | AF | PF | CF | RF, the flags sigreturn takes from the frame."""
    from simulator.kernel import signal as S

    assert (
        S.FIX_EFLAGS == 0x40000 | 0x800 | 0x400 | 0x100 | 0x80 | 0x40 | 0x10 | 0x4 | 0x1 | 0x10000
    )
    assert S.FIX_EFLAGS == 0x50DD5


def test_idle_stop_resumed_by_a_simulated_tracer(m):
    """ptrace(PTRACE_CONT, pid, 0, SIGTERM) made by a tracer process (not the Python API)
    wakes a task stopped between calls with that signal: its default action terminates."""
    tracer, child = m.spawn("x86_64"), m.spawn("x86_64")
    m.ptrace("PTRACE_ATTACH", child, tracer=tracer)
    assert m.waitpid(child).stopsig == SIGSTOP
    assert tracer.syscall("ptrace", 7, child.pid, 0, SIGTERM).ret == 0
    assert child.task.killed_by == SIGTERM


def test_signal_name_of_any_signal():
    """A process killed by SIGTERM (15, asm-generic/signal.h) names it: the names come from
    abi.SIGNAL_NAMES, not only the signals CPU exceptions send."""
    from simulator import Machine

    p = Machine.boot().spawn("x86_64")
    r = p.syscall("kill", p.pid, 15)
    assert r.signal == 15 and r.signal_name == "SIGTERM"
    assert str(r).startswith("kill: killed by SIGTERM")


def test_bad_fs_from_sigreturn_is_fixed_up_on_the_i386_sysexit_path():
    """rt_sigreturn with no frame of ours on an i386 kernel restores whatever the stack holds,
    fs included (COPY_SEG(fs), arch/x86/kernel/signal.c 3.16, no |3); sysenter_exit's
    'mov PT_FS(%esp),%fs' faults and its exception-table fixup (entry_32.S 3.16: 2: movl
    $0,PT_FS(%esp); jmp 1b) loads a null fs instead: no oops, the process goes on (here to a
    garbage eip, SIGSEGV). Found by the property test of attacker-controlled arguments."""
    from simulator import Machine

    p = Machine.boot(kernel="i386", cpu="intel").spawn("i386")
    r = p.syscall(173, 0, 0, 0, 0, 0, 0, via="kernel_vsyscall", max_steps=20_000)
    assert r.outcome == "signal" and r.signal_name == "SIGSEGV"
    fixups = [e.what for e in r.trace or () if "fixup: movl $0,PT_FS(%esp)" in e.what]
    assert fixups and fixups[0].startswith("mov PT_FS(%esp),%fs: #GP(")


def test_i386_bad_iret_is_sigill_on_3_16():
    """A tracer's CS of __USER_DS (0x7b) makes the i386 kernel's IRET to user mode fault; the
    IRET's exception-table entry (iret_exc, arch/x86/kernel/entry_32.S 3.16) runs
    do_iret_error: do_trap(X86_TRAP_IRET, SIGILL, "iret exception", ILL_BADSTK)
    (arch/x86/kernel/traps.c 3.16). The 64-bit kernel's bad_iret gives SIGSEGV instead."""
    from simulator import Machine

    m = Machine.boot(kernel="i386", cpu="intel")
    tracer, child = m.spawn("i386"), m.spawn("i386")
    assert m.ptrace("PTRACE_ATTACH", child, tracer=tracer).ret == 0
    assert m.waitpid(child).stopped
    assert m.ptrace("PTRACE_SYSCALL", child).ret == 0
    assert child.syscall("getpid", via="int80").outcome == "stopped"
    assert m.waitpid(child).stopped
    assert m.ptrace("PTRACE_SYSCALL", child).ret == 0
    assert m.waitpid(child).stopped  # the exit stop
    assert m.ptrace("PTRACE_POKEUSER", child, 52, 0x7B).ret == 0  # xcs = __USER_DS
    assert m.ptrace("PTRACE_CONT", child).ret == 0
    w = m.waitpid(child)
    assert w.signaled and w.termsig == 4  # SIGILL
    trace = child.last_result.trace
    assert any("do_iret_error" in e.where for e in trace or ())
