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
# # 4. The vDSO: system calls that never enter the kernel
#
# ## What you will do
#
# Ask for the time three ways from a 64-bit process (the vDSO, the legacy vsyscall page and
# a real SYSCALL) and count the ring changes; land a timer tick in the middle of a vDSO
# read; switch the clocksource so that the vDSO gives up; call a vsyscall page that is not
# there; and disassemble the `__kernel_vsyscall` that each kernel and CPU picks at boot.
#
# ## What you will learn
#
# - how a process finds the vDSO (`AT_SYSINFO_EHDR`, the `[vdso]` and `[vvar]` mappings)
#   and why its address is random;
# - how `__vdso_gettimeofday` (arch/x86/vdso/vclock_gettime.c) reads the kernel's
#   `vsyscall_gtod_data` under a sequence count, and when it falls back to the system call;
# - why the fixed vsyscall page is emulated in 3.16 (a #PF on an NX page,
#   `emulate_vsyscall`);
# - how `sysenter_setup` chooses SYSENTER, SYSCALL or INT 0x80 for 32-bit processes.
#
# ## What you need
#
# Python 3.10 or newer with ringsim installed (`pip install -e .`); Jupyter and jupytext
# to open it as a notebook, or run it with `python`. Notebooks 1 and 2 introduce SYSCALL,
# SYSENTER and the traces; docs/vdso.md describes the images in detail.

# %%
import abi
from simulator import Machine
from simulator.cpu.disassembler import disassemble

SECOND = 1_000_000_000


def timeval(p, address: int) -> tuple[int, int]:
    """A struct timeval (or timespec) of the process's word size, as (seconds, fraction)."""
    size = 4 if p.abi == "i386" else 8
    raw = p.read_mem(address, 2 * size)
    return int.from_bytes(raw[:size], "little"), int.from_bytes(raw[size:], "little")


def rings(r) -> set[int]:
    """The rings the call's instructions ran in."""
    return {e.ring for e in r.trace if e.kind == "cpu"}


def instructions(r) -> list[str]:
    return [e.what for e in r.trace if e.kind == "cpu"]


# %% [markdown]
# ## Where the vDSO is
#
# At exec time `arch_setup_additional_pages` (arch/x86/vdso/vma.c) maps the vDSO image at a
# random address above the stack (`vdso_addr`) and the `[vvar]` data page right after it,
# and `create_elf_tables` tells the process where, in the auxiliary vector entry
# `AT_SYSINFO_EHDR`. glibc parses the ELF image found there to look up
# `__vdso_gettimeofday` (version LINUX_2.6); `p.vdso_symbol` does the same, reading only
# process memory. The legacy `[vsyscall]` page is at a fixed address in every process.

# %%
m = Machine.boot(kernel="x86_64", cpu="intel", seed=1)
m.advance_time(1_234_567 * 1000)  # 1.234567 s after boot
p = m.spawn("x86_64")
maps = p.maps()
print("\n".join(maps))

ranges = {}
for row in maps:
    span, name = row.split()[0], row.split()[-1]
    start, end = (int(x, 16) for x in span.split("-"))
    ranges[name] = (start, end)
gettimeofday = p.vdso_symbol("__vdso_gettimeofday")
print(f"__vdso_gettimeofday at {gettimeofday:#x}")

assert ranges["[vdso]"][1] == ranges["[vvar]"][0]  # the data page right after the code
assert ranges["[vdso]"][0] <= gettimeofday < ranges["[vdso]"][1]
assert ranges["[vsyscall]"][0] == 0xFFFF_FFFF_FF60_0000
other = Machine.boot(kernel="x86_64", cpu="intel", seed=2).spawn("x86_64")
assert other.vdso_symbol("__vdso_gettimeofday") != gettimeofday  # another seed, elsewhere

# %% [markdown]
# ## gettimeofday through the vDSO: ring 3 throughout
#
# The vDSO's code reads `vsyscall_gtod_data` from `[vvar]`: it waits for an even sequence
# count, checks the clock mode (`VCLOCK_TSC`), reads the TSC with RDTSC, scales the cycles
# since the last tick by `mult >> shift`, adds the time of the last tick, and checks the
# sequence count again. No instruction in the trace runs in ring 0.

# %%
tv = p.alloc(16)
r = p.syscall("gettimeofday", tv, 0, via="vdso")
print(r)
print(r.trace)
through_vdso = timeval(p, tv)
print("timeval:", through_vdso)

assert r.ret == 0 and rings(r) == {3}
assert not any(e.kind == "kernel" for e in r.trace)
assert "rdtsc" in instructions(r) and "syscall" not in instructions(r)
assert through_vdso == (1_404_000_001, 234_567)  # ringsim boots at 1404000000 (June 2014)

# %% [markdown]
# ## The vsyscall page and the real system call
#
# The vsyscall page predates the vDSO: code at 0xffffffffff600000, the same address in
# every process, which made it a gift to return-oriented exploits. Linux 3.16 keeps it for
# old binaries but, by default (`vsyscall=emulate`), maps it without execute permission:
# the call faults with #PF error code 0x15 (present, user, instruction fetch) and
# `emulate_vsyscall` (arch/x86/kernel/vsyscall_64.c) does the work in the kernel and
# emulates the `ret`. The plain SYSCALL goes to `sys_gettimeofday` (kernel/time.c). All
# three agree on the time.

# %%
r_page = p.syscall("gettimeofday", tv, 0, via="vsyscall_page")
print(r_page)
print(r_page.trace)
through_page = timeval(p, tv)
r_call = p.syscall("gettimeofday", tv, 0, via="syscall")
print(r_call)
through_call = timeval(p, tv)

for name, res in (("vDSO", r), ("vsyscall page", r_page), ("SYSCALL", r_call)):
    kernel = sum(e.kind == "kernel" for e in res.trace)
    print(f"{name:<14} rings {sorted(rings(res))}, {kernel} kernel steps")

assert through_vdso == through_page == through_call
fault = next(e for e in r_page.trace if e.kind == "fault")
assert "#PF(0x15) at 0xffffffffff600000" in fault.what
assert "emulate_vsyscall (arch/x86/kernel/vsyscall_64.c)" in r_page.trace.symbols()
assert 0 in rings(r_call) and any("sys_gettimeofday" in w for w in r_call.trace.symbols())

# %% [markdown]
# ## A tick in the middle of a read
#
# The kernel updates `vsyscall_gtod_data` at every timer tick (`update_wall_time` ->
# `update_vsyscall`), making the sequence count odd while it writes. `m.tick_after(n)` lands
# a tick after the n-th instruction of the next call. The reader notices that the count
# changed between its two looks and reads again (`read_seqcount_retry` in `do_realtime`):
# two RDTSCs instead of one, and still no ring change of its own.

# %%
ts = p.alloc(16)
m.tick_after(8)
r = p.syscall("clock_gettime", 0, ts, via="vdso")
ticks = [e for e in r.trace if e.kind == "kernel"]
print(r)
print("\n".join(f"{e.where}: {e.what}" for e in ticks))
print("timespec:", timeval(p, ts))

assert r.ret == 0
assert instructions(r).count("rdtsc") == 2
assert len(ticks) == 1 and "update_vsyscall" in ticks[0].where
assert rings(r) == {3}

# %% [markdown]
# ## When the vDSO gives up: the jiffies clocksource
#
# The vDSO can only compute the time itself when the clocksource is one it can read from
# ring 3, like the TSC. With `jiffies`, `update_vsyscall` publishes `VCLOCK_NONE` and the
# vDSO falls back to the real system call (`vdso_fallback_gtod`): a SYSCALL instruction
# inside the vDSO, then the ordinary `system_call` path.

# %%
m.set_clocksource("jiffies")
r = p.syscall("gettimeofday", tv, 0, via="vdso")
print(r)
print(r.trace)
syscall_at = next(e.address for e in r.trace if e.what == "syscall")

assert r.ret == 0 and rings(r) == {0, 3}
assert ranges["[vdso]"][0] <= syscall_at < ranges["[vdso]"][1]  # the SYSCALL is the vDSO's
assert any("sys_call_table[96] = sys_gettimeofday" in e.what for e in r.trace)
m.set_clocksource("tsc")

# %% [markdown]
# ## vsyscall=none
#
# With `vsyscall=none` on the kernel command line there is no page at all: the fetch is a
# #PF with error code 0x14 (not present, user, instruction fetch), `do_page_fault` finds
# no mapping, and the process dies of SIGSEGV.

# %%
q = Machine.boot(kernel="x86_64", cpu="intel", vsyscall="none").spawn("x86_64")
r = q.syscall("time", 0, via="vsyscall_page")
print(r)
print(r.trace)
assert r.signal_name == "SIGSEGV" and not q.alive
assert any("#PF(0x14)" in e.what for e in r.trace if e.kind == "fault")
assert not any("[vsyscall]" in row for row in q.maps())

# %% [markdown]
# ## `__kernel_vsyscall`, chosen at boot
#
# The 32-bit vDSO exists in three builds, and `sysenter_setup`
# (arch/x86/vdso/vdso32-setup.c) picks one at boot, by CPU feature: on a 64-bit kernel the
# SYSCALL variant if the CPU can SYSCALL from compatibility mode (AMD), else the SYSENTER
# one if it can SYSENTER there (Intel); on a 32-bit kernel SYSENTER when the CPU has SEP;
# INT 0x80 otherwise. A 32-bit process finds it as `AT_SYSINFO` and libc calls it through
# `%gs:0x10`. We disassemble each one from process memory, and then call getpid through
# it. Note the `int 0x80` that the SYSENTER variant keeps just before `SYSENTER_RETURN`
# (the `pop ebp`): notebook 5 shows what it is for.
#
# (No CPU in ringsim lacks SEP, so the last case uses the `what_if` boot option, which
# the boot trace labels "WHAT IF (not Linux)".)

# %%
cases = {
    ("x86_64", "intel", ()): ("sysenter", "sysenter"),
    ("x86_64", "amd", ()): ("syscall", "syscall"),
    ("i386", "intel", ()): ("sysenter", "sysenter"),
    ("i386", "amd", ()): ("sysenter", "sysenter"),
    ("i386", "intel", (("sep", False),)): ("int80", "int 0x80"),
}
for (kernel, vendor, what_if), (variant, instruction) in cases.items():
    mm = Machine.boot(kernel=kernel, cpu=vendor, what_if=dict(what_if) or None)
    chosen = next(e.what for e in mm.boot_trace if e.where.startswith("sysenter_setup"))
    proc = mm.spawn("i386")
    entry = proc.vdso_symbol("__kernel_vsyscall", "LINUX_2.5")
    code = disassemble(proc.read_mem(entry, 32), mode=32, address=entry)
    texts = [text for _, _, text in code]
    texts = texts[: texts.index("ret") + 1] if "ret" in texts else texts[:6]
    r = proc.syscall("getpid", via="kernel_vsyscall")
    print(f"{kernel} kernel, {vendor}{' ' + str(dict(what_if)) if what_if else ''}: {chosen}")
    print(f"    __kernel_vsyscall at {entry:#x}: {'; '.join(texts)}")
    print(f"    getpid through call *%gs:0x10: {r}; ran: {', '.join(instructions(r))}")

    assert f"the {variant} variant (arch/x86/vdso/vdso32/{variant}.S)" in chosen
    assert instruction in texts
    assert r.ret == proc.pid and instruction in instructions(r)
    if variant == "sysenter":
        assert texts[texts.index("pop ebp") - 1] == "int 0x80"
    assert instructions(r)[0] == "call dword ptr gs:[0x10]"

assert abi.AT_SYSINFO == 32 and abi.AT_SYSINFO_EHDR == 33  # the auxv types used above
