"""The article's last section: the slow path, a PTRACE_SYSCALL session, seccomp, and strace."""

from __future__ import annotations

from scenarios.story import DEFAULT, Options, Part, shown
from scenarios.strace import strace
from simulator import Process
from simulator.cpu.assembler import assemble
from simulator.kernel import bpf, elf

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
NR = {"getpid": 39, "umask": 95}  # arch/x86/syscalls/syscall_64.tbl


def _bytes(p: Process, data: bytes) -> int:
    address = p.alloc(len(data) + 16)
    p.write_mem(address, data)
    return address


def ptrace_session(opts: Options = DEFAULT) -> list[Part]:
    """A tracer stops a process at the entry and the exit of write(), and changes its count."""
    m = opts.boot("x86_64", "intel", seed=1)
    tracer = m.spawn("x86_64")
    child = m.spawn("x86_64")
    msg = _bytes(child, b"abcdef\n")
    out = ["== PTRACE_SYSCALL: a tracer at the entry and the exit of write() =="]
    r = m.ptrace("PTRACE_ATTACH", child, tracer=tracer)
    w = m.waitpid(child, waiter=tracer)
    out.append(
        f"PTRACE_ATTACH = {r.ret}; waitpid: status {w.status:#x} "
        f"(stopped by signal {w.stopsig}, SIGSTOP)"
    )
    m.ptrace("PTRACE_SETOPTIONS", child, 0, 1, tracer=tracer)
    m.ptrace("PTRACE_SYSCALL", child, tracer=tracer)
    code = (
        f"mov edi, 1\nmov rsi, {msg:#x}\nmov edx, 7\nmov eax, 1\nsyscall\n"
        "mov edi, eax\nmov eax, 60\nsyscall"  # exit(what write returned)
    )
    run = child.run(code)
    out.append(f'the child runs: write(1, "abcdef\\n", 7) ... its run stops: {run.stop}')
    assert run.trace is not None
    out += shown("-- the child's write, up to its syscall-entry stop", run.trace, in_text=False)
    slow = [e for e in run.trace if e.kind == "kernel"]
    out += [f"   {e.where}: {e.what}" for e in slow]
    w = m.waitpid(child, waiter=tracer)
    regs = m.ptrace("PTRACE_GETREGS", child, tracer=tracer).value
    out.append(
        f"waitpid: status {w.status:#x} (SIGTRAP|0x80: a syscall stop, PTRACE_O_TRACESYSGOOD); "
        f"orig_rax = {regs['orig_rax']}, rax = {regs['rax'] - (1 << 64)} (-ENOSYS: an entry stop), "
        f"rdx = {regs['rdx']}"
    )
    m.ptrace("PTRACE_POKEUSER", child, 12 * 8, 3, tracer=tracer)  # rdx at offsetof(..., rdx)
    out.append("PTRACE_POKEUSER rdx (offset 96) = 3: the kernel reloads the arguments from pt_regs")
    m.ptrace("PTRACE_SYSCALL", child, tracer=tracer)
    w = m.waitpid(child, waiter=tracer)
    regs = m.ptrace("PTRACE_GETREGS", child, tracer=tracer).value
    out.append(
        f"waitpid: status {w.status:#x}, rax = {regs['rax']}: the exit stop; "
        f"the child wrote {bytes(child.stdout)!r}"
    )
    m.ptrace("PTRACE_POKEUSER", child, 10 * 8, 1000, tracer=tracer)
    out.append("PTRACE_POKEUSER rax (offset 80) = 1000: the return value the child will see")
    m.ptrace("PTRACE_SYSCALL", child, tracer=tracer)
    w = m.waitpid(child, waiter=tracer)
    regs = m.ptrace("PTRACE_GETREGS", child, tracer=tracer).value
    out.append(
        f"waitpid: status {w.status:#x}: the entry stop of exit({regs['rdi']}), the value "
        "write returned as the tracer rewrote it"
    )
    m.ptrace("PTRACE_CONT", child, tracer=tracer)
    w = m.waitpid(child, waiter=tracer)
    out.append(
        f"PTRACE_CONT; waitpid: status {w.status:#x}: exited with {w.exitstatus} (1000 & 0xff)"
    )
    return out


def seccomp_story(opts: Options = DEFAULT) -> list[Part]:
    """A filter turns getpid into -EPERM and kills on umask; INT 0x80 meets the arch check."""
    m = opts.boot("x86_64", "intel", seed=1)
    p = m.spawn("x86_64")
    ld, jeq, ret = (
        bpf.BPF_LD | bpf.BPF_W | bpf.BPF_ABS,
        bpf.BPF_JMP | bpf.BPF_JEQ | bpf.BPF_K,
        bpf.BPF_RET | bpf.BPF_K,
    )
    jge = bpf.BPF_JMP | bpf.BPF_JGE | bpf.BPF_K
    program = bpf.assemble(
        [
            bpf.stmt(ld, 4),  # seccomp_data.arch
            bpf.jump(jeq, bpf.AUDIT_ARCH_X86_64, 1, 0),
            bpf.stmt(ret, bpf.SECCOMP_RET_KILL),
            bpf.stmt(ld, 0),  # seccomp_data.nr
            bpf.jump(jge, 0x4000_0000, 0, 1),  # the x32 bit
            bpf.stmt(ret, bpf.SECCOMP_RET_KILL),
            bpf.jump(jeq, NR["getpid"], 0, 1),
            bpf.stmt(ret, bpf.SECCOMP_RET_ERRNO | 1),  # EPERM
            bpf.jump(jeq, NR["umask"], 0, 1),
            bpf.stmt(ret, bpf.SECCOMP_RET_KILL),
            bpf.stmt(ret, bpf.SECCOMP_RET_ALLOW),
        ]
    )
    filt = _bytes(p, program)
    fprog = _bytes(
        p, (len(program) // 8).to_bytes(2, "little") + bytes(6) + filt.to_bytes(8, "little")
    )
    out = ["== seccomp: a filter in the shape libseccomp writes, installed with prctl =="]
    r = p.syscall("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    out.append(f"prctl(PR_SET_NO_NEW_PRIVS, 1) = {r.ret}")
    r = p.syscall("prctl", PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fprog, 0, 0)
    out.append(
        f"prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &{{len={len(program) // 8}}}) = {r.ret}"
    )
    out += [f"   {e.where}: {e.what}" for e in r.trace or () if "seccomp" in e.where]
    r = p.syscall("getpid")
    out.append(f"getpid() = {r.ret} ({r.errno}): SECCOMP_RET_ERRNO|EPERM")
    out += shown("-- getpid() under the filter: SECCOMP_RET_ERRNO", r.trace, in_text=False)
    out += [f"   {e.where}: {e.what}" for e in r.trace or () if "secure_computing" in e.where]
    r = p.syscall("write", 1, filt, 0)
    out.append(f"write(1, buf, 0) = {r.ret}: allowed")
    q = m.spawn("x86_64")
    q_filt = _bytes(q, program)
    q_fprog = _bytes(
        q, (len(program) // 8).to_bytes(2, "little") + bytes(6) + q_filt.to_bytes(8, "little")
    )
    q.syscall("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, trace=False)
    q.syscall("prctl", PR_SET_SECCOMP, SECCOMP_MODE_FILTER, q_fprog, 0, 0, trace=False)
    r = q.syscall("getpid", via="int80")
    out.append(
        f"the same filter, getpid through INT 0x80 from 64-bit code: {r.outcome}, killed by "
        f"{r.signal_name}: seccomp_data.arch is AUDIT_ARCH_I386 (TS_COMPAT), nr is the i386 20"
    )
    r = p.syscall("umask", 0o22)
    out.append(
        f"umask(022): {r.outcome}, killed by {r.signal_name} (SECCOMP_RET_KILL: do_exit(SIGSYS))"
    )
    return out


def echo32_vsyscall() -> bytes:
    """A static i386 program: write(1, argv[1]) with INT 0x80, then getpid and exit(0) through
    __kernel_vsyscall, whose address it finds as AT_SYSINFO in its auxiliary vector."""
    code = assemble(
        """
mov eax, dword ptr [esp]
lea esi, [esp+eax*4+8]
env:
cmp dword ptr [esi], 0
je envdone
add esi, 4
jmp env
envdone:
add esi, 4
find:
mov eax, dword ptr [esi]
cmp eax, 32
je found
add esi, 8
jmp find
found:
mov edi, dword ptr [esi+4]
mov ecx, dword ptr [esp+8]
mov ebx, ecx
xor edx, edx
len:
cmp byte ptr [ebx], 0
je out
inc ebx
inc edx
jmp len
out:
mov ebx, 1
mov eax, 4
int 0x80
mov eax, 20
call edi
mov ebx, 0
mov eax, 1
call edi
""",
        mode=32,
        address=0x8048000,
    )
    return elf.build_executable(
        [elf.Segment(vaddr=0x8048000, data=code)],
        entry=0x8048000,
        elf_class=elf.ELFCLASS32,
        machine=elf.EM_386,
    )


def strace_story(opts: Options = DEFAULT) -> list[Part]:
    """ringsim's strace on a program that uses SYSCALL, INT 0x80 from 64-bit code, execve of a
    32-bit program, and INT 0x80 and __kernel_vsyscall (SYSENTER on Intel) from 32-bit code."""
    m = opts.boot("x86_64", "intel", seed=1, files={"/bin/echo32": echo32_vsyscall()})
    p = m.spawn("x86_64")
    data = {
        "msg": _bytes(p, b"hello\n"),
        "nope": _bytes(p, b"/nope\0"),
        "path": _bytes(p, b"/bin/echo32\0"),
        "hi": _bytes(p, b"hi\0"),
    }
    argv = _bytes(
        p, data["path"].to_bytes(8, "little") + data["hi"].to_bytes(8, "little") + bytes(8)
    )
    code = PROGRAM.format(argv=argv, **data)
    result = strace(m, p, code)
    out = ["== strace (ringsim's, on the simulated ptrace) of a program that uses every way in =="]
    out += [f"   {line}" for line in result.lines]
    out.append(
        "INT 0x80 from 64-bit code shows as stat(): strace 4.8 chose the table by CS (0x33), "
        "while the kernel ran the i386 write (docs/ptrace.md)"
    )
    return out


PROGRAM = """
mov edi, 1
mov rsi, {msg:#x}
mov edx, 6
mov eax, 1
syscall
mov rdi, {nope:#x}
xor esi, esi
mov eax, 2
syscall
mov ebx, 1
mov ecx, {msg:#x}
mov edx, 6
mov eax, 4
int 0x80
mov rdi, {path:#x}
mov rsi, {argv:#x}
xor edx, edx
mov eax, 59
syscall
"""


def run(opts: Options = DEFAULT) -> list[Part]:
    return [*ptrace_session(opts), "", *seccomp_story(opts), "", *strace_story(opts)]
