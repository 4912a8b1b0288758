"""Golden lines for scenarios.strace_format, the strace 4.8 formatter.

What was checked against strace 4.8-era sources (strace/strace, read through the search
index; no copy tagged v4.8 was stored, so the nearest 2013 copies were read):

- syscall.c update_personality(): ``"[ Process PID=%d runs in %s mode. ]"`` with the
  x86_64 build's names ``{"64 bit", "32 bit", "x32"}``.
- syscall.c get_scno(): unknown numbers are ``syscall_%lu`` (x32 bit removed), with
  ``nargs = MAX_ARGS`` and ``QUAL_RAW``; trace_syscall_exiting() then prints
  ``= %#lx`` or ``= -1 (errno %ld)``; printargs() prints ``%#lx`` per argument;
  errors are ``= -1 %s (%s)`` with strerror, and ERESTARTSYS & co. ``= ? ...``.
- util.c string_quote()/printstr()/printpathn(): escapes, minimal octal unless a digit
  follows, ``...`` after the quote when longer than -s, addresses as ``%#lx``, NULL.
- file.c: open/openat flags order, ``%#lo`` mode only with O_CREAT, umask ``%#lo`` and
  RVAL_OCTAL, lseek ``%lu``/``%ld`` offset, whence names, RVAL_UDECIMAL.
- io.c read/write; process.c printargv()/printargc()/sys_execve, sys_prctl;
  time.c sys_gettimeofday/printtv (``{%lu, %lu}``, ``%#lx`` on error); mem.c brk/mmap.
"""

import pytest

from abi import X32_SYSCALL_BIT
from scenarios.strace_format import (
    capture_entry,
    format_call,
    personality_notice,
    personality_notice_for,
    quote,
)

X32 = X32_SYSCALL_BIT


def make_peek(memory):
    def peek(address, size):
        for base, data in memory.items():
            if base <= address and address + size <= base + len(data):
                return data[address - base : address - base + size]
        return None

    return peek


def u64(*values):
    return b"".join(v.to_bytes(8, "little") for v in values)


def u32(*values):
    return b"".join(v.to_bytes(4, "little") for v in values)


MEM = make_peek(
    {
        0x1000: b"hello\n\0",
        0x2000: b"/nope\0",
        0x2100: b"f\0",
        0x3000: b"/bin/echo\0",
        0x3100: u64(0x3200, 0x3210, 0),
        0x3200: b"echo\0",
        0x3210: b"hi\0",
        0x3300: u64(0),
        0x3400: u32(0x3200, 0x3210, 0),
        0x3500: u32(0x3200, 0),
        0x4000: u64(1404000001, 234567),
        0x4100: u32(1404000001, 234567),
        0x5000: bytes(range(256)),
        0x6000: b"A" * 40,
    }
)
NOTHING = make_peek({})


@pytest.mark.parametrize(
    ("abi", "nr", "args", "ret", "line"),
    [
        ("x86_64", 0, [3, 0x1000, 16], 6, 'read(3, "hello\\n", 16) = 6'),
        ("i386", 3, [3, 0x1000, 16], 6, 'read(3, "hello\\n", 16) = 6'),
        ("x32", X32 | 0, [3, 0x1000, 16], 6, 'read(3, "hello\\n", 16) = 6'),
        ("x86_64", 0, [3, 0x1000, 16], 0, 'read(3, "", 16) = 0'),
        ("x86_64", 1, [1, 0x1000, 3], 3, 'write(1, "hel", 3) = 3'),
        ("i386", 4, [1, 0x1000, 6], 6, 'write(1, "hello\\n", 6) = 6'),
        (
            "x86_64",
            2,
            [0x2000, 0, 0],
            -2,
            'open("/nope", O_RDONLY) = -1 ENOENT (No such file or directory)',
        ),
        (
            "i386",
            5,
            [0x2000, 0, 0],
            0xFFFFFFFE,
            'open("/nope", O_RDONLY) = -1 ENOENT (No such file or directory)',
        ),
        ("x86_64", 2, [0x2100, 0o1101, 0o644], 3, 'open("f", O_WRONLY|O_CREAT|O_TRUNC, 0644) = 3'),
        (
            "x86_64",
            2,
            [0x2100, 0o2000002 | 0o200000, 0o644],
            3,
            'open("f", O_RDWR|O_DIRECTORY|O_CLOEXEC) = 3',
        ),
        ("x86_64", 2, [0x2100, 0o10000000, 0], 3, 'open("f", O_RDONLY|0x200000) = 3'),
        (
            "x86_64",
            257,
            [2**64 - 100, 0x2100, 0o4000, 0],
            3,
            'openat(AT_FDCWD, "f", O_RDONLY|O_NONBLOCK) = 3',
        ),
        ("x86_64", 2, [0, 0, 0], -14, "open(NULL, O_RDONLY) = -1 EFAULT (Bad address)"),
        ("x86_64", 3, [3], 0, "close(3) = 0"),
        ("i386", 6, [0xFFFFFFFF], -9 & 0xFFFFFFFF, "close(-1) = -1 EBADF (Bad file descriptor)"),
        ("x86_64", 39, [], 42, "getpid() = 42"),
        ("i386", 20, [], 42, "getpid() = 42"),
        ("x86_64", 231, [0], 0, "exit_group(0) = ?"),
        ("i386", 252, [1], 0, "exit_group(1) = ?"),
        ("x86_64", 60, [0], 0, "exit(0) = ?"),
        ("x86_64", 12, [0], 0x601000, "brk(0) = 0x601000"),
        ("i386", 45, [0], 0x804B000, "brk(0) = 0x804b000"),
        ("x86_64", 8, [3, 0, 0], 0, "lseek(3, 0, SEEK_SET) = 0"),
        ("x86_64", 8, [3, 2**64 - 1, 1], 4, "lseek(3, -1, SEEK_CUR) = 4"),
        ("i386", 19, [3, 0xFFFFFFFF, 1], 4, "lseek(3, -1, SEEK_CUR) = 4"),
        (
            "x86_64",
            8,
            [3, 0, 7],
            -22,
            "lseek(3, 0, 0x7 /* SEEK_??? */) = -1 EINVAL (Invalid argument)",
        ),
        ("x86_64", 96, [0x4000, 0], 0, "gettimeofday({1404000001, 234567}, NULL) = 0"),
        ("i386", 78, [0x4100, 0], 0, "gettimeofday({1404000001, 234567}, NULL) = 0"),
        ("x86_64", 96, [0x9000, 0], -14, "gettimeofday(0x9000, 0) = -1 EFAULT (Bad address)"),
        ("x86_64", 96, [0x9000, 0], 0, "gettimeofday({...}, NULL) = 0"),
        ("x86_64", 201, [0], 1404000001, "time(NULL) = 1404000001"),
        ("x86_64", 201, [0x4000], 1404000001, "time([1404000001]) = 1404000001"),
        ("x86_64", 95, [0o22], 0o22, "umask(022) = 022"),
        ("i386", 60, [0o77], 0, "umask(077) = 0"),
        ("x86_64", 32, [1], 3, "dup(1) = 3"),
        ("x86_64", 33, [1, 5], 5, "dup2(1, 5) = 5"),
        ("x86_64", 62, [42, 15], 0, "kill(42, SIGTERM) = 0"),
        ("i386", 37, [42, 9], -3 & 0xFFFFFFFF, "kill(42, SIGKILL) = -1 ESRCH (No such process)"),
        ("x86_64", 157, [38, 1, 0, 0, 0], 0, "prctl(PR_SET_NO_NEW_PRIVS, 0x1, 0, 0, 0) = 0"),
        (
            "x86_64",
            157,
            [22, 2, 0x7FFF1000, 0, 0],
            0,
            "prctl(PR_SET_SECCOMP, 0x2, 0x7fff1000, 0, 0) = 0",
        ),
        ("i386", 172, [4, 0, 0, 0, 0], 0, "prctl(PR_SET_DUMPABLE, 0) = 0"),
        (
            "x86_64",
            157,
            [99, 0, 0, 0, 0],
            -22,
            "prctl(0x63 /* PR_??? */, 0, 0, 0, 0) = -1 EINVAL (Invalid argument)",
        ),
        ("x86_64", 102, [], 1000, "getuid() = 1000"),
        ("i386", 199, [], 1000, "getuid32() = 1000"),
        ("x86_64", 22, [0x7000], 0, "pipe(0x7000) = 0"),
        ("x86_64", 63, [0x7000], 0, "uname(0x7000) = 0"),
        (
            "x86_64",
            4,
            [0x2000, 0x7000],
            -2,
            "stat(0x2000, 0x7000) = -1 ENOENT (No such file or directory)",
        ),
        ("x86_64", 101, [0, 1234, 0, 0], 0, "ptrace(0, 0x4d2, 0, 0) = 0"),
        (
            "x86_64",
            61,
            [2**64 - 1, 0x7000, 0, 0],
            1234,
            "wait4(0xffffffffffffffff, 0x7000, 0, 0) = 1234",
        ),
        ("i386", 114, [0xFFFFFFFF, 0x7000, 0, 0], 1234, "wait4(0xffffffff, 0x7000, 0, 0) = 1234"),
        (
            "x86_64",
            9,
            [0, 4096, 3, 0x22, 2**64 - 1, 0],
            0x7F0000000000,
            "mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)"
            " = 0x7f0000000000",
        ),
        (
            "i386",
            192,
            [0, 4096, 5, 0x802, 3, 2],
            0xB7700000,
            "mmap2(NULL, 4096, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_DENYWRITE, 3, 0x2000)"
            " = 0xb7700000",
        ),
        (
            "x86_64",
            0,
            [3, 0x1000, 16],
            -512,
            "read(3, 0x1000, 16) = ? ERESTARTSYS (To be restarted if SA_RESTART is set)",
        ),
        (
            "x86_64",
            0,
            [3, 0x1000, 16],
            -600,
            "read(3, 0x1000, 16) = -1 ERRNO_600 (Unknown error 600)",
        ),
    ],
)
def test_golden_lines(abi, nr, args, ret, line):
    """One golden line per convention, in the ABIs where numbers or widths differ."""
    assert format_call(abi, nr, args, ret, MEM) == line


@pytest.mark.parametrize(
    ("errno", "text"),
    [
        (1, "EPERM (Operation not permitted)"),
        (4, "EINTR (Interrupted system call)"),
        (5, "EIO (Input/output error)"),
        (7, "E2BIG (Argument list too long)"),
        (8, "ENOEXEC (Exec format error)"),
        (10, "ECHILD (No child processes)"),
        (11, "EAGAIN (Resource temporarily unavailable)"),
        (12, "ENOMEM (Cannot allocate memory)"),
        (13, "EACCES (Permission denied)"),
        (17, "EEXIST (File exists)"),
        (20, "ENOTDIR (Not a directory)"),
        (21, "EISDIR (Is a directory)"),
        (24, "EMFILE (Too many open files)"),
        (29, "ESPIPE (Illegal seek)"),
        (30, "EROFS (Read-only file system)"),
        (34, "ERANGE (Numerical result out of range)"),
        (36, "ENAMETOOLONG (File name too long)"),
        (38, "ENOSYS (Function not implemented)"),
    ],
)
def test_error_text_is_glibc_strerror(errno, text):
    """trace_syscall_exiting: ``= -1 %s (%s)`` with errnoent name and strerror()."""
    assert format_call("x86_64", 3, [3], -errno, NOTHING) == f"close(3) = -1 {text}"


def test_escapes_and_octal():
    """util.c string_quote: C escapes; octal minimal unless a digit follows (then 3)."""
    assert quote(b'a"b\\c\t\n\r\f\v') == '"a\\"b\\\\c\\t\\n\\r\\f\\v"'
    assert quote(b"\0") == '"\\0"'
    assert quote(b"\x001") == '"\\0001"'
    assert quote(b"\x1b[0m") == '"\\33[0m"'
    assert quote(b"\xff\x7f ~") == '"\\377\\177 ~"'
    line = format_call("x86_64", 0, [3, 0x5000, 16], 4, MEM)
    assert line == 'read(3, "\\0\\1\\2\\3", 16) = 4'


def test_truncation_at_exactly_the_limit():
    """printstr: exactly string_limit bytes print whole; one more adds "..." after the quote."""
    a32 = '"' + "A" * 32 + '"'
    assert format_call("x86_64", 1, [1, 0x6000, 32], 32, MEM) == f"write(1, {a32}, 32) = 32"
    assert format_call("x86_64", 1, [1, 0x6000, 33], 33, MEM) == f"write(1, {a32}..., 33) = 33"
    assert format_call("x86_64", 0, [3, 0x6000, 40], 33, MEM) == f"read(3, {a32}..., 40) = 33"
    line = format_call("x86_64", 1, [1, 0x6000, 33], 33, MEM, string_limit=4)
    assert line == 'write(1, "AAAA"..., 33) = 33'


def test_unreadable_pointer_prints_the_address():
    """printstr/printpath: umoven failure prints %#lx; read on error prints the address."""
    assert format_call("x86_64", 0, [3, 0x7FFF0000, 16], -14, NOTHING) == (
        "read(3, 0x7fff0000, 16) = -1 EFAULT (Bad address)"
    )
    assert format_call("x86_64", 0, [3, 0x7FFF0000, 16], 16, NOTHING) == (
        "read(3, 0x7fff0000, 16) = 16"
    )
    assert format_call("x86_64", 2, [0xDEAD0000, 0, 0], -14, NOTHING) == (
        "open(0xdead0000, O_RDONLY) = -1 EFAULT (Bad address)"
    )


def test_unknown_syscall_is_raw():
    """get_scno: syscall_%lu, six args %#lx, QUAL_RAW result; x32 without its bit."""
    assert format_call("x86_64", 999, [1, 2, 0, 0, 0, 0], -38, NOTHING) == (
        "syscall_999(0x1, 0x2, 0, 0, 0, 0) = -1 (errno 38)"
    )
    assert format_call("i386", 400, [0, 0, 0, 0, 0, 0], 16, NOTHING) == (
        "syscall_400(0, 0, 0, 0, 0, 0) = 0x10"
    )
    assert format_call("x32", X32 | 999, [0] * 6, 0, NOTHING) == "syscall_999(0, 0, 0, 0, 0, 0) = 0"


def test_execve_with_capture_entry():
    """process.c sys_execve: path and argv read at entry; envp printed as a count."""
    call = ("x86_64", 59, [0x3000, 0x3100, 0x3300])
    snapshot = capture_entry(*call, MEM)
    # After a successful execve the old image is gone: nothing reads any more.
    assert format_call(*call, 0, NOTHING, at_entry=snapshot) == (
        'execve("/bin/echo", ["echo", "hi"], [/* 0 vars */]) = 0'
    )
    assert format_call(*call, 0, NOTHING) == "execve(0x3000, [0x3100], [/* 0 vars */]) = 0"
    i386 = ("i386", 11, [0x3000, 0x3400, 0x3500])
    assert format_call(*i386, 0, NOTHING, at_entry=capture_entry(*i386, MEM)) == (
        'execve("/bin/echo", ["echo", "hi"], [/* 1 var */]) = 0'
    )
    x32 = ("x32", X32 | 520, [0x3000, 0x3400, 0x3300])
    assert format_call(*x32, -2, MEM) == (
        'execve("/bin/echo", ["echo", "hi"], [/* 0 vars */]) = -1 ENOENT '
        "(No such file or directory)"
    )


def test_write_uses_the_entry_snapshot_and_read_the_exit_memory():
    """io.c: write's buffer is printed at entry, read's at exit."""
    before = make_peek({0x1000: b"old!"})
    after = make_peek({0x1000: b"new!"})
    snap = capture_entry("x86_64", 1, [1, 0x1000, 4], before)
    assert format_call("x86_64", 1, [1, 0x1000, 4], 4, after, at_entry=snap) == (
        'write(1, "old!", 4) = 4'
    )
    snap = capture_entry("x86_64", 0, [0, 0x1000, 4], before)
    assert snap["memory"] == {}
    assert format_call("x86_64", 0, [0, 0x1000, 4], 4, after, at_entry=snap) == (
        'read(0, "new!", 4) = 4'
    )


def test_argv_is_cut_after_half_the_string_limit():
    """printargv: at most max_strlen / 2 strings, then "..."."""
    memory = {0x8000: u64(*([0x8100] * 20), 0), 0x8100: b"x\0"}
    line = format_call(
        "x86_64", 59, [0x3000, 0x8000, 0], -2, make_peek({**memory, 0x3000: b"/a\0"})
    )
    assert (
        line
        == 'execve("/a", ['
        + '"x", ' * 16
        + "...], [/* 0 vars */]) = -1 ENOENT (No such file or directory)"
    )


def test_personality_notice():
    """syscall.c update_personality: "[ Process PID=%d runs in %s mode. ]"."""
    assert personality_notice(1234, 32) == "[ Process PID=1234 runs in 32 bit mode. ]"
    assert personality_notice(1234, 64) == "[ Process PID=1234 runs in 64 bit mode. ]"
    assert personality_notice_for(7, "x32") == "[ Process PID=7 runs in x32 mode. ]"
    assert personality_notice_for(7, "i386") == "[ Process PID=7 runs in 32 bit mode. ]"


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: format_call("arm", 0, [], 0, NOTHING), ValueError, ("abi", "arm")),
        (lambda: format_call(64, 0, [], 0, NOTHING), TypeError, ("abi", "int")),
        (lambda: format_call("x86_64", "read", [], 0, NOTHING), TypeError, ("nr", "str")),
        (
            lambda: format_call("x32", 0, [3, 0, 0], 0, NOTHING),
            ValueError,
            ("nr", "X32_SYSCALL_BIT"),
        ),
        (lambda: format_call("x86_64", X32, [3, 0, 0], 0, NOTHING), ValueError, ("nr", "x32")),
        (
            lambda: format_call("i386", 3, [2**32, 0, 0], 0, NOTHING),
            ValueError,
            ("args[0]", "32-bit"),
        ),
        (lambda: format_call("x86_64", 0, [0] * 7, 0, NOTHING), ValueError, ("args", "7")),
        (lambda: format_call("x86_64", 0, [3], 0, NOTHING), ValueError, ("args", "read")),
        (lambda: format_call("x86_64", 0, "abc", 0, NOTHING), TypeError, ("args", "str")),
        (lambda: format_call("i386", 3, [3, 0, 0], 2**32, NOTHING), ValueError, ("ret", "32-bit")),
        (lambda: format_call("x86_64", 3, [3], 0, None), TypeError, ("peek", "callable")),
        (
            lambda: format_call("x86_64", 3, [3], 0, NOTHING, string_limit=-1),
            ValueError,
            ("string_limit",),
        ),
        (lambda: format_call("x86_64", 3, [3], 0, NOTHING, at_entry={}), ValueError, ("at_entry",)),
        (lambda: personality_notice(1, 16), ValueError, ("bits", "16")),
        (lambda: personality_notice(0, 32), ValueError, ("pid", "0")),
        (lambda: personality_notice(True, 32), TypeError, ("pid", "bool")),
    ],
)
def test_api_misuse(call, error, words):
    """House style: misuse raises ValueError/TypeError naming the field and the values."""
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value)


def test_snapshot_of_another_call_is_refused():
    snap = capture_entry("x86_64", 1, [1, 0x1000, 4], MEM)
    with pytest.raises(ValueError, match=r"at_entry\['args'\]"):
        format_call("x86_64", 1, [2, 0x1000, 4], 4, MEM, at_entry=snap)
    with pytest.raises(ValueError, match=r"at_entry\['string_limit'\]"):
        format_call("x86_64", 1, [1, 0x1000, 4], 4, MEM, at_entry=snap, string_limit=8)


def test_bad_peek_answer_is_refused():
    with pytest.raises(ValueError, match="peek"):
        format_call("x86_64", 1, [1, 0x1000, 4], 4, lambda a, n: b"x")
