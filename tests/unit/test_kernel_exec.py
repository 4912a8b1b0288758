"""execve on the 3.16 model: new images, personality switches, refusals, the new stack.

Facts come from fs/exec.c, fs/binfmt_elf.c, arch/x86/kernel/entry_64.S,
arch/x86/ia32/ia32entry.S and asm/elf.h of 3.16; where the index had no 3.16 copy, the
docstring names the nearest copy that was read.
"""

import struct

import pytest

import abi
from simulator import Machine
from simulator.cpu.assembler import assemble
from simulator.kernel import elf as E
from simulator.kernel import linux316 as L
from simulator.kernel import vdso

BASE64 = 0x40_0000
BASE32 = 0x0804_8000
UNMAPPED = 0x3EAD_0000
AT = abi.AUXV_TYPES

# Each program writes argv[1] to fd 1 and exits with a status of its own.
ECHO64 = """
    mov rsi, qword ptr [rsp+16]
    xor edx, edx
again:
    cmp byte ptr [rsi+rdx], 0
    je done
    add rdx, 1
    jmp again
done:
    mov edi, 1
    mov eax, 1
    syscall
    mov edi, 64
    mov eax, 60
    syscall
"""
ECHO32 = """
    mov ecx, dword ptr [esp+8]
    xor edx, edx
again:
    cmp byte ptr [ecx+edx], 0
    je done
    add edx, 1
    jmp again
done:
    mov ebx, 1
    mov eax, 4
    int 0x80
    mov ebx, 32
    mov eax, 1
    int 0x80
"""
ECHOX32 = """
    mov esi, dword ptr [esp+8]
    xor edx, edx
again:
    cmp byte ptr [rsi+rdx], 0
    je done
    add edx, 1
    jmp again
done:
    mov edi, 1
    mov eax, 0x40000001
    syscall
    mov edi, 33
    mov eax, 0x4000003c
    syscall
"""


def build(abi_name):
    """A static executable for ``abi_name`` (see tests/unit/test_kernel_elf.py)."""
    if abi_name == "x86_64":
        code = assemble(ECHO64, mode=64, address=BASE64)
        return E.build_executable(
            [E.Segment(vaddr=BASE64, data=code)],
            entry=BASE64,
            elf_class=E.ELFCLASS64,
            machine=E.EM_X86_64,
        )
    if abi_name == "i386":
        code = assemble(ECHO32, mode=32, address=BASE32)
        return E.build_executable(
            [E.Segment(vaddr=BASE32, data=code)],
            entry=BASE32,
            elf_class=E.ELFCLASS32,
            machine=E.EM_386,
        )
    code = assemble(ECHOX32, mode=64, address=BASE64)
    return E.build_executable(
        [E.Segment(vaddr=BASE64, data=code)],
        entry=BASE64,
        elf_class=E.ELFCLASS32,
        machine=E.EM_X86_64,
    )


IMAGES = {name: build(name) for name in ("x86_64", "i386", "x32")}
PATHS = {"x86_64": "/bin/echo64", "i386": "/bin/echo32", "x32": "/bin/echox32"}
STATUS = {"x86_64": 64, "i386": 32, "x32": 33}


def setup_fs(m):
    for name, data in IMAGES.items():
        m.fs.add_executable(PATHS[name], data)
    m.fs.add_file("/etc/data", b"not a program\n")
    m.fs.add_executable("/bin/garbage", b"\x01\x02 this is not an executable " * 8)
    return m


@pytest.fixture(scope="module")
def m64():
    """One x86_64 Intel machine with the test programs, for the module."""
    return setup_fs(Machine.boot(kernel="x86_64"))


@pytest.fixture(scope="module")
def m32():
    """One i386 Intel machine with the test programs, for the module."""
    return setup_fs(Machine.boot(kernel="i386"))


def put_args(p, path, argv, envp=(), *, word=None):
    """Write path, argv[] and envp[] into fresh user memory: (filename, argv, envp) pointers."""
    word = word or (8 if p.abi == "x86_64" else 4)
    fmt = "<Q" if word == 8 else "<I"
    area = p.alloc(4096)
    cursor = area + 0x400
    pointers = {}
    for key, text in [("path", path), *[(f"a{i}", s) for i, s in enumerate(argv)]] + [
        (f"e{i}", s) for i, s in enumerate(envp)
    ]:
        data = text.encode() + b"\0"
        p.write_mem(cursor, data)
        pointers[key] = cursor
        cursor += len(data)
    argv_at, envp_at = area, area + 0x200
    for base, prefix, items in ((argv_at, "a", argv), (envp_at, "e", envp)):
        words = [pointers[f"{prefix}{i}"] for i in range(len(items))] + [0]
        p.write_mem(base, b"".join(struct.pack(fmt, w) for w in words))
    return pointers["path"], argv_at, envp_at


def execve(p, path, argv, envp=(), **kw):
    filename, argv_at, envp_at = put_args(p, path, argv, envp)
    number = (abi.X32_SYSCALL_BIT | 520) if p.abi == "x32" else "execve"
    return p.syscall(number, filename, argv_at, envp_at, **kw)


def read_stack(p, sp, word):
    """argc, argv[], envp[] and the auxv dict at the new stack pointer (create_elf_tables)."""
    fmt = "<Q" if word == 8 else "<I"

    def at(i):
        return struct.unpack(fmt, p.read_mem(sp + i * word, word))[0]

    argc = at(0)
    argv = [at(1 + i) for i in range(argc)]
    assert at(1 + argc) == 0
    i = 2 + argc
    envp = []
    while at(i):
        envp.append(at(i))
        i += 1
    i += 1
    auxv = {}
    while True:
        key, value = at(i), at(i + 1)
        i += 2
        if key == AT["AT_NULL"]:
            break
        assert key not in auxv
        auxv[key] = value
    return argc, argv, envp, auxv


def cstring(p, address):
    out = bytearray()
    while (b := p.read_mem(address + len(out), 1)) != b"\0":
        out += b
    return out.decode()


def phdr_facts(image):
    """e_entry, e_phoff, e_phnum and the first PT_LOAD's p_vaddr - p_offset, from the bytes."""
    parsed = E.parse_executable(image)
    first = parsed.load_segments[0]
    return parsed.entry, parsed.phoff, parsed.phnum, first.vaddr - first.offset


# --------------------------------------------------------------------------- success


class TestExecve64:
    def test_replaces_the_image(self, m64):
        """After execve RIP is e_entry, CS __USER_CS and RCX 0: start_thread_common sets ip/cs
        and ELF_PLAT_INIT zeroes the registers (process_64.c, asm/elf.h 3.16)."""
        p = m64.spawn("x86_64")
        r = execve(p, PATHS["x86_64"], [PATHS["x86_64"], "hello"])
        assert (r.ret, r.outcome) == (0, "returned")
        assert r.after.reg("rip") == BASE64
        assert r.after.segment("cs")[0] == L.USER_CS_64 == 0x33
        assert r.after.segment("ss")[0] == L.USER_DS_64
        for reg in ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r11", "r15"):
            assert r.after.reg(reg) == 0, reg
        assert r.after.reg("rflags") & 0x200
        assert p.task.execs == 1 and p.abi == "x86_64"

    def test_returns_by_iret(self, m64):
        """stub_execve leaves through int_ret_from_sys_call, i.e. IRET (entry_64.S 3.16)."""
        p = m64.spawn("x86_64")
        r = execve(p, PATHS["x86_64"], [PATHS["x86_64"], "x"])
        symbols = r.trace.symbols()
        assert "stub_execve (arch/x86/kernel/entry_64.S)" in symbols
        assert "sys_execve (fs/exec.c)" in symbols
        assert "Intel SDM Vol. 2A IRET/IRETD/IRETQ" in symbols
        assert "Intel SDM Vol. 2B SYSRET" not in symbols

    def test_runs_to_exit(self, m64):
        """p.resume() runs the new image: it writes argv[1] and exits with its status."""
        p = m64.spawn("x86_64")
        execve(p, PATHS["x86_64"], [PATHS["x86_64"], "hello, 64"])
        run = p.resume()
        assert run.stop == "exit"
        assert p.stdout == b"hello, 64"
        assert p.exit_status == STATUS["x86_64"] << 8

    def test_execve_from_i386_to_64_bit(self, m64):
        """An i386 process can exec a 64-bit image: SET_PERSONALITY clears TIF_IA32 and
        start_thread loads __USER_CS (process_64.c 3.16)."""
        p = m64.spawn("i386")
        r = execve(p, PATHS["x86_64"], [PATHS["x86_64"], "up"])
        assert r.after.segment("cs")[0] == 0x33
        assert not p.task.has(L.TIF_IA32) and not p.task.has(L.TIF_ADDR32)
        p.resume()
        assert p.stdout == b"up"


class TestExecveCompat:
    def test_i386_image_from_64_bit(self, m64):
        """execve of an i386 image from a 64-bit process sets TIF_IA32 (set_personality_ia32)
        and returns to __USER32_CS 0x23, compatibility mode (process_64.c, segment.h 3.16)."""
        p = m64.spawn("x86_64")
        r = execve(p, PATHS["i386"], [PATHS["i386"], "down"])
        assert r.ret == 0
        assert r.after.segment("cs")[0] == L.USER32_CS == 0x23
        assert r.after.reg("eip") == BASE32
        assert p.task.flags >> L.TIF_IA32 & 1 and p.task.has(L.TIF_ADDR32)
        assert p.abi == "i386"
        p.resume()
        assert p.stdout == b"down" and p.exit_status == STATUS["i386"] << 8

    def test_compat_sys_execve_reads_32_bit_pointers(self, m64):
        """An i386 process's execve is stub32_execve -> compat_sys_execve with user_arg_ptr
        is_compat true: argv holds 32-bit compat_uptr_t (ia32entry.S, fs/exec.c 3.16)."""
        p = m64.spawn("i386")
        r = execve(p, PATHS["i386"], [PATHS["i386"], "compat"])
        assert r.ret == 0
        symbols = r.trace.symbols()
        assert "stub32_execve (arch/x86/ia32/ia32entry.S)" in symbols
        assert "compat_sys_execve (fs/exec.c)" in symbols
        assert any("user_arg_ptr" in e.what and "is_compat = True" in e.what for e in r.trace)
        p.resume()
        assert p.stdout == b"compat"

    def test_native_execve_reads_64_bit_pointers(self, m64):
        """A 64-bit process's execve reads native 8-byte pointers (is_compat false, fs/exec.c)."""
        p = m64.spawn("x86_64")
        r = execve(p, PATHS["x86_64"], [PATHS["x86_64"], "x"])
        assert any("user_arg_ptr" in e.what and "is_compat = False" in e.what for e in r.trace)

    def test_x32(self, m64):
        """0x40000000|520 is stub_x32_execve -> compat_sys_execve (syscall_64.tbl, entry_64.S
        3.16); an ELFCLASS32/EM_X86_64 image gives an x32 process with TIF_X32."""
        p = m64.spawn("x32")
        r = execve(p, PATHS["x32"], [PATHS["x32"], "x32!"])
        assert r.number == abi.X32_SYSCALL_BIT | 520 and r.ret == 0
        symbols = r.trace.symbols()
        assert "stub_x32_execve (arch/x86/kernel/entry_64.S)" in symbols
        assert "compat_sys_execve (fs/exec.c)" in symbols
        assert p.task.has(L.TIF_X32) and p.task.has(L.TIF_ADDR32) and not p.task.has(L.TIF_IA32)
        assert p.abi == "x32" and r.after.segment("cs")[0] == 0x33
        p.resume()
        assert p.stdout == b"x32!" and p.exit_status == STATUS["x32"] << 8

    def test_x32_image_from_64_bit(self, m64):
        """A 64-bit process exec'ing an x32 image becomes x32 (SET_PERSONALITY, binfmt_elf 3.16)."""
        p = m64.spawn("x86_64")
        r = execve(p, PATHS["x32"], [PATHS["x32"], "to x32"])
        assert r.ret == 0 and p.task.has(L.TIF_X32)
        p.resume()
        assert p.stdout == b"to x32"

    def test_x32_execve_r11_is_new_eflags(self, m64):
        """stub_x32_execve: "call compat_sys_execve; RESTORE_TOP_OF_STACK %r11", unlike
        stub_execve, so r11 returns as the new EFLAGS 0x200 (entry_64.S, 3.18 copy)."""
        p = m64.spawn("x32")
        r = execve(p, PATHS["x32"], [PATHS["x32"], "r11"])
        assert r.ret == 0
        assert r.after.reg("r11") == 0x200

    def test_i386_kernel(self, m32):
        """On an i386 kernel sys_execve reads 32-bit pointers and the image runs (fs/exec.c)."""
        p = m32.spawn("i386")
        r = execve(p, PATHS["i386"], [PATHS["i386"], "native32"])
        assert r.ret == 0
        assert r.after.reg("eip") == BASE32 and r.after.segment("cs")[0] == L.USER_CS_32
        p.resume()
        assert p.stdout == b"native32"


# --------------------------------------------------------------------------- refusals


class TestRefusals:
    def _unchanged(self, p, r, errno_name, marker):
        assert r.errno == errno_name and r.outcome == "returned"
        assert p.alive and p.task.execs == 0
        assert p.read_mem(marker, 6) == b"marker"
        assert p.syscall("getpid").ret == p.pid

    @pytest.mark.parametrize("abi_name", ["x86_64", "i386", "x32"])
    @pytest.mark.parametrize(
        ("path", "errno_name"),
        [("/bin/missing", "ENOENT"), ("/etc/data", "EACCES"), ("/bin/garbage", "ENOEXEC")],
    )
    def test_refused_without_changing_the_process(self, m64, abi_name, path, errno_name):
        """A missing file is -ENOENT (do_open_exec), one with no x bit -EACCES (may_open
        MAY_EXEC), garbage -ENOEXEC (search_binary_handler): the old image stays (fs/exec.c)."""
        p = m64.spawn(abi_name)
        marker = p.alloc(64)
        p.write_mem(marker, b"marker")
        before_abi, before_flags = p.abi, p.task.flags
        r = execve(p, path, [path])
        self._unchanged(p, r, errno_name, marker)
        assert (p.abi, p.task.flags) == (before_abi, before_flags)

    def test_refused_on_i386_kernel(self, m32):
        """The same refusals on an i386 kernel."""
        p = m32.spawn("i386")
        marker = p.alloc(64)
        p.write_mem(marker, b"marker")
        for path, errno_name in (
            ("/bin/missing", "ENOENT"),
            ("/etc/data", "EACCES"),
            ("/bin/garbage", "ENOEXEC"),
        ):
            self._unchanged(p, execve(p, path, [path]), errno_name, marker)

    def test_failed_stub_execve_returns_rcx_minus_one(self, m64):
        """A failed execve returns through IRET with FIXUP_TOP_OF_STACK's RCX slot, -1
        ("movq $-1,RCX+\\offset(%rsp)", entry_64.S 3.16)."""
        p = m64.spawn("x86_64")
        r = execve(p, "/bin/missing", ["/bin/missing"])
        assert r.errno == "ENOENT"
        assert r.after.reg("rcx") == (1 << 64) - 1
        assert r.after.reg("rip") == r.before.reg("rip") + 2

    @pytest.mark.parametrize("abi_name", ["x86_64", "i386", "x32"])
    def test_unreadable_argv_array(self, m64, abi_name):
        """An unreadable argv array is -EFAULT from count() -> get_user_arg_ptr (fs/exec.c)."""
        p = m64.spawn(abi_name)
        filename, _, envp = put_args(p, PATHS[abi_name], [])
        number = (abi.X32_SYSCALL_BIT | 520) if abi_name == "x32" else "execve"
        r = p.syscall(number, filename, UNMAPPED, envp)
        assert r.errno == "EFAULT" and p.alive and p.task.execs == 0
        assert p.syscall("getpid").ret == p.pid

    @pytest.mark.parametrize("abi_name", ["x86_64", "i386", "x32"])
    def test_unreadable_argv_string(self, m64, abi_name):
        """An argv[1] pointing at unmapped memory is -EFAULT from copy_strings (fs/exec.c 3.16)."""
        p = m64.spawn(abi_name)
        filename, argv_at, envp = put_args(p, PATHS[abi_name], [PATHS[abi_name], "x"])
        word = 8 if abi_name == "x86_64" else 4
        p.write_mem(argv_at + word, UNMAPPED.to_bytes(word, "little"))
        number = (abi.X32_SYSCALL_BIT | 520) if abi_name == "x32" else "execve"
        r = p.syscall(number, filename, argv_at, envp)
        assert r.errno == "EFAULT" and p.alive and p.task.execs == 0

    def test_unreadable_filename(self, m64):
        """An unreadable filename is -EFAULT (getname, fs/namei.c 3.16)."""
        p = m64.spawn("x86_64")
        _, argv_at, envp = put_args(p, PATHS["x86_64"], [])
        assert p.syscall("execve", UNMAPPED, argv_at, envp).errno == "EFAULT"


# ---------------------------------------------------------------------------- the stack


class TestNewStack:
    @pytest.mark.parametrize(
        ("kernel", "from_abi", "image_abi"),
        [
            ("x86_64", "x86_64", "x86_64"),
            ("x86_64", "x86_64", "i386"),
            ("x86_64", "i386", "i386"),
            ("x86_64", "x32", "x32"),
            ("i386", "i386", "i386"),
        ],
    )
    def test_argc_argv_envp_auxv(self, m64, m32, kernel, from_abi, image_abi):
        """create_elf_tables lays out argc, argv[], NULL, envp[], NULL, then the auxv: AT_PHDR =
        load_addr + e_phoff, AT_PHNUM, AT_ENTRY, AT_PAGESZ 4096, AT_RANDOM to 16 bytes
        (fs/binfmt_elf.c, ELF_EXEC_PAGESIZE in asm/elf.h, 3.16)."""
        m = m64 if kernel == "x86_64" else m32
        p = m.spawn(from_abi)
        argv = [PATHS[image_abi], "one", "two"]
        envp = ["HOME=/", "TERM=dumb"]
        r = execve(p, PATHS[image_abi], argv, envp)
        assert r.ret == 0
        word = 8 if image_abi == "x86_64" else 4
        sp = r.after.reg("rsp")
        argc, argv_p, envp_p, auxv = read_stack(p, sp, word)
        assert argc == 3
        assert [cstring(p, a) for a in argv_p] == argv
        assert [cstring(p, a) for a in envp_p] == envp
        entry, phoff, phnum, load_addr = phdr_facts(IMAGES[image_abi])
        assert auxv[AT["AT_PHDR"]] == load_addr + phoff
        assert auxv[AT["AT_PHNUM"]] == phnum
        assert auxv[AT["AT_ENTRY"]] == entry
        assert auxv[AT["AT_PAGESZ"]] == 4096
        assert auxv[AT["AT_PHENT"]] == (56 if image_abi == "x86_64" else 32)
        random_at = auxv[AT["AT_RANDOM"]]
        assert sp < random_at and len(p.read_mem(random_at, 16)) == 16
        assert cstring(p, auxv[AT["AT_EXECFN"]]) == PATHS[image_abi]
        assert sp % 16 == 0  # STACK_ROUND

    @pytest.mark.parametrize(("kernel", "from_abi"), [("x86_64", "x86_64"), ("i386", "i386")])
    def test_at_sysinfo_for_32_bit(self, m64, m32, kernel, from_abi):
        """A 32-bit image gets AT_SYSINFO (32) = the vDSO's __kernel_vsyscall (ARCH_DLINFO_IA32,
        asm/elf.h 3.16), and the vDSO page is mapped there."""
        p = (m64 if kernel == "x86_64" else m32).spawn(from_abi)
        r = execve(p, PATHS["i386"], [PATHS["i386"]])
        _, _, _, auxv = read_stack(p, r.after.reg("rsp"), 4)
        sysinfo = auxv[abi.AT_SYSINFO]
        image = vdso.image32(p.machine.kernel.vdso_variant.name, kernel == "x86_64")
        assert sysinfo == p.task.vdso32 + image.symbol_offsets["__kernel_vsyscall"]
        code = p.machine.kernel.vdso_variant.code
        assert p.read_mem(sysinfo, len(code)) == code

    def test_no_at_sysinfo_for_64_bit(self, m64):
        """A 64-bit image gets no AT_SYSINFO: ARCH_DLINFO on x86_64 has only AT_SYSINFO_EHDR."""
        p = m64.spawn("x86_64")
        r = execve(p, PATHS["x86_64"], [PATHS["x86_64"]])
        _, _, _, auxv = read_stack(p, r.after.reg("rsp"), 8)
        assert abi.AT_SYSINFO not in auxv

    def test_at_sysinfo_ehdr_for_32_bit(self, m64):
        """ARCH_DLINFO_IA32 emits AT_SYSINFO and AT_SYSINFO_EHDR = the vDSO base ("if
        (vdso32_enabled) { NEW_AUX_ENT(AT_SYSINFO, VDSO_ENTRY); NEW_AUX_ENT(AT_SYSINFO_EHDR,
        VDSO_CURRENT_BASE); }", arch/x86/include/asm/elf.h, 3.16)."""
        p = m64.spawn("i386")
        r = execve(p, PATHS["i386"], [PATHS["i386"]])
        _, _, _, auxv = read_stack(p, r.after.reg("rsp"), 4)
        assert auxv.get(abi.AT_SYSINFO_EHDR) == p.task.vdso32

    def test_auxv_order(self, m64):
        """The auxv starts with ARCH_DLINFO's entries, then AT_HWCAP, AT_PAGESZ, AT_CLKTCK,
        AT_PHDR, AT_PHENT, ..., AT_RANDOM, AT_EXECFN (create_elf_tables, fs/binfmt_elf.c 3.16)."""
        p = m64.spawn("x86_64")
        r = execve(p, PATHS["i386"], [PATHS["i386"]])
        _, _, _, auxv = read_stack(p, r.after.reg("rsp"), 4)
        keys = list(auxv)  # in stack order, AT_NULL excluded
        assert keys[0] == abi.AT_SYSINFO
        start = keys.index(AT["AT_HWCAP"])
        run = [AT[n] for n in ("AT_HWCAP", "AT_PAGESZ", "AT_CLKTCK", "AT_PHDR", "AT_PHENT")]
        assert keys[start : start + 5] == run
        assert (
            keys.index(AT["AT_ENTRY"]) < keys.index(AT["AT_RANDOM"]) < keys.index(AT["AT_EXECFN"])
        )
