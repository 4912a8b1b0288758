"""The in-memory filesystem: the tree, the path walk, open, read, write and exec checks."""

import pytest

import abi
from simulator.kernel import fs as F
from simulator.kernel.fs import FileSystem, NotModeled, OpenFile, may_exec


def err(name):
    return -abi.errno_number(name)


@pytest.fixture
def tree():
    """The standard tree plus a file, a script-like 0644 file and a nested directory."""
    fs = FileSystem.standard()
    fs.add_file("/etc/passwd", b"root:x:0:0::/root:/bin/sh\n")
    fs.add_executable("/bin/true", b"\x7fELF")
    fs.mkdir("/home")
    fs.mkdir("/home/user", mode=0o700, uid=1000, gid=1000)
    fs.add_file("/home/user/secret", b"s3cret", mode=0o600, uid=1000, gid=1000)
    return fs


class TestConstants:
    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("O_RDONLY", 0),
            ("O_WRONLY", 1),
            ("O_RDWR", 2),
            ("O_CREAT", 0o100),
            ("O_EXCL", 0o200),
            ("O_NOCTTY", 0o400),
            ("O_TRUNC", 0o1000),
            ("O_APPEND", 0o2000),
            ("O_NONBLOCK", 0o4000),
            ("O_DSYNC", 0o10000),
            ("FASYNC", 0o20000),
            ("O_DIRECT", 0o40000),
            ("O_LARGEFILE", 0o100000),
            ("O_DIRECTORY", 0o200000),
            ("O_NOFOLLOW", 0o400000),
            ("O_NOATIME", 0o1000000),
            ("O_CLOEXEC", 0o2000000),
            ("O_SYNC_BIT", 0o4000000),
            ("O_SYNC", 0o4010000),
            ("O_TMPFILE_BIT", 0o20000000),
            ("O_PATH", 0o10000000),
            ("O_TMPFILE", 0o20200000),
        ],
    )
    def test_open_flags(self, name, value):
        """Open flags are include/uapi/asm-generic/fcntl.h's (3.16); x86 overrides none."""
        assert getattr(F, name) == value

    def test_limits(self):
        """NAME_MAX is 255 and PATH_MAX 4096 (include/uapi/linux/limits.h)."""
        assert (F.NAME_MAX, F.PATH_MAX) == (255, 4096)

    def test_may_bits(self):
        """MAY_EXEC 1, MAY_WRITE 2, MAY_READ 4, MAY_APPEND 8, MAY_OPEN 0x20 (include/linux/fs.h)."""
        assert (F.MAY_EXEC, F.MAY_WRITE, F.MAY_READ, F.MAY_APPEND, F.MAY_OPEN) == (1, 2, 4, 8, 32)

    def test_file_types(self):
        """S_IFDIR, S_IFREG and S_IFCHR are 040000, 0100000, 020000 (uapi/linux/stat.h)."""
        assert (F.S_IFMT, F.S_IFDIR, F.S_IFREG, F.S_IFCHR) == (
            0o170000,
            0o040000,
            0o100000,
            0o020000,
        )

    def test_mem_devices(self):
        """/dev/null is (1, 3) and /dev/zero (1, 5): MEM_MAJOR and devlist in drivers/char/mem.c."""
        assert (F.MEM_MAJOR, F.NULL_MINOR, F.ZERO_MINOR) == (1, 3, 5)

    def test_max_rw_count(self):
        """MAX_RW_COUNT is INT_MAX & PAGE_CACHE_MASK (include/linux/fs.h)."""
        assert F.MAX_RW_COUNT == 0x7FFF_FFFF & ~0xFFF


class TestStandard:
    def test_layout(self):
        """standard() builds /, /bin, /dev, /dev/null, /dev/zero, /etc and /tmp."""
        paths = [path for path, _ in FileSystem.standard().paths()]
        assert paths == ["/", "/bin", "/dev", "/dev/null", "/dev/zero", "/etc", "/tmp"]

    def test_devices(self):
        """The devices are crw-rw-rw- character devices owned by root."""
        fs = FileSystem.standard()
        null, zero = fs.lookup("/dev/null"), fs.lookup("/dev/zero")
        assert (null.mode, null.major, null.minor) == (F.S_IFCHR | 0o666, 1, 3)
        assert (zero.mode, zero.minor, zero.uid, zero.gid) == (F.S_IFCHR | 0o666, 5, 0, 0)

    def test_tmp_is_sticky(self):
        """/tmp is drwxrwxrwt."""
        assert FileSystem.standard().lookup("/tmp").mode == F.S_IFDIR | 0o1777

    def test_inode_numbers_unique(self):
        """Every inode has its own number."""
        inos = [inode.ino for _, inode in FileSystem.standard().paths()]
        assert len(set(inos)) == len(inos)


class TestBuilder:
    def test_add_file(self, tree):
        """add_file stores the bytes and the mode with S_IFREG."""
        inode = tree.lookup("/etc/passwd")
        assert inode.is_regular and inode.mode == F.S_IFREG | 0o644 and inode.size == 26

    def test_add_executable(self, tree):
        """add_executable defaults to 0755, an executable regular file."""
        inode = tree.lookup("/bin/true")
        assert inode.mode == F.S_IFREG | 0o755 and inode.executable

    @pytest.mark.parametrize(
        "path", ["etc/x", "", "/etc//x", "/etc/./x", "/etc/../x", "/etc/x/", "/", "/a\0b"]
    )
    def test_bad_paths(self, tree, path):
        """A relative or unnormalized path is a ValueError naming path."""
        with pytest.raises(ValueError, match="path"):
            tree.add_file(path, b"")

    def test_missing_parent(self, tree):
        """A missing parent directory is a ValueError."""
        with pytest.raises(ValueError, match="parent"):
            tree.mkdir("/nope/dir")

    def test_parent_is_a_file(self, tree):
        """A parent that is a file is a ValueError."""
        with pytest.raises(ValueError, match="parent"):
            tree.add_file("/etc/passwd/x", b"")

    def test_existing_name(self, tree):
        """An existing name is a ValueError."""
        with pytest.raises(ValueError, match="exists"):
            tree.mkdir("/tmp")

    def test_long_name(self, tree):
        """A name over NAME_MAX bytes is a ValueError."""
        with pytest.raises(ValueError, match="255"):
            tree.add_file("/tmp/" + "a" * 256, b"")

    def test_mode_range(self, tree):
        """A mode beyond 07777 is a ValueError naming mode."""
        with pytest.raises(ValueError, match="mode"):
            tree.add_file("/tmp/x", b"", mode=0o10000)

    def test_executable_needs_x(self, tree):
        """add_executable without an execute bit is a ValueError."""
        with pytest.raises(ValueError, match="execute"):
            tree.add_executable("/bin/x", b"", mode=0o644)

    def test_data_type(self, tree):
        """Data that is not bytes is a TypeError naming data."""
        with pytest.raises(TypeError, match="data"):
            tree.add_file("/tmp/x", "text")


class TestLookup:
    @pytest.mark.parametrize(
        "path",
        [
            "/etc/passwd",
            "//etc///passwd",
            "/./etc/./passwd",
            "/../etc/passwd",
            "/tmp/../etc/passwd",
        ],
    )
    def test_absolute(self, tree, path):
        """Repeated slashes, "." and ".." (which stops at the root) are walked as Linux does."""
        assert tree.lookup(path) is tree.lookup("/etc/passwd")

    @pytest.mark.parametrize(("path", "cwd"), [("passwd", "/etc"), ("../etc/passwd", "/tmp")])
    def test_relative(self, tree, path, cwd):
        """A relative path starts at cwd."""
        assert tree.lookup(path, cwd=cwd) is tree.lookup("/etc/passwd")

    @pytest.mark.parametrize(
        ("path", "target"), [("/", "/"), (".", "/etc"), ("..", "/"), ("/tmp/", "/tmp")]
    )
    def test_directories(self, tree, path, target):
        """ "/", ".", ".." and a directory with a trailing slash name directories."""
        assert tree.lookup(path, cwd="/etc") is tree.lookup(target)

    def test_empty(self, tree):
        """An empty path is -ENOENT (getname_flags, fs/namei.c)."""
        assert tree.lookup("") == err("ENOENT")

    def test_missing(self, tree):
        """A missing name is -ENOENT (walk_component, fs/namei.c)."""
        assert tree.lookup("/etc/shadow") == err("ENOENT")

    def test_missing_before_not_dir(self, tree):
        """A missing intermediate is -ENOENT, found before anything past it."""
        assert tree.lookup("/nope/passwd/x") == err("ENOENT")

    def test_trailing_slash_on_file(self, tree):
        """A trailing slash on a non-directory is -ENOTDIR (lookup_last, fs/namei.c)."""
        assert tree.lookup("/etc/passwd/") == err("ENOTDIR")

    def test_trailing_slash_on_missing(self, tree):
        """A trailing slash on a missing name is -ENOENT."""
        assert tree.lookup("/etc/shadow/") == err("ENOENT")

    @pytest.mark.parametrize("path", ["/etc/passwd/x", "/etc/passwd/.", "/etc/passwd/.."])
    def test_file_as_directory(self, tree, path):
        """A component that is not a directory is -ENOTDIR (link_path_walk, fs/namei.c)."""
        assert tree.lookup(path) == err("ENOTDIR")

    def test_name_max(self, tree):
        """NAME_MAX bytes is a name; one more is -ENAMETOOLONG (simple_lookup, fs/libfs.c)."""
        assert tree.lookup("/tmp/" + "a" * 255) == err("ENOENT")
        assert tree.lookup("/tmp/" + "a" * 256) == err("ENAMETOOLONG")

    def test_name_max_counts_bytes(self, tree):
        """NAME_MAX counts bytes: 128 two-byte characters are too long."""
        assert tree.lookup("/tmp/" + "é" * 128) == err("ENAMETOOLONG")

    def test_path_max(self, tree):
        """A path of PATH_MAX bytes or more is -ENAMETOOLONG (getname_flags, fs/namei.c)."""
        assert tree.lookup("/" * 4095) is tree.root
        assert tree.lookup("/" * 4096) == err("ENAMETOOLONG")

    def test_search_permission(self, tree):
        """Walking through a directory needs its x bit (may_lookup, fs/namei.c): -EACCES."""
        assert tree.lookup("/home/user/secret", uid=1001, gid=1001) == err("EACCES")

    def test_owner_searches(self, tree):
        """The owner's rwx bits apply to the owner (acl_permission_check, fs/namei.c)."""
        assert tree.lookup("/home/user/secret", uid=1000, gid=1000).size == 6

    def test_root_searches(self, tree):
        """Root passes any directory (CAP_DAC_OVERRIDE in generic_permission, fs/namei.c)."""
        assert tree.lookup("/home/user/secret").size == 6

    def test_bad_cwd(self, tree):
        """A cwd that is not an absolute directory is a ValueError naming cwd."""
        with pytest.raises(ValueError, match="cwd"):
            tree.lookup("x", cwd="/etc/passwd")


class TestOpen:
    def test_missing_without_creat(self, tree):
        """Without O_CREAT a missing name is -ENOENT (do_last, fs/namei.c)."""
        assert tree.open("/tmp/new", F.O_RDONLY, umask=0o22) == err("ENOENT")

    def test_creat_applies_umask(self, tree):
        """O_CREAT makes a regular file of mode & ~umask (lookup_open, fs/namei.c)."""
        file = tree.open("/tmp/new", F.O_CREAT | F.O_WRONLY, 0o666, umask=0o27)
        assert file.inode.mode == F.S_IFREG | 0o640 and tree.lookup("/tmp/new") is file.inode

    def test_creat_masks_type_bits(self, tree):
        """Only the S_IALLUGO bits of mode count (build_open_flags, fs/open.c)."""
        file = tree.open("/tmp/new", F.O_CREAT, 0o174755, umask=0)
        assert file.inode.mode == F.S_IFREG | 0o4755

    def test_creat_owner(self, tree):
        """A created file belongs to the caller's uid and gid (inode_init_owner, fs/inode.c)."""
        file = tree.open("/tmp/new", F.O_CREAT, 0o600, umask=0, uid=1000, gid=100)
        assert (file.inode.uid, file.inode.gid) == (1000, 100)

    def test_setgid_directory(self, tree):
        """In a setgid directory a new file takes the directory's group (inode_init_owner)."""
        tree.mkdir("/srv", mode=0o2777, gid=50)
        file = tree.open("/srv/new", F.O_CREAT, 0o600, umask=0, uid=1000, gid=100)
        assert file.inode.gid == 50

    def test_created_opens_without_permission(self, tree):
        """A file created with mode 0 still opens for O_RDWR: acc_mode is MAY_OPEN (do_last)."""
        file = tree.open("/tmp/new", F.O_CREAT | F.O_RDWR, 0, umask=0, uid=1000, gid=1000)
        assert file.readable and file.writable

    def test_creat_existing(self, tree):
        """O_CREAT on an existing file opens it."""
        file = tree.open("/etc/passwd", F.O_CREAT | F.O_RDONLY, 0o600, umask=0)
        assert file.inode is tree.lookup("/etc/passwd")

    def test_excl_existing(self, tree):
        """O_CREAT|O_EXCL on an existing name is -EEXIST (do_last, fs/namei.c)."""
        assert tree.open("/etc/passwd", F.O_CREAT | F.O_EXCL, umask=0) == err("EEXIST")

    def test_excl_existing_directory(self, tree):
        """-EEXIST comes before -EISDIR for O_CREAT|O_EXCL on a directory."""
        assert tree.open("/tmp", F.O_CREAT | F.O_EXCL, umask=0) == err("EEXIST")

    def test_creat_directory(self, tree):
        """O_CREAT on an existing directory is -EISDIR (finish_open in do_last)."""
        assert tree.open("/tmp", F.O_CREAT, umask=0) == err("EISDIR")

    def test_creat_root_excl(self, tree):
        """O_CREAT|O_EXCL on "/" has no last name to create: -EISDIR, not -EEXIST."""
        assert tree.open("/", F.O_CREAT | F.O_EXCL, umask=0) == err("EISDIR")

    def test_creat_trailing_slash(self, tree):
        """O_CREAT with a trailing slash is -EISDIR, even for a missing name (do_last)."""
        assert tree.open("/tmp/new/", F.O_CREAT, umask=0) == err("EISDIR")

    @pytest.mark.parametrize("flags", [F.O_WRONLY, F.O_RDWR, F.O_RDONLY | F.O_TRUNC])
    def test_write_directory(self, tree, flags):
        """Write access to a directory (O_TRUNC asks for it) is -EISDIR (may_open, fs/namei.c)."""
        assert tree.open("/tmp", flags, umask=0) == err("EISDIR")

    def test_read_directory(self, tree):
        """A directory opens read-only; reading it is -EISDIR (generic_read_dir, fs/libfs.c)."""
        file = tree.open("/tmp", F.O_RDONLY | F.O_DIRECTORY, umask=0)
        assert file.read(10) == err("EISDIR")

    def test_directory_flag_on_file(self, tree):
        """O_DIRECTORY on a non-directory is -ENOTDIR (finish_open in do_last)."""
        assert tree.open("/etc/passwd", F.O_DIRECTORY, umask=0) == err("ENOTDIR")

    def test_trailing_slash_on_file(self, tree):
        """Without O_CREAT a trailing slash on a file is -ENOTDIR."""
        assert tree.open("/etc/passwd/", F.O_RDONLY, umask=0) == err("ENOTDIR")

    def test_creat_directory_flag_creates_file(self, tree):
        """O_CREAT|O_DIRECTORY on a missing name creates and opens a regular file in 3.16."""
        file = tree.open("/tmp/new", F.O_CREAT | F.O_DIRECTORY, 0o644, umask=0)
        assert file.inode.is_regular

    def test_creat_directory_flag_on_existing_file(self, tree):
        """O_CREAT|O_DIRECTORY on an existing file is -ENOTDIR."""
        assert tree.open("/etc/passwd", F.O_CREAT | F.O_DIRECTORY, umask=0) == err("ENOTDIR")

    def test_read_permission(self, tree):
        """A 0600 file of another user is -EACCES to read (generic_permission, fs/namei.c)."""
        tree.add_file("/tmp/mine", b"x", mode=0o600, uid=1000)
        assert tree.open("/tmp/mine", F.O_RDONLY, umask=0, uid=1001, gid=1001) == err("EACCES")

    def test_group_permission(self, tree):
        """The group bits apply to a member of the file's group."""
        tree.add_file("/tmp/g", b"x", mode=0o640, uid=1000, gid=100)
        assert isinstance(tree.open("/tmp/g", F.O_RDONLY, umask=0, uid=1001, gid=100), OpenFile)
        assert tree.open("/tmp/g", F.O_WRONLY, umask=0, uid=1001, gid=100) == err("EACCES")

    def test_supplementary_group(self, tree):
        """Supplementary groups count as in_group_p does."""
        tree.add_file("/tmp/g", b"x", mode=0o640, uid=1000, gid=100)
        file = tree.open("/tmp/g", F.O_RDONLY, umask=0, uid=1001, gid=1001, groups=(100,))
        assert isinstance(file, OpenFile)

    def test_owner_bits_only(self, tree):
        """The owner gets only the owner bits, even when others have more."""
        tree.add_file("/tmp/o", b"x", mode=0o066, uid=1000)
        assert tree.open("/tmp/o", F.O_RDONLY, umask=0, uid=1000) == err("EACCES")

    def test_root_reads_anything(self, tree):
        """Root reads and writes a mode-000 file (CAP_DAC_OVERRIDE, generic_permission)."""
        tree.add_file("/tmp/locked", b"x", mode=0, uid=1000)
        assert tree.open("/tmp/locked", F.O_RDWR, umask=0).read(1) == b"x"

    def test_create_needs_write_on_parent(self, tree):
        """Creating needs write and search on the parent (may_create, fs/namei.c): -EACCES."""
        assert tree.open("/etc/new", F.O_CREAT, umask=0, uid=1000, gid=1000) == err("EACCES")

    def test_truncate(self, tree):
        """O_TRUNC empties a regular file (handle_truncate, fs/namei.c)."""
        tree.open("/etc/passwd", F.O_WRONLY | F.O_TRUNC, umask=0)
        assert tree.lookup("/etc/passwd").size == 0

    def test_truncate_read_only(self, tree):
        """O_RDONLY|O_TRUNC still truncates (will_truncate in do_last)."""
        file = tree.open("/etc/passwd", F.O_RDONLY | F.O_TRUNC, umask=0)
        assert file.read(10) == b""

    def test_truncate_needs_write(self, tree):
        """O_TRUNC asks for MAY_WRITE (build_open_flags, fs/open.c)."""
        tree.add_file("/tmp/r", b"x", mode=0o644, uid=1000)
        assert tree.open("/tmp/r", F.O_RDONLY | F.O_TRUNC, umask=0, uid=1001) == err("EACCES")

    def test_truncate_device(self, tree):
        """O_TRUNC on /dev/null is no error: only regular files are truncated."""
        assert isinstance(tree.open("/dev/null", F.O_WRONLY | F.O_TRUNC, umask=0), OpenFile)

    def test_noatime(self, tree):
        """O_NOATIME by a non-owner without CAP_FOWNER is -EPERM (may_open, fs/namei.c)."""
        tree.add_file("/tmp/n", b"x", mode=0o644, uid=1000)
        assert tree.open("/tmp/n", F.O_NOATIME, umask=0, uid=1001) == err("EPERM")
        assert isinstance(tree.open("/tmp/n", F.O_NOATIME, umask=0, uid=1000), OpenFile)

    def test_f_flags(self, tree):
        """f_flags keep neither O_CREAT, O_EXCL, O_NOCTTY, O_TRUNC nor O_CLOEXEC (fs/open.c)."""
        dropped = F.O_CREAT | F.O_EXCL | F.O_NOCTTY | F.O_TRUNC | F.O_CLOEXEC
        file = tree.open("/tmp/new", F.O_WRONLY | F.O_APPEND | dropped, 0o644, umask=0)
        assert file.flags == F.O_WRONLY | F.O_APPEND

    def test_o_sync_implies_dsync(self, tree):
        """__O_SYNC alone is stored as O_SYNC = __O_SYNC|O_DSYNC (build_open_flags, fs/open.c)."""
        file = tree.open("/etc/passwd", F.O_SYNC_BIT, umask=0)
        assert file.flags & F.O_SYNC == F.O_SYNC

    @pytest.mark.parametrize(
        ("flags", "readable", "writable"),
        [
            (F.O_RDONLY, True, False),
            (F.O_WRONLY, False, True),
            (F.O_RDWR, True, True),
            (3, False, False),
        ],
    )
    def test_access_modes(self, tree, flags, readable, writable):
        """f_mode is OPEN_FMODE: (flags + 1) & O_ACCMODE, so 3 can neither read nor write."""
        file = tree.open("/etc/passwd", flags, umask=0)
        assert (file.readable, file.writable) == (readable, writable)

    def test_accmode_three_needs_both(self, tree):
        """O_ACCMODE 3 asks for read and write permission (ACC_MODE, fs/open.c)."""
        tree.add_file("/tmp/r", b"x", mode=0o644, uid=1000)
        assert tree.open("/tmp/r", 3, umask=0, uid=1001) == err("EACCES")

    def test_o_path(self, tree):
        """O_PATH skips may_open and gives a file that neither reads nor writes (-EBADF)."""
        file = tree.open("/home/user/secret", F.O_PATH | F.O_CREAT | F.O_RDWR, umask=0, uid=1000)
        assert file.path_only and file.read(1) == err("EBADF") and file.write(b"x") == err("EBADF")

    def test_o_path_does_not_create(self, tree):
        """O_PATH drops O_CREAT (build_open_flags, fs/open.c)."""
        assert tree.open("/tmp/new", F.O_PATH | F.O_CREAT, umask=0) == err("ENOENT")

    def test_unknown_bits_ignored(self, tree):
        """3.16's open ignores unknown flag bits."""
        assert isinstance(tree.open("/etc/passwd", 0x4000_0000, umask=0), OpenFile)

    @pytest.mark.parametrize("flags", [F.O_TMPFILE | F.O_RDWR, F.O_DIRECT])
    def test_not_modeled(self, tree, flags):
        """O_TMPFILE and O_DIRECT answer NotModeled rather than guess."""
        assert isinstance(tree.open("/tmp", flags, umask=0), NotModeled)

    def test_errors_before_create(self, tree):
        """The walk's errors come before creation: a file as a directory is -ENOTDIR."""
        assert tree.open("/etc/passwd/new", F.O_CREAT, umask=0) == err("ENOTDIR")

    def test_long_name_create(self, tree):
        """O_CREAT of a name over NAME_MAX is -ENAMETOOLONG."""
        assert tree.open("/tmp/" + "n" * 256, F.O_CREAT, umask=0) == err("ENAMETOOLONG")

    def test_umask_range(self, tree):
        """A umask beyond 0777 is a ValueError naming umask."""
        with pytest.raises(ValueError, match="umask"):
            tree.open("/etc/passwd", 0, umask=0o1000)


class TestReadWrite:
    def test_read_advances(self, tree):
        """Reads advance the offset and return b"" at end of file."""
        file = tree.open("/etc/passwd", F.O_RDONLY, umask=0)
        assert file.read(5) == b"root:" and file.offset == 5
        file.read(100)
        assert file.read(10) == b""

    def test_read_needs_fmode_read(self, tree):
        """Reading an O_WRONLY file is -EBADF (vfs_read, fs/read_write.c)."""
        assert tree.open("/etc/passwd", F.O_WRONLY, umask=0).read(1) == err("EBADF")

    def test_write_needs_fmode_write(self, tree):
        """Writing an O_RDONLY file is -EBADF (vfs_write, fs/read_write.c)."""
        assert tree.open("/etc/passwd", F.O_RDONLY, umask=0).write(b"x") == err("EBADF")

    def test_negative_ssize(self, tree):
        """A count negative as ssize_t is -EINVAL (rw_verify_area, fs/read_write.c)."""
        assert tree.open("/etc/passwd", F.O_RDONLY, umask=0).read(1 << 63) == err("EINVAL")

    def test_write_at_offset(self, tree):
        """A write replaces bytes at the offset and advances it."""
        file = tree.open("/etc/passwd", F.O_RDWR, umask=0)
        assert file.write(b"ROOT") == 4 and file.offset == 4
        assert tree.lookup("/etc/passwd").data.startswith(b"ROOT:x")

    def test_write_past_end(self, tree):
        """A write past the end leaves zeros in the gap."""
        file = tree.open("/tmp/new", F.O_CREAT | F.O_WRONLY, 0o644, umask=0)
        file.offset = 3
        file.write(b"x")
        assert bytes(file.inode.data) == b"\0\0\0x"

    def test_append(self, tree):
        """O_APPEND writes at the end whatever the offset (generic_write_checks, mm/filemap.c)."""
        file = tree.open("/etc/passwd", F.O_WRONLY | F.O_APPEND, umask=0)
        file.offset = 0
        file.write(b"END")
        assert tree.lookup("/etc/passwd").data.endswith(b"\nEND") and file.offset == 29

    def test_dev_null(self, tree):
        """/dev/null reads end of file and swallows writes (read_null, write_null, mem.c)."""
        file = tree.open("/dev/null", F.O_RDWR, umask=0)
        assert file.read(10) == b"" and file.write(b"abc") == 3 and file.offset == 0

    def test_dev_zero(self, tree):
        """/dev/zero reads zeros, accepts writes and keeps offset 0 (read_zero, mem.c)."""
        file = tree.open("/dev/zero", F.O_RDWR, umask=0)
        assert file.read(5) == bytes(5) and file.write(b"abc") == 3 and file.offset == 0

    def test_count_type(self, tree):
        """A negative count is a ValueError naming count (size_t misuse)."""
        with pytest.raises(ValueError, match="count"):
            tree.open("/etc/passwd", 0, umask=0).read(-1)


class TestMayExec:
    def test_executable(self, tree):
        """A regular file with an x bit may be executed."""
        assert may_exec(tree.lookup("/bin/true")) == 0

    def test_root_needs_an_x_bit(self, tree):
        """Root cannot execute a file with no x bit (generic_permission, fs/namei.c)."""
        assert may_exec(tree.lookup("/etc/passwd")) == err("EACCES")

    def test_directory(self, tree):
        """A directory is -EACCES: open_exec wants S_ISREG (do_open_exec, fs/exec.c)."""
        assert may_exec(tree.lookup("/bin")) == err("EACCES")

    def test_device(self, tree):
        """/dev/null is -EACCES."""
        assert may_exec(tree.lookup("/dev/null")) == err("EACCES")

    def test_execute_only(self, tree):
        """Execute permission alone suffices: open_exec asks MAY_EXEC, not MAY_READ."""
        inode = tree.add_file("/bin/xonly", b"", mode=0o111, uid=1000)
        assert may_exec(inode, uid=1001, gid=1001) == 0

    def test_other_user_without_x(self, tree):
        """A user outside owner and group needs the others' x bit."""
        inode = tree.add_file("/bin/mine", b"", mode=0o750, uid=1000, gid=100)
        assert may_exec(inode, uid=1001, gid=1001) == err("EACCES")
        assert may_exec(inode, uid=1001, gid=100) == 0
