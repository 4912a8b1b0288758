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
# # 7. Linux 3.16 and 6.9 side by side
#
# ## What you will do
#
# Boot two x86_64 kernels, the article's Linux 3.16 and Linux 6.9, and run the same calls on
# both: getpid through SYSCALL, odd values in RAX, INT 0x80 from 64-bit code with r8-r11
# loaded, an execve, and the 32-bit vDSO's `__kernel_vsyscall`. Then boot 6.9 as a
# distribution might configure it, without x32 and without ia32 emulation.
#
# ## What you will learn
#
# - what moved: the entry code from assembly that calls through a table to thin stubs
#   (`entry_SYSCALL_64`) and C (`do_syscall_64`, `x64_sys_call`, pt_regs wrappers);
# - what vanished: `stub_execve`, the three 32-bit vDSO images, the shared x32 table;
# - what a program can observe: the number taken as an `int`, x32's own table, r8-r11
#   kept by INT 0x80, and what switching off ia32 emulation does to INT 0x80.
#
# ## What you need
#
# Python 3.10 or newer with ringsim installed (`pip install -e .`); Jupyter and jupytext
# to open it as a notebook, or run it with `python`. Notebook 2 first; docs/linux69.md has
# the table of differences this notebook walks through.

# %%
from simulator import Machine

old = Machine.boot(kernel="x86_64", cpu="intel", seed=1)  # linux-3.16, the default
new = Machine.boot(kernel="x86_64", cpu="intel", seed=1, profile="linux-6.9")


def routines(r) -> list[str]:
    """The kernel routines a call went through, each once, in order."""
    return list(dict.fromkeys(e.where.split(" (")[0] for e in r.trace if e.kind == "kernel"))


# %% [markdown]
# ## What moved: one getpid, two paths
#
# 3.16's `system_call` saves the argument registers and calls `sys_call_table[39]`. 6.9's
# `entry_SYSCALL_64` pushes the whole `pt_regs` with `-ENOSYS` already in `ax`
# (`PUSH_AND_CLEAR_REGS rax=$-ENOSYS`), clears the registers, and calls the C function
# `do_syscall_64`, which dispatches with a `switch` (`x64_sys_call`) into a wrapper,
# `__x64_sys_getpid`, that reads its arguments from `pt_regs`.

# %%
r_old = old.spawn("x86_64").syscall("getpid")
r_new = new.spawn("x86_64").syscall("getpid")
print("3.16:", " -> ".join(routines(r_old)))
print("6.9: ", " -> ".join(routines(r_new)))

assert routines(r_old)[0] == "system_call" and "sys_call_table" in routines(r_old)
assert routines(r_new)[:3] == [
    "entry_SYSCALL_64",
    "PUSH_AND_CLEAR_REGS rax=$-ENOSYS",
    "do_syscall_64",
]
assert "x64_sys_call" in routines(r_new) and "__x64_sys_getpid" in routines(r_new)
assert r_old.ret == r_new.ret  # the same answer: the first process's pid
assert set(r_old.changed) == set(r_new.changed) == {"rax", "rcx", "r11", "rip"}

# %% [markdown]
# ## What a program can see: the number
#
# 6.9 takes the number as an `int` (`movslq %eax,%rsi`), so the high half of RAX is ignored,
# and gives x32 a table of its own: a 64-bit-only slot with the x32 bit (0x40000000) is
# `-ENOSYS`. 3.16's x32 build masked the bit off with `andl $__SYSCALL_MASK,%eax` and used
# the one table, so `59 | 0x40000000` reached `stub_execve` (here with null pointers:
# `-EFAULT`).

# %%
rows = {}
for number in (0x1_0000_0027, 59 | 0x4000_0000, 1000, (1 << 64) - 1):
    answers = []
    for m in (old, new):
        p = m.spawn("x86_64")
        r = p.syscall(number, trace=False)
        answers.append("pid" if r.ret == p.pid else r.errno)
    rows[number] = tuple(answers)
    print(f"{number:#x}  3.16: {answers[0]:<7} 6.9: {answers[1]}")

assert rows[0x1_0000_0027] == ("pid", "pid")
assert rows[59 | 0x4000_0000] == ("EFAULT", "ENOSYS")
assert rows[1000] == rows[(1 << 64) - 1] == ("ENOSYS", "ENOSYS")

# %% [markdown]
# ## INT 0x80 from 64-bit code keeps r8-r11 in 6.9
#
# Both kernels run an INT 0x80 from 64-bit code through the i386 table (getpid is 20 there).
# 3.16's `ia32_syscall` leaves with `CLEAR_RREGS`: r8-r11 come back as zero. 6.9's
# `do_int80_emulation` saves and restores the whole `pt_regs`, so they come back as they
# went in.

# %%
pattern = {"r8": 0x8888, "r9": 0x9999, "r10": 0xAAAA, "r11": 0xBBBB}
changed = {}
for name, m in (("3.16", old), ("6.9", new)):
    p = m.spawn("x86_64")
    p.set_registers(pattern)
    r = p.syscall("getpid", via="int80")
    changed[name] = r.changed
    print(name, {reg: (hex(a), hex(b)) for reg, (a, b) in r.changed.items()})

assert {changed["3.16"][reg][1] for reg in pattern} == {0}
assert not set(pattern) & set(changed["6.9"])
assert set(changed["6.9"]) == {"rax", "rip"}

# %% [markdown]
# ## What vanished: stub_execve and the three vDSO images
#
# In 3.16, execve's table slot holds `stub_execve`, which saves the rest of `pt_regs`
# before calling `sys_execve`. In 6.9 every handler gets `pt_regs`, so the slot holds the
# plain `__x64_sys_execve`. The 32-bit vDSO is one image, `vdso32/system_call.S`, into
# which boot patches `mov ebp, esp; sysenter` (Intel) or `mov ebp, ecx; syscall` (AMD),
# followed by the `int $0x80` that is the fast paths' landing pad.

# %%
paths = {}
for name, m in (("3.16", old), ("6.9", new)):
    p = m.spawn("x86_64")
    path = p.alloc(16)
    p.write_mem(path, b"/nope\0")
    r = p.syscall("execve", path, 0, 0)
    paths[name] = routines(r)
    print(name, r.errno, "stub_execve" in paths[name], "__x64_sys_execve" in paths[name])

assert "stub_execve" in paths["3.16"] and "__x64_sys_execve" not in paths["3.16"]
assert "__x64_sys_execve" in paths["6.9"] and "stub_execve" not in paths["6.9"]

# %%
from simulator.cpu.disassembler import disassemble

for name, m in (("3.16", old), ("6.9", new)):
    q = m.spawn("i386")
    entry = q.vdso_symbol("__kernel_vsyscall", "LINUX_2.5")
    code = [text for _, _, text in disassemble(q.read_mem(entry, 32), mode=32, address=entry)]
    code = code[: code.index("ret") + 1]
    print(name, "; ".join(code))
    if name == "6.9":
        assert code == [
            "push ecx",
            "push edx",
            "push ebp",
            "mov ebp, esp",
            "sysenter",
            "int 0x80",
            "pop ebp",
            "pop edx",
            "pop ecx",
            "ret",
        ]
    else:
        assert code[:5] == ["push ecx", "push edx", "push ebp", "mov ebp, esp", "sysenter"]
        assert code.count("nop") == 7  # sysenter.S: .space 7,0x90 before the restart point

# %% [markdown]
# ## A kernel without x32 and without ia32 emulation
#
# Many distributions build 6.x without `CONFIG_X86_X32_ABI`, and `ia32_emulation=off` on the
# command line turns off 32-bit system calls: vector 0x80 then has no DPL 3 gate, so an
# INT 0x80 from ring 3 is a #GP whose error code names IDT entry 0x80 (0x80 << 3 | 2 =
# 0x402), and the process gets SIGSEGV; a 32-bit program cannot even be started.

# %%
bare = Machine.boot(
    kernel="x86_64",
    cpu="intel",
    profile="linux-6.9",
    options={"x32": False, "ia32_emulation": False},
)
p = bare.spawn("x86_64")
r = p.syscall(39 | 0x4000_0000, trace=False)
print("getpid with the x32 bit:", r.errno)
assert r.errno == "ENOSYS"

r = bare.spawn("x86_64").syscall("getpid", via="int80")
faults = [e.what for e in r.trace if e.kind == "fault"]
print("INT 0x80:", r.signal_name, faults[0])
assert r.signal_name == "SIGSEGV" and faults[0].startswith("#GP(0x402)")

try:
    bare.spawn("i386")
except ValueError as error:
    print("spawn('i386'):", error)
else:
    raise AssertionError("a 32-bit process started without ia32 emulation")
