"""An in-memory filesystem: inodes, path walk, open, read and write as Linux 3.16 does them.

The kernel-side calls (``lookup``, ``open``, ``OpenFile.read``/``write``, ``may_exec``)
return a negative errno where the kernel's functions do, in the order fs/namei.c,
fs/open.c and fs/read_write.c check; the builder calls (``add_file``, ``mkdir``, ...)
raise ValueError or TypeError for misuse. The filesystem behaves like ramfs/tmpfs
(``simple_lookup`` in fs/libfs.c) with no symlinks, ACLs, mounts or LSMs; a uid of 0
holds every capability, any other uid none.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from abi.errnos import errno_number

# include/uapi/linux/stat.h
S_IFMT = 0o170000
S_IFDIR = 0o040000
S_IFREG = 0o100000
S_IFCHR = 0o020000
S_ISUID = 0o4000
S_ISGID = 0o2000
S_ISVTX = 0o1000
S_IRWXUGO = 0o777
S_IALLUGO = 0o7777
S_IXUGO = 0o111

# include/linux/fs.h: the permission mask bits of inode_permission().
MAY_EXEC = 0x1
MAY_WRITE = 0x2
MAY_READ = 0x4
MAY_APPEND = 0x8
MAY_OPEN = 0x20

# include/uapi/linux/limits.h
NAME_MAX = 255
PATH_MAX = 4096

# include/uapi/asm-generic/fcntl.h (x86's asm/fcntl.h adds nothing), Linux 3.16.
O_ACCMODE = 0o3
O_RDONLY = 0o0
O_WRONLY = 0o1
O_RDWR = 0o2
O_CREAT = 0o100
O_EXCL = 0o200
O_NOCTTY = 0o400
O_TRUNC = 0o1000
O_APPEND = 0o2000
O_NONBLOCK = 0o4000
O_DSYNC = 0o10000
FASYNC = 0o20000
O_DIRECT = 0o40000
O_LARGEFILE = 0o100000
O_DIRECTORY = 0o200000
O_NOFOLLOW = 0o400000
O_NOATIME = 0o1000000
O_CLOEXEC = 0o2000000
# O_SYNC_BIT and O_TMPFILE_BIT are the kernel's __O_SYNC and __O_TMPFILE, renamed because
# a leading double underscore is mangled inside class bodies.
O_SYNC_BIT = 0o4000000
O_SYNC = O_SYNC_BIT | O_DSYNC
O_PATH = 0o10000000
O_TMPFILE_BIT = 0o20000000
O_TMPFILE = O_TMPFILE_BIT | O_DIRECTORY

# drivers/char/mem.c: the memory devices are major 1; null is minor 3, zero minor 5.
MEM_MAJOR = 1
NULL_MINOR = 3
ZERO_MINOR = 5

# include/linux/fs.h: MAX_RW_COUNT is INT_MAX & PAGE_CACHE_MASK; rw_verify_area clips to it.
MAX_RW_COUNT = 0x7FFF_F000
_SSIZE_MAX = (1 << 63) - 1

_ENOENT = -errno_number("ENOENT")
_ENOTDIR = -errno_number("ENOTDIR")
_EISDIR = -errno_number("EISDIR")
_EEXIST = -errno_number("EEXIST")
_EACCES = -errno_number("EACCES")
_EPERM = -errno_number("EPERM")
_EBADF = -errno_number("EBADF")
_EINVAL = -errno_number("EINVAL")
_ENAMETOOLONG = -errno_number("ENAMETOOLONG")

_LAST_NORM, _LAST_ROOT, _LAST_DOT, _LAST_DOTDOT = "norm", "root", "dot", "dotdot"


@attrs.frozen
class NotModeled:
    """A request the filesystem does not model (the kernel's answer would depend on more)."""

    reason: str


@attrs.define(eq=False, kw_only=True)
class Inode:
    """An inode: number, mode (file type and permission bits), owner and group."""

    ino: int
    mode: int
    uid: int = 0
    gid: int = 0

    @property
    def file_type(self) -> int:
        """The S_IFMT bits of the mode."""
        return self.mode & S_IFMT

    @property
    def permissions(self) -> int:
        """The permission bits of the mode (setuid, setgid, sticky and rwx)."""
        return self.mode & S_IALLUGO

    @property
    def is_dir(self) -> bool:
        """Whether this is a directory (S_ISDIR)."""
        return self.file_type == S_IFDIR

    @property
    def is_regular(self) -> bool:
        """Whether this is a regular file (S_ISREG)."""
        return self.file_type == S_IFREG


@attrs.define(eq=False, kw_only=True)
class Directory(Inode):
    """A directory: names to inodes, and the parent that ".." leads to (None for the root)."""

    entries: dict[str, Inode] = attrs.field(factory=dict, repr=False)
    parent: Directory | None = attrs.field(default=None, repr=False)


@attrs.define(eq=False, kw_only=True)
class RegularFile(Inode):
    """A regular file holding bytes."""

    data: bytearray = attrs.field(factory=bytearray, repr=False)

    @property
    def size(self) -> int:
        """The file size in bytes (i_size)."""
        return len(self.data)

    @property
    def executable(self) -> bool:
        """Whether any execute bit is set (what lets even root execute it)."""
        return bool(self.mode & S_IXUGO)


@attrs.define(eq=False, kw_only=True)
class CharDevice(Inode):
    """A character device of drivers/char/mem.c: /dev/null (1, 3) or /dev/zero (1, 5)."""

    major: int
    minor: int


def _in_group(inode: Inode, gid: int, groups: tuple[int, ...]) -> bool:
    return inode.gid == gid or inode.gid in groups


def permission(inode: Inode, mask: int, *, uid: int = 0, gid: int = 0, groups=()) -> int:
    """inode_permission() on a plain inode: acl_permission_check, then the root overrides.

    generic_permission (fs/namei.c): the owner's, group's or others' rwx bits first; then
    CAP_DAC_OVERRIDE passes everything on a directory, and read/write on any other inode,
    but execute only when at least one x bit is set; CAP_DAC_READ_SEARCH passes reads.
    """
    mode = inode.mode
    if uid == inode.uid:
        mode >>= 6
    elif _in_group(inode, gid, tuple(groups)):
        mode >>= 3
    if (mask & ~mode & (MAY_READ | MAY_WRITE | MAY_EXEC)) == 0:
        return 0
    if uid != 0:
        return _EACCES
    if inode.is_dir:
        return 0
    if not (mask & MAY_EXEC) or (inode.mode & S_IXUGO):
        return 0
    return _EACCES


def may_exec(inode: Inode, uid: int = 0, gid: int = 0, groups=()) -> int:
    """0 if execve may run ``inode``, else -EACCES: MAY_EXEC permission and a regular file.

    open_exec (fs/exec.c) opens with acc_mode MAY_EXEC|MAY_OPEN, so may_open checks only
    execute permission (no read), then refuses anything that is not S_ISREG.
    """
    error = permission(inode, MAY_EXEC, uid=uid, gid=gid, groups=groups)
    if error:
        return error
    if not inode.is_regular:
        return _EACCES
    return 0


@attrs.define(eq=False)
class OpenFile:
    """An open file description (struct file): inode, f_flags, offset and access mode."""

    inode: Inode
    flags: int
    offset: int = 0
    readable: bool = False
    writable: bool = False
    path_only: bool = False

    def read(self, count: int) -> bytes | int:
        """vfs_read after access_ok: the bytes read (b"" at end of file) or a negative errno.

        -EBADF without FMODE_READ (an O_WRONLY, O_ACCMODE==3 or O_PATH file), -EINVAL for a
        count that is negative as ssize_t (rw_verify_area), -EISDIR for a directory
        (generic_read_dir); the count is clipped to MAX_RW_COUNT. /dev/null reads 0
        bytes, /dev/zero zeros, and neither moves the offset (drivers/char/mem.c).
        """
        count = _check_count(count)
        if not self.readable:
            return _EBADF
        if count > _SSIZE_MAX:
            return _EINVAL
        count = min(count, MAX_RW_COUNT)
        inode = self.inode
        if isinstance(inode, Directory):
            return _EISDIR
        if isinstance(inode, CharDevice):
            return bytes(count) if inode.minor == ZERO_MINOR else b""
        assert isinstance(inode, RegularFile)
        start = self.offset
        chunk = bytes(inode.data[start : start + count]) if start < len(inode.data) else b""
        self.offset = start + len(chunk)
        return chunk

    def write(self, data: bytes) -> int:
        """vfs_write after access_ok: the number of bytes written or a negative errno.

        -EBADF without FMODE_WRITE; O_APPEND moves the offset to the end first
        (generic_write_checks); a write past the end fills the gap with zeros; at most
        MAX_RW_COUNT bytes are written. /dev/null and /dev/zero accept everything.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data: expected bytes, received {type(data).__name__} {data!r:.60}")
        if not self.writable:
            return _EBADF
        data = bytes(data[:MAX_RW_COUNT])
        inode = self.inode
        if isinstance(inode, CharDevice):
            return len(data)
        assert isinstance(inode, RegularFile)
        if self.flags & O_APPEND:
            self.offset = len(inode.data)
        start = self.offset
        if start > len(inode.data):
            inode.data.extend(bytes(start - len(inode.data)))
        inode.data[start : start + len(data)] = data
        self.offset = start + len(data)
        return len(data)


def _check_count(count: int) -> int:
    if isinstance(count, bool) or not isinstance(count, int):
        raise TypeError(f"count: expected an int, received {type(count).__name__} {count!r}")
    if not 0 <= count < 1 << 64:
        raise ValueError(f"count: expected a size_t 0 .. 2**64 - 1, received {count!r}")
    return count


def _check_uint(field: str, value: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{field}: expected an int, received {type(value).__name__} {value!r}")
    if not 0 <= value <= high:
        raise ValueError(f"{field}: expected 0 .. {high:#o}, received {value!r}")
    return value


def _path_bytes(path: str | bytes) -> bytes:
    if isinstance(path, str):
        encoded = path.encode("utf-8", "surrogateescape")
    elif isinstance(path, (bytes, bytearray)):
        encoded = bytes(path)
    else:
        raise TypeError(f"path: expected a str or bytes, received {type(path).__name__} {path!r}")
    if b"\0" in encoded:
        raise ValueError(f"path: expected no NUL byte (a C string ends there), received {path!r}")
    return encoded


@attrs.define(eq=False)
class _Walk:
    """Where link_path_walk stops: the parent directory and the last component."""

    dir: Directory
    last: bytes
    last_type: str
    trailing_slash: bool


@attrs.define(eq=False)
class FileSystem:
    """A whole filesystem tree from its root directory, with the inode counter."""

    root: Directory = attrs.field(init=False)
    _next_ino: int = attrs.field(init=False, default=1)

    def __attrs_post_init__(self) -> None:
        self.root = Directory(ino=self._take_ino(), mode=S_IFDIR | 0o755)

    @classmethod
    def standard(cls) -> FileSystem:
        """/, /dev/null and /dev/zero (crw-rw-rw-), /tmp (drwxrwxrwt), /bin and /etc."""
        fs = cls()
        fs.mkdir("/dev")
        fs._add_node("/dev/null", CharDevice, S_IFCHR | 0o666, major=MEM_MAJOR, minor=NULL_MINOR)
        fs._add_node("/dev/zero", CharDevice, S_IFCHR | 0o666, major=MEM_MAJOR, minor=ZERO_MINOR)
        fs.mkdir("/tmp", mode=0o1777)
        fs.mkdir("/bin")
        fs.mkdir("/etc")
        return fs

    # -- the builder's API: raises on misuse --------------------------------------------

    def add_file(
        self, path: str, data: bytes, *, mode: int = 0o644, uid: int = 0, gid: int = 0
    ) -> RegularFile:
        """Create the regular file ``path`` holding ``data`` (the parent must exist)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data: expected bytes, received {type(data).__name__}")
        mode = _check_uint("mode", mode, S_IALLUGO)
        node = self._add_node(path, RegularFile, S_IFREG | mode, uid=uid, gid=gid)
        node.data = bytearray(data)
        return node

    def add_executable(
        self, path: str, data: bytes, *, mode: int = 0o755, uid: int = 0, gid: int = 0
    ) -> RegularFile:
        """Create a regular file with at least one execute bit (an ELF image, say)."""
        mode = _check_uint("mode", mode, S_IALLUGO)
        if not mode & S_IXUGO:
            raise ValueError(f"mode: expected a mode with an execute bit, received {mode:#o}")
        return self.add_file(path, data, mode=mode, uid=uid, gid=gid)

    def mkdir(self, path: str, *, mode: int = 0o755, uid: int = 0, gid: int = 0) -> Directory:
        """Create the directory ``path`` (the parent must exist)."""
        mode = _check_uint("mode", mode, S_IALLUGO)
        return self._add_node(path, Directory, S_IFDIR | mode, uid=uid, gid=gid)

    def _add_node(self, path: str, kind: type, mode: int, **fields):
        parent, name = self._builder_parent(path)
        for field in ("uid", "gid"):
            if field in fields:
                _check_uint(field, fields[field], 0xFFFF_FFFF)
        node = kind(ino=self._take_ino(), mode=mode, **fields)
        if isinstance(node, Directory):
            node.parent = parent
        parent.entries[name] = node
        return node

    def _builder_parent(self, path: str) -> tuple[Directory, str]:
        if not isinstance(path, str):
            raise TypeError(f"path: expected a str, received {type(path).__name__} {path!r}")
        parts = path.split("/")
        if not path.startswith("/") or len(parts) < 2:
            raise ValueError(f"path: expected an absolute path, received {path!r}")
        parts = parts[1:]
        for part in parts:
            if part in ("", ".", "..") or "\0" in part:
                raise ValueError(
                    f"path: expected a normalized path (no empty, '.', '..' or NUL parts), "
                    f"received {path!r}"
                )
            if len(part.encode("utf-8", "surrogateescape")) > NAME_MAX:
                raise ValueError(f"path: expected names of at most {NAME_MAX} bytes, got {path!r}")
        directory = self.root
        for part in parts[:-1]:
            child = directory.entries.get(part)
            if not isinstance(child, Directory):
                raise ValueError(f"path: expected an existing parent directory, received {path!r}")
            directory = child
        if parts[-1] in directory.entries:
            raise ValueError(f"path: expected a new name, received {path!r}, which exists")
        return directory, parts[-1]

    def _take_ino(self) -> int:
        ino = self._next_ino
        self._next_ino += 1
        return ino

    def paths(self) -> Iterator[tuple[str, Inode]]:
        """Every (absolute path, inode) in the tree, parents before children."""
        stack: list[tuple[str, Inode]] = [("/", self.root)]
        while stack:
            path, inode = stack.pop()
            yield path, inode
            if isinstance(inode, Directory):
                prefix = path.rstrip("/")
                for name in sorted(inode.entries, reverse=True):
                    stack.append((f"{prefix}/{name}", inode.entries[name]))

    # -- the kernel's API: negative errno values ----------------------------------------

    def lookup(
        self, path: str | bytes, *, cwd: str = "/", uid: int = 0, gid: int = 0, groups=()
    ) -> Inode | int:
        """path_lookupat with LOOKUP_FOLLOW: the inode ``path`` names, or a negative errno.

        getname refuses an empty path (-ENOENT) and one of PATH_MAX bytes or more
        (-ENAMETOOLONG); link_path_walk needs search (x) permission on each directory it
        looks in (-EACCES), a directory for every component but the last (-ENOTDIR), and
        each name present (-ENOENT) and at most NAME_MAX bytes (-ENAMETOOLONG, from the
        filesystem's ->lookup); a trailing slash demands a directory (-ENOTDIR).
        """
        walk = self._path_walk(path, cwd, uid, gid, groups)
        if isinstance(walk, int):
            return walk
        inode = self._last_component(walk)
        if isinstance(inode, int):
            return inode
        if walk.trailing_slash and walk.last_type == _LAST_NORM and not inode.is_dir:
            return _ENOTDIR
        return inode

    def open(
        self,
        path: str | bytes,
        flags: int,
        mode: int = 0,
        *,
        umask: int,
        cwd: str = "/",
        uid: int = 0,
        gid: int = 0,
        groups=(),
    ) -> OpenFile | int | NotModeled:
        """do_sys_open: a new OpenFile, or a negative errno in the order fs/namei.c checks.

        build_open_flags (fs/open.c) then path_openat/do_last (fs/namei.c): the walk's
        errors; O_CREAT with a trailing slash -EISDIR; without O_CREAT a missing name
        -ENOENT; O_CREAT|O_EXCL on an existing name -EEXIST; creating needs write and
        search on the parent (-EACCES) and gives ``mode & 07777 & ~umask``, opened with no
        further permission check; O_CREAT on a directory -EISDIR; O_DIRECTORY (or a
        trailing slash) on a non-directory -ENOTDIR; may_open: write access (O_TRUNC
        counts) to a directory -EISDIR, then the permission bits -EACCES, then O_NOATIME
        by a non-owner -EPERM; O_TRUNC empties a regular file. Unknown flag bits are
        ignored, as 3.16 does. O_CLOEXEC belongs to the descriptor, not the file: the
        caller keeps it. sys_open forces O_LARGEFILE on a 64-bit kernel's native calls
        (force_o_largefile), compat_sys_open does not: the caller adds it.
        O_TMPFILE and O_DIRECT answer NotModeled.
        """
        if isinstance(flags, bool) or not isinstance(flags, int):
            raise TypeError(f"flags: expected an int, received {type(flags).__name__} {flags!r}")
        if isinstance(mode, bool) or not isinstance(mode, int) or mode < 0:
            raise ValueError(f"mode: expected a non-negative int, received {mode!r}")
        umask = _check_uint("umask", umask, S_IRWXUGO)
        flags &= 0xFFFF_FFFF
        if flags & O_TMPFILE_BIT:
            return NotModeled("O_TMPFILE (do_tmpfile) is not modeled")
        if flags & O_DIRECT and not flags & O_PATH:
            return NotModeled("O_DIRECT depends on the filesystem's direct_IO; not modeled")
        # build_open_flags (fs/open.c)
        create_mode = (mode & S_IALLUGO) | S_IFREG if flags & O_CREAT else 0
        flags &= ~O_CLOEXEC
        if flags & O_SYNC_BIT:
            flags |= O_DSYNC
        if flags & O_PATH:
            flags &= O_DIRECTORY | O_NOFOLLOW | O_PATH
            acc_mode = 0
        else:
            acc_mode = MAY_OPEN | (MAY_READ, MAY_WRITE, MAY_READ | MAY_WRITE)[min(flags & 3, 2)]
        if flags & O_TRUNC:
            acc_mode |= MAY_WRITE
        if flags & O_APPEND:
            acc_mode |= MAY_APPEND
        must_be_dir = bool(flags & O_DIRECTORY)

        walk = self._path_walk(path, cwd, uid, gid, groups)
        if isinstance(walk, int):
            return walk
        # do_last (fs/namei.c)
        created = False
        if walk.last_type != _LAST_NORM:
            target = self._last_component(walk)
        elif not flags & O_CREAT:
            must_be_dir = must_be_dir or walk.trailing_slash
            target = self._last_component(walk)
        else:
            if walk.trailing_slash:
                return _EISDIR
            target = self._child(walk.dir, walk.last)
            if isinstance(target, int) and target == _ENOENT:
                # lookup_open -> vfs_create -> may_create
                error = permission(walk.dir, MAY_WRITE | MAY_EXEC, uid=uid, gid=gid, groups=groups)
                if error:
                    return error
                target = self._create(walk.dir, walk.last, create_mode & ~umask, uid, gid)
                created = True
            elif not isinstance(target, int) and flags & O_EXCL:
                return _EEXIST
        if isinstance(target, int):
            return target
        will_truncate = False
        if created:
            acc_mode = MAY_OPEN
        else:
            # finish_open
            if flags & O_CREAT and target.is_dir:
                return _EISDIR
            if must_be_dir and not target.is_dir:
                return _ENOTDIR
            will_truncate = bool(flags & O_TRUNC) and target.is_regular
        # finish_open_created: may_open
        if acc_mode:
            if target.is_dir and acc_mode & MAY_WRITE:
                return _EISDIR
            error = permission(target, acc_mode, uid=uid, gid=gid, groups=groups)
            if error:
                return error
            if flags & O_NOATIME and uid != target.uid and uid != 0:
                return _EPERM
        if will_truncate:
            assert isinstance(target, RegularFile)
            target.data.clear()
        # do_dentry_open (fs/open.c): OPEN_FMODE, and the flags that do not stay in f_flags
        f_flags = flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC)
        if flags & O_PATH:
            return OpenFile(target, f_flags, path_only=True)
        access = (flags + 1) & O_ACCMODE
        return OpenFile(target, f_flags, readable=bool(access & 1), writable=bool(access & 2))

    # -- the walk -----------------------------------------------------------------------

    def _path_walk(self, path, cwd, uid, gid, groups) -> _Walk | int:
        name = _path_bytes(path)
        # getname_flags (fs/namei.c)
        if not name:
            return _ENOENT
        if len(name) >= PATH_MAX:
            return _ENAMETOOLONG
        start = self.root if name.startswith(b"/") else self._cwd(cwd)
        return self._link_path_walk(name, start, uid, gid, tuple(groups))

    def _cwd(self, cwd: str) -> Directory:
        if not isinstance(cwd, str) or not cwd.startswith("/"):
            raise ValueError(f"cwd: expected an absolute path, received {cwd!r}")
        walk = self._link_path_walk(_path_bytes(cwd), self.root, 0, 0, ())
        inode = walk if isinstance(walk, int) else self._last_component(walk)
        if not isinstance(inode, Directory):
            raise ValueError(f"cwd: expected an existing directory, received {cwd!r}")
        return inode

    def _link_path_walk(self, name: bytes, start: Directory, uid, gid, groups) -> _Walk | int:
        """link_path_walk: every component but the last, leaving the last to the caller."""
        directory = start
        end = len(name)
        i = 0
        while i < end and name[i] == 0x2F:
            i += 1
        if i == end:
            return _Walk(directory, b"", _LAST_ROOT, False)
        while True:
            # may_lookup: search permission on the directory we look in
            error = permission(directory, MAY_EXEC, uid=uid, gid=gid, groups=groups)
            if error:
                return error
            j = name.find(b"/", i)
            j = end if j < 0 else j
            component = name[i:j]
            kind = {b".": _LAST_DOT, b"..": _LAST_DOTDOT}.get(component, _LAST_NORM)
            k = j
            while k < end and name[k] == 0x2F:
                k += 1
            if j == end or k == end:
                return _Walk(directory, component, kind, j != end)
            step = self._step(directory, component, kind)
            if isinstance(step, int):
                return step
            if not isinstance(step, Directory):
                return _ENOTDIR
            directory = step
            i = k

    def _last_component(self, walk: _Walk) -> Inode | int:
        if walk.last_type == _LAST_ROOT:
            return walk.dir
        return self._step(walk.dir, walk.last, walk.last_type)

    def _step(self, directory: Directory, component: bytes, kind: str) -> Inode | int:
        if kind == _LAST_DOT:
            return directory
        if kind == _LAST_DOTDOT:
            # follow_dotdot: ".." of the root is the root
            return directory.parent if directory.parent is not None else directory
        return self._child(directory, component)

    @staticmethod
    def _child(directory: Directory, component: bytes) -> Inode | int:
        # simple_lookup (fs/libfs.c) refuses a name longer than NAME_MAX
        if len(component) > NAME_MAX:
            return _ENAMETOOLONG
        inode = directory.entries.get(component.decode("utf-8", "surrogateescape"))
        return _ENOENT if inode is None else inode

    def _create(self, directory: Directory, name: bytes, mode: int, uid: int, gid: int):
        # inode_init_owner (fs/inode.c): a setgid directory hands down its group
        group = directory.gid if directory.mode & S_ISGID else gid
        node = RegularFile(ino=self._take_ino(), mode=mode, uid=uid, gid=group)
        directory.entries[name.decode("utf-8", "surrogateescape")] = node
        return node
