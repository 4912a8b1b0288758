# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 5. The slow path: ptrace, seccomp and signals
#
# ## What you will do
#
# Trace a process with PTRACE_SYSCALL and change its `write()` at the entry stop and its
# result at the exit stop; install a seccomp filter with `prctl` and watch it refuse one
# call, allow another and kill a third; and interrupt a sleeping 32-bit `read()` with two
# signals, one whose handler asks for the call to be restarted and one whose handler does
# not.
#
# ## What you will learn
#
# - how a per-thread flag (TIF_SYSCALL_TRACE, TIF_SECCOMP) sends a system call off the
#   fast path into `syscall_trace_enter` (arch/x86/kernel/ptrace.c), and why that path
#   always returns by IRET;
# - what a tracer sees at a syscall stop (`orig_rax`, RAX preset to -ENOSYS) and why the
#   kernel reloads the arguments from pt_regs after the stop;
# - what a seccomp filter reads (`struct seccomp_data`: nr, arch, ...), and why it must
#   check `arch`;
# - how `handle_signal` restarts an interrupted call by backing the instruction pointer up
#   two bytes, and why that lands on an `int $0x80` for a SYSENTER caller.
#
# ## What you need
#
# Python 3.10 or newer with ringsim installed (`pip install -e .`); Jupyter and jupytext
# to open it as a notebook, or run it with `python`. Notebooks 2 and 4 come first;
# docs/ptrace.md and docs/signals.md are the reference.

# %%
import struct

import abi
from simulator import Machine
from simulator.cpu.assembler import assemble

ENOSYS = abi.errno_number("ENOSYS")
SIGUSR1, SIGUSR2 = abi.signal_number("SIGUSR1"), abi.signal_number("SIGUSR2")
PTRACE_O_TRACESYSGOOD = 1


def kernel_steps(trace) -> list[str]:
    return [f"{e.where}: {e.what}" for e in trace if e.kind == "kernel"]


# %% [markdown]
# ## The fast path, for comparison
#
# An untraced `write` from a 64-bit process goes `system_call` -> `system_call_fastpath`
# -> `sys_call_table[1]` and returns by SYSRET.

# %%
m = Machine.boot(kernel="x86_64", cpu="intel", seed=1)
plain = m.spawn("x86_64")
msg = plain.alloc(16)
plain.write_mem(msg, b"abcdef\n")
r = plain.syscall("write", 1, msg, 7)
print(r)
print("\n".join(kernel_steps(r.trace)))
assert r.ret == 7 and plain.stdout == b"abcdef\n"
assert "system_call_fastpath (arch/x86/kernel/entry_64.S)" in r.trace.symbols()
assert r.trace[-1].what == "sysretq"

# %% [markdown]
# ## PTRACE_SYSCALL: stops at the entry and the exit
#
# The tracer attaches (the child stops with SIGSTOP), asks for PTRACE_O_TRACESYSGOOD (so
# syscall stops report SIGTRAP | 0x80) and resumes it with PTRACE_SYSCALL, which sets
# TIF_SYSCALL_TRACE. The child then runs real instructions: `write(1, msg, 7)`, then `exit`
# with whatever write returned. Its run stops inside the kernel: `system_call` saw a work
# flag and went to `tracesys`, which saves all registers, presets RAX in pt_regs to
# -ENOSYS ("ptrace can change this for a bad syscall") and calls `syscall_trace_enter`;
# that ends in `ptrace_stop` (kernel/signal.c) with SIGCHLD to the tracer.

# %%
tracer, child = m.spawn("x86_64"), m.spawn("x86_64")
msg = child.alloc(16)
child.write_mem(msg, b"abcdef\n")

assert m.ptrace("PTRACE_ATTACH", child, tracer=tracer).ret == 0
w = m.waitpid(child, waiter=tracer)
print(f"attached: status {w.status:#x}, stopped by signal {w.stopsig}")
assert w.stopped and w.stopsig == abi.signal_number("SIGSTOP")
m.ptrace("PTRACE_SETOPTIONS", child, 0, PTRACE_O_TRACESYSGOOD, tracer=tracer)
m.ptrace("PTRACE_SYSCALL", child, tracer=tracer)

run = child.run(
    f"mov edi, 1\nmov rsi, {msg:#x}\nmov edx, 7\nmov eax, 1\nsyscall\n"
    "mov edi, eax\nmov eax, 60\nsyscall"
)
print("the child's run:", run.stop)
print(run.trace)
w = m.waitpid(child, waiter=tracer)
regs = m.ptrace("PTRACE_GETREGS", child, tracer=tracer).value
print(f"waitpid: status {w.status:#x}; orig_rax {regs['orig_rax']}, rax {regs['rax'] - 2**64}")

steps = kernel_steps(run.trace)
assert run.stop == "stopped" and child.stopped
assert any(s.startswith("tracesys (arch/x86/kernel/entry_64.S)") for s in steps)
assert any(s.startswith("syscall_trace_enter (arch/x86/kernel/ptrace.c)") for s in steps)
assert any(s.startswith("ptrace_stop (kernel/signal.c)") and "syscall-entry" in s for s in steps)
assert w.status == 0x857F  # (SIGTRAP | 0x80) << 8 | 0x7f: a syscall stop
assert regs["orig_rax"] == 1 and regs["rax"] == 2**64 - ENOSYS and regs["rdx"] == 7
assert child.stdout == b""  # nothing written yet

# %% [markdown]
# At the entry stop the tracer may rewrite the call. After `syscall_trace_enter` returns,
# `tracesys` reloads the argument registers from pt_regs (`LOAD_ARGS`), so a changed RDX is
# the count `sys_write` gets. We poke 3 into RDX at its offset in `struct user`
# (`abi.USER_REGS_64`), resume, and stop again at the exit, where RAX holds the result.
# Then we change the result too: the child will exit with whatever RAX says.

# %%
m.ptrace("PTRACE_POKEUSER", child, abi.USER_REGS_64.offset_of("dx"), 3, tracer=tracer)
m.ptrace("PTRACE_SYSCALL", child, tracer=tracer)
w = m.waitpid(child, waiter=tracer)
regs = m.ptrace("PTRACE_GETREGS", child, tracer=tracer).value
print(f"exit stop: status {w.status:#x}, rax {regs['rax']}, the child wrote {child.stdout!r}")
assert w.status == 0x857F and regs["rax"] == 3 and child.stdout == b"abc"

m.ptrace("PTRACE_POKEUSER", child, abi.USER_REGS_64.offset_of("ax"), 42, tracer=tracer)
m.ptrace("PTRACE_CONT", child, tracer=tracer)
w = m.waitpid(child, waiter=tracer)
print(f"PTRACE_CONT; waitpid: status {w.status:#x}, exited {w.exited}, code {w.exitstatus}")
assert w.exited and w.exitstatus == 42 and not child.alive

finished = child.last_result
leave = kernel_steps(finished.trace)
assert any("use IRET because user could have changed frame" in s for s in leave)
assert "sysretq" not in [e.what for e in finished.trace]

# %% [markdown]
# ## seccomp: a filter on every call
#
# 3.16 has no seccomp(2) yet: a filter is installed with
# `prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog)`, after
# `prctl(PR_SET_NO_NEW_PRIVS, 1)`. The filter is classic BPF over `struct seccomp_data`
# (`nr` at offset 0, `arch` at 4); each instruction is 8 bytes (`struct sock_filter`:
# code, jt, jf, k). This one kills anything that is not an x86_64 call, answers getpid
# with -EPERM and allows the rest. `__secure_computing` (kernel/seccomp.c) runs it from
# `syscall_trace_enter`.

# %%
BPF_LD_W_ABS, BPF_JEQ_K, BPF_RET_K = 0x20, 0x15, 0x06
SECCOMP_RET_KILL, SECCOMP_RET_ERRNO, SECCOMP_RET_ALLOW = 0, 0x0005_0000, 0x7FFF_0000
PR_SET_SECCOMP, SECCOMP_MODE_FILTER, PR_SET_NO_NEW_PRIVS = 22, 2, 38
getpid_64 = abi.syscall_number("getpid", abi="x86_64")

program = [
    (BPF_LD_W_ABS, 0, 0, 4),  # A = seccomp_data.arch
    (BPF_JEQ_K, 1, 0, abi.AUDIT_ARCH_X86_64),  # x86_64? skip the kill
    (BPF_RET_K, 0, 0, SECCOMP_RET_KILL),
    (BPF_LD_W_ABS, 0, 0, 0),  # A = seccomp_data.nr
    (BPF_JEQ_K, 0, 1, getpid_64),
    (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | abi.errno_number("EPERM")),
    (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
]
code = b"".join(struct.pack("<HBBI", *insn) for insn in program)


def install_filter(p) -> None:
    filt = p.alloc(len(code))
    p.write_mem(filt, code)
    fprog = p.alloc(16)
    p.write_mem(fprog, struct.pack("<H6xQ", len(program), filt))  # struct sock_fprog
    assert p.syscall("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, trace=False).ret == 0
    r = p.syscall("prctl", PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fprog, 0, 0)
    print("\n".join(s for s in kernel_steps(r.trace) if "seccomp" in s))
    assert r.ret == 0, r


jailed = m.spawn("x86_64")
install_filter(jailed)

r = jailed.syscall("getpid")
print(r)
print("\n".join(s for s in kernel_steps(r.trace) if "secure_computing" in s))
assert r.errno == "EPERM"
assert any(s.startswith("__secure_computing (kernel/seccomp.c)") for s in kernel_steps(r.trace))

buf = jailed.alloc(8)
jailed.write_mem(buf, b"ok\n")
r = jailed.syscall("write", 1, buf, 3)
print(r)
assert r.ret == 3 and jailed.stdout == b"ok\n"

# %% [markdown]
# The arch check matters. The same process can execute INT 0x80 from 64-bit code; then the
# number is an i386 one (getpid is 20, and 39 would be umask) and `syscall_get_arch()`
# reports AUDIT_ARCH_I386. A filter that only compared `nr` could be walked around this
# way; ours kills the process with SIGSYS.

# %%
r = jailed.syscall("getpid", via="int80")
print(r, "| number", r.number)
assert r.number == abi.syscall_number("getpid", abi="i386") == 20
assert r.signal_name == "SIGSYS" and not jailed.alive

# %% [markdown]
# ## A signal, a handler, and a restarted call
#
# A 32-bit process reads from an empty pipe through `__kernel_vsyscall` (SYSENTER on this
# Intel CPU) and sleeps in `pipe_wait`. Another process sends it SIGUSR1, whose handler was
# installed with SA_RESTART. `pipe_read` returns -ERESTARTSYS; on the way out
# `handle_signal` (arch/x86/kernel/signal.c) turns that into a restart (`ax = orig_ax`,
# `ip -= 2`), builds the signal frame and runs the handler, whose `ret` lands in the vDSO's
# `__kernel_sigreturn`. After sigreturn the process resumes two bytes before
# SYSENTER_RETURN, and the vDSO keeps an `int $0x80` exactly there, so the read enters
# the kernel again, by INT 0x80 this time, and sleeps again.

# %%
m = Machine.boot(kernel="x86_64", cpu="intel", seed=1)
reader, sender = m.spawn("i386"), m.spawn("i386")
fds = reader.alloc(8)
assert reader.syscall("pipe", fds, trace=False).ret == 0
rfd = int.from_bytes(reader.read_mem(fds, 4), "little")

handler = reader.alloc(4096, executable=True)
reader.write_mem(handler, assemble("ret", mode=32, address=handler))
for sig, flags in ((SIGUSR1, abi.SA_RESTART), (SIGUSR2, 0)):
    act = reader.alloc(20)  # compat struct sigaction: handler, flags, restorer, mask
    reader.write_mem(act, struct.pack("<III8x", handler, flags, 0))
    assert reader.syscall("rt_sigaction", sig, act, 0, 8, trace=False).ret == 0

buf = reader.alloc(64)
r = reader.syscall("read", rfd, buf, 16)
print(r)
assert r.outcome == "blocked" and reader.blocked

assert sender.syscall("kill", reader.pid, SIGUSR1, trace=False).ret == 0
print("schedule:", m.schedule())
assert reader.blocked  # handled, restarted, asleep again

# %% [markdown]
# SIGUSR2's handler has no SA_RESTART: this time `handle_signal` turns -ERESTARTSYS into
# -EINTR, and after the handler and sigreturn the read returns to its caller with it. The
# whole story, both signals, is in the trace of the finished call.

# %%
assert sender.syscall("kill", reader.pid, SIGUSR2, trace=False).ret == 0
print("schedule:", m.schedule())
result = reader.last_result
print(result)
print(result.trace)

steps = kernel_steps(result.trace)
cpu = [e for e in result.trace if e.kind == "cpu"]
sysenter_return = next(e.address for e in cpu if e.what == "pop ebp")  # SYSENTER_RETURN
restart = [e for e in cpu if e.what == "int 0x80" and e.address == sysenter_return - 2]

assert result.errno == "EINTR" and not reader.blocked
assert sum("pipe_wait sleeps" in s for s in steps) == 2  # slept, restarted, slept again
assert any("restart: ax = orig_ax, ip -= 2" in s for s in steps)
assert any("interrupted call: ax = -EINTR" in s for s in steps)
assert sum(s.startswith("sys32_sigreturn") for s in steps) == 2  # two handlers ran
assert len(restart) == 1  # the restarted read entered by the vDSO's int $0x80
assert [e.what for e in cpu][0:6] == [
    "call dword ptr gs:[0x10]",
    "push ecx",
    "push edx",
    "push ebp",
    "mov ebp, esp",
    "sysenter",
]
