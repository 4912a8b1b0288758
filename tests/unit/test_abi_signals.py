"""Unit tests for abi.signals: signal numbers, default actions, flags, si_codes, the layouts of
sigaction, siginfo, sigcontext, ucontext and the signal frames, and the sigreturn bytes.

Sources. The index holds no complete Linux 3.16 tree, so each fact was matched against
3.16-era copies: unicorn-soc-425/kernel-3.18-U5- (a 3.18 tree with v4.9.227 merge conflicts
left in; the ``HEAD`` side, 3.18, was read), fikuspi/fikus-kernel (3.12.9 with Linux renamed
Fikus), torvalds/linux arch/x86/vdso/vdso32/sigreturn.S (a version before 4.2, when the file
moved), and an arch/x86/kernel/signal.c of the 3.9..3.18 shape (``__setup_frame(int sig,
struct ksignal *ksig, ...)`` with ``access_ok(VERIFY_WRITE, ...)``). Where the 3.12 and 3.18
texts agree, 3.16 lies between them.
"""

import pytest

import abi
from abi import AbiLookupError, syscall_number
from abi import signals as S


def _offsets(layout):
    return [(f.name, f.offset, f.size) for f in layout]


class TestSignalNumbers:
    """arch/x86/include/uapi/asm/signal.h: matched in fikus-kernel (3.12.9); the 3.18 copy's
    sigframe.h and signal.h users agree."""

    @pytest.mark.parametrize(
        ("name", "number"),
        [
            ("SIGHUP", 1),
            ("SIGINT", 2),
            ("SIGQUIT", 3),
            ("SIGILL", 4),
            ("SIGTRAP", 5),
            ("SIGABRT", 6),
            ("SIGBUS", 7),
            ("SIGFPE", 8),
            ("SIGKILL", 9),
            ("SIGUSR1", 10),
            ("SIGSEGV", 11),
            ("SIGUSR2", 12),
            ("SIGPIPE", 13),
            ("SIGALRM", 14),
            ("SIGTERM", 15),
            ("SIGSTKFLT", 16),
            ("SIGCHLD", 17),
            ("SIGCONT", 18),
            ("SIGSTOP", 19),
            ("SIGTSTP", 20),
            ("SIGTTIN", 21),
            ("SIGTTOU", 22),
            ("SIGURG", 23),
            ("SIGXCPU", 24),
            ("SIGXFSZ", 25),
            ("SIGVTALRM", 26),
            ("SIGPROF", 27),
            ("SIGWINCH", 28),
            ("SIGIO", 29),
            ("SIGPWR", 30),
            ("SIGSYS", 31),
        ],
    )
    def test_number(self, name, number):
        """Each of the 31 #defines, SIGHUP 1 .. SIGSYS 31 (uapi/asm/signal.h)."""
        assert S.SIGNALS[name] == number
        assert S.signal_number(name) == number
        assert S.signal_name(number) == name

    def test_one_name_each(self):
        """1..31 each have exactly one primary name."""
        assert sorted(S.SIGNALS.values()) == list(range(1, 32))

    def test_aliases(self):
        """uapi/asm/signal.h: SIGIOT 6, SIGPOLL SIGIO, SIGUNUSED 31."""
        assert S.signal_number("SIGIOT") == 6
        assert S.signal_number("SIGPOLL") == 29
        assert S.signal_number("SIGUNUSED") == 31
        assert S.signal_name(6) == "SIGABRT"

    def test_realtime(self):
        """uapi/asm/signal.h: SIGRTMIN 32, SIGRTMAX _NSIG; _NSIG 64 (asm/signal.h, and
        _COMPAT_NSIG 64 in the 3.18 asm/compat.h)."""
        assert (S.SIGRTMIN, S.SIGRTMAX, S.NSIG) == (32, 64, 64)
        assert S.signal_name(32) == "SIGRTMIN"
        assert S.signal_name(40) == "SIGRTMIN+8"

    def test_unknown(self):
        """0, 65 and unknown names are refused."""
        for bad in (0, 65):
            with pytest.raises(AbiLookupError):
                S.signal_name(bad)
        with pytest.raises(AbiLookupError):
            S.signal_number("SIGEMT")

    def test_sigmask(self):
        """sigmask(sig) is 1UL << ((sig) - 1) (include/linux/signal.h, 3.18 copy)."""
        assert S.sigmask(1) == 1
        assert S.sigmask(9) == 0x100
        assert S.sigmask(64) == 1 << 63
        with pytest.raises(AbiLookupError):
            S.sigmask(0)


class TestDefaultActions:
    """SIG_KERNEL_*_MASK from include/linux/signal.h (3.18 copy, HEAD side; the masks and the
    POSIX table comment are unchanged since 2.6), as kernel/signal.c uses them."""

    def test_masks(self):
        """The four masks, bit by bit: ONLY = KILL|STOP; STOP = STOP|TSTP|TTIN|TTOU;
        COREDUMP = QUIT|ILL|TRAP|ABRT|FPE|SEGV|BUS|SYS|XCPU|XFSZ (SIGEMT_MASK 0 on x86);
        IGNORE = CONT|CHLD|WINCH|URG."""

        def bits(*sigs):
            return sum(1 << (s - 1) for s in sigs)

        assert bits(9, 19) == S.SIG_KERNEL_ONLY_MASK
        assert bits(19, 20, 21, 22) == S.SIG_KERNEL_STOP_MASK
        assert bits(3, 4, 5, 6, 8, 11, 7, 31, 24, 25) == S.SIG_KERNEL_COREDUMP_MASK
        assert bits(18, 17, 28, 23) == S.SIG_KERNEL_IGNORE_MASK

    @pytest.mark.parametrize(
        ("name", "action"),
        [
            ("SIGHUP", "terminate"),
            ("SIGINT", "terminate"),
            ("SIGQUIT", "core"),
            ("SIGILL", "core"),
            ("SIGTRAP", "core"),
            ("SIGABRT", "core"),
            ("SIGBUS", "core"),
            ("SIGFPE", "core"),
            ("SIGKILL", "terminate"),
            ("SIGUSR1", "terminate"),
            ("SIGSEGV", "core"),
            ("SIGUSR2", "terminate"),
            ("SIGPIPE", "terminate"),
            ("SIGALRM", "terminate"),
            ("SIGTERM", "terminate"),
            ("SIGSTKFLT", "terminate"),
            ("SIGCHLD", "ignore"),
            ("SIGCONT", "continue"),
            ("SIGSTOP", "stop"),
            ("SIGTSTP", "stop"),
            ("SIGTTIN", "stop"),
            ("SIGTTOU", "stop"),
            ("SIGURG", "ignore"),
            ("SIGXCPU", "core"),
            ("SIGXFSZ", "core"),
            ("SIGVTALRM", "terminate"),
            ("SIGPROF", "terminate"),
            ("SIGWINCH", "ignore"),
            ("SIGIO", "terminate"),
            ("SIGPWR", "terminate"),
            ("SIGSYS", "core"),
        ],
    )
    def test_action(self, name, action):
        """The POSIX table in include/linux/signal.h's comment, row by row (SIGCONT's
        ``ignore(*)`` is reported as ``continue``: its resume happens when it is sent)."""
        assert S.default_action(S.SIGNALS[name]) == action
        assert action in S.DEFAULT_ACTIONS

    def test_realtime_terminate(self):
        """SIGRTMIN-SIGRTMAX: terminate (same table)."""
        assert {S.default_action(s) for s in range(32, 65)} == {"terminate"}

    def test_uncatchable(self):
        """SIGKILL and SIGSTOP cannot be caught, blocked, or ignored (include/linux/signal.h),
        i.e. SIG_KERNEL_ONLY_MASK."""
        assert frozenset({9, 19}) == S.UNCATCHABLE
        assert sum(S.sigmask(s) for s in S.UNCATCHABLE) == S.SIG_KERNEL_ONLY_MASK

    def test_masks_disjoint(self):
        """No signal is in two of STOP, COREDUMP and IGNORE."""
        masks = (S.SIG_KERNEL_STOP_MASK, S.SIG_KERNEL_COREDUMP_MASK, S.SIG_KERNEL_IGNORE_MASK)
        for i, a in enumerate(masks):
            for b in masks[i + 1 :]:
                assert a & b == 0


class TestFlagsAndCodes:
    """Flags, how-values, handlers, restart errnos and si_codes."""

    def test_sa_flags(self):
        """uapi/asm/signal.h (fikus 3.12.9): SA_NOCLDSTOP 1, SA_NOCLDWAIT 2, SA_SIGINFO 4,
        SA_ONSTACK 0x08000000, SA_RESTART 0x10000000, SA_NODEFER 0x40000000, SA_RESETHAND
        0x80000000, SA_RESTORER 0x04000000; SA_NOMASK/SA_ONESHOT alias NODEFER/RESETHAND."""
        assert S.SA_NOCLDSTOP == 0x1
        assert S.SA_NOCLDWAIT == 0x2
        assert S.SA_SIGINFO == 0x4
        assert S.SA_ONSTACK == 0x08000000
        assert S.SA_RESTART == 0x10000000
        assert S.SA_NODEFER == 0x40000000
        assert S.SA_RESETHAND == 0x80000000
        assert S.SA_RESTORER == 0x04000000
        assert (S.SA_NOMASK, S.SA_ONESHOT) == (S.SA_NODEFER, S.SA_RESETHAND)
        values = list(S.SA_FLAGS.values())
        assert len(values) == 8 and all(v & (v - 1) == 0 for v in values)
        assert len(set(values)) == 8

    def test_stack_sizes(self):
        """uapi/asm/signal.h: MINSIGSTKSZ 2048, SIGSTKSZ 8192."""
        assert (S.MINSIGSTKSZ, S.SIGSTKSZ) == (2048, 8192)

    def test_how_and_handlers(self):
        """include/uapi/asm-generic/signal-defs.h (fikus 3.12.9): SIG_BLOCK 0, SIG_UNBLOCK 1,
        SIG_SETMASK 2; SIG_DFL 0, SIG_IGN 1, SIG_ERR -1."""
        assert (S.SIG_BLOCK, S.SIG_UNBLOCK, S.SIG_SETMASK) == (0, 1, 2)
        assert (S.SIG_DFL, S.SIG_IGN, S.SIG_ERR) == (0, 1, -1)

    def test_restart_errnos(self):
        """include/linux/errno.h (3.18 copy): ERESTARTSYS 512, ERESTARTNOINTR 513,
        ERESTARTNOHAND 514, ERESTART_RESTARTBLOCK 516 (515 is ENOIOCTLCMD)."""
        assert dict(S.RESTART_ERRNOS) == {
            "ERESTARTSYS": 512,
            "ERESTARTNOINTR": 513,
            "ERESTARTNOHAND": 514,
            "ERESTART_RESTARTBLOCK": 516,
        }

    def test_si_codes(self):
        """include/uapi/asm-generic/siginfo.h (3.18 copy, HEAD side): SI_USER 0, SI_KERNEL
        0x80, SI_QUEUE -1 .. SI_DETHREAD -7 with SI_TKILL -6; the positive codes as user space
        sees them (the __SI_* class bits are 0 outside the kernel)."""
        assert (S.SI_USER, S.SI_KERNEL) == (0, 0x80)
        assert (S.SI_QUEUE, S.SI_TIMER, S.SI_MESGQ, S.SI_ASYNCIO) == (-1, -2, -3, -4)
        assert (S.SI_SIGIO, S.SI_TKILL, S.SI_DETHREAD) == (-5, -6, -7)
        assert (S.ILL_ILLOPC, S.ILL_ILLOPN, S.ILL_PRVOPC, S.ILL_BADSTK) == (1, 2, 5, 8)
        assert (S.FPE_INTDIV, S.FPE_INTOVF) == (1, 2)
        assert (S.SEGV_MAPERR, S.SEGV_ACCERR) == (1, 2)
        assert (S.BUS_ADRALN, S.BUS_ADRERR, S.BUS_OBJERR) == (1, 2, 3)
        assert (S.TRAP_BRKPT, S.TRAP_TRACE, S.TRAP_BRANCH, S.TRAP_HWBKPT) == (1, 2, 3, 4)
        assert (S.CLD_EXITED, S.CLD_KILLED, S.CLD_DUMPED) == (1, 2, 3)
        assert (S.CLD_TRAPPED, S.CLD_STOPPED, S.CLD_CONTINUED) == (4, 5, 6)
        assert S.SYS_SECCOMP == 1

    def test_uc_fp_xstate(self):
        """arch/x86/include/uapi/asm/ucontext.h (3.18 copy): UC_FP_XSTATE 0x1."""
        assert S.UC_FP_XSTATE == 1


class TestSigaction:
    """struct sigaction for rt_sigaction."""

    def test_x86_64(self):
        """include/linux/signal.h (3.18 copy): sa_handler; unsigned long sa_flags;
        __ARCH_HAS_SA_RESTORER sa_restorer; sigset_t sa_mask: 8+8+8+8 = 32 (x86_64)."""
        assert _offsets(S.SIGACTION_64) == [
            ("sa_handler", 0, 8),
            ("sa_flags", 8, 8),
            ("sa_restorer", 16, 8),
            ("sa_mask", 24, 8),
        ]
        assert S.SIGACTION_64.size == 32

    def test_ia32(self):
        """struct compat_sigaction (include/linux/compat.h, 3.18 copy): compat_uptr_t
        sa_handler; compat_ulong_t sa_flags; compat_uptr_t sa_restorer; compat_sigset_t
        sa_mask __packed (u32 sig[2], _COMPAT_NSIG_WORDS = 64/32): 20 bytes."""
        assert _offsets(S.SIGACTION_IA32) == [
            ("sa_handler", 0, 4),
            ("sa_flags", 4, 4),
            ("sa_restorer", 8, 4),
            ("sa_mask", 12, 8),
        ]
        assert S.SIGACTION_IA32.size == 20
        assert S.SIGACTION_IA32.offset_of_path("sa_mask.sig1") == 16
        assert _offsets(S.SIGACTION_I386) == _offsets(S.SIGACTION_IA32)


class TestSiginfo:
    """siginfo_t: include/uapi/asm-generic/siginfo.h (3.18 copy, HEAD side), with
    __ARCH_SI_PREAMBLE_SIZE (4 * sizeof(int)) for x86_64 (arch/x86/include/uapi/asm/siginfo.h;
    matched against the older include/asm-x86_64/siginfo.h text), and compat_siginfo_t from
    arch/x86/include/asm/compat.h (3.18 copy)."""

    def test_64(self):
        """SI_MAX_SIZE 128; si_signo, si_errno, si_code, then the union at 16."""
        assert _offsets(S.SIGINFO_64) == [
            ("si_signo", 0, 4),
            ("si_errno", 4, 4),
            ("si_code", 8, 4),
            ("_sifields", 16, 112),
        ]
        assert S.SIGINFO_64.size == 128

    def test_32(self):
        """The generic preamble (3 ints): the union at 12, for i386 and compat."""
        for layout in (S.SIGINFO_32, S.COMPAT_SIGINFO):
            assert layout.offset_of("_sifields") == 12
            assert layout.size == 128

    def test_64_views(self):
        """_kill {pid, uid}; _sigfault {void *_addr; short _addr_lsb}; _sigsys {void
        *_call_addr; int _syscall; unsigned int _arch}; _rt adds sigval_t; _sigchld {pid, uid,
        status, clock_t utime, stime}, on x86_64."""
        v = S.SIGINFO_64_VIEWS
        assert _offsets(v["_kill"])[3:] == [("si_pid", 16, 4), ("si_uid", 20, 4)]
        assert _offsets(v["_sigfault"])[3:] == [("si_addr", 16, 8), ("si_addr_lsb", 24, 2)]
        assert _offsets(v["_sigsys"])[3:] == [
            ("si_call_addr", 16, 8),
            ("si_syscall", 24, 4),
            ("si_arch", 28, 4),
        ]
        assert v["_rt"].offset_of("si_value") == 24
        assert [v["_sigchld"].offset_of(n) for n in ("si_status", "si_utime", "si_stime")] == [
            24,
            32,
            40,
        ]

    def test_32_views(self):
        """The same members from offset 12 with 4-byte pointers; 3.16's compat _sigfault has
        only _addr (asm/compat.h), i386's has _addr_lsb too."""
        for views in (S.SIGINFO_32_VIEWS, S.COMPAT_SIGINFO_VIEWS):
            assert _offsets(views["_kill"])[3:] == [("si_pid", 12, 4), ("si_uid", 16, 4)]
            assert _offsets(views["_sigsys"])[3:] == [
                ("si_call_addr", 12, 4),
                ("si_syscall", 16, 4),
                ("si_arch", 20, 4),
            ]
            assert views["_sigfault"].offset_of("si_addr") == 12
        assert S.SIGINFO_32_VIEWS["_sigfault"].offset_of("si_addr_lsb") == 16
        assert S.COMPAT_SIGINFO_VIEWS["_sigfault"].names[3:] == ("si_addr",)

    def test_views_fit(self):
        """Every view is 128 bytes and its union members stay inside the union."""
        for views, start in (
            (S.SIGINFO_64_VIEWS, 16),
            (S.SIGINFO_32_VIEWS, 12),
            (S.COMPAT_SIGINFO_VIEWS, 12),
        ):
            for view in views.values():
                assert view.size == 128
                assert all(f.offset >= start for f in view.fields[3:])


_GPRS = ("r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rdi", "rsi", "rbp", "rbx")
SIGCONTEXT_64_NAMES = (
    *_GPRS,
    *("rdx", "rax", "rcx", "rsp", "rip", "eflags", "cs", "gs", "fs", "__pad0"),
    *("err", "trapno", "oldmask", "cr2", "fpstate", "reserved1"),
)


class TestSigcontext:
    """struct sigcontext: arch/x86/include/uapi/asm/sigcontext.h (3.18 copy, HEAD side; the
    fikus 3.12.9 text is the same) and sigcontext_ia32 from uapi/asm/sigcontext32.h."""

    def test_64(self):
        """18 __u64 (r8 .. eflags), __u16 cs, gs, fs, __pad0, 5 __u64 (err .. fpstate), __u64
        reserved1[8]: 256 bytes; rip at 128, fpstate at 184."""
        assert S.SIGCONTEXT_64.names == SIGCONTEXT_64_NAMES
        assert S.SIGCONTEXT_64.offset_of("rip") == 128
        assert S.SIGCONTEXT_64.offset_of("eflags") == 136
        assert [S.SIGCONTEXT_64.offset_of(n) for n in ("cs", "gs", "fs", "__pad0")] == [
            144,
            146,
            148,
            150,
        ]
        assert S.SIGCONTEXT_64.offset_of("err") == 152
        assert S.SIGCONTEXT_64.offset_of("fpstate") == 184
        assert S.SIGCONTEXT_64.field("reserved1") == S.SIGCONTEXT_64.field_at(192)
        assert S.SIGCONTEXT_64.field("reserved1").size == 64
        assert S.SIGCONTEXT_64.size == 256

    def test_32(self):
        """gs, __gsh, fs, __fsh, es, __esh, ds, __dsh (u16 pairs), edi .. eip (u32), cs,
        __csh, eflags, esp_at_signal, ss, __ssh, fpstate, oldmask, cr2: 88 bytes."""
        expected = {
            "gs": 0,
            "fs": 4,
            "es": 8,
            "ds": 12,
            "edi": 16,
            "esi": 20,
            "ebp": 24,
            "esp": 28,
            "ebx": 32,
            "edx": 36,
            "ecx": 40,
            "eax": 44,
            "trapno": 48,
            "err": 52,
            "eip": 56,
            "cs": 60,
            "eflags": 64,
            "esp_at_signal": 68,
            "ss": 72,
            "fpstate": 76,
            "oldmask": 80,
            "cr2": 84,
        }
        for layout in (S.SIGCONTEXT_32, S.SIGCONTEXT_IA32):
            assert {n: layout.offset_of(n) for n in expected} == expected
            assert layout.size == 88
            assert layout.field("__gsh") == layout.field_at(2)

    def test_fpstate_ia32(self):
        """struct _fpstate_ia32 (sigcontext32.h, 3.18 copy): 7 u32, _st[8] of 10 bytes,
        status, magic, _fxsr_env[6], mxcsr, reserved, _fxsr_st[8] of 16, _xmm[8] of 16,
        padding[44], the 48-byte sw_reserved union: 624 bytes; 8-aligned under x86_64 because
        struct _fpx_sw_bytes has a __u64 at offset 8."""
        for layout in (S.FPSTATE_IA32, S.FPSTATE_I386):
            assert layout.size == 624
            assert layout.offset_of("magic") == 110
            assert layout.offset_of("mxcsr") == 136
            assert layout.offset_of("_xmm") == 272
            assert layout.offset_of("sw_reserved") == 576
        assert (S.FPSTATE_IA32.alignment, S.FPSTATE_I386.alignment) == (8, 4)


class TestUcontext:
    """struct ucontext: include/uapi/asm-generic/ucontext.h (unsigned long uc_flags; struct
    ucontext *uc_link; stack_t uc_stack; struct sigcontext uc_mcontext; sigset_t uc_sigmask;
    the same text in every era), stack_t from uapi/asm/signal.h (fikus 3.12.9), and struct
    ucontext_ia32 from arch/x86/include/asm/ia32.h (3.18 copy) with compat_stack_t from
    include/linux/compat.h."""

    def test_stack_t(self):
        """void __user *ss_sp; int ss_flags; size_t ss_size: 24 bytes on x86_64 (ss_size at
        16), 12 on i386 and compat."""
        assert _offsets(S.STACK_T_64) == [("ss_sp", 0, 8), ("ss_flags", 8, 4), ("ss_size", 16, 8)]
        assert S.STACK_T_64.size == 24
        for layout in (S.STACK_T_32, S.COMPAT_STACK):
            assert _offsets(layout) == [("ss_sp", 0, 4), ("ss_flags", 4, 4), ("ss_size", 8, 4)]

    def test_64(self):
        """uc_flags 0, uc_link 8, uc_stack 16, uc_mcontext 40, uc_sigmask 296: 304 bytes."""
        assert _offsets(S.UCONTEXT_64) == [
            ("uc_flags", 0, 8),
            ("uc_link", 8, 8),
            ("uc_stack", 16, 24),
            ("uc_mcontext", 40, 256),
            ("uc_sigmask", 296, 8),
        ]
        assert S.UCONTEXT_64.size == 304

    def test_ia32(self):
        """unsigned int uc_flags, uc_link; compat_stack_t; struct sigcontext_ia32;
        compat_sigset_t: 116 bytes; the i386 kernel's struct ucontext has the same shape."""
        for layout in (S.UCONTEXT_IA32, S.UCONTEXT_I386):
            assert _offsets(layout) == [
                ("uc_flags", 0, 4),
                ("uc_link", 4, 4),
                ("uc_stack", 8, 12),
                ("uc_mcontext", 20, 88),
                ("uc_sigmask", 108, 8),
            ]
            assert layout.size == 116


class TestFrames:
    """arch/x86/include/asm/sigframe.h (3.18 copy, HEAD side: sigframe_ia32 with struct
    sigcontext_ia32 sc and struct _fpstate_ia32 fpstate_unused; CONFIG_X86_32 #defines
    sigframe_ia32 to sigframe and rt_sigframe_ia32 to rt_sigframe)."""

    def test_rt_sigframe_64(self):
        """char __user *pretcode; struct ucontext uc; struct siginfo info: 440 bytes."""
        assert _offsets(S.RT_SIGFRAME_64) == [
            ("pretcode", 0, 8),
            ("uc", 8, 304),
            ("info", 312, 128),
        ]
        assert S.RT_SIGFRAME_64.size == 440
        assert S.RT_SIGFRAME_64.offset_of_path("uc.uc_mcontext.rip") == 176
        assert S.RT_SIGFRAME_64.offset_of_path("uc.uc_sigmask") == 304

    def test_rt_sigframe_ia32(self):
        """u32 pretcode; int sig; u32 pinfo; u32 puc; compat_siginfo_t info; struct
        ucontext_ia32 uc; char retcode[8]: 268 bytes; uc.uc_mcontext at 164 (the vDSO's
        IA32_RT_SIGFRAME_sigcontext)."""
        for layout in (S.RT_SIGFRAME_IA32, S.RT_SIGFRAME_I386):
            assert _offsets(layout) == [
                ("pretcode", 0, 4),
                ("sig", 4, 4),
                ("pinfo", 8, 4),
                ("puc", 12, 4),
                ("info", 16, 128),
                ("uc", 144, 116),
                ("retcode", 260, 8),
            ]
            assert layout.size == 268
            assert layout.offset_of_path("uc.uc_mcontext") == 164

    def test_sigframe_ia32(self):
        """u32 pretcode; int sig; struct sigcontext_ia32 sc; struct _fpstate_ia32
        fpstate_unused; unsigned int extramask[_COMPAT_NSIG_WORDS-1]; char retcode[8]: fields
        end at 732; sizeof is 736 in the x86_64 kernel (8-aligned _fpstate_ia32) and 732 in
        the i386 kernel (unsigned long extramask[_NSIG_WORDS-1], 4-aligned _fpstate)."""
        for layout in (S.SIGFRAME_IA32, S.SIGFRAME_I386):
            assert _offsets(layout) == [
                ("pretcode", 0, 4),
                ("sig", 4, 4),
                ("sc", 8, 88),
                ("fpstate_unused", 96, 624),
                ("extramask", 720, 4),
                ("retcode", 724, 8),
            ]
        assert (S.SIGFRAME_IA32.size, S.SIGFRAME_I386.size) == (736, 732)

    def test_sys32_sigreturn_offsets(self):
        """ia32_signal.c: sys32_sigreturn takes the frame at regs->sp - 8 (the handler's ret
        popped pretcode, __kernel_sigreturn's popl popped sig) and the mask from sc.oldmask,
        at byte 88 of the frame."""
        assert S.SIGFRAME_IA32.offset_of_path("sc.oldmask") == 88


class TestSigreturnCode:
    """The sigreturn trampolines' bytes."""

    def test_numbers(self):
        """__NR_sigreturn 119 and __NR_rt_sigreturn 173 are the i386 table's."""
        assert syscall_number("sigreturn", abi="i386") == S.NR_SIGRETURN_I386 == 119
        assert syscall_number("rt_sigreturn", abi="i386") == S.NR_RT_SIGRETURN_I386 == 173

    def test_frame_retcode(self):
        """ia32_signal.c ia32_setup_frame: packed {u16 poplmovl 0xb858; u32 val
        __NR_ia32_sigreturn; u16 int80 0x80cd} (unchanged since 2008, matched in a 4.x copy
        and the 3.x arch/x86/kernel/signal.c retcode for CONFIG_X86_32), little-endian:
        58 b8 77 00 00 00 cd 80."""
        assert bytes.fromhex("58b877000000cd80") == S.SIGRETURN_RETCODE

    def test_rt_frame_retcode(self):
        """ia32_setup_rt_frame / i386 rt_retcode: packed {u8 0xb8; u32 __NR_rt_sigreturn;
        u16 0x80cd; u8 pad 0}: b8 ad 00 00 00 cd 80 00."""
        assert bytes.fromhex("b8ad000000cd8000") == S.RT_SIGRETURN_RETCODE

    def test_retcodes_fill_the_slot(self):
        """Both fill char retcode[8]."""
        size = S.RT_SIGFRAME_IA32.field("retcode").size
        assert len(S.SIGRETURN_RETCODE) == len(S.RT_SIGRETURN_RETCODE) == size == 8

    def test_vdso32(self):
        """arch/x86/vdso/vdso32/sigreturn.S (torvalds/linux, pre-4.2 path): __kernel_sigreturn
        is popl %eax (58); movl $__NR_sigreturn, %eax (b8 imm32); int $0x80 (cd 80), at
        .org __kernel_vsyscall+32; __kernel_rt_sigreturn is movl $__NR_rt_sigreturn, %eax;
        int $0x80 after .balign 32."""
        assert bytes.fromhex("58b877000000cd80") == S.VDSO32_SIGRETURN
        assert bytes.fromhex("b8ad000000cd80") == S.VDSO32_RT_SIGRETURN
        assert (S.VDSO32_SIGRETURN_OFFSET, S.VDSO32_RT_SIGRETURN_OFFSET) == (32, 64)


ALL_LAYOUTS = list(S.LAYOUTS.values())


class TestConsistency:
    """Every layout as the C compiler builds it for the ABI."""

    @pytest.mark.parametrize("layout", ALL_LAYOUTS, ids=[x.name for x in ALL_LAYOUTS])
    def test_no_overlap_and_fits(self, layout):
        """Fields are in declaration order, never overlap, and end within sizeof."""
        end = 0
        for f in layout:
            assert f.offset >= end, f
            assert f.size > 0
            end = f.offset + f.size
        assert end <= layout.size

    @pytest.mark.parametrize("layout", ALL_LAYOUTS, ids=[x.name for x in ALL_LAYOUTS])
    def test_alignment(self, layout):
        """sizeof is a multiple of the alignment; each structure member sits at a multiple of
        its own alignment and has its sizeof."""
        assert layout.size % layout.alignment == 0
        for name, member in layout.members:
            assert layout.offset_of(name) % member.alignment == 0
            assert layout.field(name).size == member.size

    @pytest.mark.parametrize("layout", ALL_LAYOUTS, ids=[x.name for x in ALL_LAYOUTS])
    def test_natural_alignment(self, layout):
        """Fields of 2, 4 or 8 bytes sit at a multiple of min(size, the layout's alignment):
        i386/ia32 layouts are only 4-aligned. char retcode[8] is a byte array (alignment 1)."""
        nested = {n for n, _ in layout.members}
        for f in layout:
            if f.name in nested or f.name == "retcode" or f.size not in (2, 4, 8):
                continue
            assert f.offset % min(f.size, layout.alignment) == 0, f

    def test_gapless_structures(self):
        """The structures with no padding: their fields tile them exactly."""
        for layout in (
            S.SIGCONTEXT_64,
            S.SIGCONTEXT_32,
            S.UCONTEXT_64,
            S.UCONTEXT_IA32,
            S.RT_SIGFRAME_64,
            S.RT_SIGFRAME_IA32,
            S.SIGACTION_64,
            S.SIGACTION_IA32,
        ):
            assert sum(f.size for f in layout) == layout.size, layout.name

    def test_lookups(self):
        """field_at and member refuse what is not there."""
        with pytest.raises(AbiLookupError):
            S.SIGCONTEXT_32.field_at(1)
        with pytest.raises(AbiLookupError):
            S.RT_SIGFRAME_64.member("pretcode")
        with pytest.raises(AbiLookupError):
            S.RT_SIGFRAME_64.offset_of_path("uc.nothing")

    def test_repeated_name(self):
        """c_struct refuses a repeated member name."""
        with pytest.raises(ValueError):
            S.c_struct("bad", "here", ("a", 4, 4), ("a", 4, 4))

    def test_is_a_struct_layout(self):
        """CStruct is abi.layouts.StructLayout, Field is abi.layouts.Field."""
        assert isinstance(S.SIGINFO_64, abi.StructLayout)
        assert all(isinstance(f, abi.layouts.Field) for f in S.SIGINFO_64)

    def test_exports(self):
        """abi re-exports the tables, layouts and bytes."""
        assert abi.RT_SIGFRAME_64 is S.RT_SIGFRAME_64
        assert abi.default_action(9) == "terminate"
        assert abi.SA_RESTORER == 0x04000000


def test_x32_frame_layout():
    """struct ucontext_x32 and struct rt_sigframe_x32 (arch/x86/include/asm/sigframe.h, the
    same text from 3.x to 6.x): 32-bit flags/link/compat stack_t, uc__pad0 "needed for
    alignment", the 64-bit sigcontext at 24, the compat mask at 280 (288 bytes); the frame is
    a u64 pretcode, the ucontext at 8 and a compat_siginfo_t at 296 (424 bytes)."""
    from abi import signals as S

    assert [(f.name, f.offset) for f in S.UCONTEXT_X32.fields] == [
        ("uc_flags", 0),
        ("uc_link", 4),
        ("uc_stack", 8),
        ("uc__pad0", 20),
        ("uc_mcontext", 24),
        ("uc_sigmask", 280),
    ]
    assert S.UCONTEXT_X32.sizeof == 288
    assert [(f.name, f.offset) for f in S.RT_SIGFRAME_X32.fields] == [
        ("pretcode", 0),
        ("uc", 8),
        ("info", 296),
    ]
    assert S.RT_SIGFRAME_X32.sizeof == 424
