"""CPU test vectors (format ringsim-cpu-vectors/1): load, run, compare, and a command line.

``python -m simulator.cpu.vectors FILE...`` prints PASS or FAIL (with the
differences) for each vector, then ``N passed, M failed``; it exits 1 if any
failed. The format is documented in docs/vectors.md.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from simulator.cpu import control as C
from simulator.cpu import msr as M
from simulator.cpu.descriptors import SegmentDescriptor, TableRegister
from simulator.cpu.execute import CPU, DELIVERED, FAULTED, SHUTDOWN
from simulator.cpu.memory import PAGE_MASK, PAGE_SIZE, AddressSpace
from simulator.cpu.registers import FULL_NAMES
from simulator.cpu.segments import NULL_CACHE, SREG_NAMES, DescriptorCache, cache_from_descriptor

FORMAT = "ringsim-cpu-vectors/1"
DEFAULT_CR3 = 0x1000
CACHE_FIELDS = ("base", "limit", "type", "s", "dpl", "present", "l", "db", "g", "avl", "usable")
TSS64_FIELDS = {"rsp0": 0x04, "rsp1": 0x0C, "rsp2": 0x14}
TSS64_FIELDS.update({f"ist{n}": 0x1C + 8 * n for n in range(1, 8)})
TSS32_FIELDS = {"esp0": (0x04, 4), "ss0": (0x08, 2), "esp1": (0x0C, 4), "ss1": (0x10, 2)}
TSS32_FIELDS.update({"esp2": (0x14, 4), "ss2": (0x18, 2)})


class VectorFormatError(ValueError):
    """A vector file that does not follow the format: names the file, vector and field."""


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise VectorFormatError(f"{where}: expected an integer, received {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            pass
    raise VectorFormatError(f"{where}: expected an integer or a '0x...' string, received {value!r}")


@attrs.frozen
class VectorResult:
    """One vector's verdict and the differences found."""

    name: str
    passed: bool
    differences: tuple[str, ...]


def load(path: str | Path) -> list[dict[str, Any]]:
    """The vectors of one file, after checking the format tag."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise VectorFormatError(f"{path}: cannot read a JSON vector file: {error}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise VectorFormatError(f"{path}: expected format {FORMAT!r}")
    vectors = data.get("vectors")
    if not isinstance(vectors, list):
        raise VectorFormatError(f"{path}: expected a list under 'vectors'")
    return vectors


class _Setup:
    """Builds the CPU a vector's ``initial`` describes."""

    def __init__(self, vector: dict[str, Any]) -> None:
        self.v = vector
        self.name = vector.get("name", "?")
        self.cpu = CPU(vector.get("vendor", "intel"))
        self.initial = vector.get("initial", {})

    def where(self, field: str) -> str:
        return f"vector {self.name!r}: {field}"

    def build(self) -> CPU:
        cpu, ini = self.cpu, self.initial
        msrs = {
            _int(k, self.where("msrs")): _int(v, self.where(f"msrs.{k}"))
            for k, v in ini.get("msrs", {}).items()
        }
        if M.IA32_EFER in msrs:
            cpu.efer = msrs.pop(M.IA32_EFER)
        cpu.cr4 = _int(ini.get("cr4", 0), self.where("cr4"))
        cpu.cr0 = _int(ini.get("cr0", C.CR0_PE), self.where("cr0"))
        paging = bool(cpu.cr0 & C.CR0_PG)
        if paging:
            cr3 = _int(ini.get("cr3", DEFAULT_CR3), self.where("cr3"))
            self.space = AddressSpace("vector")
            cpu.add_address_space(cr3, self.space)
            cpu.set_cr3(cr3)
        else:
            self.space = cpu.physical
        if "cr2" in ini:
            cpu.cr2 = _int(ini["cr2"], self.where("cr2"))
        for region in ini.get("memory", []):
            address = _int(region["address"], self.where("memory.address"))
            data = bytes.fromhex(region.get("bytes", ""))
            size = _int(region.get("size", max(len(data), 1)), self.where("memory.size"))
            self._map(
                address,
                size,
                user=region.get("user", True),
                writable=region.get("writable", True),
                executable=region.get("executable", True),
            )
            self.space.poke(address, data + bytes(size - len(data)))
        lma = bool(cpu.efer & M.EFER_LMA)
        gdt = ini.get("gdt")
        if gdt:
            base = _int(gdt.get("base", 0), self.where("gdt.base"))
            cpu.gdtr = TableRegister(
                base=base, limit=_int(gdt.get("limit", 0xFFFF), self.where("gdt.limit"))
            )
            for key, raw in gdt.get("descriptors", {}).items():
                self._put_system(base + (_int(key, self.where("gdt")) & ~7), raw)
        idt = ini.get("idt")
        if idt:
            base = _int(idt.get("base", 0), self.where("idt.base"))
            cpu.idtr = TableRegister(
                base=base, limit=_int(idt.get("limit", 0xFFFF), self.where("idt.limit"))
            )
            for key, raw in idt.get("gates", {}).items():
                size = 16 if lma else 8
                self._put_system(base + _int(key, self.where("idt")) * size, raw)
        if "tr" in ini:
            self._load_tr(_int(ini["tr"], self.where("tr")), ini.get("tss", {}), lma)
        for number, value in msrs.items():
            if number in (M.IA32_FS_BASE, M.IA32_GS_BASE):
                continue
            if number not in cpu.msr.values:
                raise VectorFormatError(self.where(f"msrs: unknown MSR {number:#x}"))
            cpu.msr.values[number] = value
        for name, value in ini.get("regs", {}).items():
            if name not in FULL_NAMES:
                raise VectorFormatError(
                    self.where(f"regs: expected a 64-bit register name, received {name!r}")
                )
            cpu.regs.write(name, _int(value, self.where(f"regs.{name}")))
        segments = ini.get("segments", {})
        order = ["cs"] + [n for n in SREG_NAMES if n != "cs"]
        for name in order:
            if name in segments:
                self._load_segment(name, segments[name])
            elif cpu.cr0 & C.CR0_PE and name != "cs":
                cpu.sel[SREG_NAMES.index(name)] = 0
                cpu.cache[SREG_NAMES.index(name)] = NULL_CACHE
        for number, index in ((M.IA32_FS_BASE, 4), (M.IA32_GS_BASE, 5)):
            if number in msrs:
                cpu.cache[index] = attrs.evolve(cpu.cache[index], base=msrs[number])
        code = bytes.fromhex(self.v.get("bytes", ""))
        cs_base = cpu.cache[1].base
        rip = cpu.r[16]
        if lma and cpu.cache[1].l:
            linear = (cs_base + rip) & ((1 << 64) - 1)
        else:
            linear = (cs_base + (rip & (0xFFFF_FFFF if cpu.cache[1].db else 0xFFFF))) & 0xFFFF_FFFF
        if code:
            self._map(linear, len(code), user=cpu.cpl == 3, writable=True, executable=True)
            self.space.poke(linear, code)
        return cpu

    def _map(
        self, address: int, size: int, *, user: bool, writable: bool, executable: bool
    ) -> None:
        first = address & ~PAGE_MASK
        last = (address + size - 1) & ~PAGE_MASK
        page = first
        while page <= last:
            if not self.space.is_mapped(page):
                self.space.map(
                    page, PAGE_SIZE, user=user, writable=writable, executable=executable, zero=True
                )
            page += PAGE_SIZE

    def _put_system(self, address: int, raw: Any) -> None:
        text = raw[2:] if isinstance(raw, str) and raw.startswith("0x") else raw
        if isinstance(raw, int) or not isinstance(text, str):
            raise VectorFormatError(self.where(f"descriptor {raw!r}: expected a hex string"))
        size = 16 if len(text) > 16 else 8
        data = int(text, 16).to_bytes(size, "little")
        self._map(address, size, user=False, writable=True, executable=False)
        self.space.poke(address, data)

    def _load_tr(self, selector: int, tss: dict[str, Any], lma: bool) -> None:
        cpu = self.cpu
        address = cpu.gdtr.base + (selector & ~7)
        size = 16 if lma else 8
        raw = int.from_bytes(self.space.peek(address, size), "little")
        d = SegmentDescriptor.from_raw(raw & ((1 << 64) - 1))
        base = d.base | ((raw >> 64) & 0xFFFF_FFFF) << 32 if lma else d.base
        self._map(base, 104, user=False, writable=True, executable=False)
        for name, value in tss.items():
            value = _int(value, self.where(f"tss.{name}"))
            if name in TSS64_FIELDS:
                self.space.poke(base + TSS64_FIELDS[name], value.to_bytes(8, "little"))
            elif name in TSS32_FIELDS:
                offset, width = TSS32_FIELDS[name]
                self.space.poke(base + offset, value.to_bytes(width, "little"))
            else:
                raise VectorFormatError(self.where(f"tss: unknown field {name!r}"))
        cpu.tr = (
            selector,
            DescriptorCache(
                base=base,
                limit=d.byte_limit,
                type=d.type,
                s=False,
                dpl=d.dpl,
                present=d.present,
                g=d.g,
            ),
        )

    def _load_segment(self, name: str, spec: Any) -> None:
        cpu = self.cpu
        if isinstance(spec, dict):
            selector = _int(spec.get("selector", 0), self.where(f"segments.{name}.selector"))
            start = self._cache_for(selector)
            fields = {}
            for field in CACHE_FIELDS:
                if field in spec:
                    value = spec[field]
                    fields[field] = (
                        value
                        if isinstance(value, bool)
                        else _int(value, self.where(f"segments.{name}.{field}"))
                    )
            cache = attrs.evolve(start, **fields)
            fault = cpu.set_segment(name, selector, cache)
        else:
            selector = _int(spec, self.where(f"segments.{name}"))
            fault = cpu.set_segment(name, selector)
        if fault is not None:
            raise VectorFormatError(
                self.where(f"segments.{name}: cannot load {selector:#x}: {fault}")
            )

    def _cache_for(self, selector: int) -> DescriptorCache:
        cpu = self.cpu
        if selector & 0xFFFC == 0 or not cpu.cr0 & C.CR0_PE:
            return NULL_CACHE
        raw = self.space.peek(cpu.gdtr.base + (selector & ~7), 8)
        return cache_from_descriptor(SegmentDescriptor.decode(raw))


def run_vector(vector: dict[str, Any]) -> VectorResult:
    """Set up, run and compare one vector."""
    name = str(vector.get("name", "?"))
    try:
        setup = _Setup(vector)
        cpu = setup.build()
    except (VectorFormatError, ValueError, TypeError, KeyError) as error:
        return VectorResult(name, False, (f"setup: {error}",))
    deliver = bool(vector.get("deliver", False))
    steps = _int(vector.get("steps", 1), f"vector {name!r}: steps")
    initial = cpu.snapshot()
    memory_before = setup.space.snapshot()
    fault = None
    fault_step = None
    before_fault = initial
    shutdown = False
    for n in range(1, steps + 1):
        state = cpu.snapshot()
        result = cpu.step(deliver=deliver)
        if result.outcome == FAULTED:
            fault, fault_step, before_fault = result.fault, n, state
            break
        if result.outcome == DELIVERED and fault is None:
            fault, fault_step = result.fault, n
        if result.outcome == SHUTDOWN:
            shutdown = True
            if fault is None:
                fault, fault_step = result.fault, n
            break
        if result.outcome not in ("completed", DELIVERED, "halted"):
            return VectorResult(name, False, (f"step {n}: {result.outcome}: {result.detail}",))
    diffs = _compare(
        vector.get("expect", {}),
        cpu,
        setup,
        initial,
        before_fault,
        memory_before,
        fault,
        fault_step,
        deliver,
        shutdown,
    )
    return VectorResult(name, not diffs, tuple(diffs))


def _compare(
    expect, cpu, setup, initial, before_fault, memory_before, fault, fault_step, deliver, shutdown
) -> list[str]:
    diffs: list[str] = []
    want_fault = expect.get("fault")
    if want_fault is not None:
        if fault is None:
            diffs.append(f"fault: expected {want_fault}, but no fault was raised")
        else:
            vec = _int(want_fault.get("vector"), "expect.fault.vector")
            code = want_fault.get("error_code")
            code = None if code is None else _int(code, "expect.fault.error_code")
            if (fault.vector, fault.error_code) != (vec, code):
                diffs.append(f"fault: expected vector {vec} error code {code}, got {fault}")
            step = want_fault.get("step", 1)
            if _int(step, "expect.fault.step") != fault_step:
                diffs.append(f"fault: expected at step {step}, raised at step {fault_step}")
    elif fault is not None and not deliver:
        diffs.append(f"fault: none expected, got {fault} at step {fault_step}")
    if bool(expect.get("shutdown", False)) != shutdown:
        diffs.append(f"shutdown: expected {bool(expect.get('shutdown', False))}, got {shutdown}")
    reference = before_fault if (want_fault is not None and not deliver) else initial
    after = cpu.snapshot()
    regs = expect.get("regs", {})
    for i, reg in enumerate(FULL_NAMES):
        got = after.regs[i]
        if reg in regs:
            want = _int(regs[reg], f"expect.regs.{reg}")
            if got != want:
                diffs.append(f"{reg}: expected {want:#x}, got {got:#x}")
        elif got != reference.regs[i]:
            diffs.append(f"{reg}: expected unchanged {reference.regs[i]:#x}, got {got:#x}")
    segments = expect.get("segments", {})
    for i, seg in enumerate(SREG_NAMES):
        sel, cache = after.selectors[i], after.caches[i]
        spec = segments.get(seg)
        if spec is None:
            if (sel, cache) != (reference.selectors[i], reference.caches[i]):
                diffs.append(
                    f"{seg}: expected unchanged {reference.selectors[i]:#x}, "
                    f"got {sel:#x} {cache.describe()}"
                )
            continue
        if not isinstance(spec, dict):
            spec = {"selector": spec}
        for field, want in spec.items():
            got = sel if field == "selector" else getattr(cache, field, None)
            want_v = (
                want if isinstance(want, bool) else _int(want, f"expect.segments.{seg}.{field}")
            )
            if got != want_v:
                diffs.append(f"{seg}.{field}: expected {want_v!r}, got {got!r}")
    for key, got in (("cpl", after.cpl), ("mode", after.mode)):
        if key in expect and expect[key] != got:
            diffs.append(f"{key}: expected {expect[key]!r}, got {got!r}")
    if "cr2" in expect:
        want = _int(expect["cr2"], "expect.cr2")
        if after.crs[1] != want:
            diffs.append(f"cr2: expected {want:#x}, got {after.crs[1]:#x}")
    for i, cr in ((0, "cr0"), (2, "cr3"), (3, "cr4")):
        if after.crs[i] != reference.crs[i]:
            diffs.append(f"{cr}: expected unchanged {reference.crs[i]:#x}, got {after.crs[i]:#x}")
    want_msrs = {
        _int(k, "expect.msrs"): _int(v, f"expect.msrs.{k}")
        for k, v in expect.get("msrs", {}).items()
    }
    for number, got in after.msrs:
        if number in want_msrs:
            if got != want_msrs[number]:
                diffs.append(f"msr {number:#x}: expected {want_msrs[number]:#x}, got {got:#x}")
        elif got != dict(reference.msrs)[number]:
            diffs.append(f"msr {number:#x}: expected unchanged, got {got:#x}")
    for key, got, ref in (
        ("gdtr", after.gdtr, reference.gdtr),
        ("idtr", after.idtr, reference.idtr),
    ):
        if key in expect:
            want = TableRegister(
                base=_int(expect[key]["base"], key), limit=_int(expect[key]["limit"], key)
            )
            if got != want:
                diffs.append(f"{key}: expected {want}, got {got}")
        elif got != ref:
            diffs.append(f"{key}: expected unchanged {ref}, got {got}")
    if "tr" in expect:
        if after.tr[0] != _int(expect["tr"], "expect.tr"):
            diffs.append(f"tr: expected {expect['tr']}, got {after.tr[0]:#x}")
    elif after.tr[0] != reference.tr[0]:
        diffs.append(f"tr: expected unchanged {reference.tr[0]:#x}, got {after.tr[0]:#x}")
    diffs.extend(_compare_memory(expect.get("memory", []), setup.space, memory_before))
    return diffs


def _compare_memory(listed, space: AddressSpace, before) -> list[str]:
    diffs = []
    expected: dict[int, int] = {}
    for region in listed:
        address = _int(region["address"], "expect.memory.address")
        for i, b in enumerate(bytes.fromhex(region["bytes"])):
            expected[address + i] = b
    old = {vpn: data for vpn, _, data in before.pages}
    for address, want in sorted(expected.items()):
        try:
            got = space.peek(address, 1)[0]
        except LookupError:
            diffs.append(f"memory {address:#x}: expected {want:#04x}, nothing mapped")
            continue
        if got != want:
            diffs.append(f"memory {address:#x}: expected {want:#04x}, got {got:#04x}")
    for vpn, page in space.pages.items():
        data = old.get(vpn)
        if data is None or data == page.data:
            continue
        for off in range(PAGE_SIZE):
            address = (vpn << 12) + off
            if page.data[off] != data[off] and address not in expected:
                diffs.append(
                    f"memory {address:#x}: expected unchanged {data[off]:#04x}, "
                    f"got {page.data[off]:#04x}"
                )
                if len(diffs) > 20:
                    return diffs
    return diffs


def main(argv: Sequence[str] | None = None) -> int:
    """Run the vector files named in ``argv``; print a line per vector and a summary."""
    paths = list(sys.argv[1:] if argv is None else argv)
    if not paths:
        print("usage: python -m simulator.cpu.vectors FILE...", file=sys.stderr)
        return 2
    passed = failed = 0
    for path in paths:
        try:
            vectors = load(path)
        except VectorFormatError as error:
            print(f"FAIL {path}: {error}")
            failed += 1
            continue
        for vector in vectors:
            result = run_vector(vector)
            if result.passed:
                passed += 1
                print(f"PASS {result.name}")
            else:
                failed += 1
                print(f"FAIL {result.name}")
                for line in result.differences:
                    print(f"     {line}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
