"""What the tour's stories show, pinned (the texts a reader follows next to the source)."""

from scenarios import kernel_stories


class TestX32Execve:
    def test_520_with_the_x32_bit(self):
        """520 | __X32_SYSCALL_BIT reaches stub_x32_execve -> compat_sys_execve, which reads
        argv as 4-byte compat_uptr_t (syscall_64.tbl '520 x32 execve stub_x32_execve';
        fs/exec.c 3.16); the new x86_64 image prints its argv[1]."""
        text = "\n".join(kernel_stories.x32_execve())
        assert "andl $__SYSCALL_MASK,%eax -> 0x208" in text
        assert "call compat_sys_execve" in text
        assert "stdout b'x32', exit, status 0" in text

    def test_59_with_the_x32_bit_reads_8_byte_pointers(self):
        """59 is a 64-bit entry ('59 64 execve stub_execve'): from an x32 process it still
        runs sys_execve, which reads two 4-byte pointers as one 8-byte one: -EFAULT."""
        text = "\n".join(kernel_stories.x32_execve())
        assert "= -14 (EFAULT)" in text
