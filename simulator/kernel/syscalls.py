"""The system call handlers ringsim models, by the entry-point names of the 3.16 tables.

Each handler takes the raw argument registers and applies its C types the way
3.16's SYSCALL_DEFINE wrappers do (an ``unsigned int fd`` drops bits 32-63 on
x86_64); compat_* handlers read 32-bit user structures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from simulator.kernel import linux316 as L
from simulator.kernel import uaccess
from simulator.kernel.fs import CharDevice as _CharDevice

#: The file types that are pipe ends: simulator.kernel.pipe adds its PipeEnd when it loads
#: (it imports this module, so this one cannot import it).
PIPE_TYPES: tuple[type, ...] = ()

if TYPE_CHECKING:
    from simulator.kernel.kernel import Kernel

_M32 = 0xFFFF_FFFF
MAX_RW_COUNT = 0x7FFF_F000  # INT_MAX & PAGE_CACHE_MASK (include/linux/fs.h)
CHUNK = 0x10000  # ringsim copies in 64 KiB pieces, as the page cache copies page by page
PATH_MAX = 4096  # include/uapi/linux/limits.h
O_LARGEFILE = 0o100000  # include/uapi/asm-generic/fcntl.h
PR_GET_SECCOMP, PR_SET_SECCOMP = 21, 22
PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS = 38, 39
PR_LAST_316 = 42  # PR_GET_THP_DISABLE, the highest prctl option of 3.16
MAX_CLOCKS = 16
MODELED_CLOCKS = {0: "CLOCK_REALTIME", 1: "CLOCK_MONOTONIC", 4: "CLOCK_MONOTONIC_RAW"}
MODELED_CLOCKS.update({5: "CLOCK_REALTIME_COARSE", 6: "CLOCK_MONOTONIC_COARSE"})
MODELED_CLOCKS.update({7: "CLOCK_BOOTTIME", 11: "CLOCK_TAI"})

HANDLERS: dict[str, Callable[..., int]] = {}
SOURCES: dict[str, str] = {}
# Files of handlers registered for another profile's entry-point names (simulator.kernel.
# syscalls69): _enter names them, handler_sources (the 3.16 list) does not.
OTHER_SOURCES: dict[str, str] = {}


def handler_sources() -> dict[str, str]:
    """Every registered handler and its file, once all handler modules are imported."""
    from simulator.kernel import boot  # noqa: F401 (importing it registers the handlers)

    return dict(SOURCES)


def handler(name: str, source: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Register a handler under its entry-point name, with the file that defines it."""

    def register(fn: Callable[..., int]) -> Callable[..., int]:
        if name in HANDLERS:
            raise ValueError(f"handler {name!r} registered twice")
        HANDLERS[name] = fn
        SOURCES[name] = source
        return fn

    return register


def _enter(k: Kernel, name: str, text: str) -> None:
    k.note(f"{name} ({SOURCES.get(name) or OTHER_SOURCES[name]})", text)


def _fail(k: Kernel, name: str, errno: str, why: str) -> int:
    _enter(k, name, f"{why}: -{errno}")
    return -k.errno(errno)


def _compat(k: Kernel) -> bool:
    """Whether the running call sees 32-bit pointers and longs: an i386 kernel, or a compat
    call (TS_COMPAT) on x86_64."""
    task = k.current
    assert task is not None
    return k.kind == "i386" or bool(task.status & L.TS_COMPAT)


def _ptr(k: Kernel, value: int) -> int:
    """A user pointer as the running code sees it: 32 bits for a compat call."""
    return value & _M32 if _compat(k) else value


def _long_size(k: Kernel) -> int:
    return 4 if _compat(k) else 8


def _file(k: Kernel, name: str, fd: int):
    task = k.current
    assert task is not None
    return task.fds.get(fd)


# ------------------------------------------------------------------ files


@handler("sys_read", "fs/read_write.c")
def sys_read(k: Kernel, fd: int, buf: int, count: int, *_: int) -> int:
    fd &= _M32
    if _compat(k):  # a 32-bit pointer and size_t (_ptr, _long_size)
        buf &= _M32
        count &= _M32
    else:
        count &= (1 << k.word_bits) - 1
    f = _file(k, "sys_read", fd)
    if f is None:
        return _fail(k, "sys_read", "EBADF", f"fdget({fd}): no such open file")
    if not f.readable:
        return _fail(k, "sys_read", "EBADF", f"vfs_read: fd {fd} is not open for reading")
    if not uaccess.access_ok(k, buf, count):
        return _fail(k, "sys_read", "EFAULT", f"vfs_read: access_ok({buf:#x}, {count})")
    count = min(count, MAX_RW_COUNT)
    copied = 0
    if isinstance(f, PIPE_TYPES):
        return _pipe_read(k, f, fd, buf, count)
    while copied < count:
        want = min(count - copied, CHUNK)
        data = f.read(want)
        if isinstance(data, int):
            if copied:
                break
            return _fail(k, "sys_read", k_errname(k, data), f"vfs_read on fd {fd}")
        if not data:
            break
        missing = uaccess.copy_to_user(k, buf + copied, data, "copy_to_user (sys_read)")
        copied += len(data) - missing
        if missing:
            if hasattr(f, "offset") and not isinstance(f.inode, _CharDevice):
                f.offset -= missing
            if copied == 0:
                return _fail(k, "sys_read", "EFAULT", "copy_to_user copied nothing")
            break
        if len(data) < want:
            break
    if k.trace is not None:
        _enter(
            k, "sys_read", f"vfs_read(fd {fd}, {buf:#x}, {count}): {copied} bytes copied to user"
        )
    return copied


def _pipe_read(k: Kernel, f, fd: int, buf: int, count: int) -> int:
    """pipe_read (fs/pipe.c 3.16): data if there is some; end of file with no writers left;
    -ERESTARTSYS if a signal is pending; otherwise sleep until a writer or a signal wakes the
    task (the call then runs again from here)."""
    from simulator.kernel import pipe as _pipe
    from simulator.kernel.kernel import Sleep

    task = k.current
    assert task is not None
    if count == 0:
        return 0
    data = f.read(count)
    if data is _pipe.WOULD_BLOCK:
        if not _pipe.ends(k, f.pipe, writable=True):
            _enter(k, "sys_read", f"pipe_read(fd {fd}): empty, no writers: end of file")
            return 0
        if task.has(L.TIF_SIGPENDING):
            return _fail(k, "sys_read", "ERESTARTSYS", f"pipe_read(fd {fd}): signal_pending")
        task.sleeping = f.pipe.number
        raise Sleep(f"pipe_read(fd {fd}): the pipe is empty; pipe_wait sleeps")
    missing = uaccess.copy_to_user(k, buf, data, "copy_to_user (pipe_read)")
    if missing == len(data):
        return _fail(k, "sys_read", "EFAULT", "copy_to_user copied nothing")
    _enter(k, "sys_read", f"pipe_read(fd {fd}, {buf:#x}, {count}): {len(data) - missing} bytes")
    return len(data) - missing


@handler("sys_write", "fs/read_write.c")
def sys_write(k: Kernel, fd: int, buf: int, count: int, *_: int) -> int:
    fd &= _M32
    buf = _ptr(k, buf)
    if _long_size(k) == 4:
        count &= _M32
    f = _file(k, "sys_write", fd)
    if f is None:
        return _fail(k, "sys_write", "EBADF", f"fdget({fd}): no such open file")
    if not f.writable:
        return _fail(k, "sys_write", "EBADF", f"vfs_write: fd {fd} is not open for writing")
    if not uaccess.access_ok(k, buf, count):
        return _fail(k, "sys_write", "EFAULT", f"vfs_write: access_ok({buf:#x}, {count})")
    count = min(count, MAX_RW_COUNT)
    is_pipe = isinstance(f, PIPE_TYPES)
    if is_pipe:
        from simulator.kernel import pipe as _pipe
    if is_pipe and not _pipe.ends(k, f.pipe, writable=False):
        from simulator.kernel import signal as _signal

        _signal.send(k, k.current, 13, "pipe_write: no readers")  # SIGPIPE
        return _fail(k, "sys_write", "EPIPE", f"pipe_write(fd {fd}): no readers")
    written = 0
    while written < count:
        want = min(count - written, CHUNK)
        data, missing = uaccess.copy_from_user(k, buf + written, want, "copy_from_user (sys_write)")
        if data:
            got = f.write(data)
            if got < 0:
                if written:
                    break
                return _fail(k, "sys_write", k_errname(k, got), f"vfs_write on fd {fd}")
            written += got
        if missing:
            if written == 0:
                return _fail(k, "sys_write", "EFAULT", "copy_from_user copied nothing")
            break
    if k.trace is not None:
        _enter(k, "sys_write", f"vfs_write(fd {fd}, {buf:#x}, {count}): {written} bytes written")
    if is_pipe and written:
        _pipe.wake_readers(k, f.pipe)
    return written


def k_errname(k: Kernel, value: int) -> str:
    import abi

    return abi.errno_name(-value)


def _open(k: Kernel, name: str, filename: int, flags: int, mode: int, *, force_large: bool) -> int:
    task = k.current
    assert task is not None
    flags &= _M32
    mode &= 0xFFFF
    if force_large:
        flags |= O_LARGEFILE
    path = uaccess.strncpy_from_user(k, _ptr(k, filename), PATH_MAX)
    if isinstance(path, int):
        return _fail(k, name, k_errname(k, path), "getname")
    if not path:
        return _fail(k, name, "ENOENT", "getname: an empty path")
    text = path.decode("latin-1")
    opened = k.fs.open(text, flags, mode, umask=task.umask, cwd=task.cwd)
    if not isinstance(opened, int) and not hasattr(opened, "read"):
        return k.not_modeled(name, f"open({text!r}): {opened.reason}")
    if isinstance(opened, int):
        return _fail(k, name, k_errname(k, opened), f"do_sys_open({text!r}, {flags:#o})")
    fd = task.lowest_free_fd()
    task.fds[fd] = opened
    _enter(k, name, f"do_sys_open({text!r}, {flags:#o}, {mode:#o}) -> fd {fd}")
    return fd


@handler("sys_open", "fs/open.c")
def sys_open(k: Kernel, filename: int, flags: int, mode: int, *_: int) -> int:
    # force_o_largefile(): on a 64-bit kernel a native open always gets O_LARGEFILE.
    return _open(k, "sys_open", filename, flags, mode, force_large=k.kind == "x86_64")


@handler("compat_sys_open", "fs/open.c")
def compat_sys_open(k: Kernel, filename: int, flags: int, mode: int, *_: int) -> int:
    return _open(k, "compat_sys_open", filename, flags, mode, force_large=False)


@handler("sys_close", "fs/open.c")
def sys_close(k: Kernel, fd: int, *_: int) -> int:
    task = k.current
    assert task is not None
    fd &= _M32
    if fd not in task.fds:
        return _fail(k, "sys_close", "EBADF", f"__close_fd({fd}): not open")
    del task.fds[fd]
    _enter(k, "sys_close", f"__close_fd({fd})")
    return 0


# ------------------------------------------------------------------ process


@handler("sys_getpid", "kernel/sys.c")
def sys_getpid(k: Kernel, *_: int) -> int:
    task = k.current
    assert task is not None
    _enter(k, "sys_getpid", f"task_tgid_vnr(current) = {task.pid}")
    return task.pid


@handler("sys_umask", "kernel/sys.c")
def sys_umask(k: Kernel, mask: int, *_: int) -> int:
    task = k.current
    assert task is not None
    old = task.umask
    task.umask = mask & 0o777
    _enter(k, "sys_umask", f"umask {old:#o} -> {task.umask:#o} (mask & S_IRWXUGO)")
    return old


def _exit(k: Kernel, name: str, code: int) -> int:
    task = k.current
    assert task is not None
    task.exit_code = (code & 0xFF) << 8
    _enter(
        k, name, f"do_exit(({code & 0xFF}) << 8): task {task.pid} exits with status {code & 0xFF}"
    )
    k.stop("exit", f"exit status {code & 0xFF}")
    return 0


@handler("sys_exit", "kernel/exit.c")
def sys_exit(k: Kernel, code: int, *_: int) -> int:
    return _exit(k, "sys_exit", code)


@handler("sys_exit_group", "kernel/exit.c")
def sys_exit_group(k: Kernel, code: int, *_: int) -> int:
    return _exit(k, "sys_exit_group", code)


@handler("sys_prctl", "kernel/sys.c")
def sys_prctl(k: Kernel, option: int, a2: int, a3: int, a4: int, a5: int, *_: int) -> int:
    task = k.current
    assert task is not None
    option &= _M32
    if _long_size(k) == 4:
        a2, a3, a4, a5 = (a & _M32 for a in (a2, a3, a4, a5))
    if option == PR_SET_NO_NEW_PRIVS:
        if a2 != 1 or a3 or a4 or a5:
            return _fail(k, "sys_prctl", "EINVAL", "PR_SET_NO_NEW_PRIVS needs arg2 = 1, others 0")
        task.no_new_privs = True
        _enter(k, "sys_prctl", "PR_SET_NO_NEW_PRIVS: current->no_new_privs = 1")
        return 0
    if option == PR_GET_NO_NEW_PRIVS:
        if a2 or a3 or a4 or a5:
            return _fail(k, "sys_prctl", "EINVAL", "PR_GET_NO_NEW_PRIVS takes no arguments")
        _enter(k, "sys_prctl", f"PR_GET_NO_NEW_PRIVS: {int(task.no_new_privs)}")
        return int(task.no_new_privs)
    if option == PR_GET_SECCOMP:
        _enter(k, "sys_prctl", f"PR_GET_SECCOMP: {task.seccomp_mode}")
        return task.seccomp_mode
    if option == PR_SET_SECCOMP:
        from simulator.kernel import seccomp

        _enter(k, "sys_prctl", f"PR_SET_SECCOMP mode {a2} -> prctl_set_seccomp")
        return seccomp.set_mode(k, task, a2, a3)
    if 1 <= option <= PR_LAST_316:
        return k.not_modeled("sys_prctl", f"prctl option {option}")
    return _fail(k, "sys_prctl", "EINVAL", f"unknown prctl option {option}")


# ------------------------------------------------------------------ time


def _tsc(k: Kernel) -> int:
    return k.cpu.read_tsc()


def _put_pair(k: Kernel, name: str, addr: int, a: int, b: int, size: int) -> bool:
    data = (a & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
    data += (b & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
    if not uaccess.access_ok(k, addr, len(data)):
        return False
    return uaccess.copy_to_user(k, addr, data, f"copy_to_user ({name})") == 0


def _gettimeofday(k: Kernel, name: str, tv: int, tz: int, size: int) -> int:
    tv, tz = _ptr(k, tv), _ptr(k, tz)
    sec, nsec = k.timekeeper.realtime(_tsc(k))
    usec = nsec // 1000
    if tv and not _put_pair(k, name, tv, sec, usec, size):
        return _fail(k, name, "EFAULT", "copy_to_user(tv)")
    if tz and not _put_pair(k, name, tz, 0, 0, 4):
        return _fail(k, name, "EFAULT", "copy_to_user(tz)")
    _enter(k, name, f"do_gettimeofday: {sec}.{usec:06d}")
    return 0


@handler("sys_gettimeofday", "kernel/time.c")
def sys_gettimeofday(k: Kernel, tv: int, tz: int, *_: int) -> int:
    return _gettimeofday(k, "sys_gettimeofday", tv, tz, _long_size(k))


@handler("compat_sys_gettimeofday", "kernel/compat.c")
def compat_sys_gettimeofday(k: Kernel, tv: int, tz: int, *_: int) -> int:
    return _gettimeofday(k, "compat_sys_gettimeofday", tv, tz, 4)


def _time(k: Kernel, name: str, tloc: int, size: int) -> int:
    tloc = _ptr(k, tloc)
    sec = k.timekeeper.xtime_sec  # get_seconds(): the wall time at the last tick
    if tloc and not uaccess.put_user(k, tloc, sec, size, f"put_user ({name})"):
        return _fail(k, name, "EFAULT", "put_user(tloc)")
    _enter(k, name, f"get_seconds() = {sec}")
    return sec


@handler("sys_time", "kernel/time.c")
def sys_time(k: Kernel, tloc: int, *_: int) -> int:
    return _time(k, "sys_time", tloc, _long_size(k))


@handler("compat_sys_time", "kernel/compat.c")
def compat_sys_time(k: Kernel, tloc: int, *_: int) -> int:
    return _time(k, "compat_sys_time", tloc, 4)


def _clock_gettime(k: Kernel, name: str, which: int, tp: int, size: int) -> int:
    which = which & _M32
    which = which - (1 << 32) if which & 0x8000_0000 else which
    tp = _ptr(k, tp)
    if which < 0:
        return k.not_modeled(name, f"CPU-time clock id {which} (posix-cpu-timers)")
    if which >= MAX_CLOCKS:
        return _fail(k, name, "EINVAL", f"clockid {which} >= MAX_CLOCKS")
    if which not in MODELED_CLOCKS:
        if which in (2, 3, 8, 9):
            return k.not_modeled(name, f"clock {which}")
        return _fail(k, name, "EINVAL", f"clockid {which} has no clock_gettime")
    tk = k.timekeeper
    if which in (0, 11):
        sec, nsec = tk.realtime(_tsc(k))  # getnstimeofday
        sec += 35 if which == 11 else 0  # TAI was 35 s ahead of UTC in mid-2014
    elif which in (1, 4, 7):
        sec, nsec = tk.monotonic(_tsc(k))  # ktime_get_ts (no suspend, no NTP slew)
    elif which == 5:
        sec, nsec = tk.coarse()  # current_kernel_time
    else:
        sec, nsec = tk.coarse()
        sec += tk.wall_to_monotonic_sec
    if not _put_pair(k, name, tp, sec, nsec, size):
        return _fail(k, name, "EFAULT", "copy_to_user(tp)")
    _enter(k, name, f"{MODELED_CLOCKS[which]}: {sec}.{nsec:09d}")
    return 0


@handler("sys_clock_gettime", "kernel/time/posix-timers.c")
def sys_clock_gettime(k: Kernel, which: int, tp: int, *_: int) -> int:
    return _clock_gettime(k, "sys_clock_gettime", which, tp, _long_size(k))


@handler("compat_sys_clock_gettime", "kernel/compat.c")
def compat_sys_clock_gettime(k: Kernel, which: int, tp: int, *_: int) -> int:
    return _clock_gettime(k, "compat_sys_clock_gettime", which, tp, 4)


@handler("sys_getcpu", "kernel/sys.c")
def sys_getcpu(k: Kernel, cpup: int, nodep: int, cache: int, *_: int) -> int:
    for addr, what in ((_ptr(k, cpup), "cpu"), (_ptr(k, nodep), "node")):
        if addr and not uaccess.put_user(k, addr, 0, 4, f"put_user ({what})"):
            return _fail(k, "sys_getcpu", "EFAULT", f"put_user({what})")
    _enter(k, "sys_getcpu", "cpu 0, node 0 (one CPU)")
    return 0


# ------------------------------------------------------------------ TLS


def _user_desc_to_descriptor(base: int, limit: int, bits: int) -> int:
    """fill_ldt (arch/x86/include/asm/desc.h): struct user_desc's fields as a descriptor."""
    seg_32bit = bits & 1
    contents = (bits >> 1) & 3
    read_exec_only = (bits >> 3) & 1
    limit_in_pages = (bits >> 4) & 1
    seg_not_present = (bits >> 5) & 1
    useable = (bits >> 6) & 1
    lm = (bits >> 7) & 1
    type_ = ((read_exec_only ^ 1) << 1) | (contents << 2) | 1
    access = type_ | 0x10 | (3 << 5) | ((seg_not_present ^ 1) << 7)
    flags = useable | (lm << 1) | (seg_32bit << 2) | (limit_in_pages << 3)
    return (
        (limit & 0xFFFF)
        | (base & 0xFFFFFF) << 16
        | access << 40
        | ((limit >> 16) & 0xF) << 48
        | flags << 52
        | ((base >> 24) & 0xFF) << 56
    )


def _ldt_empty(base: int, limit: int, bits: int) -> bool:
    # LDT_empty: base 0, limit 0, contents 0, read_exec_only 1, seg_32bit 0,
    # limit_in_pages 0, seg_not_present 1, useable 0.
    return base == 0 and limit == 0 and bits & 0x7F == (1 << 3) | (1 << 5)


@handler("sys_set_thread_area", "arch/x86/kernel/tls.c")
def sys_set_thread_area(k: Kernel, u_info: int, *_: int) -> int:
    task = k.current
    assert task is not None
    u_info = _ptr(k, u_info)
    tls_min = L.GDT_ENTRY_TLS_MIN_64 if k.kind == "x86_64" else L.GDT_ENTRY_TLS_MIN_32
    if not uaccess.access_ok(k, u_info, 16):
        return _fail(k, "sys_set_thread_area", "EFAULT", "copy_from_user(user_desc)")
    raw, missing = uaccess.copy_from_user(k, u_info, 16, "copy_from_user (user_desc)")
    if missing:
        return _fail(k, "sys_set_thread_area", "EFAULT", "copy_from_user(user_desc)")
    idx, base, limit, bits = (int.from_bytes(raw[i : i + 4], "little") for i in (0, 4, 8, 12))
    if idx == _M32:
        free = [i for i, d in enumerate(task.tls) if d == 0]
        if not free:
            return _fail(k, "sys_set_thread_area", "ESRCH", "get_free_idx: no free TLS entry")
        idx = tls_min + free[0]
        if not uaccess.put_user(k, u_info, idx, 4, "put_user (entry_number)"):
            return _fail(k, "sys_set_thread_area", "EFAULT", "put_user(entry_number)")
    if not tls_min <= idx < tls_min + L.GDT_ENTRY_TLS_ENTRIES:
        return _fail(k, "sys_set_thread_area", "EINVAL", f"entry {idx} is not a TLS entry")
    desc = 0 if _ldt_empty(base, limit, bits) else _user_desc_to_descriptor(base, limit, bits)
    task.tls[idx - tls_min] = desc
    k.load_tls(task)
    _enter(
        k,
        "sys_set_thread_area",
        f"do_set_thread_area: GDT entry {idx} (selector {idx * 8 + 3:#x}) = base {base:#x}, "
        f"limit {limit:#x}; load_TLS",
    )
    return 0
