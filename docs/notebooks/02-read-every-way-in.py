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
# # 2. One read(), every way into the kernel
#
# ## What you will do
#
# Read 16 bytes of `/etc/motd` with `read()` on booted Linux 3.16 machines: through SYSCALL
# from a 64-bit process, through SYSENTER and INT 0x80 on a 32-bit kernel, from a 32-bit
# process on a 64-bit kernel (Intel and AMD), and from an x32 process. Then ask
# `abi.explain` to sum it all up.
#
# ## What you will learn
#
# - how a line of `syscall_64.tbl` or `syscall_32.tbl` becomes a slot in a kernel table;
# - which entry routine each instruction reaches (`system_call`, `ia32_sysenter_target`,
#   `ia32_syscall`, `ia32_cstar_target`) and how each one returns;
# - why a 32-bit program on a 64-bit kernel asks for read with 3, not 0, and lands in
#   `ia32_sys_call_table`;
# - what the x32 bit in an x32 system call number is for.
#
# ## What you need
#
# Python 3.10 or newer with ringsim installed (`pip install -e .`); Jupyter and jupytext
# to open it as a notebook, or run it with `python`. Notebook 1 explains the instructions
# themselves; the first half of LWN's "Anatomy of a system call, part 2" tells this story.

# %%
import abi
from simulator import Machine, Process

MOTD = b"Anatomy of a system call\n"


def open_motd(p: Process, via: str) -> tuple[int, int]:
    """Open /etc/motd in ``p`` through ``via``; return the fd and a 64-byte buffer."""
    path = p.alloc(16)
    p.write_mem(path, b"/etc/motd\0")
    fd = p.syscall("open", path, 0, 0, via=via, trace=False).ret
    assert fd is not None and fd >= 0, fd
    return fd, p.alloc(64)


def whats(r) -> list[str]:
    """What each step of a call's trace did, in order."""
    return [e.what for e in r.trace]


def wheres(r) -> list[str]:
    """The kernel symbol or manual page of each step."""
    return r.trace.symbols()


# %% [markdown]
# ## x86_64: SYSCALL, `system_call`, `sys_call_table[0]`
#
# The 64-bit table line for read is `0 common read sys_read`: number 0 in
# `arch/x86/syscalls/syscall_64.tbl`, the same for x86_64 and x32 processes ("common").
# The build turns it into `__SYSCALL_COMMON(0, sys_read, sys_read)`, which fills slot 0
# of `sys_call_table` (arch/x86/kernel/syscall_64.c). The process puts 0 in RAX and the
# arguments in RDI, RSI, RDX and executes SYSCALL.

# %%
table_64 = abi.syscall_table("syscall_64.tbl")
line = next(e for e in table_64 if e.name == "read")
print(line)
assert (line.number, line.abi, line.entry_point) == (0, "common", "sys_read")

m = Machine.boot(kernel="x86_64", cpu="intel", files={"/etc/motd": MOTD})
p = m.spawn("x86_64")
fd, buf = open_motd(p, "syscall")
r = p.syscall("read", fd, buf, 16, via="syscall")
print(r)
print(r.trace)

assert r.ret == 16 and p.read_mem(buf, 16) == MOTD[:16]
assert r.number == 0
assert "system_call (arch/x86/kernel/entry_64.S)" in wheres(r)
assert any("sys_call_table[0] = sys_read" in w for w in whats(r))
assert whats(r)[-1] == "sysretq"
assert set(r.changed) <= {"rax", "rcx", "r11", "rip"}  # SYSCALL's rcx and r11, the result

# %% [markdown]
# ## x86_32: SYSENTER through `__kernel_vsyscall`
#
# On a 32-bit kernel read is `3 i386 read sys_read` in `syscall_32.tbl`, hence
# `__SYSCALL_I386(3, sys_read, sys_read)` and slot 3 of the i386 `sys_call_table`. At boot,
# `enable_sep_cpu` writes the address of `ia32_sysenter_target` (arch/x86/kernel/entry_32.S)
# to MSR_IA32_SYSENTER_EIP (0x176).
#
# A 32-bit program does not execute SYSENTER itself: glibc calls `*%gs:0x10`, a copy of
# AT_SYSINFO, which is the vDSO's `__kernel_vsyscall`. It pushes ECX, EDX and EBP and puts
# ESP in EBP, because SYSENTER saves neither the return address nor the user stack; the
# kernel finds the stack in EBP, returns with SYSEXIT to `SYSENTER_RETURN` in the vDSO,
# and the vDSO pops the three registers back.

# %%
table_32 = abi.syscall_table("syscall_32.tbl")
line = next(e for e in table_32 if e.name == "read")
print(line)
assert (line.number, line.abi, line.entry_point) == (3, "i386", "sys_read")

m32 = Machine.boot(kernel="i386", cpu="intel", files={"/etc/motd": MOTD})
sep = [e.what for e in m32.boot_trace if e.where.startswith("enable_sep_cpu")]
print("\n".join(sep))
assert any("IA32_SYSENTER_EIP (0x176)" in w and "ia32_sysenter_target" in w for w in sep)

p32 = m32.spawn("i386")
fd, buf = open_motd(p32, "kernel_vsyscall")
r = p32.syscall("read", fd, buf, 16, via="kernel_vsyscall")
print(r)
print(r.trace)

assert r.ret == 16 and p32.read_mem(buf, 16) == MOTD[:16]
assert "ia32_sysenter_target (arch/x86/kernel/entry_32.S)" in wheres(r)
assert any("sys_call_table[3] = sys_read" in w for w in whats(r))
assert whats(r)[:6] == [
    "call dword ptr gs:[0x10]",
    "push ecx",
    "push edx",
    "push ebp",
    "mov ebp, esp",
    "sysenter",
]
assert "sysexit" in whats(r) and whats(r)[-4:] == ["pop ebp", "pop edx", "pop ecx", "ret"]
assert set(r.changed) == {"eax", "eip"}  # everything else the vDSO put back

# %% [markdown]
# ## x86_32: INT 0x80, the old way
#
# `trap_init` made vector 0x80 a DPL 3 trap gate to `system_call` (entry_32.S). INT 0x80
# pushes the user's SS, ESP, EFLAGS, CS and EIP on the kernel stack from the TSS;
# `SAVE_ALL` pushes the rest, the same table is called, and `restore_all` leaves by IRET.

# %%
r = p32.syscall("read", fd, buf, 16, via="int80")
print(r)
print(r.trace)

assert r.ret == len(MOTD) - 16  # the rest of the file: the same open file, at offset 16
assert p32.read_mem(buf, len(MOTD) - 16) == MOTD[16:]
assert "system_call (arch/x86/kernel/entry_32.S)" in wheres(r)
assert any("sys_call_table[3] = sys_read" in w for w in whats(r))
assert whats(r)[0] == "int 0x80" and whats(r)[-1] == "iretd"
assert set(r.changed) == {"eax", "eip"}

# %% [markdown]
# ## A 32-bit program on a 64-bit kernel: 3, not 0
#
# The same 32-bit binary on an x86_64 kernel still puts 3 in EAX: it was built against the
# i386 numbers. So the 64-bit kernel keeps a second table, `ia32_sys_call_table`
# (arch/x86/ia32/syscall_ia32.c), built from `syscall_32.tbl`, and every 32-bit way in
# reaches it: SYSENTER lands in the `ia32_sysenter_target` of arch/x86/ia32/ia32entry.S
# (same name, other file), INT 0x80 in `ia32_syscall`. Before the call, `IA32_ARG_FIXUP`
# moves EBX, ECX, EDX, ESI, EDI, EBP into the registers a 64-bit C function expects.

# %%
m = Machine.boot(kernel="x86_64", cpu="intel", files={"/etc/motd": MOTD})
compat = m.spawn("i386")
fd, buf = open_motd(compat, "sysenter")
r = compat.syscall("read", fd, buf, 16, via="sysenter")
print(r)
print(r.trace)

assert r.ret == 16 and r.number == 3
assert "ia32_sysenter_target (arch/x86/ia32/ia32entry.S)" in wheres(r)
assert "IA32_ARG_FIXUP (arch/x86/ia32/ia32entry.S)" in wheres(r)
assert any("ia32_sys_call_table[3] = sys_read" in w for w in whats(r))
assert "sysexit" in whats(r)

r = compat.syscall("read", fd, buf, 16, via="int80")
print(r)
assert r.ret == len(MOTD) - 16
assert "ia32_syscall (arch/x86/ia32/ia32entry.S)" in wheres(r)
assert any("ia32_sys_call_table[3] = sys_read" in w for w in whats(r))
assert whats(r)[-1] == "iretq"

# %% [markdown]
# In the 64-bit table, 3 is `close`. A 64-bit process that puts 3 in RAX and executes
# SYSCALL closes its file: the number means nothing without the table the instruction
# leads to.

# %%
print(abi.syscall_name(3, abi="x86_64"), "is 3 in syscall_64.tbl")
fd, buf = open_motd(p, "syscall")
r = p.syscall(3, fd, via="syscall")
print(r)
assert r.name == "close" and r.ret == 0
assert any("sys_call_table[3] = sys_close" in w for w in whats(r))
r = p.syscall("read", fd, buf, 16, via="syscall")
print(r)
assert r.errno == "EBADF"

# %% [markdown]
# ## AMD: `__kernel_vsyscall` uses SYSCALL instead
#
# AMD CPUs refuse SYSENTER in long mode, so on a 64-bit kernel `sysenter_setup`
# (arch/x86/vdso/vdso32-setup.c) gives 32-bit processes the SYSCALL variant of
# `__kernel_vsyscall`. From compatibility mode SYSCALL jumps to IA32_CSTAR, that is
# `ia32_cstar_target`, and the kernel returns with a 32-bit SYSRET. ECX is clobbered by
# SYSCALL, so the vDSO moves the second argument to EBP first and the kernel moves it back.

# %%
amd = Machine.boot(kernel="x86_64", cpu="amd", files={"/etc/motd": MOTD})
q = amd.spawn("i386")
fd, buf = open_motd(q, "kernel_vsyscall")
r = q.syscall("read", fd, buf, 16, via="kernel_vsyscall")
print(r)
print(r.trace)

assert r.ret == 16 and q.read_mem(buf, 16) == MOTD[:16]
assert whats(r)[1:4] == ["push ebp", "mov ebp, ecx", "syscall"]
assert "ia32_cstar_target (arch/x86/ia32/ia32entry.S)" in wheres(r)
assert any("ia32_sys_call_table[3] = sys_read" in w for w in whats(r))
assert "sysret" in whats(r) and set(r.changed) == {"eax", "eip"}

# %% [markdown]
# ## x32: 64-bit registers, 32-bit pointers, and a bit in the number
#
# An x32 process runs in 64-bit mode and enters with SYSCALL, into the same `system_call`
# and the same `sys_call_table`. Its numbers carry `__X32_SYSCALL_BIT` (0x40000000), so the
# kernel can tell it apart (TIF_X32, compat handlers in the x32 slots 512-544);
# `system_call` masks the bit off with `andl $__SYSCALL_MASK,%eax` before indexing.

# %%
x32 = m.spawn("x32")
fd, buf = open_motd(x32, "syscall")
r = x32.syscall("read", fd, buf, 16)
print(r, f"(number {r.number:#x})")
print(r.trace)

assert r.ret == 16 and x32.read_mem(buf, 16) == MOTD[:16]
assert r.number == abi.syscall_number("read", abi="x32") == 0x4000_0000
assert any("andl $__SYSCALL_MASK,%eax -> 0x0" in w for w in whats(r))
assert any("sys_call_table[0] = sys_read" in w for w in whats(r))

# %% [markdown]
# ## All of it at once: `abi.explain`
#
# `abi.explain` (also `ringsim explain read`) gathers the facts this notebook walked
# through: the number in each ABI, the slot in each kernel table, and where each argument
# travels under each convention.

# %%
text = abi.explain("read")
print(text)
assert "i386    3" in text and "x86_64  0" in text
assert "0x40000000 | 0 = 0x40000000" in text
assert "ia32_sys_call_table[3]" in text and "sys_call_table[0]" in text
assert "fd=ebx" in text and "fd=rdi" in text

# %% [markdown]
# ## Why INT 0x80 gave way: the cost model
#
# Steps are not cost: the SYSENTER path above has more steps than the INT 0x80 one, because
# the vDSO adds instructions and the kernel builds in software the frame SYSENTER does not
# push. `simulator.cost` charges each step relative units, calibrated on published round
# trips (docs/cost-model.md cites them). It is **a model, not a measurement**: it says why
# one way in is dearer than another, not how long your machine takes. `pti=True` adds the
# CR3 switches of page-table isolation, a "what if" for 3.16, which predates it.
#
# In Jupyter, `r.trace.to_svg()` draws the path a call took (ring 3 on the left, ring 0 on
# the right); `ringsim run mechanisms --format html` writes the whole comparison as a page.

# %%
from simulator.cost import LABEL, estimate

i386_kernel = Machine.boot(kernel="i386", cpu="intel")
costs = {}
for via in ("int80", "sysenter"):
    r = i386_kernel.spawn("i386").syscall("getpid", via=via)
    costs[via] = estimate(r.trace)
r = Machine.boot(kernel="x86_64", cpu="intel").spawn("x86_64").syscall("getpid")
costs["syscall"] = estimate(r.trace)
for via, cost in costs.items():
    print(f"{via:<9} {cost.summary()}")
print(costs["int80"].render().splitlines()[0])

assert LABEL == "a model, not a measurement" and LABEL in costs["int80"].render()
assert costs["int80"].total > 2 * costs["sysenter"].total
assert costs["sysenter"].total == costs["syscall"].total
assert estimate(r.trace, pti=True).total - costs["syscall"].total == 20
assert r.trace.to_svg().startswith("<svg") and "SYSRETQ" in r.trace.to_svg()
