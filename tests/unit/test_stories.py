"""What the tour's stories show, pinned (the texts a reader follows next to the source)."""

from scenarios import kernel_stories
from scenarios.story import text_lines


class TestX32Execve:
    def test_520_with_the_x32_bit(self):
        """520 | __X32_SYSCALL_BIT reaches stub_x32_execve -> compat_sys_execve, which reads
        argv as 4-byte compat_uptr_t (syscall_64.tbl '520 x32 execve stub_x32_execve';
        fs/exec.c 3.16); the new x86_64 image prints its argv[1]."""
        text = "\n".join(text_lines(kernel_stories.x32_execve()))
        assert "andl $__SYSCALL_MASK,%eax -> 0x208" in text
        assert "call compat_sys_execve" in text
        assert "stdout b'x32', exit, status 0" in text

    def test_59_with_the_x32_bit_reads_8_byte_pointers(self):
        """59 is a 64-bit entry ('59 64 execve stub_execve'): from an x32 process it still
        runs sys_execve, which reads two 4-byte pointers as one 8-byte one: -EFAULT."""
        text = "\n".join(text_lines(kernel_stories.x32_execve()))
        assert "= -14 (EFAULT)" in text


class TestSignalHandler:
    def test_tour_story(self):
        """The tour's signal-handler story: the frame set up by __setup_rt_frame and
        ia32_setup_rt_frame, the handler at ring 3, the return through sys_rt_sigreturn and,
        for the 32-bit process, the vDSO's __kernel_rt_sigreturn (movl $173,%eax; int $0x80)
        to sys32_rt_sigreturn; the clobbered r12 comes back."""
        from scenarios import signal_stories

        text = "\n".join(text_lines(signal_stories.run()))
        assert "__setup_rt_frame (arch/x86/kernel/signal.c)" in text
        assert "ia32_setup_rt_frame (arch/x86/ia32/ia32_signal.c)" in text
        assert "sys32_rt_sigreturn (arch/x86/ia32/ia32_signal.c)" in text
        assert "mov eax, 0xad (__kernel_rt_sigreturn)" in text
        assert "r12 after the handler clobbered it: 0x1212" in text


class TestRestartStory:
    def test_restart_lands_on_the_vdso_int80(self):
        """The tour's restart story: the read entered by SYSENTER, slept, was interrupted
        (-ERESTARTSYS), and came back through int $0x80 at SYSENTER_RETURN - 2."""
        from scenarios import signal_stories

        lines = text_lines(signal_stories.restart_through_the_vdso())
        text = "\n".join(lines)
        assert "the reader's read = 3: b'hi!'" in text
        assert "-ERESTARTSYS" in text and "ip -= 2" in text
        note = next(line for line in lines if line.startswith("SYSENTER_RETURN is "))
        target = note.split("lands on ")[1].split(",")[0]
        assert f"ring 3 {target} int 0x80" in text


class TestSysretNonCanonical:
    def test_intel_ring_0_amd_ring_3(self):
        """SDM Vol. 2B SYSRET: Intel raises #GP(0) at CPL 0 for a non-canonical RCX; AMD APM
        Vol. 3 SYSRET completes and the fetch faults at CPL 3; Linux's IRET exit after a
        tracer's non-canonical rip ends in SIGSEGV through bad_iret."""
        text = "\n".join(text_lines(kernel_stories.sysret_non_canonical()))
        assert "(raised at CPL 0)" in text
        assert "ring 0->3" in text
        assert "killed by signal 11" in text


class TestSyscallDefine:
    def test_part_1_story(self):
        """Part 1's story: the table line of syscall_64.tbl (3.16), syscalltbl.sh's
        __SYSCALL_COMMON(0, sys_read, sys_read), syscall_init's LSTAR = system_call, and
        SyS_read's (unsigned int) cast dropping bits 32-63 of fd."""
        text = "\n".join(text_lines(kernel_stories.syscall_define_read()))
        assert "'0 common read sys_read'" in text
        assert "__SYSCALL_COMMON(0, sys_read, sys_read)" in text
        assert "IA32_LSTAR (0xc0000082)" in text and "system_call" in text
        assert "= 8: the (unsigned int) cast" in text
