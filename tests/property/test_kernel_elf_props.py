"""parse_executable answers every byte string with a value, and round-trips what it builds."""

import struct

from hypothesis import given
from hypothesis import strategies as st

from simulator.kernel import elf as E
from simulator.kernel.elf import ElfError, ElfImage, Segment, build_executable, parse_executable

ABIS = {
    "x86_64": (E.ELFCLASS64, E.EM_X86_64),
    "i386": (E.ELFCLASS32, E.EM_386),
    "x32": (E.ELFCLASS32, E.EM_X86_64),
}
KERNEL_OPTIONS = st.sampled_from([("x86_64", True), ("x86_64", False), ("i386", True)])


@st.composite
def segment_lists(draw):
    """Up to three segments at page-spaced addresses, each below the 32-bit TASK_SIZE."""
    count = draw(st.integers(1, 3))
    pages = sorted(
        draw(st.lists(st.integers(0x10, 0xB0000), min_size=count, max_size=count, unique=True))
    )
    segments = []
    for page in pages:
        data = draw(st.binary(max_size=64))
        slack = draw(st.integers(0, 0x800))
        segments.append(
            Segment(
                vaddr=page * 0x1000 + draw(st.integers(0, 0x7FF)),
                data=data,
                memsz=len(data) + slack,
                flags=draw(st.integers(0, 7)),
            )
        )
    return segments


@st.composite
def valid_images(draw):
    """A built image for a random ABI, with its ABI name and segments."""
    abi_name = draw(st.sampled_from(sorted(ABIS)))
    elf_class, machine = ABIS[abi_name]
    segments = draw(segment_lists())
    entry = draw(st.sampled_from([s.vaddr for s in segments]))
    data = build_executable(segments, entry=entry, elf_class=elf_class, machine=machine)
    return abi_name, segments, entry, data


@st.composite
def mutated_images(draw):
    """A valid image with bytes overwritten, header fields replaced, or the tail cut."""
    _, _, _, data = draw(valid_images())
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        choice = draw(st.integers(0, 2))
        if len(out) < 8:
            break
        if choice == 0:
            index = draw(st.integers(0, len(out) - 1))
            out[index] = draw(st.integers(0, 255))
        elif choice == 1:
            # a header or program-header field: the interesting offsets are low
            index = draw(st.integers(0, min(len(out), 300) - 8))
            width = draw(st.sampled_from([2, 4, 8]))
            value = draw(st.integers(0, (1 << (8 * width)) - 1))
            out[index : index + width] = value.to_bytes(width, "little")
        else:
            out = out[: draw(st.integers(0, len(out)))]
    return bytes(out)


@given(data=st.binary(max_size=512), options=KERNEL_OPTIONS)
def test_random_bytes(data, options):
    """Any bytes give an ElfImage or an ElfError, never an exception."""
    kernel, x32 = options
    assert isinstance(parse_executable(data, kernel=kernel, x32=x32), (ElfImage, ElfError))


@given(data=st.binary(max_size=256), options=KERNEL_OPTIONS)
def test_random_after_magic(data, options):
    """Bytes after the ELF magic give an ElfImage or an ElfError, never an exception."""
    kernel, x32 = options
    result = parse_executable(b"\x7fELF" + data, kernel=kernel, x32=x32)
    assert isinstance(result, (ElfImage, ElfError))


@given(data=mutated_images(), options=KERNEL_OPTIONS)
def test_mutated_images(data, options):
    """Mutated valid images give an ElfImage or an ElfError with an errno in range."""
    kernel, x32 = options
    result = parse_executable(data, kernel=kernel, x32=x32)
    assert isinstance(result, (ElfImage, ElfError))
    if isinstance(result, ElfError) and result.errno is not None:
        assert -4095 <= result.errno <= -1


@given(
    phnum=st.integers(0, 0xFFFF),
    phoff=st.integers(0, (1 << 64) - 1),
    machine=st.sampled_from([0, 3, 6, 62, 0xFFFF]),
    tail=st.binary(max_size=200),
)
def test_random_headers(phnum, phoff, machine, tail):
    """Elf64 headers with any e_phoff, e_phnum and machine give a value, never an exception."""
    header = E._EHDR[E.ELFCLASS64].pack(
        E.ELFMAG + bytes([2, 1, 1]) + bytes(9), 2, machine, 1, 0x400000, phoff, 0, 0,
        64, 56, phnum, 64, 0, 0,
    )  # fmt: skip
    result = parse_executable(header + tail)
    assert isinstance(result, (ElfImage, ElfError))


@given(image=valid_images())
def test_round_trip(image):
    """Parsing a built image gives back its segments, entry and ABI."""
    abi_name, segments, entry, data = image
    parsed = parse_executable(data)
    assert isinstance(parsed, ElfImage)
    assert parsed.abi == abi_name and parsed.entry == entry
    assert [(p.vaddr, parsed.file_bytes(p), p.memsz, p.flags) for p in parsed.load_segments] == [
        (s.vaddr, s.data, s.size_in_memory, s.flags) for s in segments
    ]
    assert all(p.offset % 4096 == p.vaddr % 4096 for p in parsed.load_segments)
    assert struct.unpack_from("<H", data, 16)[0] == E.ET_EXEC
