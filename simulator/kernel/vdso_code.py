"""The vDSO's functions as machine code, as vclock_gettime.c and vgetcpu.c compile them.

ringsim writes them in its own assembler, following the C: read the
sequence count, compute the time from vsyscall_gtod_data (and the TSC, for
VCLOCK_TSC), retry if the count was odd or changed, fall back to the real
system call when the clock mode is VCLOCK_NONE. In 3.16 the vvar page is
mapped right after the image (map_vdso: addr + image->size), so the code,
linked at 0, reaches it at a known offset: RIP-relative in 64-bit code, from
its own EIP (call/pop) in 32-bit code.
"""

from __future__ import annotations

from simulator.cpu.assembler import assemble
from simulator.kernel import timekeeping as T

NR_GETTIMEOFDAY_64, NR_CLOCK_GETTIME_64, NR_TIME_64 = 96, 228, 201
NR_GETTIMEOFDAY_32, NR_CLOCK_GETTIME_32, NR_TIME_32 = 78, 265, 13
PER_CPU_SEG = 15 * 8 + 3  # __PER_CPU_SEG (arch/x86/include/asm/segment.h)

_F64 = {name: offset for name, offset, _ in T.GTOD_FIELDS_64}


def _align(n: int) -> int:
    return (n + 15) & ~15


def _read_realtime_64(prefix: str, sec_field: str, snsec_field: str) -> str:
    """do_realtime/do_monotonic: the seqcount loop; leaves seconds in r10, ns in rax."""
    f = _F64
    return f"""
{prefix}retry:
mov r9d, dword ptr [r8]
test r9d, 1
jnz {prefix}retry
cmp dword ptr [r8+{f["vclock_mode"]}], {T.VCLOCK_TSC}
jne {prefix}fallback
rdtsc
shl rdx, 32
or rax, rdx
sub rax, qword ptr [r8+{f["cycle_last"]}]
and rax, qword ptr [r8+{f["mask"]}]
mov ecx, dword ptr [r8+{f["mult"]}]
mul rcx
add rax, qword ptr [r8+{f[snsec_field]}]
mov ecx, dword ptr [r8+{f["shift"]}]
shr rax, cl
mov r10, qword ptr [r8+{f[sec_field]}]
cmp r9d, dword ptr [r8]
jne {prefix}retry
{prefix}norm:
cmp rax, 1000000000
jb {prefix}done
sub rax, 1000000000
inc r10
jmp {prefix}norm
{prefix}done:
"""


def functions_64(text_offset: int, vvar: int) -> tuple[bytes, dict[str, int]]:
    """The 64-bit vDSO's text, assembled to sit at ``text_offset`` in the image with the vvar
    page at offset ``vvar``, and where each function starts (offsets from the image)."""
    f = _F64
    gtod = vvar + T.VVAR_GTOD
    cpumode = vvar + T.VVAR_VGETCPU_MODE
    bodies: list[tuple[str, str]] = []
    bodies.append(
        (
            "__vdso_gettimeofday",
            _read_realtime_64("g_", "wall_time_sec", "wall_time_snsec")
            + f"""
test rdi, rdi
jz g_tz
mov qword ptr [rdi], r10
mov ecx, 0x10624DD3
mul rcx
shr rax, 38
mov qword ptr [rdi+8], rax
g_tz:
test rsi, rsi
jz g_ok
mov eax, dword ptr [r8+{f["tz_minuteswest"]}]
mov dword ptr [rsi], eax
mov eax, dword ptr [r8+{f["tz_dsttime"]}]
mov dword ptr [rsi+4], eax
g_ok:
xor eax, eax
ret
g_fallback:
mov eax, {NR_GETTIMEOFDAY_64}
syscall
ret
""",
        )
    )
    bodies.append(
        (
            "__vdso_clock_gettime",
            """
cmp edi, 0
je c_real
cmp edi, 1
je c_mono
cmp edi, 5
je c_rcoarse
cmp edi, 6
je c_mcoarse
jmp c_fallback
c_real:
"""
            + _read_realtime_64("cr_", "wall_time_sec", "wall_time_snsec")
            + """
jmp c_store
cr_fallback:
jmp c_fallback
c_mono:
"""
            + _read_realtime_64("cm_", "monotonic_time_sec", "monotonic_time_snsec")
            + f"""
jmp c_store
cm_fallback:
jmp c_fallback
c_rcoarse:
mov r9d, dword ptr [r8]
test r9d, 1
jnz c_rcoarse
mov r10, qword ptr [r8+{f["wall_time_coarse_sec"]}]
mov rax, qword ptr [r8+{f["wall_time_coarse_nsec"]}]
cmp r9d, dword ptr [r8]
jne c_rcoarse
jmp c_store
c_mcoarse:
mov r9d, dword ptr [r8]
test r9d, 1
jnz c_mcoarse
mov r10, qword ptr [r8+{f["monotonic_time_coarse_sec"]}]
mov rax, qword ptr [r8+{f["monotonic_time_coarse_nsec"]}]
cmp r9d, dword ptr [r8]
jne c_mcoarse
c_store:
mov qword ptr [rsi], r10
mov qword ptr [rsi+8], rax
xor eax, eax
ret
c_fallback:
mov eax, {NR_CLOCK_GETTIME_64}
syscall
ret
""",
        )
    )
    bodies.append(
        (
            "__vdso_time",
            f"""
mov rax, qword ptr [r8+{f["wall_time_sec"]}]
test rdi, rdi
jz t_ret
mov qword ptr [rdi], rax
t_ret:
ret
""",
        )
    )
    bodies.append(
        (
            "__vdso_getcpu",
            f"""
lea r9, [rip+{{cpumode}}]
cmp dword ptr [r9], {T.VGETCPU_RDTSCP}
jne p_lsl
rdtscp
mov eax, ecx
jmp p_have
p_lsl:
mov ecx, {PER_CPU_SEG}
lsl eax, ecx
p_have:
test rdi, rdi
jz p_node
mov ecx, eax
and ecx, 0xfff
mov dword ptr [rdi], ecx
p_node:
test rsi, rsi
jz p_ret
shr eax, 12
mov dword ptr [rsi], eax
p_ret:
xor eax, eax
ret
""",
        )
    )
    text = bytearray()
    offsets: dict[str, int] = {}
    for name, body in bodies:
        start = text_offset + len(text)
        # Every function first points r8 at vsyscall_gtod_data: lea r8, [rip+disp32].
        lea = f"lea r8, [rip+{gtod - (start + 7)}]\n"
        code = lea + body
        if "{cpumode}" in code:
            probe = assemble(code.replace("{cpumode}", "0"), mode=64, address=start)
            lea_r9 = probe.find(bytes.fromhex("4c8d0d"))
            code = code.replace("{cpumode}", str(cpumode - (start + lea_r9 + 7)))
        machine = assemble(code, mode=64, address=start)
        offsets[name] = start
        text += machine
        text += b"\xcc" * (_align(len(text)) - len(text))
    return bytes(text), offsets


def _read_realtime_32(prefix: str, fields: dict[str, int], sec: str, snsec: str) -> str:
    """The 32-bit seqcount loop: esi points at the gtod data; leaves seconds in ebx and ns in
    eax. The product delta * mult is 64-bit (MUL), the shift a pair of 32-bit shifts."""
    return f"""
{prefix}retry:
mov edi, dword ptr [esi]
test edi, 1
jnz {prefix}retry
cmp dword ptr [esi+{fields["vclock_mode"]}], {T.VCLOCK_TSC}
jne {prefix}fallback
rdtsc
sub eax, dword ptr [esi+{fields["cycle_last"]}]
sbb edx, dword ptr [esi+{fields["cycle_last"] + 4}]
test edx, edx
jnz {prefix}fallback
mul dword ptr [esi+{fields["mult"]}]
add eax, dword ptr [esi+{fields[snsec]}]
adc edx, dword ptr [esi+{fields[snsec] + 4}]
mov ecx, dword ptr [esi+{fields["shift"]}]
mov ebx, edx
shr eax, cl
neg ecx
add ecx, 32
shl ebx, cl
or eax, ebx
mov ebx, dword ptr [esi+{fields[sec]}]
cmp edi, dword ptr [esi]
jne {prefix}retry
{prefix}norm:
cmp eax, 1000000000
jb {prefix}done
sub eax, 1000000000
inc ebx
jmp {prefix}norm
{prefix}done:
"""


def functions_32(
    text_offset: int, kernel_vsyscall: bytes, *, wide_gtod: bool, vvar: int
) -> tuple[bytes, dict[str, int]]:
    """The 32-bit vDSO's text at ``text_offset``: __kernel_vsyscall (the variant boot chose),
    __kernel_sigreturn, __kernel_rt_sigreturn (vdso32/sigreturn.S) and the clock functions,
    which read vsyscall_gtod_data in the 64-bit layout on a 64-bit kernel
    (BUILD_VDSO32_64) and the 32-bit layout on an i386 kernel.

    One simplification: when more than 2**32 TSC cycles have passed since the last tick
    (about 1.8 s of simulated time at 2.4 GHz), the 32-bit code takes the system-call
    fallback instead of doing the full 64-bit multiply.
    """
    fields = {n: o for n, o, _ in (T.GTOD_FIELDS_64 if wide_gtod else T.GTOD_FIELDS_32)}
    gtod = vvar + T.VVAR_GTOD
    offsets: dict[str, int] = {"__kernel_vsyscall": text_offset}
    text = bytearray(kernel_vsyscall)
    text += b"\x90" * (_align(len(text)) - len(text))
    sig = [
        ("__kernel_sigreturn", "pop eax\nmov eax, 119\nint 0x80"),
        ("__kernel_rt_sigreturn", "mov eax, 173\nint 0x80"),
    ]
    for name, body in sig:
        offsets[name] = text_offset + len(text)
        text += assemble(body, mode=32, address=offsets[name])
        text += b"\x90" * (_align(len(text)) - len(text))

    def prologue(start: int) -> str:
        # push ebx/esi/edi; call 1f; 1: pop ecx; lea esi, [ecx + gtod - 1b]
        after_call = start + 3 + 5
        return (
            "push ebx\npush esi\npush edi\n"
            f"call {after_call:#x}\npop ecx\nlea esi, [ecx+{gtod - after_call}]\n"
        )

    epilogue = "pop edi\npop esi\npop ebx\nret\n"

    def fallback(prefix: str, number: int, nargs: int) -> str:
        loads = "mov ebx, dword ptr [esp+16]\n"
        if nargs > 1:
            loads += "mov ecx, dword ptr [esp+20]\n"
        return (
            f"{prefix}fallback:\n{loads}mov eax, {number}\n"
            f"call {offsets['__kernel_vsyscall']:#x}\n" + epilogue
        )

    bodies = [
        (
            "__vdso_gettimeofday",
            lambda: (
                _read_realtime_32("g_", fields, "wall_time_sec", "wall_time_snsec")
                + f"""
mov edi, dword ptr [esp+16]
test edi, edi
jz g_tz
mov dword ptr [edi], ebx
mov ecx, 0x10624DD3
mul ecx
shr edx, 6
mov dword ptr [edi+4], edx
g_tz:
mov edi, dword ptr [esp+20]
test edi, edi
jz g_ok
mov eax, dword ptr [esi+{fields["tz_minuteswest"]}]
mov dword ptr [edi], eax
mov eax, dword ptr [esi+{fields["tz_dsttime"]}]
mov dword ptr [edi+4], eax
g_ok:
xor eax, eax
"""
                + epilogue
                + fallback("g_", NR_GETTIMEOFDAY_32, 2)
            ),
        ),
        (
            "__vdso_clock_gettime",
            lambda: (
                """
mov eax, dword ptr [esp+16]
cmp eax, 0
je c_real
cmp eax, 1
je c_mono
jmp c_fallback
c_real:
"""
                + _read_realtime_32("cr_", fields, "wall_time_sec", "wall_time_snsec")
                + """
jmp c_store
cr_fallback:
jmp c_fallback
c_mono:
"""
                + _read_realtime_32("cm_", fields, "monotonic_time_sec", "monotonic_time_snsec")
                + """
jmp c_store
cm_fallback:
jmp c_fallback
c_store:
mov edi, dword ptr [esp+20]
mov dword ptr [edi], ebx
mov dword ptr [edi+4], eax
xor eax, eax
"""
                + epilogue
                + fallback("c_", NR_CLOCK_GETTIME_32, 2)
            ),
        ),
        (
            "__vdso_time",
            lambda: (
                f"""
mov eax, dword ptr [esi+{fields["wall_time_sec"]}]
mov edi, dword ptr [esp+16]
test edi, edi
jz t_ret
mov dword ptr [edi], eax
t_ret:
"""
                + epilogue
            ),
        ),
    ]
    for name, make in bodies:
        start = text_offset + len(text)
        offsets[name] = start
        text += assemble(prologue(start) + make(), mode=32, address=start)
        text += b"\xcc" * (_align(len(text)) - len(text))
    return bytes(text), offsets
