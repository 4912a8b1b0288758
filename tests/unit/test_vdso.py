"""The vDSO, the vsyscall page and __kernel_vsyscall: calls that need no ring change."""

import io

import pytest
from elftools.elf.elffile import ELFFile

import abi
from simulator import Machine
from simulator.cpu.disassembler import disassemble
from simulator.kernel import timekeeping as T
from simulator.kernel import vdso as V
from simulator.kernel.traps import SIGSEGV

ADVANCE = 1_234_567_000  # lands on a whole microsecond


def _machine(**kw):
    m = Machine.boot(**kw)
    m.advance_time(ADVANCE)
    return m


def _tsc_at_first_rdtsc(r, retired_before: int, tsc_offset: int) -> int:
    """The TSC the vDSO's RDTSC read: one cycle per instruction the CPU retired before it."""
    cpu_events = [e for e in r.trace if e.kind == "cpu"]
    index = next(i for i, e in enumerate(cpu_events) if e.what == "rdtsc")
    return tsc_offset + retired_before + index


class TestNoRingChange:
    @pytest.mark.parametrize("abi_name", ["x86_64", "i386"])
    def test_gettimeofday_stays_in_ring_3(self, abi_name):
        """__vdso_gettimeofday runs at CPL 3 from start to end (arch/x86/vdso/vclock_gettime.c)."""
        m = _machine()
        p = m.spawn(abi_name)
        tv = p.alloc(16)
        r = p.syscall("gettimeofday", tv, 0, via="vdso")
        assert r.ret == 0
        assert {e.ring for e in r.trace} == {3}
        assert not any("SYSCALL" in e.where or "INT n" in e.where for e in r.trace)

    @pytest.mark.parametrize("abi_name", ["x86_64", "i386"])
    def test_agrees_with_sys_gettimeofday(self, abi_name):
        """The vDSO and sys_gettimeofday give the same time (both compute from the timekeeper)."""
        m = _machine()
        p = m.spawn(abi_name)
        tv = p.alloc(32)
        size = 8 if abi_name == "x86_64" else 4
        assert p.syscall("gettimeofday", tv, 0, via="vdso").ret == 0
        by_vdso = p.read_mem(tv, 2 * size)
        assert p.syscall("gettimeofday", tv + 16, 0).ret == 0
        by_syscall = p.read_mem(tv + 16, 2 * size)
        assert by_vdso == by_syscall
        sec = int.from_bytes(by_vdso[:size], "little")
        usec = int.from_bytes(by_vdso[size:], "little")
        assert (sec, usec) == (T.BOOT_REALTIME + 1, 234567)

    def test_clock_gettime_exact(self):
        """__vdso_clock_gettime(CLOCK_REALTIME) is the timekeeper's formula to the nanosecond
        at the TSC its RDTSC read: (delta * mult + wall_time_snsec) >> shift (vgtod.h, 3.16)."""
        m = _machine()
        p = m.spawn("x86_64")
        ts = p.alloc(16)
        p.syscall("getpid")  # switch in first, so the retired count below is the call's own
        retired, offset = m.cpu.retired, m.cpu.tsc_offset
        r = p.syscall("clock_gettime", 0, ts, via="vdso")
        tsc = _tsc_at_first_rdtsc(r, retired, offset)
        expected = m.kernel.timekeeper.realtime(tsc)
        got = (
            int.from_bytes(p.read_mem(ts, 8), "little"),
            int.from_bytes(p.read_mem(ts + 8, 8), "little"),
        )
        assert got == expected

    def test_time_and_getcpu(self):
        """__vdso_time returns wall_time_sec; __vdso_getcpu reads cpu 0, node 0 with LSL of
        the per-CPU segment (vgetcpu.c, VGETCPU_LSL)."""
        m = _machine()
        p = m.spawn("x86_64")
        out = p.alloc(16)
        assert p.syscall("time", 0, via="vdso").ret == m.kernel.timekeeper.xtime_sec
        p.write_mem(out, b"\xff" * 8)
        r = p.syscall("getcpu", out, out + 4, 0, via="vdso")
        assert r.ret == 0 and p.read_mem(out, 8) == bytes(8)
        assert any(e.what.startswith("lsl") for e in r.trace)


class TestSequenceCount:
    def test_a_tick_mid_read_forces_a_retry(self):
        """A tick between the reader's two reads of the sequence count makes it retry
        (read_seqcount_retry in do_realtime, vclock_gettime.c); the answer is then exact for
        the data the tick wrote, at the TSC the second RDTSC read."""
        m = _machine()
        p = m.spawn("x86_64")
        ts = p.alloc(16)
        p.syscall("getpid")
        retired, offset = m.cpu.retired, m.cpu.tsc_offset
        m.tick_after(8)  # after the first RDTSC, before the re-check of the count
        r = p.syscall("clock_gettime", 0, ts, via="vdso")
        cpu_events = [e for e in r.trace if e.kind == "cpu"]
        rdtscs = [i for i, e in enumerate(cpu_events) if e.what == "rdtsc"]
        assert len(rdtscs) == 2
        assert any("timer tick" in e.what and e.ring == 0 for e in r.trace)
        assert {e.ring for e in cpu_events} == {3}
        got = (
            int.from_bytes(p.read_mem(ts, 8), "little"),
            int.from_bytes(p.read_mem(ts + 8, 8), "little"),
        )
        assert got == m.kernel.timekeeper.realtime(offset + retired + rdtscs[1])
        assert got[0] == T.BOOT_REALTIME + 1

    def test_vclock_none_falls_back(self):
        """With vclock_mode VCLOCK_NONE the vDSO makes the real system call (3.16's
        vdso_fallback_gtod), so the call enters ring 0."""
        m = _machine()
        m.set_clocksource("jiffies")
        p = m.spawn("x86_64")
        tv = p.alloc(16)
        r = p.syscall("gettimeofday", tv, 0, via="vdso")
        assert r.ret == 0 and 0 in {e.ring for e in r.trace}
        assert "sys_gettimeofday (kernel/time.c)" in r.trace.symbols()


class TestImage:
    def _image(self, p, base):
        data = bytearray()
        address = base
        while True:
            try:
                data += p.read_mem(address, 0x1000)
            except ValueError:
                break
            address += 0x1000
            if address >= base + V.image64().size:
                break
        return ELFFile(io.BytesIO(bytes(data)))

    def test_pyelftools_reads_the_mapped_image(self):
        """The 64-bit vDSO in the process's memory is an ELF shared object with the symbols of
        vdso.lds.S (LINUX_2.6) and their weak aliases (vclock_gettime.c)."""
        m = _machine()
        p = m.spawn("x86_64")
        base = dict(p.task.auxv)[abi.AT_SYSINFO_EHDR]
        elf = self._image(p, base)
        assert elf.header.e_type == "ET_DYN"
        dynsym = elf.get_section_by_name(".dynsym")
        symbols = {s.name: s for s in dynsym.iter_symbols() if s.name}
        for fn in ("clock_gettime", "gettimeofday", "time", "getcpu"):
            assert symbols[f"__vdso_{fn}"]["st_info"]["bind"] == "STB_GLOBAL"
            assert symbols[fn]["st_info"]["bind"] == "STB_WEAK"
            assert symbols[fn]["st_value"] == symbols[f"__vdso_{fn}"]["st_value"]
        verdef = elf.get_section_by_name(".gnu.version_d")
        names = [aux.name for _, auxes in verdef.iter_versions() for aux in auxes]
        assert names == ["linux-vdso.so.1", "LINUX_2.6"]

    def test_pyelftools_reads_the_32_bit_image(self):
        """The 32-bit vDSO (vdso32.lds.S 3.16): __kernel_vsyscall, __kernel_sigreturn and
        __kernel_rt_sigreturn under LINUX_2.5, the __vdso_ time functions under LINUX_2.6,
        the ELF entry point at __kernel_vsyscall (whose address AT_SYSINFO carries)."""
        m = _machine()
        p = m.spawn("i386")
        image = V.image32(m.kernel.vdso_variant.name, True)
        elf = ELFFile(io.BytesIO(p.read_mem(p.task.vdso32, image.size)))
        assert (elf.elfclass, elf.header.e_machine, elf.header.e_type) == (32, "EM_386", "ET_DYN")
        dynsym = elf.get_section_by_name(".dynsym")
        versym = elf.get_section_by_name(".gnu.version")
        verdef = elf.get_section_by_name(".gnu.version_d")
        index_to_name = {
            v.entry["vd_ndx"]: next(iter(auxes)).name for v, auxes in verdef.iter_versions()
        }
        versions = {}
        for i, sym in enumerate(dynsym.iter_symbols()):
            if sym.name:
                ndx = versym.get_symbol(i).entry["ndx"]
                versions[sym.name] = index_to_name.get(ndx, ndx)
        for name in ("__kernel_vsyscall", "__kernel_sigreturn", "__kernel_rt_sigreturn"):
            assert versions[name] == "LINUX_2.5"
        for name in ("__vdso_clock_gettime", "__vdso_gettimeofday", "__vdso_time"):
            assert versions[name] == "LINUX_2.6"
        entry = p.task.vdso32 + elf.header.e_entry
        assert entry == dict(p.task.auxv)[abi.AT_SYSINFO]

    def test_resolver_refuses_a_corrupted_image(self):
        """A corrupted image (bad ELF magic) makes glibc's lookup fail; it then falls back to
        the system call, as glibc does when the vDSO has no symbol."""
        m = _machine()
        p = m.spawn("x86_64")
        base = dict(p.task.auxv)[abi.AT_SYSINFO_EHDR]
        p.write_mem(base, b"\x00BAD")
        assert p.vdso_symbol("__vdso_gettimeofday") is None
        tv = p.alloc(16)
        r = p.syscall("gettimeofday", tv, 0, via="vdso")
        assert r.ret == 0 and 0 in {e.ring for e in r.trace}


class TestPlacement:
    def test_two_hundred_seeds(self):
        """vdso_addr puts the vDSO 0..511 pages above the stack, inside the stack's 2 MiB,
        clamped (arch/x86/vdso/vma.c 3.16); 200 seeds give at least 150 addresses."""
        seen = set()
        length = V.image64().size + 2 * 4096
        for seed in range(200):
            p = Machine.boot(seed=seed).spawn("x86_64")
            addr = p.task.vdso
            top = next(end for _, end, _, name in p.task.vmas if name == "[stack]")
            ceiling = (top + V.PMD_SIZE - 1) & ~(V.PMD_SIZE - 1)
            assert addr % 4096 == 0
            assert addr + length <= ceiling  # end = the stack's PMD, less the length
            assert addr <= top + (511 << 12)  # offset = get_random_int() & 511 pages
            seen.add(addr)
        assert len(seen) >= 150

    def test_same_seed_same_address(self):
        """The same seed gives the same layout, byte for byte."""
        a = Machine.boot(seed=7).spawn("x86_64")
        b = Machine.boot(seed=7).spawn("x86_64")
        assert a.task.vdso == b.task.vdso and a.maps() == b.maps()

    def test_maps_listing(self):
        """The maps listing names [stack], [vdso], [vvar] and [vsyscall] (fs/proc/task_mmu.c)."""
        p = _machine().spawn("x86_64")
        names = [line.split()[-1] for line in p.maps()]
        for name in ("[stack]", "[vdso]", "[vvar]", "[vsyscall]"):
            assert name in names
        vdso_line = next(line for line in p.maps() if line.endswith("[vdso]"))
        assert vdso_line.split()[1] == "r-xp"

    def test_x32_has_no_vdso(self):
        """ringsim leaves the x32 vDSO (vdsox32) out: an x32 process has no AT_SYSINFO_EHDR."""
        p = _machine().spawn("x32")
        assert abi.AT_SYSINFO_EHDR not in dict(p.task.auxv)


class TestKernelVsyscall:
    @pytest.mark.parametrize(
        ("kernel", "vendor", "first"),
        [
            ("x86_64", "intel", ["push ecx", "push edx", "push ebp", "mov ebp, esp", "sysenter"]),
            ("x86_64", "amd", ["push ebp", "mov ebp, ecx", "syscall"]),
            ("i386", "intel", ["push ecx", "push edx", "push ebp", "mov ebp, esp", "sysenter"]),
            ("i386", "amd", ["push ecx", "push edx", "push ebp", "mov ebp, esp", "sysenter"]),
        ],
    )
    def test_variant(self, kernel, vendor, first):
        """__kernel_vsyscall, found through AT_SYSINFO, is the variant sysenter_setup picks
        (vdso32-setup.c 3.16: SYSCALL32 on AMD and SYSENTER32 on Intel under a 64-bit
        kernel, SEP under a 32-bit one)."""
        p = Machine.boot(kernel=kernel, cpu=vendor).spawn("i386")
        entry = dict(p.task.auxv)[abi.AT_SYSINFO]
        code = p.read_mem(entry, 32)
        texts = [t for _, _, t in disassemble(code, mode=32, address=entry)][: len(first)]
        assert texts == first


class TestVsyscallPage:
    def test_emulate(self):
        """In emulate mode the fetch from the NX page faults and emulate_vsyscall does the call
        and a ret (arch/x86/kernel/vsyscall_64.c 3.16)."""
        m = _machine()
        p = m.spawn("x86_64")
        tv = p.alloc(16)
        r = p.syscall("gettimeofday", tv, 0, via="vsyscall_page")
        assert r.ret == 0
        assert "emulate_vsyscall (arch/x86/kernel/vsyscall_64.c)" in r.trace.symbols()
        assert int.from_bytes(p.read_mem(tv + 8, 8), "little") == 234567

    def test_native(self):
        """In native mode the page's own code (mov $__NR_gettimeofday, %rax; syscall; ret) runs."""
        m = _machine(vsyscall="native")
        p = m.spawn("x86_64")
        tv = p.alloc(16)
        r = p.syscall("gettimeofday", tv, 0, via="vsyscall_page")
        assert (
            r.ret == 0
            and "emulate_vsyscall (arch/x86/kernel/vsyscall_64.c)" not in r.trace.symbols()
        )
        assert any(e.what == "syscall" for e in r.trace)

    def test_none(self):
        """With vsyscall=none there is no page: the call is a SIGSEGV."""
        p = _machine(vsyscall="none").spawn("x86_64")
        assert p.syscall("time", 0, via="vsyscall_page").signal == SIGSEGV

    def test_misaligned_entry_is_sigsegv(self):
        """A jump into the page anywhere but an entry point is "misaligned vsyscall": SIGSEGV."""
        p = _machine().spawn("x86_64")
        r = p.run(f"mov rax, {V.VSYSCALL_ADDR + 0x10:#x}\ncall rax")
        assert r.signal == SIGSEGV
        assert any("misaligned" in e.what for e in r.trace)

    def test_jump_into_vvar_is_sigsegv(self):
        """The vvar page is data (NX): executing it is a #PF, SIGSEGV."""
        p = _machine().spawn("x86_64")
        vvar = next(a for a, _, _, n in p.task.vmas if n == "[vvar]")
        assert p.run(f"mov rax, {vvar:#x}\njmp rax").signal == SIGSEGV


class TestSnapshot:
    def test_restore_keeps_the_vvar_page_shared(self):
        """Machine.restore puts the vvar page's bytes back without unsharing it: after a restore
        the kernel's update_vsyscall still reaches every process's [vvar] mapping."""
        m = _machine()
        p = m.spawn("x86_64")
        tv = p.alloc(32)
        snap = m.snapshot()
        m.advance_time(5_000_000_000)
        m.restore(snap)
        assert p.syscall("gettimeofday", tv, 0, via="vdso").ret == 0
        assert int.from_bytes(p.read_mem(tv, 8), "little") == T.BOOT_REALTIME + 1
        m.advance_time(2_000_000_000)
        assert p.syscall("gettimeofday", tv, 0, via="vdso").ret == 0
        assert p.syscall("gettimeofday", tv + 16, 0).ret == 0
        assert p.read_mem(tv, 16) == p.read_mem(tv + 16, 16)
        assert int.from_bytes(p.read_mem(tv, 8), "little") == T.BOOT_REALTIME + 3

    def test_restore_replays_the_same_randomness(self):
        """The machine's RNG is part of its state: spawning after a restore places the stack and
        the vDSO where spawning before it did (the same seed, the same trace)."""
        m = Machine.boot(seed=7)
        snap = m.snapshot()
        first = m.spawn("x86_64")
        placed = (first.task.initial_sp, first.task.vdso)
        m.restore(snap)
        again = m.spawn("x86_64")
        assert (again.task.initial_sp, again.task.vdso) == placed


class TestScenario:
    def test_three_ways_agree_and_only_the_vdso_stays_in_ring_3(self):
        """The tour's vdso-gettimeofday story: the same time three ways; the vDSO's
        instructions all run at ring 3, the other two cross to ring 0 and back."""
        from scenarios import vdso_stories
        from scenarios.story import text_lines

        lines = text_lines(vdso_stories.three_ways())
        table = lines[lines.index("Side by side, at the same simulated moment:") + 1 :]
        rows = {line.split()[0]: line for line in table}
        assert set(rows) == {"vdso", "vsyscall_page", "syscall"}
        values = {line.split("  ")[-2].strip() for line in rows.values()}
        assert values == {f"{{tv_sec={T.BOOT_REALTIME + 1}, tv_usec=234567}}"}
        assert rows["vdso"].endswith("0 kernel steps, instructions at ring 3")
        assert rows["syscall"].endswith("instructions at ring 0/3")
        assert rows["vsyscall_page"].endswith("instructions at ring 0/3")

    def test_story_is_deterministic(self):
        """The same story twice is the same text, byte for byte (fixed seeds)."""
        from scenarios import vdso_stories
        from scenarios.story import text_lines

        assert text_lines(vdso_stories.run()) == text_lines(vdso_stories.run())
