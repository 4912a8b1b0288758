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
# # 6. Failures that teach
#
# ## What you will do
#
# Make system calls go wrong on purpose, and read in each trace why: SYSCALL on a 32-bit
# kernel; INT 0x80 through a gate that ring 3 may not use; SYSRET to a non-canonical
# address on Intel and on AMD, and what Linux does about it; a bad buffer caught with and
# without a page fault; and one system call number that means two different things.
#
# ## What you will learn
#
# - that SYSCALL needs EFER.SCE, which only a 64-bit kernel sets, and that a refused
#   instruction is #UD, SIGILL for the process;
# - how the #GP error code of a refused INT n names the IDT entry (0x402 for vector 0x80);
# - why SYSRET with a non-canonical RCX is dangerous on Intel (CVE-2012-0217) and why
#   Linux leaves by IRET whenever user space could have changed the return address;
# - the two ways a bad pointer becomes -EFAULT: `access_ok` before any access, or a #PF
#   at CPL 0 turned into an error by the exception table;
# - that a system call number means nothing without the table the instruction reaches.
#
# ## What you need
#
# Python 3.10 or newer with ringsim installed (`pip install -e .`); Jupyter and jupytext
# to open it as a notebook, or run it with `python`. Notebooks 1 and 2 first.

# %%
import abi
from scenarios.bare_round_trips import describe, prepare
from simulator import Machine
from simulator.cpu import faults, idt_error_code, msr

MOTD = b"Anatomy of a system call\n"


def faults_in(r) -> list[str]:
    """The fault events of a trace: what was raised, and where it went."""
    return [e.what for e in r.trace if e.kind == "fault"]


# %% [markdown]
# ## SYSCALL on a 32-bit kernel: #UD, SIGILL
#
# SYSCALL is refused unless EFER.SCE is set (Intel SDM Vol. 2B SYSCALL, AMD APM Vol. 3).
# A 64-bit kernel sets it in head_64.S; a 32-bit kernel never does (head_32.S leaves EFER
# alone, and `vdso32_syscall()` is defined as 0 on CONFIG_X86_32), and Intel CPUs refuse
# SYSCALL outside 64-bit mode anyway. The #UD goes through the IDT to `do_invalid_op`
# (arch/x86/kernel/traps.c), which sends SIGILL.

# %%
m32 = Machine.boot(kernel="i386", cpu="intel")
p = m32.spawn("i386")
r = p.syscall("getpid", via="syscall")
print(r)
print(r.trace)

assert r.before.msr("IA32_EFER") & msr.EFER_SCE == 0
assert r.signal_name == "SIGILL" and r.ret is None and not p.alive
assert any(w.startswith("#UD") for w in faults_in(r))
assert "do_invalid_op (arch/x86/kernel/traps.c)" in r.trace.symbols()

# %% [markdown]
# ## INT 0x80 through a DPL 0 gate: #GP(0x402)
#
# INT n from ring 3 is allowed only through a gate whose DPL is 3 (SDM Vol. 3A §6.12.1.1);
# Linux makes the 0x80 gate DPL 3 on purpose. The `what_if` boot option builds a machine
# that is not Linux, with a DPL 0 gate there, and marks it in the boot trace. The CPU then
# raises #GP with an error code that names the gate (SDM Vol. 3A §6.13): the vector times 8
# plus the IDT bit (2): 0x80 * 8 + 2 = 0x402. `do_general_protection` turns a user-mode #GP
# into SIGSEGV.

# %%
what_if = Machine.boot(kernel="x86_64", cpu="intel", what_if={"int80_gate_dpl": 0})
print("\n".join(f"{e.where}: {e.what}" for e in what_if.boot_trace if "WHAT IF" in e.where))
p = what_if.spawn("x86_64")
r = p.syscall("getpid", via="int80")
print(r)
print(r.trace)

assert idt_error_code(0x80) == 0x80 * 8 + 2 == 0x402
assert any(w.startswith("#GP(0x402)") for w in faults_in(r))
assert r.signal_name == "SIGSEGV"
assert "do_general_protection (arch/x86/kernel/traps.c)" in r.trace.symbols()

linux = Machine.boot(kernel="x86_64", cpu="intel").spawn("x86_64")
assert linux.syscall("getpid", via="int80").ret == linux.pid  # the real gate is DPL 3

# %% [markdown]
# ## SYSRET to a non-canonical RCX: Intel and AMD disagree
#
# Back on the bare CPU of notebook 1: a SYSCALL into a lone SYSRETQ. Before the SYSRETQ we
# put 0x0000800000000000, the first non-canonical address above user space, in RCX.
#
# - On Intel, SYSRETQ checks RCX while still at CPL 0 and raises #GP(0) there (SDM Vol. 2B
#   SYSRET). A kernel has already put the user's RSP back by then, so the #GP handler
#   would run in ring 0 on a stack the user chose: CVE-2012-0217.
# - On AMD, SYSRETQ completes to ring 3, and the fetch at the new RIP faults in ring 3,
#   where a #GP is only the process's problem.

# %%
outcomes = {}
for vendor in ("intel", "amd"):
    cpu = prepare(vendor)
    cpu.step(deliver=False)  # mov eax, 39
    cpu.step(deliver=False)  # syscall: now in ring 0 at the SYSRETQ
    cpu.regs.write("rcx", 0x0000_8000_0000_0000)
    steps = [cpu.step(deliver=False)]
    if steps[0].outcome == "completed":
        steps.append(cpu.step(deliver=False))  # the fetch at the new RIP
    print(f"-- {vendor}")
    for number, step in enumerate(steps, 1):
        print("\n".join(describe(number, step)))
    outcomes[vendor] = steps

intel_fault = outcomes["intel"][0]
assert intel_fault.outcome == "faulted" and intel_fault.fault.vector == faults.GP
assert intel_fault.before.cpl == 0  # raised in ring 0

amd_sysret, amd_fetch = outcomes["amd"]
assert amd_sysret.outcome == "completed" and amd_sysret.after.cpl == 3
assert amd_fetch.fault.vector == faults.GP and amd_fetch.before.cpl == 3

# %% [markdown]
# Linux's answer, in entry_64.S: whenever user space could have changed the saved return
# address (execve, sigreturn, ptrace), the exit takes the IRET path ("use IRET because
# user could have changed frame"). IRETQ also refuses a non-canonical RIP, but it faults
# on the kernel stack, and `bad_iret` turns the fault into an ordinary user-mode #GP.
# Here a tracer writes the bad RIP at the syscall-exit stop; the process dies of SIGSEGV
# and the kernel never runs on the user's stack.

# %%
m = Machine.boot(kernel="x86_64", cpu="intel")
tracer, child = m.spawn("x86_64"), m.spawn("x86_64")
m.ptrace("PTRACE_ATTACH", child, tracer=tracer)
m.waitpid(child, waiter=tracer)
m.ptrace("PTRACE_SYSCALL", child, tracer=tracer)
child.syscall("getpid")  # stops at the syscall-entry stop
m.waitpid(child, waiter=tracer)
m.ptrace("PTRACE_SYSCALL", child, tracer=tracer)
m.waitpid(child, waiter=tracer)  # the syscall-exit stop
rip = abi.USER_REGS_64.offset_of("ip")
m.ptrace("PTRACE_POKEUSER", child, rip, 0x0000_8000_0000_0000, tracer=tracer)
m.ptrace("PTRACE_CONT", child, tracer=tracer)
w = m.waitpid(child, waiter=tracer)
r = child.last_result
print(r)
last_steps = [f"{e.where}: {e.what}" for e in r.trace if e.kind in ("kernel", "fault")]
print("\n".join(last_steps[-5:]))

assert w.signaled and w.termsig == 11
assert any("IRET to non-canonical RIP" in f for f in faults_in(r))
assert "bad_iret (arch/x86/kernel/entry_64.S)" in r.trace.symbols()
assert "sysretq" not in [e.what for e in r.trace]

# %% [markdown]
# ## -EFAULT, with and without a fault
#
# `sys_read` must not write where the process may not. A buffer in the kernel half is
# refused by `access_ok` (arch/x86/include/asm/uaccess.h), a comparison with the address
# limit, before any memory is touched: no fault at all. A buffer in the user half that
# nothing is mapped at passes `access_ok`; then `copy_to_user` really faults, at CPL 0
# (error code 0x2: not present, write, supervisor), `do_page_fault` finds no VMA, and
# the exception table sends the copy to its fixup, which returns -EFAULT. Either way the
# process sees the same -14.

# %%
m = Machine.boot(kernel="x86_64", cpu="intel", files={"/etc/motd": MOTD})
p = m.spawn("x86_64")
path = p.alloc(16)
p.write_mem(path, b"/etc/motd\0")
fd = p.syscall("open", path, 0, 0, trace=False).ret

kernel_half = p.syscall("read", fd, 0xFFFF_8800_0000_0000, 16)
print(kernel_half)
print(kernel_half.trace)
unmapped = p.syscall("read", fd, 0x5000_0000, 16)
print(unmapped)
print(unmapped.trace)

assert kernel_half.errno == unmapped.errno == "EFAULT" and unmapped.ret == -14
assert faults_in(kernel_half) == []
assert "access_ok (arch/x86/include/asm/uaccess.h)" in kernel_half.trace.symbols()
(pf,) = faults_in(unmapped)
assert "#PF error code 0x2" in pf
assert unmapped.after.named()["cr2"] == 0x5000_0000
assert any("fixup_exception" in w for w in unmapped.trace.symbols())
assert p.alive  # a bad buffer is an error code, not a signal

# %% [markdown]
# ## One number, two calls
#
# 60 is `exit` in syscall_64.tbl and `umask` in syscall_32.tbl. A 64-bit process that
# executes INT 0x80 reaches `ia32_syscall` and the i386 numbers, so 60 there sets the file
# mode mask and returns the old one (022). The same 60 through SYSCALL ends the process.

# %%
r = p.syscall(60, 0o77, via="int80")
print(r, "| changed:", {k: (hex(a), hex(b)) for k, (a, b) in r.changed.items()})
assert r.name == "umask" and r.ret == 0o22
assert any("ia32_sys_call_table[60] = sys_umask" in e.what for e in r.trace)

r = p.syscall(60, 7, via="syscall")
print(r, "| wait status", hex(p.exit_status))
assert r.name == "exit" and r.outcome == "exit" and not p.alive
assert p.exit_status == 7 << 8
