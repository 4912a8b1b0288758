"""kernel/time/timekeeping.c and arch/x86/kernel/vsyscall_gtod.c (Linux 3.16): the clock on the TSC.

The clocksource is the CPU's TSC; the timekeeper keeps the wall time at the
last tick in shifted nanoseconds (xtime_nsec << shift), and update_vsyscall
copies it into vsyscall_gtod_data in the vvar page under a sequence count, so
the vDSO can compute the time in ring 3 with the same formula the kernel uses.
"""

from __future__ import annotations

import attrs

NSEC_PER_SEC = 1_000_000_000
TSC_KHZ = 2_400_000  # the simulated CPU's TSC runs at 2.4 GHz (ringsim's choice)
SHIFT = 24  # clocksource shift (ringsim's choice; clocks_calc_mult_shift picks one like it)
# clocks_calc_mult_shift (kernel/time/clocksource.c) rounds to nearest:
# tmp = to << shift; tmp += from / 2; do_div(tmp, from).
MULT = ((NSEC_PER_SEC << SHIFT) + TSC_KHZ * 1000 // 2) // (TSC_KHZ * 1000)
MASK = (1 << 64) - 1  # CLOCKSOURCE_MASK(64)
BOOT_REALTIME = 1_404_000_000  # the wall clock at boot: 2014-06-29, near 3.16's release
TICK_NSEC = NSEC_PER_SEC // 250  # HZ = 250

# vclock modes (arch/x86/include/asm/clocksource.h).
VCLOCK_NONE = 0
VCLOCK_TSC = 1
VCLOCK_HPET = 2

# struct vsyscall_gtod_data (arch/x86/include/asm/vgtod.h, 3.16) with gtod_long_t
# 64 bits wide (x86_64 kernels: unsigned long; the 32-bit vDSO of a 64-bit kernel
# is built with BUILD_VDSO32_64 so it reads the same layout).
GTOD_FIELDS_64 = (
    ("seq", 0, 4),
    ("vclock_mode", 4, 4),
    ("cycle_last", 8, 8),
    ("mask", 16, 8),
    ("mult", 24, 4),
    ("shift", 28, 4),
    ("wall_time_snsec", 32, 8),
    ("wall_time_sec", 40, 8),
    ("monotonic_time_sec", 48, 8),
    ("monotonic_time_snsec", 56, 8),
    ("wall_time_coarse_sec", 64, 8),
    ("wall_time_coarse_nsec", 72, 8),
    ("monotonic_time_coarse_sec", 80, 8),
    ("monotonic_time_coarse_nsec", 88, 8),
    ("tz_minuteswest", 96, 4),
    ("tz_dsttime", 100, 4),
)
# The same structure on an i386 kernel, where gtod_long_t is a 32-bit unsigned long.
GTOD_FIELDS_32 = (
    ("seq", 0, 4),
    ("vclock_mode", 4, 4),
    ("cycle_last", 8, 8),
    ("mask", 16, 8),
    ("mult", 24, 4),
    ("shift", 28, 4),
    ("wall_time_snsec", 32, 8),
    ("wall_time_sec", 40, 4),
    ("monotonic_time_sec", 44, 4),
    ("monotonic_time_snsec", 48, 8),
    ("wall_time_coarse_sec", 56, 4),
    ("wall_time_coarse_nsec", 60, 4),
    ("monotonic_time_coarse_sec", 64, 4),
    ("monotonic_time_coarse_nsec", 68, 4),
    ("tz_minuteswest", 72, 4),
    ("tz_dsttime", 76, 4),
)
# Offsets in the vvar page (arch/x86/include/asm/vvar.h, 3.16):
# DECLARE_VVAR(0, jiffies), DECLARE_VVAR(16, vgetcpu_mode),
# DECLARE_VVAR(128, vsyscall_gtod_data).
VVAR_JIFFIES = 0
VVAR_VGETCPU_MODE = 16
VVAR_GTOD = 128
VGETCPU_RDTSCP = 1  # asm/vsyscall.h; VGETCPU_LSL is 2
VGETCPU_LSL = 2


@attrs.define
class Timekeeper:
    """The kernel's clock: the time at the last tick and the TSC value it was taken at."""

    wide: bool
    cycle_last: int = 0
    xtime_sec: int = BOOT_REALTIME
    xtime_nsec: int = 0  # shifted: nanoseconds << SHIFT
    wall_to_monotonic_sec: int = -BOOT_REALTIME
    vclock_mode: int = VCLOCK_TSC
    vvar: bytearray = attrs.field(factory=lambda: bytearray(4096))
    ticks: int = 0

    def nsec_since_tick(self, tsc: int) -> int:
        """timekeeping_get_ns: ((cycles - cycle_last) & mask) * mult + xtime_nsec, >> shift."""
        delta = (tsc - self.cycle_last) & MASK
        return (delta * MULT + self.xtime_nsec) >> SHIFT

    def realtime(self, tsc: int) -> tuple[int, int]:
        """getnstimeofday: (seconds, nanoseconds) of the wall clock at ``tsc``."""
        ns = self.nsec_since_tick(tsc)
        return self.xtime_sec + ns // NSEC_PER_SEC, ns % NSEC_PER_SEC

    def monotonic(self, tsc: int) -> tuple[int, int]:
        """ktime_get_ts: realtime plus wall_to_monotonic."""
        sec, nsec = self.realtime(tsc)
        return sec + self.wall_to_monotonic_sec, nsec

    def coarse(self) -> tuple[int, int]:
        """current_kernel_time: the time at the last tick."""
        return self.xtime_sec, self.xtime_nsec >> SHIFT

    def tick(self, tsc: int) -> None:
        """update_wall_time: fold the cycles since the last tick into the time, then
        update_vsyscall."""
        delta = (tsc - self.cycle_last) & MASK
        self.xtime_nsec += delta * MULT
        self.cycle_last = tsc
        while self.xtime_nsec >= NSEC_PER_SEC << SHIFT:
            self.xtime_nsec -= NSEC_PER_SEC << SHIFT
            self.xtime_sec += 1
        self.ticks += 1
        self.update_vsyscall()

    def fields(self) -> tuple[tuple[str, int, int], ...]:
        return GTOD_FIELDS_64 if self.wide else GTOD_FIELDS_32

    def read_field(self, name: str) -> int:
        for field, offset, size in self.fields():
            if field == name:
                start = VVAR_GTOD + offset
                return int.from_bytes(self.vvar[start : start + size], "little")
        raise ValueError(f"name: expected a vsyscall_gtod_data field, received {name!r}")

    def _write(self, name: str, value: int) -> None:
        for field, offset, size in self.fields():
            if field == name:
                start = VVAR_GTOD + offset
                self.vvar[start : start + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(
                    size, "little"
                )
                return
        raise ValueError(f"name: expected a vsyscall_gtod_data field, received {name!r}")

    def begin_update(self) -> None:
        """gtod_write_begin: the sequence count goes odd (readers retry)."""
        self._write("seq", self.read_field("seq") + 1)

    def end_update(self) -> None:
        """gtod_write_end: the sequence count goes even again."""
        self._write("seq", self.read_field("seq") + 1)

    def update_vsyscall(self) -> None:
        """update_vsyscall (arch/x86/kernel/vsyscall_gtod.c): copy the timekeeper out."""
        self.begin_update()
        self.write_fields()
        self.end_update()

    def write_fields(self) -> None:
        """The body of update_vsyscall, between the two sequence-count bumps."""
        mono_sec = self.xtime_sec + self.wall_to_monotonic_sec
        coarse_sec, coarse_nsec = self.coarse()
        for name, value in (
            ("vclock_mode", self.vclock_mode),
            ("cycle_last", self.cycle_last),
            ("mask", MASK),
            ("mult", MULT),
            ("shift", SHIFT),
            ("wall_time_snsec", self.xtime_nsec),
            ("wall_time_sec", self.xtime_sec),
            ("monotonic_time_sec", mono_sec),
            ("monotonic_time_snsec", self.xtime_nsec),
            ("wall_time_coarse_sec", coarse_sec),
            ("wall_time_coarse_nsec", coarse_nsec),
            ("monotonic_time_coarse_sec", mono_sec),
            ("monotonic_time_coarse_nsec", coarse_nsec),
            ("tz_minuteswest", 0),
            ("tz_dsttime", 0),
        ):
            self._write(name, value)
        self.vvar[VVAR_VGETCPU_MODE : VVAR_VGETCPU_MODE + 4] = VGETCPU_LSL.to_bytes(4, "little")
