"""The article's stories on the toy Linux 3.16: read through every way in, execve, failures."""

from __future__ import annotations

from scenarios.story import DEFAULT, Options, Part, shown
from simulator import Machine, Process, SyscallResult
from simulator.cpu.assembler import assemble
from simulator.kernel import elf

MOTD = b"Anatomy of a system call\n"
VENDOR = {"intel": "Intel", "amd": "AMD"}


def _boot(opts: Options, kernel: str, cpu: str, **what_if: object) -> Machine:
    m = opts.boot(kernel, cpu, what_if=what_if or None)
    m.fs.add_file("/etc/motd", MOTD)
    return m


def _path(p: Process, text: str) -> int:
    address = p.alloc(len(text) + 1)
    p.write_mem(address, text.encode() + b"\0")
    return address


def summary(r: SyscallResult) -> str:
    """One line: the result, the registers that changed, the signal."""
    if r.signal is not None:
        return f"killed by {r.signal_name}"
    changed = ", ".join(
        f"{name} {before:#x}->{after:#x}" for name, (before, after) in r.changed.items()
    )
    text = f"= {r.ret}" + (f" ({r.errno})" if r.errno else "")
    return f"{text}; changed: {changed or 'nothing'}" + ("" if r.modeled else " [not modeled]")


def show(r: SyscallResult, title: str) -> list[Part]:
    """A call's full trace under a title."""
    return shown(f"-- {title}: {r.name} {summary(r)}", r.trace)


def read_motd(p: Process, via: str, *, trace: bool = True) -> tuple[SyscallResult, SyscallResult]:
    """open("/etc/motd") then read 16 bytes of it, both through ``via``."""
    path = _path(p, "/etc/motd")
    opened = p.syscall("open", path, 0, 0, via=via, trace=False)
    if opened.ret is None or opened.ret < 0:
        return opened, opened
    buf = p.alloc(64)
    return opened, p.syscall("read", opened.ret, buf, 16, via=via, trace=trace)


def syscall_define_read(opts: Options = DEFAULT) -> list[Part]:
    """Part 1 of the article: SYSCALL_DEFINE3(read), the table line, the generated
    __SYSCALL_COMMON line, syscall_init writing LSTAR, and what the wrappers are for."""
    import abi
    from abi.headers import syscalltbl_sh

    out = ["== SYSCALL_DEFINE3(read): from the table line to the handler =="]
    out.append(
        "fs/read_write.c: SYSCALL_DEFINE3(read, unsigned int, fd, char __user *, buf, "
        "size_t, count) defines SyS_read(long fd, long buf, long count), which calls "
        "SYSC_read((unsigned int) fd, (char __user *) buf, (size_t) count): every argument "
        "arrives as a full 64-bit register and is cast to its C type in one place "
        "(CVE-2009-0029), and sys_read is an alias of SyS_read."
    )
    table = abi.syscall_table("syscall_64.tbl")
    entry = next(e for e in table.entries if e.number == 0)
    out.append(
        f"arch/x86/syscalls/syscall_64.tbl: '{entry.number} {entry.abi} {entry.name} "
        f"{entry.entry_point}'"
    )
    out.append(f"syscalltbl.sh writes: {syscalltbl_sh(table).splitlines()[0]}")
    out.append(
        "syscall_64.c: __SYSCALL_COMMON is __SYSCALL_64, which is [0] = sys_read in sys_call_table"
    )
    m = _boot(opts, "x86_64", "intel")
    lstar = [e for e in m.boot_trace if "LSTAR" in e.what]
    out += [f"boot: {e.where}: {e.what}" for e in lstar[:1]]
    p = m.spawn("x86_64")
    path = _path(p, "/etc/motd")
    fd = p.syscall("open", path, 0, 0, trace=False).ret
    buf = p.alloc(64)
    r = p.syscall("read", (0xFFFF_FFFF << 32) | fd, buf, 8, trace=False)
    out.append(
        f"read({fd} with 0xffffffff in bits 32-63 of rdi, buf, 8) = {r.ret}: the (unsigned int) "
        "cast of the wrapper drops the upper half, so it is still fd 3"
    )
    return out


def x86_64_syscall_read(opts: Options = DEFAULT) -> list[Part]:
    """read() through SYSCALL on x86_64, end to end (part 1 of the article)."""
    m = _boot(opts, "x86_64", "intel")
    p = m.spawn("x86_64")
    _, r = read_motd(p, "syscall")
    out = ["== read() on x86_64: SYSCALL -> system_call -> sys_call_table[0] -> sys_read =="]
    out.append("The table line '0 common read sys_read' put sys_read at index 0.")
    out += show(r, "x86_64 process, SYSCALL")
    return out


def x86_32_reads(opts: Options = DEFAULT) -> list[Part]:
    """read() on an i386 kernel through SYSENTER (the vDSO) and through INT 0x80."""
    out = ["== read() on x86_32: SYSENTER and INT 0x80 reach sys_call_table[3] =="]
    m = _boot(opts, "i386", "intel")
    p = m.spawn("i386")
    _, r = read_motd(p, "kernel_vsyscall")
    out.append("'3 i386 read sys_read' -> __SYSCALL_I386(3, sys_read, sys_read).")
    out += show(r, "i386 kernel, call *%gs:0x10 -> __kernel_vsyscall (SYSENTER variant)")
    _, r = read_motd(p, "int80")
    out += show(r, "i386 kernel, INT 0x80 -> system_call (a DPL 3 trap gate)")
    return out


def ia32_on_x86_64(opts: Options = DEFAULT) -> list[Part]:
    """A 32-bit program on a 64-bit kernel: ia32_sys_call_table, 3 rather than 0."""
    out: list[Part] = ["== A 32-bit program on a 64-bit kernel: ia32_sys_call_table[3] =="]
    cpus = opts.cpus()
    for cpu in cpus:
        m = _boot(opts, "x86_64", cpu)
        p = m.spawn("i386")
        if cpu == "intel":
            _, r = read_motd(p, "sysenter")
            out += show(r, "Intel, SYSENTER -> ia32_sysenter_target (ia32entry.S)")
        else:
            _, r = read_motd(p, "kernel_vsyscall")
            out += show(r, "AMD, __kernel_vsyscall is the SYSCALL variant -> ia32_cstar_target")
        if cpu == "intel" or len(cpus) == 1:
            _, r = read_motd(p, "int80")
            out += show(r, f"{VENDOR[cpu]}, INT 0x80 -> ia32_syscall (ia32entry.S)")
    return out


MECHANISMS = {"x86_64": ("syscall", "int80", "sysenter"), "x32": ("syscall", "int80", "sysenter")}
MECHANISMS["i386"] = ("syscall", "int80", "sysenter", "kernel_vsyscall")


def every_way_in(opts: Options = DEFAULT) -> list[Part]:
    """Every kernel, vendor, process ABI and mechanism: what a read of /etc/motd gives."""
    out = ["== Every way in: read(fd, buf, 16) of /etc/motd =="]
    for kernel in opts.kernels():
        for cpu in opts.cpus():
            m = _boot(opts, kernel, cpu)
            for abi_name in ("x86_64", "i386", "x32") if kernel == "x86_64" else ("i386",):
                for via in MECHANISMS[abi_name]:
                    p = m.spawn(abi_name)
                    _, r = read_motd(p, via, trace=False)
                    line = f"{kernel:<6} kernel, {cpu:<5}, {abi_name:<6} process, via {via:<15} "
                    out.append(line + summary(r))
    out.append(
        "Refusals: SYSCALL needs EFER.SCE (set only by the 64-bit head_64.S) and, on Intel, "
        "64-bit mode; AMD has no SYSENTER in long mode; SYSENTER from 64-bit code enters a "
        "32-bit path that returns to a vDSO a 64-bit process does not have."
    )
    return out


def _echo_program(abi_name: str) -> bytes:
    """A static program that writes argv[1] and a newline, then exits 0."""
    if abi_name == "x86_64":
        code = assemble(
            "mov rsi, qword ptr [rsp+16]\nmov rdi, rsi\nxor edx, edx\n"
            "len:\ncmp byte ptr [rdi], 0\nje out\ninc rdi\ninc edx\njmp len\n"
            "out:\nmov edi, 1\nmov eax, 1\nsyscall\n"
            "mov edi, 0\nmov eax, 60\nsyscall",
            mode=64,
            address=0x400000,
        )
        return elf.build_executable(
            [elf.Segment(vaddr=0x400000, data=code)],
            entry=0x400000,
            elf_class=elf.ELFCLASS64,
            machine=elf.EM_X86_64,
        )
    code = assemble(
        "mov ecx, dword ptr [esp+8]\nmov edi, ecx\nxor edx, edx\n"
        "len:\ncmp byte ptr [edi], 0\nje out\ninc edi\ninc edx\njmp len\n"
        "out:\nmov ebx, 1\nmov eax, 4\nint 0x80\n"
        "mov ebx, 0\nmov eax, 1\nint 0x80",
        mode=32,
        address=0x8048000,
    )
    return elf.build_executable(
        [elf.Segment(vaddr=0x8048000, data=code)],
        entry=0x8048000,
        elf_class=elf.ELFCLASS32,
        machine=elf.EM_386,
    )


def _argv(p: Process, words: list[str], *, wide: bool) -> tuple[int, int]:
    """argv strings and the pointer array: 8-byte pointers, or 4-byte compat_uptr_t."""
    size = 8 if wide else 4
    strings = p.alloc(256)
    array = p.alloc(64)
    offset = 0
    pointers = []
    for word in words:
        p.write_mem(strings + offset, word.encode() + b"\0")
        pointers.append(strings + offset)
        offset += len(word) + 1
    p.write_mem(array, b"".join(x.to_bytes(size, "little") for x in [*pointers, 0]))
    return strings, array


def execve_stories(opts: Options = DEFAULT) -> list[Part]:
    """execve and compat_sys_execve: the pointer-to-pointer argument read two ways."""
    out = ["== execve: sys_execve and compat_sys_execve read argv differently =="]
    m = _boot(opts, "x86_64", "intel")
    m.fs.add_executable("/bin/echo", _echo_program("x86_64"))
    m.fs.add_executable("/bin/echo32", _echo_program("i386"))
    p = m.spawn("x86_64")
    path, argv = _argv(p, ["/bin/echo", "hi"], wide=True)
    r = p.syscall("execve", path, argv, 0)
    out += show(r, "64-bit process: 59 64 execve stub_execve -> sys_execve")
    run = p.resume(trace=False)
    out.append(f"   the new image ran: stdout {p.stdout!r}, {run.stop}, status {p.exit_status}")
    q = m.spawn("i386")
    path, argv = _argv(q, ["/bin/echo32", "hi"], wide=False)
    r = q.syscall("execve", path, argv, 0, via="int80")
    out += show(r, "32-bit process: 11 i386 execve sys_execve stub32_execve -> compat_sys_execve")
    run = q.resume(trace=False)
    out.append(f"   the new image ran: stdout {q.stdout!r}, {run.stop}, status {q.exit_status}")
    return out


def sysret_non_canonical(opts: Options = DEFAULT) -> list[Part]:
    """The 2012 SYSRET vulnerability (CVE-2012-0217): SYSRETQ to a non-canonical RCX faults at
    CPL 0 on Intel (with the user's RSP already loaded) and at CPL 3 on AMD; why Linux
    returns by IRET whenever user space could have changed the frame."""
    from scenarios.bare_round_trips import describe, prepare
    from simulator.cpu.registers import RCX, RIP

    out = ["== SYSRET to a non-canonical RCX: Intel faults in ring 0, AMD in ring 3 =="]
    for vendor in opts.cpus():
        cpu = prepare(vendor)
        cpu.run(max_steps=2)  # mov eax, 39; syscall: now at the lone SYSRETQ in ring 0
        cpu.r[RCX] = 0x0000_8000_0000_0000  # the first non-canonical address above user space
        result = cpu.step(deliver=False)
        out.append(f"{vendor}: SYSRETQ with RCX = 0x0000800000000000")
        out += describe(1, result)
        if result.fault is None:
            out += describe(2, cpu.step(deliver=False))  # the fetch at the new RIP, in ring 3
        _ = RIP
    out.append(
        "On Intel the #GP is taken at CPL 0 on the user's stack: a user who controls RSP "
        "controls the kernel. Linux 3.16 leaves by IRET (int_ret_from_sys_call) whenever user "
        "space could have changed the saved RIP: execve, sigreturn, ptrace (the 'when user can "
        "change the frames always force IRET' comment of entry_64.S)."
    )
    m = _boot(opts, "x86_64", "intel")
    tracer, child = m.spawn("x86_64"), m.spawn("x86_64")
    m.ptrace("PTRACE_ATTACH", child, tracer=tracer)
    m.waitpid(child)
    m.ptrace("PTRACE_SYSCALL", child)
    child.syscall("getpid", trace=False)
    m.waitpid(child)
    m.ptrace("PTRACE_SYSCALL", child)
    m.waitpid(child)
    m.ptrace("PTRACE_POKEUSER", child, 16 * 8, 0x0000_8000_0000_0000)  # rip
    m.ptrace("PTRACE_CONT", child)
    w = m.waitpid(child)
    out.append(
        f"A tracer writes rip = 0x0000800000000000 at the exit stop: the tracesys path leaves by "
        f"IRETQ, whose #GP is fixed up by bad_iret into a user-mode fault: "
        f"{'killed by signal ' + str(w.termsig) if w.signaled else w}"
    )
    return out


def x32_execve(opts: Options = DEFAULT) -> list[Part]:
    """x32 execve: 520 with the x32 bit, stub_x32_execve -> compat_sys_execve, 4-byte argv."""
    out = ["== x32 execve: 520 | __X32_SYSCALL_BIT reaches stub_x32_execve =="]
    m = _boot(opts, "x86_64", "intel")
    m.fs.add_executable("/bin/echo", _echo_program("x86_64"))
    p = m.spawn("x32")
    path, argv = _argv(p, ["/bin/echo", "x32"], wide=False)
    r = p.syscall("execve", path, argv, 0)
    out.append(
        f"number {r.number:#x} = 520 | 0x40000000: andl $__SYSCALL_MASK keeps 520, the table "
        "line '520 x32 execve stub_x32_execve' (syscall_64.tbl)"
    )
    out += show(r, "x32 process: stub_x32_execve -> compat_sys_execve (argv of 4-byte pointers)")
    run = p.resume(trace=False)
    out.append(
        f"   the new image (ELFCLASS64: an x86_64 process now) ran: stdout {p.stdout!r}, "
        f"{run.stop}, status {p.exit_status}"
    )
    q = m.spawn("x32")
    path, argv = _argv(q, ["/bin/echo", "x32"], wide=False)
    r = q.syscall(59 | 0x4000_0000, path, argv, 0)
    out.append(
        f"59 | 0x40000000 from the same x32 process: '59 64 execve stub_execve' is a 64-bit "
        f"entry, so sys_execve reads the 4-byte pointers as 8-byte ones: {summary(r)}"
    )
    return out


def failures(opts: Options = DEFAULT) -> list[Part]:
    """The failures that teach: SYSCALL on i386, INT 0x80 through a DPL 0 gate, bad pointers."""
    out = ["== Failures that teach =="]
    m = _boot(opts, "i386", "intel")
    p = m.spawn("i386")
    r = p.syscall("getpid", via="syscall")
    out.append(f"SYSCALL on the i386 kernel (EFER.SCE clear): {summary(r)}")
    w = _boot(opts, "x86_64", "intel", int80_gate_dpl=0)
    p = w.spawn("x86_64")
    r = p.syscall("getpid", via="int80")
    fault = [e.what for e in r.trace or () if e.kind == "fault"]
    out.append(f"WHAT IF (not Linux) vector 0x80 had DPL 0: {summary(r)}")
    out += [f"   {line}" for line in fault]
    m = _boot(opts, "x86_64", "intel")
    p = m.spawn("x86_64")
    fd = p.syscall("open", _path(p, "/etc/motd"), 0, 0, trace=False).ret
    r = p.syscall("read", fd, 0xFFFF_8800_0000_0000, 16)
    out.append(f"read into a kernel-half buffer: {summary(r)} (access_ok, no memory touched)")
    r = p.syscall("read", fd, 0x5000_0000, 16)
    events = [e.where for e in r.trace or () if e.kind in ("fault", "kernel")]
    out.append(f"read into an unmapped user buffer: {summary(r)}")
    out += [f"   {where}" for where in events if "fault" in where or "#PF" in where]
    q = _boot(opts, "i386", "intel").spawn("i386")
    run = q.run("mov eax, 20\nsysenter")
    out.append(
        f"a bare SYSENTER (no vDSO pushes) comes back through SYSENTER_RETURN, whose pops and "
        f"ret find no frame of ours: {run.stop}" + (f" ({run.detail})" if run.detail else "")
    )
    r = p.syscall(60, 0o22, via="int80")
    out.append(f"number 60 through INT 0x80 is i386 umask: {summary(r)}")
    r = p.syscall(60, 7, via="syscall")
    status = p.exit_status or 0
    out.append(
        f"number 60 through SYSCALL is x86_64 exit: outcome {r.outcome}, exit status "
        f"{status >> 8} (wait status {status:#x})"
    )
    return out
