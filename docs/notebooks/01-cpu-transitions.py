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
# # 1. The CPU's side of a system call: GDT, IDT, MSRs and the transitions
#
# ## What you will do
#
# Build a bare x86-64 CPU, with no kernel on it, laid out the way Linux 3.16 lays out its
# descriptor tables and system-call MSRs. Read those tables back from their bytes, step the
# CPU through SYSCALL/SYSRETQ and INT 0x80/IRETQ one instruction at a time, let a user-mode
# write fault through the IDT, and finally check the same MSRs on a booted Linux.
#
# ## What you will learn
#
# - why Linux's GDT puts the user data segment between the two user code segments;
# - what IA32_STAR, IA32_LSTAR and IA32_FMASK hold, and what WRMSR refuses;
# - which registers SYSCALL and INT 0x80 change, and which stack each one leaves you on;
# - how a page fault's error code and CR2 describe a refused access.
#
# ## What you need
#
# Python 3.10 or newer with ringsim installed (`pip install -e .` at the top of the
# repository). To open this file as a notebook you need Jupyter and jupytext; without them,
# `python docs/notebooks/01-cpu-transitions.py` runs it as a script. The Intel SDM Vol. 2B
# pages for SYSCALL and SYSRET are good company.

# %%
from scenarios.bare_cpu import (
    GDT,
    HANDLERS,
    KERNEL_CODE,
    KERNEL_CS,
    KERNEL_DS,
    KERNEL_STACK_TOP,
    USER32_CS,
    USER_CODE,
    USER_CS,
    USER_DS,
    long_mode_cpu,
    put_code,
)
from scenarios.bare_round_trips import INT80_HANDLER, describe, prepare
from simulator import Machine
from simulator.cpu import Gate64, SegmentDescriptor, faults
from simulator.cpu.assembler import assemble

# %% [markdown]
# ## The GDT, read from its bytes
#
# `scenarios.bare_cpu.long_mode_cpu` builds a CPU in IA-32e mode with paging on and the GDT
# of Linux's `gdt_page` (arch/x86/kernel/cpu/common.c); the selectors are those of
# arch/x86/include/asm/segment.h. `prepare` adds a lone SYSRETQ where IA32_LSTAR points, a
# lone IRETQ behind IDT vector 0x80, and a four-instruction user program. We decode each
# descriptor from the bytes in simulated memory (SDM Vol. 3A §3.4.5).

# %%
cpu = prepare("intel")
names = {
    KERNEL_CS: "__KERNEL_CS",
    KERNEL_DS: "__KERNEL_DS",
    USER32_CS: "__USER32_CS",
    USER_DS: "__USER_DS",
    USER_CS: "__USER_CS",
}
gdt = {}
for selector, name in names.items():
    raw = cpu.read(GDT + (selector & ~7), 8, implicit=True)
    gdt[selector] = d = SegmentDescriptor.decode(raw)
    kind = "code" if d.is_code else "data"
    print(f"{selector:#04x} {name:<12} {raw.hex(' ')}  {kind}, DPL {d.dpl}, L={d.l:d} D/B={d.db:d}")

assert gdt[KERNEL_CS].is_code and gdt[KERNEL_CS].l and gdt[KERNEL_CS].dpl == 0
assert gdt[USER_CS].is_code and gdt[USER_CS].l and gdt[USER_CS].dpl == 3
assert gdt[USER32_CS].is_code and not gdt[USER32_CS].l and gdt[USER32_CS].db
assert not gdt[USER_DS].is_code and gdt[USER_DS].dpl == 3

# %% [markdown]
# SYSRET does not read the GDT to find its selectors: it computes them from IA32_STAR
# bits 63:48. A 32-bit SYSRET loads CS = that base and SS = base + 8; a 64-bit SYSRETQ
# loads CS = base + 16 and SS = base + 8. So the three user segments must sit in that
# order, which is why `__USER_DS` (0x2b) lies between `__USER32_CS` (0x23) and
# `__USER_CS` (0x33). SYSCALL likewise takes CS from bits 47:32 and SS from CS + 8.

# %%
star = cpu.read_msr("IA32_STAR")
sysret_base = star >> 48
syscall_cs = (star >> 32) & 0xFFFF
print(f"IA32_STAR  = {star:#018x}: SYSRET base {sysret_base:#x}, SYSCALL CS {syscall_cs:#x}")
print(f"IA32_LSTAR = {cpu.read_msr('IA32_LSTAR'):#x}")
print(f"IA32_FMASK = {cpu.read_msr('IA32_FMASK'):#x}")

assert star == 0x0023_0010_0000_0000  # syscall_init: (__USER32_CS << 48) | (__KERNEL_CS << 32)
assert sysret_base == USER32_CS and sysret_base + 8 == USER_DS and sysret_base + 16 == USER_CS
assert syscall_cs == KERNEL_CS and syscall_cs + 8 == KERNEL_DS
assert cpu.read_msr("IA32_LSTAR") == KERNEL_CODE
assert cpu.read_msr("IA32_FMASK") == 0x43700  # TF|DF|IF|IOPL|AC, syscall_init in 3.16

# %% [markdown]
# The MSR file refuses what WRMSR must refuse (SDM Vol. 2B WRMSR): a non-canonical address
# in IA32_LSTAR is #GP(0). SYSCALL can never jump to a non-canonical RIP, because the
# address can never get into the MSR.

# %%
refused = cpu.write_msr("IA32_LSTAR", 0x0000_8000_0000_0000)
print(refused)
assert refused is not None and refused.vector == faults.GP and refused.error_code == 0
assert cpu.read_msr("IA32_LSTAR") == KERNEL_CODE  # unchanged

# %% [markdown]
# ## The IDT gate for INT 0x80
#
# In long mode every IDT entry is a 16-byte gate (SDM Vol. 3A §6.14.1). Linux's
# `trap_init` (arch/x86/kernel/traps.c) makes vector 0x80 an interrupt gate of DPL 3 so
# that ring 3 may raise it with INT; the page-fault gate keeps DPL 0, so `int 14` from user
# mode is refused even though the CPU itself may deliver #PF through it.

# %%
idt = cpu.idtr.base
int80 = Gate64.decode(cpu.read(idt + 16 * 0x80, 16, implicit=True))
page_fault = Gate64.decode(cpu.read(idt + 16 * faults.PF, 16, implicit=True))
for vector, gate in ((0x80, int80), (faults.PF, page_fault)):
    print(
        f"vector {vector:#04x}: type {gate.type:#x} (64-bit interrupt gate), DPL {gate.dpl}, "
        f"{gate.selector:#x}:{gate.offset:#x}"
    )
assert int80.dpl == 3 and int80.type == 0xE and int80.selector == KERNEL_CS
assert int80.offset == INT80_HANDLER
assert page_fault.dpl == 0

# %% [markdown]
# ## SYSCALL: ring 3 to ring 0 in one instruction
#
# The user program is `mov eax, 39; syscall; int 0x80; hlt` at 0x400000. After the MOV,
# SYSCALL (SDM Vol. 2B SYSCALL, Operation) saves the return address in RCX and RFLAGS in
# R11, clears the FMASK bits in RFLAGS, loads CS and SS from STAR, and jumps to LSTAR. It
# pushes nothing and does not touch RSP: the kernel's `system_call` (entry_64.S) has to
# switch to its own stack first thing.

# %%
print("\n".join(describe(1, cpu.step(deliver=False))))
step = cpu.step(deliver=False)
print("\n".join(describe(2, step)))

before, after = step.before, step.after
assert (before.cpl, after.cpl) == (3, 0)
assert after.reg("rip") == KERNEL_CODE
assert after.reg("rcx") == USER_CODE + 7  # the instruction after the 2-byte SYSCALL
assert after.reg("r11") == before.reg("rflags") == 0x202
assert after.reg("rflags") == 0x202 & ~0x43700  # IF is cleared by FMASK
assert after.segment("cs")[0] == KERNEL_CS and after.segment("ss")[0] == KERNEL_DS
assert after.reg("rsp") == before.reg("rsp")  # still the user's stack

# %% [markdown]
# ## SYSRETQ: back to ring 3
#
# SYSRETQ reverses it: RIP from RCX, RFLAGS from R11, CS = STAR base + 16 with RPL 3, SS =
# base + 8. Nothing is popped, so nothing on the stack can be wrong, and that is also why
# the kernel must trust RCX (notebook 6 shows what a non-canonical RCX does).

# %%
step = cpu.step(deliver=False)
print("\n".join(describe(3, step)))
assert step.after.cpl == 3
assert step.after.reg("rip") == USER_CODE + 7
assert step.after.reg("rflags") == 0x202
assert step.after.segment("cs")[0] == USER_CS and step.after.segment("ss")[0] == USER_DS

# %% [markdown]
# ## INT 0x80 and IRETQ: the interrupt path
#
# INT 0x80 goes through the IDT gate instead (SDM Vol. 3A §6.14.2): the CPU switches to
# the stack in the TSS's RSP0, pushes SS, RSP, RFLAGS, CS and RIP (five quadwords), loads a
# null SS (64-bit mode needs none at CPL 0), and since this is an interrupt gate, clears
# IF. IRETQ pops the same five values.

# %%
user_rsp = cpu.regs.read("rsp")
step = cpu.step(deliver=False)
print("\n".join(describe(4, step)))
rsp = step.after.reg("rsp")
frame = [int.from_bytes(cpu.read(rsp + 8 * i, 8), "little") for i in range(5)]
print("frame (rip, cs, rflags, rsp, ss):", [hex(v) for v in frame])

assert step.after.cpl == 0 and step.after.reg("rip") == INT80_HANDLER
assert rsp == KERNEL_STACK_TOP - 5 * 8
assert frame == [USER_CODE + 9, USER_CS, 0x202, user_rsp, USER_DS]
assert step.after.segment("ss")[0] == 0
assert not step.after.reg("rflags") & 0x200  # IF cleared by the interrupt gate

step = cpu.step(deliver=False)
print("\n".join(describe(5, step)))
assert step.after.cpl == 3 and step.after.reg("rsp") == user_rsp
assert step.after.reg("rip") == USER_CODE + 9

# %% [markdown]
# The last instruction, HLT, is privileged: at CPL 3 it is #GP(0). With `deliver=False` the
# CPU reports the fault and leaves the state as it was before the instruction.

# %%
step = cpu.step(deliver=False)
print("\n".join(describe(6, step)))
assert step.outcome == "faulted"
assert step.fault.vector == faults.GP and step.fault.error_code == 0
assert step.after.reg("rip") == step.before.reg("rip")

# %% [markdown]
# ## A fault and its error code
#
# The program's page is user-accessible but read-only. A store into it from ring 3 is a
# page fault; this time we let the CPU deliver it through the IDT. The CPU writes the
# faulting address to CR2 and pushes an error code below the usual frame (SDM Vol. 3A
# §4.7): bit 0 P (the page was present: a protection violation), bit 1 W/R (a write),
# bit 2 U/S (from user mode). Linux's `do_page_fault` reads exactly these bits.

# %%
cpu = long_mode_cpu("intel")
put_code(cpu, USER_CODE, assemble("mov byte ptr [0x400000], 1"))
step = cpu.step()
print("\n".join(describe(1, step)))
rsp = step.after.reg("rsp")
error_code, rip, cs = (int.from_bytes(cpu.read(rsp + 8 * i, 8), "little") for i in range(3))
print(f"pushed error code {error_code:#x}, return rip {rip:#x}, cs {cs:#x}; CR2 = {cpu.cr2:#x}")

assert step.outcome == "delivered" and step.fault.vector == faults.PF
assert step.fault.error_code == faults.PF_P | faults.PF_WR | faults.PF_US == error_code
assert cpu.cr2 == USER_CODE
assert (rip, cs) == (USER_CODE, USER_CS)  # a fault: it returns to the faulting instruction
assert step.after.reg("rip") == HANDLERS + 16 * faults.PF  # this CPU's #PF handler

# %% [markdown]
# ## The same MSRs under a booted Linux
#
# `Machine.boot` runs the boot as Linux 3.16 does it, and keeps the steps in
# `m.boot_trace`: `syscall_init` writes STAR, LSTAR (the address of `system_call`), CSTAR
# and FMASK. A system call's result carries CPU snapshots, so we can see that the first
# ring-0 instruction of a real SYSCALL runs at the address in LSTAR.

# %%
m = Machine.boot(kernel="x86_64", cpu="intel")
for event in m.boot_trace:
    if event.where.startswith(("syscall_init", "trap_init")):
        print(f"{event.where}: {event.what}")
p = m.spawn("x86_64")
r = p.syscall("getpid")
print(r)
print(r.trace)

first_ring0 = next(e for e in r.trace if e.kind == "cpu" and e.ring == 0)
assert r.ret == p.pid
assert r.before.msr("IA32_STAR") == star
assert first_ring0.address == r.before.msr("IA32_LSTAR") and first_ring0.what == "swapgs"
assert set(r.changed) == {"rax", "rcx", "r11", "rip"}  # SYSCALL's rcx and r11, the result
