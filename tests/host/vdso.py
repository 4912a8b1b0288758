"""Reading a vDSO image, the same way for the host's and the simulator's: its exported
symbols (with their versions) and the instructions of ``__kernel_vsyscall``."""

from __future__ import annotations

import io

from elftools.elf.elffile import ELFFile

from simulator.cpu.disassembler import disassemble


def exported_symbols(image: bytes) -> frozenset[tuple[str, str | None]]:
    """(name, version) of every symbol the image's .dynsym defines with global or weak
    binding: what a dynamic linker (glibc's vDSO setup) can find in it."""
    elf = ELFFile(io.BytesIO(image))
    dynsym = elf.get_section_by_name(".dynsym")
    if dynsym is None:
        raise ValueError("the image has no .dynsym")
    versions: dict[int, str] = {}
    verdef = elf.get_section_by_name(".gnu.version_d")
    if verdef is not None:
        for definition, auxiliaries in verdef.iter_versions():
            versions[definition["vd_ndx"]] = next(iter(auxiliaries)).name
    versym = elf.get_section_by_name(".gnu.version")
    out = set()
    for i, sym in enumerate(dynsym.iter_symbols()):
        if not sym.name or sym["st_info"]["bind"] not in ("STB_GLOBAL", "STB_WEAK"):
            continue
        if sym["st_shndx"] in ("SHN_UNDEF", "SHN_ABS"):
            continue  # an import, or a version node's own name
        version = None
        if versym is not None:
            ndx = versym.get_symbol(i)["ndx"]
            if isinstance(ndx, int):
                version = versions.get(ndx & 0x7FFF)
        out.add((sym.name, version))
    return frozenset(out)


def symbol_offset(image: bytes, name: str) -> int | None:
    """Where ``name`` (from .dynsym) lies in the image, as a file offset; None if absent."""
    elf = ELFFile(io.BytesIO(image))
    dynsym = elf.get_section_by_name(".dynsym")
    found = dynsym.get_symbol_by_name(name) if dynsym is not None else None
    if not found:
        return None
    vaddr = found[0]["st_value"]
    for segment in elf.iter_segments():
        if segment["p_type"] != "PT_LOAD":
            continue
        start = segment["p_vaddr"]
        if start <= vaddr < start + segment["p_filesz"]:
            return vaddr - start + segment["p_offset"]
    return None


def listing(code: bytes) -> list[tuple[str, str]]:
    """32-bit code read by ringsim's own disassembler, up to and including the first
    ``ret``: (bytes in hex, Intel-syntax text) per instruction, at offsets from 0."""
    out = []
    for _, raw, text in disassemble(code, mode=32, address=0):
        out.append((raw.hex(" "), text))
        if text == "ret":
            break
    return out


def render(rows: list[tuple[str, str]]) -> str:
    return "\n".join(f"    {raw:24} {text}" for raw, text in rows)
