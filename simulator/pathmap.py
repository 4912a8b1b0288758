"""A map of the path a call took, drawn as SVG from its trace (no external program).

Like the article's map of the territory: user code, the instruction that crosses, the MSR
or IDT lookup it makes, the entry routine, the table, the handler, the exit path and the
return instruction. Time runs down the page; ring 3 is on the left, ring 0 on the right,
and the instructions that cross sit on the boundary between them.

``nodes(trace)`` groups the trace's steps into those stages; ``svg(trace)`` draws them.
"""

from __future__ import annotations

import re
from html import escape

import attrs

from simulator.cpu import msr
from simulator.trace import CPU, FAULT, KERNEL, NOT_MODELED, Trace

#: Instructions that change the ring (their trace steps sit on the boundary).
CROSSING = {
    "syscall",
    "sysenter",
    "int",
    "int3",
    "into",
    "sysret",
    "sysretq",
    "sysretl",
    "sysexit",
    "sysexitq",
    "iret",
    "iretd",
    "iretq",
}


#: The steps that index a system call table: 3.16's indirect calls through the tables, and
#: 6.9's switches over them (x64_sys_call and friends, arch/x86/entry/syscall_*.c).
TABLES = {
    "sys_call_table",
    "ia32_sys_call_table",
    "x64_sys_call",
    "x32_sys_call",
    "ia32_sys_call",
}


def _mnemonic(what: object) -> str:
    """The first word of a CPU step's text (its mnemonic); "" for an empty or odd text."""
    words = what.split() if isinstance(what, str) else []
    return words[0] if words else ""


@attrs.frozen
class Node:
    """One stage of the path: the steps it covers, its ring (3, 0, or None on the
    boundary), a title, a detail line, and its kind (user, crossing, kernel, table,
    fault, not-modeled)."""

    kind: str
    ring: int | None
    title: str
    detail: str
    first: int
    last: int


def _symbol(where: str) -> tuple[str, str]:
    """``system_call (arch/x86/kernel/entry_64.S)`` -> (symbol, file)."""
    match = re.match(r"(.*?) \(([^()]*)\)$", where)
    return (match.group(1), match.group(2)) if match else (where, "")


def _lookup(mnemonic: str, operands: str, next_symbol: str) -> str:
    """What the crossing instruction reads to find its way (Intel SDM Vol. 2B; AMD APM
    Vol. 2 §6.1): the MSR or the IDT gate on the way in, the saved state on the way out."""
    if mnemonic == "syscall":
        if "cstar" in next_symbol or next_symbol == "entry_SYSCALL_compat":
            return f"RIP from IA32_CSTAR (MSR {msr.IA32_CSTAR:#x}): compat mode"
        if next_symbol.startswith(("system_call", "entry_SYSCALL_64")):
            return f"RIP from IA32_LSTAR (MSR {msr.IA32_LSTAR:#x}), CS/SS from IA32_STAR"
        return "IA32_STAR/LSTAR/CSTAR (MSRs 0xc0000081-0xc0000083)"
    if mnemonic == "sysenter":
        return (
            f"CS/ESP/EIP from IA32_SYSENTER_CS/ESP/EIP (MSRs {msr.IA32_SYSENTER_CS:#x}-"
            f"{msr.IA32_SYSENTER_EIP:#x})"
        )
    if mnemonic in ("int", "int3", "into"):
        vector = operands or ("0x3" if mnemonic == "int3" else "0x4")
        return f"IDT vector {vector}: gate DPL, selector, offset; stack from the TSS"
    if mnemonic.startswith("sysret"):
        return "RIP from RCX, RFLAGS from R11, CS/SS from IA32_STAR[63:48]"
    if mnemonic.startswith("sysexit"):
        return "EIP from EDX, ESP from ECX, CS/SS from IA32_SYSENTER_CS"
    return "pops RIP, CS, RFLAGS (and RSP, SS to an outer ring)"


def _short(items: list[str], limit: int = 4) -> str:
    unique = list(dict.fromkeys(items))
    more = f", +{len(unique) - limit} more" if len(unique) > limit else ""
    return ", ".join(unique[:limit]) + more


def nodes(trace: Trace) -> list[Node]:
    """The trace's steps grouped into the stages of the path, in order."""
    if not isinstance(trace, Trace):
        raise TypeError(f"trace: expected a simulator.trace.Trace, received {trace!r:.60}")
    events = list(trace)
    out: list[Node] = []
    group: list[tuple[int, object]] = []
    key: tuple | None = None

    def close() -> None:
        if not group:
            return
        first, last = group[0][0], group[-1][0]
        kind = key[0] if key else "kernel"
        evs = [e for _, e in group]
        if kind == "user":
            mnemonics = [_mnemonic(e.what) for e in evs]
            n = len(evs)
            title = f"user code: {n} instruction{'s' if n != 1 else ''}"
            out.append(Node("user", 3, title, _short(mnemonics), first, last))
        elif kind == "kernel":
            symbols = [_symbol(e.where)[0] for e in evs if e.kind == KERNEL]
            cpu = [_mnemonic(e.what) for e in evs if e.kind == CPU]
            title = _short(symbols, 3) or _short(cpu, 3)
            detail = key[1] if key and key[1] else ""
            if cpu and symbols:
                detail = (detail + "; " if detail else "") + "with " + _short(cpu, 3)
            out.append(Node("kernel", 0, title, detail, first, last))
        group.clear()

    for i, event in enumerate(events, 1):
        if event.kind == CPU and _mnemonic(event.what) in CROSSING:
            close()
            key = None
            words = event.what.split()
            mnemonic, operands = words[0], " ".join(words[1:])
            following = next(
                (e.where for e in events[i:] if e.kind == KERNEL),
                "",
            )
            out.append(
                Node(
                    "crossing",
                    None,
                    event.what.upper(),
                    _lookup(mnemonic, operands, _symbol(following)[0]),
                    i,
                    i,
                )
            )
            continue
        if event.kind in (FAULT, NOT_MODELED):
            close()
            key = None
            kind = "fault" if event.kind == FAULT else "not-modeled"
            title = event.what if len(event.what) <= 60 else event.what[:57] + "..."
            out.append(Node(kind, event.ring, title, _symbol(event.where)[0], i, i))
            continue
        if event.kind == KERNEL and _symbol(event.where)[0] in TABLES:
            close()
            key = None
            symbol = _symbol(event.where)[0]
            if (
                "-> " in event.what
            ):  # 3.16: call *sys_call_table(,%rax,8) -> sys_call_table[0] = ...
                target = event.what.split("-> ")[-1]
            else:  # 6.9: switch (nr) case 0: return __x64_sys_read(regs)
                target = f"{symbol}: " + event.what.replace("switch (nr) ", "")
            out.append(Node("table", 0, target, _symbol(event.where)[1], i, i))
            continue
        if event.ring == 3:
            new_key: tuple = ("user",)
        elif event.kind == KERNEL:
            file = _symbol(event.where)[1]
            if key == ("kernel", ""):  # ring-0 instructions before the routine's first step
                key = ("kernel", file)
            new_key = ("kernel", file)
        elif key is not None and key[0] == "kernel":  # swapgs, sti: part of the routine
            new_key = key
        else:
            new_key = ("kernel", "")
        if new_key != key:
            close()
            key = new_key
        group.append((i, event))
    close()
    return out


# Layout: time runs down; ring 3 on the left, the boundary in the middle, ring 0 right.
WIDTH = 980
BOUNDARY = WIDTH // 2
BOX_W = 400
CROSS_W = 440
ROW = 58
BOX_H = 44
TOP = 56
COLOURS = {
    "user": ("#e8f4ea", "#2e7d32"),
    "crossing": ("#fff4d6", "#b26a00"),
    "kernel": ("#fdecea", "#b71c1c"),
    "table": ("#f3e8fd", "#6a1b9a"),
    "fault": ("#ffd6d6", "#d50000"),
    "not-modeled": ("#eeeeee", "#616161"),
}


def _x(node: Node) -> int:
    if node.ring is None:
        return BOUNDARY - CROSS_W // 2
    if node.ring == 3:
        return 12
    return WIDTH - BOX_W - 12


def _fit(text: str, width: int, size: float) -> str:
    """Cut text to what fits in ``width`` pixels at ``size`` (a monospace estimate)."""
    room = int(width / (size * 0.6))
    return text if len(text) <= room else text[: max(room - 1, 1)] + "…"


def svg(trace: Trace) -> str:
    """The map of ``trace`` as an SVG element (text, deterministic, escaped)."""
    stages = nodes(trace)
    height = TOP + ROW * max(len(stages), 1) + 16
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ringsim-map" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="monospace" '
        'role="img" aria-label="the path of the call through the rings">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#444"/></marker></defs>',
        f'<rect x="0" y="0" width="{BOUNDARY}" height="{height}" fill="#f7fbf7"/>',
        f'<rect x="{BOUNDARY}" y="0" width="{WIDTH - BOUNDARY}" height="{height}" fill="#fdf7f6"/>',
        f'<line x1="{BOUNDARY}" y1="0" x2="{BOUNDARY}" y2="{height}" stroke="#888" '
        'stroke-dasharray="6,4"/>',
        '<text x="14" y="22" font-size="15" font-weight="bold" fill="#2e7d32">'
        "ring 3: user space</text>",
        f'<text x="{WIDTH - 14}" y="22" font-size="15" font-weight="bold" fill="#b71c1c" '
        'text-anchor="end">ring 0: the kernel</text>',
        f'<text x="{BOUNDARY}" y="40" font-size="11" fill="#555" text-anchor="middle">'
        "the crossing</text>",
    ]
    if not stages:
        parts.append(
            f'<text x="{BOUNDARY}" y="{TOP + 24}" text-anchor="middle" font-size="13">'
            "(no steps were traced)</text>"
        )
    previous: tuple[int, int] | None = None
    for row, node in enumerate(stages):
        x, y = _x(node), TOP + row * ROW
        w = CROSS_W if node.ring is None else BOX_W
        fill, stroke = COLOURS[node.kind]
        if previous is not None:
            px, py = previous
            parts.append(
                f'<line x1="{px}" y1="{py}" x2="{x + w // 2}" y2="{y}" stroke="#444" '
                'marker-end="url(#arrow)"/>'
            )
        steps = (
            f"step {node.first}" if node.first == node.last else f"steps {node.first}-{node.last}"
        )
        tooltip = f"{steps}: {node.title} — {node.detail}"
        dash = ' stroke-dasharray="4,3"' if node.kind == "not-modeled" else ""
        parts.append(
            f'<g class="stage {node.kind}"><title>{escape(tooltip)}</title>'
            f'<rect x="{x}" y="{y}" width="{w}" height="{BOX_H}" rx="6" fill="{fill}" '
            f'stroke="{stroke}"{dash}/>'
            f'<text x="{x + 8}" y="{y + 17}" font-size="12.5" font-weight="bold" '
            f'fill="{stroke}">{escape(_fit(node.title, w - 84, 12.5))}</text>'
            f'<text x="{x + 8}" y="{y + 35}" font-size="10.5" fill="#333">'
            f"{escape(_fit(node.detail, w - 16, 10.5))}</text>"
            f'<text x="{x + w - 6}" y="{y + 17}" font-size="9.5" fill="#777" '
            f'text-anchor="end">{escape(steps)}</text></g>'
        )
        previous = (x + w // 2, y + BOX_H)
    parts.append("</svg>")
    return "".join(parts)
