"""fs/exec.c and fs/binfmt_elf.c (Linux 3.16): execve, its pointer-to-pointer arguments.

sys_execve and compat_sys_execve differ only in how they read argv and envp:
user_arg_ptr holds whether the array is of native pointers or of 32-bit
compat_uptr_t, and get_user_arg_ptr reads one element accordingly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import abi
from simulator.kernel import elf, fs, traps, uaccess
from simulator.kernel import linux316 as L

if TYPE_CHECKING:
    from simulator.kernel.kernel import Kernel
    from simulator.kernel.task import Task

MAX_ARG_STRINGS = 0x7FFF_FFFF  # include/uapi/linux/binfmts.h
MAX_ARG_STRLEN = 32 * 4096  # PAGE_SIZE * 32
PATH_MAX = 4096
_M32 = 0xFFFF_FFFF
HANDLERS: dict[str, Callable[..., int]] = {}


def stack_top(kernel: str, abi_name: str) -> int:
    """STACK_TOP = TASK_SIZE: TASK_SIZE_MAX for a 64-bit task, IA32_PAGE_OFFSET for a
    TIF_ADDR32 one (i386 and x32 on x86_64), PAGE_OFFSET on an i386 kernel
    (arch/x86/include/asm/processor.h)."""
    if kernel == "i386":
        return L.PAGE_OFFSET_32
    return L.TASK_SIZE_MAX_64 if abi_name == "x86_64" else L.IA32_PAGE_OFFSET


STACK_PAGES = 32  # ringsim maps this much stack; Linux grows the VMA on demand


def build_stack(
    k: Kernel,
    task: Task,
    filename: str,
    argv: list[bytes],
    envp: list[bytes],
    *,
    phdr: int,
    phent: int,
    phnum: int,
    entry: int,
) -> int:
    """setup_arg_pages, arch_setup_additional_pages and create_elf_tables (fs/binfmt_elf.c):
    the randomised stack with the strings at its top, the vDSO, then argc, argv, envp and the
    auxiliary vector. Returns the stack pointer (where argc sits)."""
    from simulator.kernel import vdso

    mm = task.mm
    wide = task.abi == "x86_64"
    word = 8 if wide else 4
    top = vdso.randomize_stack_top(k, stack_top(k.kind, task.abi), wide=wide)
    mm.map(top - STACK_PAGES * 0x1000, STACK_PAGES * 0x1000, user=True, executable=False, zero=True)
    task.vmas.append((top - STACK_PAGES * 0x1000, top, "rw-p", "[stack]"))
    # copy_strings runs top-down: a NULL word, the filename, envp, then argv strings.
    sp = top - word
    filename_b = filename.encode("latin-1") + b"\0"
    sp -= len(filename_b)
    execfn = sp
    mm.poke(sp, filename_b)
    env_addrs = []
    for s in reversed(envp):
        sp -= len(s) + 1
        mm.poke(sp, s + b"\0")
        env_addrs.insert(0, sp)
    arg_addrs = []
    for s in reversed(argv):
        sp -= len(s) + 1
        mm.poke(sp, s + b"\0")
        arg_addrs.insert(0, sp)
    start_stack = sp  # mm->start_stack = bprm->p
    vdso_aux = vdso.map_vdso(k, task, start_stack)
    # create_elf_tables: arch_align_stack, the platform string, 16 random bytes.
    sp = (sp - vdso.get_random_int(k) % 8192) & ~0xF
    platform = b"x86_64\0" if wide else b"i686\0"
    sp -= len(platform)
    mm.poke(sp, platform)
    platform_addr = sp
    sp -= 16
    random_addr = sp
    mm.poke(sp, bytes(k.random.getrandbits(8) for _ in range(16)))
    names = abi.AUXV_TYPES
    auxv: list[tuple[int, int]] = list(vdso_aux)  # ARCH_DLINFO comes first
    auxv += [
        (names["AT_HWCAP"], 0),
        (names["AT_PAGESZ"], 4096),
        (names["AT_CLKTCK"], 100),
        (names["AT_PHDR"], phdr),
        (names["AT_PHENT"], phent),
        (names["AT_PHNUM"], phnum),
        (names["AT_BASE"], 0),
        (names["AT_FLAGS"], 0),
        (names["AT_ENTRY"], entry),
        (names["AT_UID"], 0),
        (names["AT_EUID"], 0),
        (names["AT_GID"], 0),
        (names["AT_EGID"], 0),
        (names["AT_SECURE"], 0),
        (names["AT_RANDOM"], random_addr),
        (names["AT_EXECFN"], execfn),
        (names["AT_PLATFORM"], platform_addr),
        (names["AT_NULL"], 0),
    ]
    task.auxv = tuple(auxv)
    items = 1 + len(arg_addrs) + 1 + len(env_addrs) + 1 + 2 * len(auxv)
    sp = (sp - items * word) & ~0xF  # STACK_ROUND
    words = [len(arg_addrs), *arg_addrs, 0, *env_addrs, 0]
    for key, value in auxv:
        words += [key, value]
    mm.poke(sp, b"".join(w.to_bytes(word, "little") for w in words))
    task.initial_sp = sp
    k.note(
        _where("create_elf_tables", "fs/binfmt_elf.c"),
        f"stack at {sp:#x} (top {top:#x}): argc {len(arg_addrs)}, argv, envp, {len(auxv)} "
        f"auxv entries (AT_PHDR {phdr:#x}, AT_ENTRY {entry:#x}"
        + "".join(f", {abi.auxv_name(t)} {v:#x}" for t, v in vdso_aux)
        + ")",
    )
    return sp


def _where(fn: str, file: str = "fs/exec.c") -> str:
    return f"{fn} ({file})"


def _count(k: Kernel, array: int, compat: bool, what: str) -> list[int] | int:
    """count() with get_user_arg_ptr: the user pointers of a NULL-terminated array, or -errno."""
    if array == 0:
        return []
    size = 4 if compat else 8
    pointers: list[int] = []
    while True:
        p = uaccess.get_user(k, array + size * len(pointers), size, f"get_user_arg_ptr ({what})")
        if p is None:
            k.note(_where("count"), f"{what}[{len(pointers)}]: the pointer cannot be read: -EFAULT")
            return -k.errno("EFAULT")
        if p == 0:
            return pointers
        pointers.append(p)
        if len(pointers) >= MAX_ARG_STRINGS:
            return -k.errno("E2BIG")


def _strings(k: Kernel, pointers: list[int], what: str) -> list[bytes] | int:
    """copy_strings: each string by strnlen_user, at most MAX_ARG_STRLEN bytes."""
    out: list[bytes] = []
    for i, p in enumerate(pointers):
        s = uaccess.strncpy_from_user(k, p, MAX_ARG_STRLEN)
        if isinstance(s, int):
            if s == -k.errno("ENAMETOOLONG"):
                return -k.errno("E2BIG")
            k.note(_where("copy_strings"), f"{what}[{i}] at {p:#x} cannot be read: -EFAULT")
            return s
        out.append(s)
    return out


def _execve(k: Kernel, name: str, filename: int, argv: int, envp: int, *, compat: bool) -> int:
    task = k.current
    assert task is not None
    ptr_mask = _M32 if (compat or k.kind == "i386") else (1 << 64) - 1
    filename, argv, envp = filename & ptr_mask, argv & ptr_mask, envp & ptr_mask
    kind = "compat_uptr_t (32-bit)" if compat or k.kind == "i386" else "64-bit pointers"
    k.note(
        _where(name), f"user_arg_ptr{{is_compat = {compat}}}: argv and envp are arrays of {kind}"
    )
    path = uaccess.strncpy_from_user(k, filename, PATH_MAX)
    if isinstance(path, int):
        return path
    if not path:
        return -k.errno("ENOENT")
    text = path.decode("latin-1")
    inode = k.fs.lookup(text, cwd=task.cwd)
    if isinstance(inode, int):
        k.note(_where("do_open_exec"), f"{text!r}: -{abi.errno_name(-inode)}")
        return inode
    refused = fs.may_exec(inode)
    if refused:
        k.note(_where("do_open_exec"), f"{text!r}: may_open(MAY_EXEC): -EACCES")
        return refused
    args = _count(k, argv, compat or k.kind == "i386", "argv")
    if isinstance(args, int):
        return args
    envs = _count(k, envp, compat or k.kind == "i386", "envp")
    if isinstance(envs, int):
        return envs
    k.note(_where("count"), f"argc = {len(args)}, envc = {len(envs)}")
    arg_strings = _strings(k, args, "argv")
    if isinstance(arg_strings, int):
        return arg_strings
    env_strings = _strings(k, envs, "envp")
    if isinstance(env_strings, int):
        return env_strings
    k.note(
        _where("copy_strings"),
        f"argv {[s.decode('latin-1') for s in arg_strings]}, "
        f"{len(env_strings)} environment strings",
    )
    image = elf.parse_executable(bytes(inode.data), kernel=k.kind, x32=True)
    if isinstance(image, elf.ElfError):
        if image.errno is None:
            return k.not_modeled("search_binary_handler", image.reason)
        if image.signal:
            k.note(
                _where("load_elf_binary", "fs/binfmt_elf.c"),
                f"{image.reason} after the point of no return",
            )
            traps.kill(
                k,
                traps.SIGKILL if image.signal == "SIGKILL" else traps.SIGSEGV,
                reason=image.reason,
            )
        k.note(_where("load_elf_binary", "fs/binfmt_elf.c"), f"{image.reason}: -ENOEXEC")
        return image.errno
    refused = {"i386": "ia32_emulation", "x32": "x32"}.get(image.abi)
    if k.kind == "x86_64" and refused and not k.options.get(refused, True):
        # linux-6.9: compat_elf_check_arch wants ia32_enabled() for an i386 image and
        # CONFIG_X86_X32_ABI for an x32 one; no binfmt takes the file.
        k.note(
            _where("compat_elf_check_arch", "arch/x86/include/asm/elf.h"),
            f"{image.abi} image with {refused} off: -ENOEXEC",
        )
        return -abi.errno_number("ENOEXEC")
    load_image(k, task, image, text, arg_strings, env_strings)
    return 0


def load_image(
    k: Kernel, task: Task, image: elf.ElfImage, filename: str, argv: list[bytes], envp: list[bytes]
) -> None:
    """From flush_old_exec on: a new mm, the personality, the segments, the stack, start_thread."""
    new_abi = image.abi
    old_mm = task.mm
    mm = k.new_address_space(f"mm of pid {task.pid} ({filename})")
    k.cpu.add_address_space(task.cr3, mm)
    k.cpu.set_cr3(task.cr3)
    task.mm = mm
    task.vmas = []
    task.tls = [0, 0, 0]
    k.load_tls(task)
    k.note(_where("flush_old_exec -> exec_mmap"), "the old image is gone: a new mm; TLS cleared")
    if k.kind == "x86_64":
        task.flags &= ~(1 << L.TIF_IA32 | 1 << L.TIF_ADDR32 | 1 << L.TIF_X32)
        if new_abi == "i386":
            task.flags |= 1 << L.TIF_IA32 | 1 << L.TIF_ADDR32
            how = "set_personality_ia32(false): TIF_IA32, TIF_ADDR32"
        elif new_abi == "x32":
            task.flags |= 1 << L.TIF_X32 | 1 << L.TIF_ADDR32
            how = "set_personality_ia32(true): TIF_X32, TIF_ADDR32"
        else:
            how = "set_personality_64bit: TIF_IA32, TIF_ADDR32, TIF_X32 cleared"
        k.note(_where("SET_PERSONALITY", "arch/x86/kernel/process_64.c"), how)
    task.abi = new_abi
    load_addr = None
    for ph in image.load_segments:
        start = ph.vaddr & ~0xFFF
        end = (ph.vaddr + ph.memsz + 0xFFF) & ~0xFFF
        mm.map(
            start,
            end - start,
            user=True,
            writable=bool(ph.flags & elf.PF_W),
            executable=bool(ph.flags & elf.PF_X),
            zero=True,
        )
        mm.poke(ph.vaddr, image.file_bytes(ph))
        perms = "".join(
            c if ph.flags & b else "-"
            for c, b in (("r", elf.PF_R), ("w", elf.PF_W), ("x", elf.PF_X))
        )
        task.vmas.append((start, end, perms + "p", filename))
        if load_addr is None:
            load_addr = ph.vaddr - ph.offset
        k.note(
            _where("elf_map", "fs/binfmt_elf.c"),
            f"PT_LOAD {ph.vaddr:#x}-{ph.vaddr + ph.memsz:#x} "
            + "".join(
                c for c, b in (("r", elf.PF_R), ("w", elf.PF_W), ("x", elf.PF_X)) if ph.flags & b
            ),
        )
    phdr = (load_addr or 0) + image.phoff
    sp = build_stack(
        k,
        task,
        filename,
        argv,
        envp,
        phdr=phdr,
        phent=image.phentsize,
        phnum=image.phnum,
        entry=image.entry,
    )
    start_thread(k, task, image.entry, sp)
    task.execs += 1
    from simulator.kernel import ptrace

    ptrace.exec_event(k, task)
    del old_mm


def start_thread(k: Kernel, task: Task, ip: int, sp: int) -> None:
    """ELF_PLAT_INIT then start_thread: zeroed registers and a new frame in pt_regs."""
    if k.kind == "x86_64":
        from simulator.kernel import entry_64 as E

        base = E.pt_regs_base(k)
        cs = L.USER_CS_64 if task.abi in ("x86_64", "x32") else L.USER32_CS
        regs = {f.name: 0 for f in abi.PT_REGS_64}
        # start_thread_common and ELF_PLAT_INIT leave orig_ax alone: a tracer's exit stop
        # still sees the execve number there.
        orig_ax = k.kread(base + E._PT["orig_ax"], 8)
        regs.update(ip=ip, cs=cs, flags=0x200, sp=sp, ss=L.USER_DS_64, orig_ax=orig_ax)
        k.kwrite_words(base, [regs[f.name] for f in abi.PT_REGS_64], 8)
        ds = 0 if task.abi != "i386" else L.USER_DS_64
        cpu = k.cpu
        for name, sel in (("ds", ds), ("es", ds), ("fs", 0)):
            fault = cpu.load_segment(name, sel)
            assert fault is None, fault
        cpu.sel[5] = 0  # load_gs_index(0): the user GS selector; its base is in KERNEL_GS_BASE
        cpu.msr.values[0xC000_0102] = 0
        cpu.write_msr("IA32_FS_BASE", 0)
        gs = cpu.cache[5].base
        k.kwrite(gs + L.PERCPU_OLD_RSP, sp, 8)
        if k.options.get("profile") == "linux-6.9":
            # 6.9: flags = X86_EFLAGS_IF | X86_EFLAGS_FIXED and no force_iret(): rcx (zeroed)
            # differs from the new ip, so do_syscall_64 chooses IRET by itself.
            k.kwrite(base + E._PT["flags"], 0x202, 8)
            k.note(
                _where("start_thread_common", "arch/x86/kernel/process_64.c"),
                f"ELF_PLAT_INIT zeroes the registers; ip = {ip:#x}, sp = {sp:#x}, cs = {cs:#x},"
                f" ss = __USER_DS, flags = X86_EFLAGS_IF | X86_EFLAGS_FIXED; fs = gs = 0, ds = "
                f"es = {ds:#x} (no force_iret: regs->cx != regs->ip already means IRET)",
            )
            return
        k.note(
            _where("start_thread_common", "arch/x86/kernel/process_64.c"),
            f"ELF_PLAT_INIT zeroes the registers; ip = {ip:#x}, sp = {sp:#x}, cs = {cs:#x}, "
            f"ss = __USER_DS, flags = X86_EFLAGS_IF; fs = gs = 0, ds = es = {ds:#x}; force_iret()",
        )
        task.set_flag(L.TIF_NOTIFY_RESUME)
    else:
        base = task.kernel_stack_top - 8 - L.PT_REGS_SIZE_32
        regs = {f.name: 0 for f in abi.PT_REGS_32}
        regs.update(
            ds=L.USER_DS_32,
            es=L.USER_DS_32,
            fs=0,
            gs=0,
            orig_ax=k.kread(base + {f.name: f.offset for f in abi.PT_REGS_32}["orig_ax"], 4),
            ip=ip,
            cs=L.USER_CS_32,
            flags=0x200,
            sp=sp,
            ss=L.USER_DS_32,
        )
        k.kwrite_words(base, [regs[f.name] for f in abi.PT_REGS_32], 4)
        k.cpu.sel[5] = 0
        six = k.options.get("profile") == "linux-6.9"
        k.note(
            _where("start_thread", "arch/x86/kernel/process_32.c"),
            f"ELF_PLAT_INIT zeroes the registers; ip = {ip:#x}, sp = {sp:#x}, cs = __USER_CS, "
            "ds = es = ss = __USER_DS, fs = gs = 0; "
            + (
                "no force_iret(): ip is not the vDSO's landing pad, so the exit is IRET"
                if six
                else "force_iret(): TIF_NOTIFY_RESUME forces the IRET path"
            ),
        )
        if not six:  # 3.16: force_iret() is set_thread_flag(TIF_NOTIFY_RESUME)
            task.set_flag(L.TIF_NOTIFY_RESUME)


def _register(name: str, compat: bool) -> None:
    def handler(k: Kernel, filename: int, argv: int, envp: int, *_: int) -> int:
        return _execve(k, name, filename, argv, envp, compat=compat)

    HANDLERS[name] = handler


_register("sys_execve", False)
_register("compat_sys_execve", True)
