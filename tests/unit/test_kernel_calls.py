"""System calls on the booted 3.16 model: errno results, table dispatch, registers, faults.

Numbers and errnos are pinned to the 3.16 sources (fs/read_write.c, kernel/sys.c,
kernel/time.c, posix-timers.c, tls.c, the .tbl files and the entry code); where the index
had no 3.16 copy, the docstring names the nearest copy that was read.
"""

import struct

import pytest

import abi
from simulator import Machine
from simulator.kernel import linux316 as L
from simulator.trace import FAULT

MOTD = b"hello from ringsim\n"
UNMAPPED = 0x3EAD_0000  # a user address no process maps
SIGILL, SIGTRAP, SIGBUS, SIGSEGV = 4, 5, 7, 11


def boot(kernel):
    m = Machine.boot(kernel=kernel, cpu="intel")
    m.fs.add_file("/etc/motd", MOTD)
    return m


@pytest.fixture(scope="module")
def m64():
    """One x86_64 Intel machine for the module; each test spawns its own processes."""
    return boot("x86_64")


@pytest.fixture(scope="module")
def m32():
    """One i386 Intel machine for the module."""
    return boot("i386")


@pytest.fixture(
    params=[("x86_64", "x86_64"), ("x86_64", "i386"), ("x86_64", "x32"), ("i386", "i386")]
)
def proc(request, m64, m32):
    """A fresh process of each (kernel, ABI) pair."""
    kernel, abi_name = request.param
    return (m64 if kernel == "x86_64" else m32).spawn(abi_name)


def errno(name):
    return -abi.errno_number(name)


def open_motd(p):
    path = p.alloc(64)
    p.write_mem(path, b"/etc/motd\0")
    r = p.syscall("open", path, 0, 0)
    assert r.ret is not None and r.ret >= 3, r
    return r.ret


def kernel_half(p):
    """A kernel-half address the process can pass, or None for a compat process (its 32-bit
    pointers cannot reach the 64-bit kernel half)."""
    if p.machine.kind == "i386":
        return 0xC000_0000  # PAGE_OFFSET
    return None if p.abi == "i386" else 0xFFFF_8800_0000_0000


# ----------------------------------------------------------------------------- files


class TestBadFd:
    def test_read(self, proc):
        """read on an fd that is not open is -EBADF (fdget; fs/read_write.c sys_read, 3.16)."""
        buf = proc.alloc(64)
        r = proc.syscall("read", 42, buf, 16)
        assert (r.ret, r.errno) == (errno("EBADF"), "EBADF")

    def test_write(self, proc):
        """write on an fd that is not open is -EBADF (fs/read_write.c sys_write, 3.16)."""
        buf = proc.alloc(64)
        r = proc.syscall("write", 42, buf, 1)
        assert r.errno == "EBADF"

    def test_write_to_read_only_fd(self, proc):
        """write on an O_RDONLY fd is -EBADF: no FMODE_WRITE (vfs_write, fs/read_write.c 3.16)."""
        fd = open_motd(proc)
        buf = proc.alloc(64)
        assert proc.syscall("write", fd, buf, 1).errno == "EBADF"

    def test_fd_is_unsigned_int_write(self, m64):
        """SYSCALL_DEFINE3(write, unsigned int fd, ...): bits 32-63 of rdi are dropped (3.16)."""
        p = m64.spawn("x86_64")
        buf = p.alloc(64)
        p.write_mem(buf, b"hi!")
        r = p.syscall("write", 0x1_0000_0000 | 1, buf, 3)
        assert r.ret == 3
        assert p.stdout == b"hi!"

    def test_fd_is_unsigned_int_read(self, m64):
        """SYSCALL_DEFINE3(read, unsigned int fd, ...): fd 0x1_0000_0000|fd reaches fd (3.16)."""
        p = m64.spawn("x86_64")
        fd = open_motd(p)
        buf = p.alloc(64)
        r = p.syscall("read", 0x1_0000_0000 | fd, buf, 64)
        assert r.ret == len(MOTD)
        assert p.read_mem(buf, len(MOTD)) == MOTD


class TestUserBuffers:
    def test_read_copies(self, proc):
        """read of a regular file copies its bytes and returns their count."""
        fd = open_motd(proc)
        buf = proc.alloc(64)
        assert proc.syscall("read", fd, buf, 64).ret == len(MOTD)
        assert proc.read_mem(buf, len(MOTD)) == MOTD

    def test_unmapped_buffer_faults_and_fixes_up(self, proc):
        """An unmapped user buffer passes access_ok; copy_to_user takes a #PF at CPL 0 and the
        exception table turns it into -EFAULT (arch/x86/mm/fault.c no_context, 3.16)."""
        fd = open_motd(proc)
        r = proc.syscall("read", fd, UNMAPPED, 16)
        assert r.errno == "EFAULT" and proc.alive
        faults = [e for e in r.trace if e.kind == FAULT and "#PF" in e.what]
        assert faults and all(e.ring == 0 for e in faults)
        assert any("fixup_exception" in w for w in r.trace.symbols())

    def test_unmapped_source_for_write(self, proc):
        """write from an unmapped buffer is -EFAULT via copy_from_user's fixup (3.16)."""
        r = proc.syscall("write", 1, UNMAPPED, 16)
        assert r.errno == "EFAULT"
        assert any(e.kind == FAULT and e.ring == 0 for e in r.trace)
        assert proc.stdout == b""

    def test_kernel_half_buffer_refused_without_fault(self, proc):
        """A kernel-half buffer fails access_ok (__range_not_ok against addr_limit) before any
        access: -EFAULT and no #PF (arch/x86/include/asm/uaccess.h, 3.16)."""
        address = kernel_half(proc)
        if address is None:
            pytest.skip("a compat process has no pointer into the 64-bit kernel half")
        fd = open_motd(proc)
        r = proc.syscall("read", fd, address, 16)
        assert r.errno == "EFAULT"
        assert "access_ok (arch/x86/include/asm/uaccess.h)" in r.trace.symbols()
        assert not any(e.kind == FAULT for e in r.trace)

    def test_compat_top_page_passes_access_ok(self, m64):
        """A compat task's addr_limit is USER_DS = TASK_SIZE_MAX like any x86_64 task, so
        0xfffff000 passes access_ok and faults instead (asm/uaccess.h, processor.h 3.16)."""
        p = m64.spawn("i386")
        fd = open_motd(p)
        r = p.syscall("read", fd, 0xFFFF_F000, 16)
        assert r.errno == "EFAULT"
        assert "access_ok (arch/x86/include/asm/uaccess.h)" not in r.trace.symbols()
        assert any(e.kind == FAULT and e.ring == 0 for e in r.trace)

    def test_range_crossing_addr_limit(self, m64):
        """access_ok refuses a range that starts in user space but ends past TASK_SIZE_MAX."""
        p = m64.spawn("x86_64")
        fd = open_motd(p)
        r = p.syscall("read", fd, L.TASK_SIZE_MAX_64 - 8, 16)
        assert r.errno == "EFAULT"
        assert not any(e.kind == FAULT for e in r.trace)

    def test_count_zero(self, proc):
        """read with count 0 returns 0 and touches nothing, even at an unmapped address
        (vfs_read, fs/read_write.c 3.16)."""
        fd = open_motd(proc)
        buf = proc.alloc(64)
        assert proc.syscall("read", fd, buf, 0).ret == 0
        r = proc.syscall("read", fd, UNMAPPED, 0)
        assert r.ret == 0
        assert not any(e.kind == FAULT for e in r.trace)

    def test_short_copy_returns_bytes_copied(self, m64):
        """A copy that faults part-way returns the bytes copied so far (vfs_read semantics)."""
        p = m64.spawn("x86_64")
        fd = open_motd(p)
        buf = p.alloc(4096)  # the next page is a guard page
        r = p.syscall("read", fd, buf + 4096 - 5, 64)
        assert r.ret == 5
        assert p.read_mem(buf + 4096 - 5, 5) == MOTD[:5]


class TestOpen:
    def test_missing_path(self, proc):
        """open of a missing path is -ENOENT (do_sys_open -> path_openat, fs/namei.c 3.16)."""
        path = proc.alloc(64)
        proc.write_mem(path, b"/etc/no-such-file\0")
        assert proc.syscall("open", path, 0, 0).errno == "ENOENT"

    def test_unreadable_path(self, proc):
        """open with an unmapped path pointer is -EFAULT (getname, fs/namei.c 3.16)."""
        assert proc.syscall("open", UNMAPPED, 0, 0).errno == "EFAULT"

    def test_lowest_free_fd(self, proc):
        """open returns the lowest free fd (get_unused_fd_flags, fs/file.c): 3 after 0-2."""
        assert open_motd(proc) == 3
        assert open_motd(proc) == 4


# --------------------------------------------------------------------------- numbers


class TestNumbers:
    def test_x86_64_above_table(self, m64):
        """545 and above are -ENOSYS on x86_64: __NR_syscall_max is 544 with x32 built in
        (badsys, arch/x86/kernel/entry_64.S 3.16)."""
        p = m64.spawn("x86_64")
        for number in (545, 1000, 0x3FFF_FFFF):
            r = p.syscall(number)
            assert r.errno == "ENOSYS" and r.modeled, number
            assert any("badsys" in w for w in r.trace.symbols())

    def test_x86_64_high_bits_masked(self, m64):
        """andl $__SYSCALL_MASK,%eax drops bits 32-63: 0x1_0000_0027 is getpid (entry_64.S 3.16)."""
        p = m64.spawn("x86_64")
        assert p.syscall(0x1_0000_0000 | 39).ret == p.pid

    def test_x32_above_table(self, m64):
        """0x40000000|600 is -ENOSYS: 600 > 544 after masking the x32 bit (entry_64.S 3.16)."""
        p = m64.spawn("x32")
        assert p.syscall(0x4000_0000 | 600).errno == "ENOSYS"

    def test_i386_above_table(self, m64, m32):
        """Numbers >= 354 (IA32_NR_syscalls, NR_syscalls) are -ENOSYS, compared unsigned
        (ia32_badsys in ia32entry.S, syscall_badsys in entry_32.S, 3.16)."""
        for m in (m64, m32):
            p = m.spawn("i386")
            for via in ("int80", "sysenter"):
                for number in (354, 0xFFFF_FFFF):
                    assert p.syscall(number, via=via).errno == "ENOSYS", (m.kind, via, number)

    def test_hole_is_sys_ni_syscall(self, m64):
        """A table hole is sys_ni_syscall, -ENOSYS: "205 64 set_thread_area" has no entry point
        (arch/x86/syscalls/syscall_64.tbl, 3.16)."""
        p = m64.spawn("x86_64")
        buf = p.alloc(64)
        r = p.syscall(205, buf)
        assert r.errno == "ENOSYS" and r.modeled
        assert "sys_ni_syscall (kernel/sys_ni.c)" in r.trace.symbols()

    def test_x86_64_calling_x32_number_reaches_compat(self, m64):
        """A 64-bit process's 514 reaches the shared table's compat_sys_ioctl ("514 x32 ioctl
        compat_sys_ioctl", syscall_64.tbl 3.16), which ringsim does not model."""
        p = m64.spawn("x86_64")
        r = p.syscall(514, 0, 0x5401, 0)
        assert r.modeled is False
        assert "compat_sys_ioctl" in r.trace.symbols()
        assert any(e.kind == "not modeled" for e in r.trace)

    def test_x32_calling_64_number_reaches_native(self, m64):
        """An x32 process's 0x40000000|16 reaches sys_ioctl (the x32 bit is masked, 3.16)."""
        p = m64.spawn("x32")
        r = p.syscall(0x4000_0000 | 16, 0, 0x5401, 0)
        assert r.modeled is False
        assert "sys_ioctl" in r.trace.symbols()
        assert "compat_sys_ioctl" not in r.trace.symbols()

    def test_60_through_syscall_is_exit(self, m64):
        """rax = 60 through SYSCALL is exit ("60 common exit sys_exit", syscall_64.tbl 3.16)."""
        p = m64.spawn("x86_64")
        r = p.syscall(60, 7)
        assert r.outcome == "exit" and not p.alive
        assert p.exit_status == 7 << 8
        assert "sys_exit (kernel/exit.c)" in r.trace.symbols()

    def test_60_through_int80_is_umask(self, m64):
        """eax = 60 through INT 0x80 is i386 umask ("60 i386 umask sys_umask", syscall_32.tbl)."""
        p = m64.spawn("x86_64")
        r = p.syscall(60, 0o077, via="int80")
        assert r.ret == 0o022 and p.alive
        assert "sys_umask (kernel/sys.c)" in r.trace.symbols()
        assert "ia32_syscall (arch/x86/ia32/ia32entry.S)" in r.trace.symbols()
        assert p.task.umask == 0o077

    def test_1_is_exit_on_i386(self, m64, m32):
        """eax = 1 is exit on i386 ("1 i386 exit sys_exit", syscall_32.tbl 3.16)."""
        for m in (m64, m32):
            p = m.spawn("i386")
            r = p.syscall(1, 3)
            assert r.outcome == "exit" and p.exit_status == 3 << 8

    def test_1_is_write_on_x86_64(self, m64):
        """rax = 1 is write on x86_64 ("1 common write sys_write", syscall_64.tbl 3.16)."""
        p = m64.spawn("x86_64")
        buf = p.alloc(64)
        p.write_mem(buf, b"w")
        assert p.syscall(1, 1, buf, 1).ret == 1 and p.stdout == b"w"

    def test_table_sizes(self, m64, m32):
        """Table maxima: 544 (x86_64 with x32), 353 (i386 and ia32) (asm-offsets_*.c, 3.16)."""
        assert m64.kernel.tables["sys_call_table"].max_number == 544
        assert m64.kernel.tables["ia32_sys_call_table"].max_number == 353
        assert m32.kernel.tables["sys_call_table"].max_number == 353


# ---------------------------------------------------------------------------- simple calls


class TestSimpleCalls:
    def test_getpid(self, proc):
        """getpid returns the pid (task_tgid_vnr, kernel/sys.c 3.16)."""
        assert proc.syscall("getpid").ret == proc.pid

    def test_umask_returns_old(self, proc):
        """umask returns the old mask and keeps mask & S_IRWXUGO (kernel/sys.c 3.16)."""
        assert proc.syscall("umask", 0o027).ret == 0o022
        assert proc.syscall("umask", 0o7777).ret == 0o027
        assert proc.syscall("umask", 0o022).ret == 0o777

    def test_close(self, proc):
        """close of an open fd is 0, of a closed one -EBADF (__close_fd, fs/file.c 3.16)."""
        fd = open_motd(proc)
        assert proc.syscall("close", fd).ret == 0
        assert proc.syscall("close", fd).errno == "EBADF"


class TestTime:
    def _times(self, p):
        word = 4 if p.abi == "i386" else 8  # x32 has a 64-bit time_t
        fmt = "<qq" if word == 8 else "<ii"
        buf = p.alloc(64)
        assert p.syscall("gettimeofday", buf, 0).ret == 0
        tv_sec, tv_usec = struct.unpack(fmt, p.read_mem(buf, 2 * word))
        t = p.syscall("time", buf + 32).ret
        (t_mem,) = struct.unpack(fmt[:2], p.read_mem(buf + 32, word))
        assert p.syscall("clock_gettime", 0, buf + 48).ret == 0
        ts_sec, ts_nsec = struct.unpack(fmt, p.read_mem(buf + 48, 2 * word))
        return tv_sec, tv_usec, t, t_mem, ts_sec, ts_nsec

    def test_clocks_agree(self, proc):
        """gettimeofday, time and clock_gettime(CLOCK_REALTIME) read one clock: the same second,
        and the later call no earlier (getnstimeofday, get_seconds: kernel/time/timekeeping.c)."""
        tv_sec, tv_usec, t, t_mem, ts_sec, ts_nsec = self._times(proc)
        assert tv_sec == t == t_mem == ts_sec
        assert 0 <= tv_usec < 1_000_000 and 0 <= ts_nsec < 1_000_000_000
        assert tv_usec * 1000 <= ts_nsec

    def test_deterministic_across_machines(self):
        """Time comes from the simulated TSC: the same calls on two fresh boots read the same."""
        assert self._times(boot("x86_64").spawn("x86_64")) == self._times(
            boot("x86_64").spawn("x86_64")
        )

    def test_time_follows_advance_time(self):
        """After 2.5 simulated seconds of HZ ticks, time() and gettimeofday() are 2 seconds on."""
        m = boot("x86_64")
        p = m.spawn("x86_64")
        before = p.syscall("time", 0).ret
        m.advance_time(2_500_000_000)
        assert p.syscall("time", 0).ret == before + 2
        buf = p.alloc(64)
        assert p.syscall("gettimeofday", buf, 0).ret == 0
        assert struct.unpack("<q", p.read_mem(buf, 8))[0] == before + 2

    @pytest.mark.parametrize("where", ["unmapped", "kernel"])
    def test_bad_pointers(self, proc, where):
        """A bad tv, tloc or tp is -EFAULT (copy_to_user / put_user: kernel/time.c,
        kernel/time/posix-timers.c, 3.16)."""
        bad = UNMAPPED if where == "unmapped" else kernel_half(proc)
        if bad is None:
            pytest.skip("a compat process has no pointer into the 64-bit kernel half")
        buf = proc.alloc(64)
        assert proc.syscall("gettimeofday", bad, 0).errno == "EFAULT"
        assert proc.syscall("gettimeofday", buf, bad).errno == "EFAULT"
        assert proc.syscall("time", bad).errno == "EFAULT"
        assert proc.syscall("clock_gettime", 0, bad).errno == "EFAULT"

    def test_null_pointers(self, proc):
        """time(NULL) returns the seconds; gettimeofday(NULL, NULL) is 0 (kernel/time.c 3.16)."""
        assert proc.syscall("time", 0).ret > 1_000_000_000
        assert proc.syscall("gettimeofday", 0, 0).ret == 0

    @pytest.mark.parametrize("clock", [16, 99, 10])
    def test_invalid_clock(self, proc, clock):
        """clockid_to_kclock returns NULL for id >= MAX_CLOCKS (16) or an unregistered id:
        -EINVAL before any copy (kernel/time/posix-timers.c 3.16)."""
        assert proc.syscall("clock_gettime", clock, UNMAPPED).errno == "EINVAL"

    def test_monotonic_below_realtime(self, proc):
        """CLOCK_MONOTONIC counts from boot, so it reads less than CLOCK_REALTIME."""
        word = 4 if proc.abi == "i386" else 8
        buf = proc.alloc(64)
        assert proc.syscall("clock_gettime", 0, buf).ret == 0
        assert proc.syscall("clock_gettime", 1, buf + 16).ret == 0
        real = int.from_bytes(proc.read_mem(buf, word), "little")
        mono = int.from_bytes(proc.read_mem(buf + 16, word), "little")
        assert mono < real


# ---------------------------------------------------------------------------------- TLS


def user_desc(entry, base=0x1234_0000, limit=0xFFFFF, bits=0x51):
    """struct user_desc (asm/ldt.h): entry_number, base_addr, limit, flag bits."""
    return struct.pack("<IIII", entry & 0xFFFF_FFFF, base, limit, bits)


class TestSetThreadArea:
    @pytest.mark.parametrize(("kernel", "first"), [("x86_64", 12), ("i386", 6)])
    def test_start_up_takes_first_entry(self, m64, m32, kernel, first):
        """entry_number -1 picks the first free TLS entry, GDT_ENTRY_TLS_MIN (12 on x86_64, 6 on
        i386, asm/segment.h) and writes it back (get_free_idx, arch/x86/kernel/tls.c 3.16)."""
        m = m64 if kernel == "x86_64" else m32
        p = m.spawn("i386")
        written_back = p.read_mem(m.kernel.map.tls_block + 0x100, 4)
        assert int.from_bytes(written_back, "little") == first
        assert p.task.user_state.segment("gs")[0] == first * 8 + 3

    @pytest.mark.parametrize(("kernel", "first"), [("x86_64", 12), ("i386", 6)])
    def test_next_free_then_cleared(self, m64, m32, kernel, first):
        """The next -1 request gets the next entry; an LDT_empty descriptor frees an entry,
        which -1 then picks again (do_set_thread_area, arch/x86/kernel/tls.c 3.16)."""
        m = m64 if kernel == "x86_64" else m32
        p = m.spawn("i386")
        desc = p.alloc(64)
        p.write_mem(desc, user_desc(-1))
        assert p.syscall("set_thread_area", desc).ret == 0
        assert struct.unpack("<I", p.read_mem(desc, 4))[0] == first + 1
        # LDT_empty: base 0, limit 0, read_exec_only 1, seg_not_present 1, everything else 0.
        p.write_mem(desc, user_desc(first, base=0, limit=0, bits=0x08 | 0x20))
        assert p.syscall("set_thread_area", desc).ret == 0
        p.write_mem(desc, user_desc(-1))
        assert p.syscall("set_thread_area", desc).ret == 0
        assert struct.unpack("<I", p.read_mem(desc, 4))[0] == first

    @pytest.mark.parametrize("kernel", ["x86_64", "i386"])
    def test_no_free_entry(self, m64, m32, kernel):
        """With all GDT_ENTRY_TLS_ENTRIES (3) in use, -1 is -ESRCH (get_free_idx, tls.c 3.16)."""
        p = (m64 if kernel == "x86_64" else m32).spawn("i386")
        desc = p.alloc(64)
        for _ in range(2):
            p.write_mem(desc, user_desc(-1))
            assert p.syscall("set_thread_area", desc).ret == 0
        p.write_mem(desc, user_desc(-1))
        assert p.syscall("set_thread_area", desc).errno == "ESRCH"

    @pytest.mark.parametrize(("kernel", "bad"), [("x86_64", 11), ("x86_64", 15), ("i386", 9)])
    def test_entry_out_of_range(self, m64, m32, kernel, bad):
        """An entry outside GDT_ENTRY_TLS_MIN..MAX is -EINVAL (do_set_thread_area, tls.c 3.16)."""
        p = (m64 if kernel == "x86_64" else m32).spawn("i386")
        desc = p.alloc(64)
        p.write_mem(desc, user_desc(bad))
        assert p.syscall("set_thread_area", desc).errno == "EINVAL"

    def test_bad_pointer(self, m64):
        """An unreadable user_desc is -EFAULT (copy_from_user, tls.c 3.16)."""
        p = m64.spawn("i386")
        assert p.syscall("set_thread_area", UNMAPPED).errno == "EFAULT"

    def test_hole_for_64_bit(self, m64):
        """A 64-bit process has no set_thread_area: "205 64 set_thread_area" is a hole, -ENOSYS
        (arch/x86/syscalls/syscall_64.tbl, 3.16)."""
        p = m64.spawn("x86_64")
        desc = p.alloc(64)
        p.write_mem(desc, user_desc(-1))
        r = p.syscall("set_thread_area", desc)
        assert r.number == 205 and r.errno == "ENOSYS"
        assert p.read_mem(desc, 4) == b"\xff\xff\xff\xff"


class TestPrctl:
    def test_no_new_privs(self, proc):
        """PR_SET_NO_NEW_PRIVS (38) with arg2 = 1 is 0; PR_GET_NO_NEW_PRIVS (39) then reads 1
        (kernel/sys.c prctl, include/uapi/linux/prctl.h, 3.16)."""
        assert proc.syscall("prctl", 39, 0, 0, 0, 0).ret == 0
        assert proc.syscall("prctl", 38, 1, 0, 0, 0).ret == 0
        assert proc.syscall("prctl", 39, 0, 0, 0, 0).ret == 1

    @pytest.mark.parametrize("args", [(1, 1, 0, 0), (2, 0, 0, 0), (1, 0, 0, 1), (0, 0, 0, 0)])
    def test_no_new_privs_einval(self, proc, args):
        """PR_SET_NO_NEW_PRIVS needs arg2 == 1 and arg3-5 == 0, else -EINVAL (kernel/sys.c 3.16)."""
        assert proc.syscall("prctl", 38, *args).errno == "EINVAL"
        assert proc.syscall("prctl", 39, 0, 0, 0, 0).ret == 0


# ----------------------------------------------------------------------------- registers


class TestChangedRegisters:
    def test_syscall_from_x86_64(self, m64):
        """SYSCALL writes RCX (return RIP) and R11 (RFLAGS); SYSRET keeps them (SDM Vol. 2B SYSCALL;
        entry_64.S 3.16): the process sees exactly rax, rcx, r11 and rip change."""
        p = m64.spawn("x86_64")
        p.run("mov rcx, 0x1234\nmov r11, 0x5678\nmov rbx, 0x42")
        r = p.syscall("getpid")
        assert set(r.changed) == {"rax", "rcx", "r11", "rip"}
        _, rip_after = r.changed["rip"]
        assert r.changed["rcx"][1] == rip_after
        assert r.changed["r11"][1] == r.before.reg("rflags")
        assert r.after.reg("rbx") == 0x42

    def test_syscall_from_x32(self, m64):
        """An x32 process goes the same SYSCALL path: rax, rcx, r11 and rip change."""
        p = m64.spawn("x32")
        p.run("mov rcx, 0x1234\nmov r11, 0x5678")
        assert set(p.syscall("getpid").changed) == {"rax", "rcx", "r11", "rip"}

    @pytest.mark.parametrize("kernel", ["x86_64", "i386"])
    @pytest.mark.parametrize("via", ["int80", "sysenter", "kernel_vsyscall"])
    def test_i386_process(self, m64, m32, kernel, via):
        """From an i386 process only eax, eip and (after SYSEXIT) eflags change: INT 0x80 returns
        by IRET with every register restored, the vDSO pops what SYSEXIT clobbers, and the
        SYSEXIT exits hand back the kernel's flags (ia32entry.S, entry_32.S 3.16)."""
        p = (m64 if kernel == "x86_64" else m32).spawn("i386")
        p.run("mov ebx, 1\nmov ecx, 2\nmov edx, 3\nmov esi, 4\nmov edi, 5\nmov ebp, 6")
        r = p.syscall("getpid", via=via)
        sysexit = via in ("sysenter", "kernel_vsyscall") and not (
            kernel == "x86_64" and m64.vendor == "amd"
        )
        assert set(r.changed) - {"eflags"} == {"eax", "eip"}, r.changed
        if not sysexit:
            assert "eflags" not in r.changed

    def test_int80_from_64_bit_zeroes_r8_to_r11(self, m64):
        """ia32_sysret's CLEAR_RREGS zeroes the r8-r11 slots, so a 64-bit INT 0x80 caller loses
        r8-r11 (arch/x86/ia32/ia32entry.S 3.16)."""
        p = m64.spawn("x86_64")
        p.run("mov r8, 8\nmov r9, 9\nmov r10, 10\nmov r11, 11\nmov r12, 12")
        r = p.syscall("getpid", via="int80")
        assert {reg: r.after.reg(reg) for reg in ("r8", "r9", "r10", "r11", "r12")} == {
            "r8": 0,
            "r9": 0,
            "r10": 0,
            "r11": 0,
            "r12": 12,
        }

    def test_int80_from_64_bit_truncates_pointers(self, m64):
        """INT 0x80 arguments are 32-bit (IA32_ARG_FIXUP movl): a 64-bit stack pointer is cut
        to 32 bits and the copy faults: -EFAULT (ia32entry.S 3.16)."""
        p = m64.spawn("x86_64")
        r = p.syscall("time", 0x7FFF_FFFF_E000 - 0x200, via="int80")
        assert r.errno == "EFAULT"


class TestPtRegs:
    def test_layout(self):
        """struct pt_regs is 168 bytes with orig_ax at 120 (asm/ptrace.h, calling.h 3.16)."""
        assert abi.PT_REGS_64.size == L.PT_REGS_SIZE_64 == 168
        assert abi.PT_REGS_64.offset_of("orig_ax") == 120
        assert abi.PT_REGS_32.size == 68 and abi.PT_REGS_32.offset_of("orig_ax") == 44

    def _slot64(self, p, name):
        k = p.machine.kernel
        base = p.task.kernel_stack_top - abi.PT_REGS_64.size
        return int.from_bytes(k.kspace.peek(base + abi.PT_REGS_64.offset_of(name), 8), "little")

    def test_orig_ax_after_syscall(self, m64):
        """system_call saves rax into orig_ax (SAVE_ARGS; entry_64.S 3.16), all 64 bits of it."""
        p = m64.spawn("x86_64")
        p.syscall("getpid")
        assert self._slot64(p, "orig_ax") == 39
        p.syscall(0x1_0000_0000 | 39)
        assert self._slot64(p, "orig_ax") == 0x1_0000_0027
        assert self._slot64(p, "ax") == p.pid

    def test_orig_ax_after_int80(self, m64):
        """ia32_syscall pushes the zero-extended eax as orig_ax (ia32entry.S 3.16)."""
        p = m64.spawn("i386")
        p.syscall("getpid", via="int80")
        assert self._slot64(p, "orig_ax") == 20

    def test_ia32_badsys_zeroes_orig_ax(self, m64):
        """ia32_badsys: movq $0,ORIG_RAX(%rsp); movq $-ENOSYS,%rax (ia32entry.S 3.16)."""
        p = m64.spawn("i386")
        r = p.syscall(400, via="int80")
        assert r.errno == "ENOSYS"
        assert self._slot64(p, "orig_ax") == 0

    def test_i386_orig_eax(self, m32):
        """On i386 pt_regs ends 8 bytes below the stack top (task_pt_regs, asm/processor.h 3.16)
        and orig_eax is at 44 (asm/ptrace.h)."""
        p = m32.spawn("i386")
        p.syscall("getpid", via="int80")
        base = p.task.kernel_stack_top - 8 - abi.PT_REGS_32.size
        k = m32.kernel
        orig = int.from_bytes(
            k.kspace.peek(base + abi.PT_REGS_32.offset_of("orig_ax"), 4), "little"
        )
        ax = int.from_bytes(k.kspace.peek(base + abi.PT_REGS_32.offset_of("ax"), 4), "little")
        assert (orig, ax) == (20, p.pid)


# ------------------------------------------------------------------------------ faults


class TestUserFaults:
    def test_ud2_is_sigill(self, proc):
        """#UD in user mode is SIGILL (DO_ERROR(X86_TRAP_UD, SIGILL, ...), traps.c 3.16)."""
        r = proc.run("ud2")
        assert (r.stop, r.signal) == ("signal", SIGILL) and not proc.alive
        assert "do_invalid_op (arch/x86/kernel/traps.c)" in r.trace.symbols()

    def test_cli_is_sigsegv(self, proc):
        """CLI at CPL 3 with IOPL 0 is #GP(0) (SDM Vol. 2A CLI); do_general_protection sends
        SIGSEGV (traps.c 3.16)."""
        r = proc.run("cli")
        assert (r.stop, r.signal) == ("signal", SIGSEGV)
        assert any(e.kind == FAULT and "#GP(0)" in e.what for e in r.trace)

    def test_unmapped_access_is_sigsegv(self, proc):
        """A user read of an unmapped page is #PF; bad_area sends SIGSEGV (arch/x86/mm/fault.c)."""
        r = proc.run(f"mov eax, dword ptr [{UNMAPPED:#x}]")
        assert (r.stop, r.signal) == ("signal", SIGSEGV)
        assert f"CR2 = {UNMAPPED:#x}" in r.detail

    def test_int3_is_sigtrap(self, proc):
        """int3 through its DPL 3 gate is SIGTRAP (do_int3, traps.c 3.16)."""
        r = proc.run("nop\nint3")
        assert r.signal == SIGTRAP

    @pytest.mark.parametrize("kernel", ["x86_64", "i386"])
    def test_segment_not_present_is_sigbus(self, m64, m32, kernel):
        """Loading DS with a not-present TLS descriptor is #NP(selector) (SDM Vol. 2B MOV);
        DO_ERROR(X86_TRAP_NP, SIGBUS, ...) (traps.c 3.16)."""
        p = (m64 if kernel == "x86_64" else m32).spawn("i386")
        desc = p.alloc(64)
        p.write_mem(desc, user_desc(-1, bits=0x51 | 0x20))  # seg_not_present
        assert p.syscall("set_thread_area", desc).ret == 0
        selector = struct.unpack("<I", p.read_mem(desc, 4))[0] * 8 + 3
        r = p.run(f"mov eax, {selector:#x}\nmov ds, ax")
        assert r.signal == SIGBUS
        assert "vector 11 at ip" in r.detail and f"error code {selector & ~3:#x}" in r.detail

    @pytest.mark.parametrize("kernel", ["x86_64", "i386"])
    def test_stack_segment_not_present_is_sigbus(self, m64, m32, kernel):
        """Loading SS with a not-present descriptor is #SS(selector) (SDM Vol. 2B MOV);
        DO_ERROR(X86_TRAP_SS, SIGBUS, ...) (traps.c 3.16)."""
        p = (m64 if kernel == "x86_64" else m32).spawn("i386")
        desc = p.alloc(64)
        p.write_mem(desc, user_desc(-1, bits=0x51 | 0x20))
        assert p.syscall("set_thread_area", desc).ret == 0
        selector = struct.unpack("<I", p.read_mem(desc, 4))[0] * 8 + 3
        r = p.run(f"mov eax, {selector:#x}\nmov ss, ax")
        assert r.signal == SIGBUS and "vector 12" in r.detail
        assert "do_stack_segment (arch/x86/kernel/traps.c)" in r.trace.symbols()

    def test_non_canonical_stack_is_sigbus(self, m64):
        """A push to a non-canonical RSP is #SS(0) (SDM Vol. 3A §6.15), hence SIGBUS (traps.c)."""
        p = m64.spawn("x86_64")
        r = p.run("mov rsp, 0x8000000000000000\npush rax")
        assert r.signal == SIGBUS and "vector 12" in r.detail

    def test_dead_process_refuses_calls(self, m64):
        """A killed process makes no more calls: the API says so with a ValueError naming pid."""
        p = m64.spawn("x86_64")
        p.run("ud2")
        with pytest.raises(ValueError, match="pid"):
            p.syscall("getpid")

    @pytest.mark.parametrize("vendor", ["intel", "amd"])
    def test_compat_syscall_instruction(self, vendor):
        """SYSCALL from compatibility mode is #UD on Intel (SDM Vol. 2B SYSCALL) and reaches
        ia32_cstar_target on AMD (ia32entry.S 3.16)."""
        m = Machine.boot(cpu=vendor)
        p = m.spawn("i386")
        r = p.syscall("getpid", via="syscall")
        if vendor == "intel":
            assert r.signal == SIGILL
        else:
            assert r.ret == p.pid
            assert "ia32_cstar_target (arch/x86/ia32/ia32entry.S)" in r.trace.symbols()


# -------------------------------------------------------------------------- determinism


def _story(m):
    m.fs.add_file("/etc/motd", MOTD)
    out = []
    for abi_name in ("x86_64", "i386", "x32"):
        p = m.spawn(abi_name)
        buf = p.alloc(64)
        fd = open_motd(p)
        for r in (
            p.syscall("getpid"),
            p.syscall("read", fd, buf, 8),
            p.syscall("read", fd, UNMAPPED, 8),
            p.syscall("gettimeofday", buf, 0),
        ):
            out.append(r.trace.render())
        out.append(p.run("ud2").trace.render())
    return out


class TestDeterminism:
    @pytest.mark.parametrize("vendor", ["intel", "amd"])
    def test_same_seed_same_traces(self, vendor):
        """The same calls on two machines with the same seed render byte-identical traces."""
        a = _story(Machine.boot(cpu=vendor, seed=7))
        b = _story(Machine.boot(cpu=vendor, seed=7))
        assert a == b
        assert all(a)
