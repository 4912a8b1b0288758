"""Trace events: recorded compactly while a call runs, rendered into text when someone looks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs

from simulator.cpu.state import register_changes

# Event kinds.
CPU = "cpu"  # an instruction the CPU model executed
KERNEL = "kernel"  # a modeled step of kernel code
BOOT = "boot"  # a boot step
FAULT = "fault"  # an exception raised (and where it went)
NOT_MODELED = "not modeled"  # a step ringsim does not model, said so


@attrs.frozen
class Event:
    """One step of a trace.

    ``where`` names what the step models: a kernel symbol with its source
    file (``system_call (arch/x86/kernel/entry_64.S)``) or a manual section
    (``Intel SDM Vol. 2B SYSCALL``). ``changes`` lists (name, before, after).
    """

    kind: str
    ring: int
    where: str
    what: str
    changes: tuple[tuple[str, Any, Any], ...] = ()
    address: int | None = None

    def render(self) -> str:
        """The event as one or two lines of aligned text."""
        at = f"{self.address:#x}" if self.address is not None else ""
        line = f"ring {self.ring}  {at:>18}  {self.what}  [{self.where}]"
        if self.changes:
            line += (
                "\n"
                + " " * 8
                + "; ".join(f"{n} {_show(b)} -> {_show(a)}" for n, b, a in self.changes)
            )
        return line


def _step_event(
    kind: str,
    ring: int,
    where: str,
    what: str,
    changes: tuple[tuple[str, Any, Any], ...],
    address: int,
    before: tuple[int, ...],
    after: tuple[int, ...],
) -> Event:
    """A step recorded by ``Trace.record_step``, its register changes named."""
    return Event(kind, ring, where, what, (*register_changes(before, after), *changes), address)


def _show(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        return str(value)
    return f"{value:#x}" if value > 9 or value < 0 else str(value)


class Trace:
    """An append-only list of events; ``record`` is the hot path's only cost.

    Steps are kept as plain tuples while a call runs and become ``Event`` values the first
    time someone looks (``events``, iteration, indexing, rendering)."""

    __slots__ = ("_events", "_raw")

    def __init__(self) -> None:
        self._raw: list[tuple] = []
        self._events: list[Event] = []

    def record(
        self,
        kind: str,
        ring: int,
        where: str,
        what: str,
        changes: tuple[tuple[str, Any, Any], ...] = (),
        address: int | None = None,
    ) -> None:
        """Append one step: its kind, ring, what it models (``where``), what happened, the
        (name, before, after) changes and the instruction's address."""
        self._raw.append((kind, ring, where, what, changes, address))

    def record_step(
        self,
        ring: int,
        where: str,
        what: str,
        before: tuple[int, ...],
        after: tuple[int, ...],
        changes: tuple[tuple[str, Any, Any], ...],
        address: int,
    ) -> None:
        """Append one CPU step whose register changes are kept as the register tuples before
        and after it (``Snapshot.regs``; a step's after is the next one's before, so they are
        shared) and named when the trace is read: those of the general registers and RFLAGS
        that differ (RIP, which every step changes, aside), then ``changes``, the rest."""
        self._raw.append((CPU, ring, where, what, changes, address, before, after))

    @property
    def events(self) -> list[Event]:
        """Every step as an ``Event``, in order."""
        events = self._events
        if len(events) < len(self._raw):
            events.extend(
                Event(*raw) if len(raw) == 6 else _step_event(*raw)
                for raw in self._raw[len(events) :]
            )
        return events

    def __len__(self) -> int:
        return len(self._raw)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __getitem__(self, index: int) -> Event:
        return self.events[index]

    def render(self) -> str:
        """Every event, numbered, one step a block."""
        return "\n".join(f"{i:>3}. {e.render()}" for i, e in enumerate(self.events, 1))

    def symbols(self) -> list[str]:
        """The ``where`` of every event, in order (what a test checks the path by)."""
        return [e.where for e in self.events]

    def __str__(self) -> str:
        return self.render()

    def to_html(self) -> str:
        """The trace as an HTML table for notebooks: step, ring, address, what, where, and the
        changes; ring 0 rows shaded; every text escaped."""
        from html import escape

        rows = []
        for i, e in enumerate(self.events, 1):
            changes = "; ".join(f"{n} {_show(b)} -> {_show(a)}" for n, b, a in e.changes)
            at = f"{e.address:#x}" if e.address is not None else ""
            shade = ' style="background:#fdecea"' if e.ring == 0 else ""
            rows.append(
                f"<tr{shade}><td>{i}</td><td>{e.ring}</td><td><code>{escape(at)}</code></td>"
                f"<td><code>{escape(e.what)}</code></td><td>{escape(e.where)}</td>"
                f"<td><code>{escape(changes)}</code></td></tr>"
            )
        head = (
            "<tr><th>step</th><th>ring</th><th>address</th><th>what</th><th>where</th>"
            "<th>changed</th></tr>"
        )
        return f'<table class="ringsim-trace">{head}{"".join(rows)}</table>'

    def _repr_html_(self) -> str:
        return self.to_html()

    def to_svg(self) -> str:
        """A map of the path the steps took, as SVG (``simulator.pathmap``): ring 3 on the
        left, ring 0 on the right, the crossing instructions on the boundary."""
        from simulator import pathmap

        return pathmap.svg(self)

    def to_dict(self) -> dict[str, Any]:
        """The trace as JSON-ready data in the documented schema (docs/trace-format.md)."""
        return {
            "schema": SCHEMA,
            "events": [
                {
                    "step": i,
                    "kind": e.kind,
                    "ring": e.ring,
                    "where": e.where,
                    "what": e.what,
                    "address": e.address,
                    "changes": [
                        {"name": n, "before": _json_value(b), "after": _json_value(a)}
                        for n, b, a in e.changes
                    ],
                }
                for i, e in enumerate(self.events, 1)
            ],
        }

    def to_json(self) -> str:
        """``to_dict`` as JSON text, keys in a fixed order: the same trace, the same bytes."""
        import json

        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_dict(cls, data: Any) -> Trace:
        """A trace back from ``to_dict``'s data; a ValueError names what does not fit."""
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            received = data.get("schema") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"schema: expected {SCHEMA!r}, received {received!r}")
        trace = cls()
        events = data.get("events", [])
        if not isinstance(events, list):
            raise ValueError(f"events: expected a list, received {type(events).__name__}")
        for i, event in enumerate(events):
            _check_event(i, event)
            try:
                changes = tuple(
                    (c["name"], _from_json(c["before"]), _from_json(c["after"]))
                    for c in event["changes"]
                )
                trace.record(
                    event["kind"],
                    event["ring"],
                    event["where"],
                    event["what"],
                    changes,
                    event["address"],
                )
            except (KeyError, TypeError) as error:
                raise ValueError(
                    f"events[{i}]: expected a trace event, received {event!r:.80}"
                ) from error
        return trace


def _check_event(i: int, event: Any) -> None:
    """A ValueError naming ``events[i].field`` when a field is not what a trace event holds."""
    if not isinstance(event, dict):
        raise ValueError(f"events[{i}]: expected an object, received {event!r:.60}")
    expected = (
        ("kind", str, "a string"),
        ("ring", int, "a ring 0..3"),
        ("where", str, "a string"),
        ("what", str, "a string"),
    )
    for field, kind, words in expected:
        value = event.get(field)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"events[{i}].{field}: expected {words}, received {value!r:.60}")
    if not 0 <= event["ring"] <= 3:
        raise ValueError(f"events[{i}].ring: expected a ring 0..3, received {event['ring']!r}")
    address = _from_json(event.get("address"))
    if address is not None and (isinstance(address, bool) or not isinstance(address, int)):
        raise ValueError(
            f"events[{i}].address: expected an integer or null, received {address!r:.60}"
        )
    changes = event.get("changes")
    if not isinstance(changes, list) or not all(
        isinstance(c, dict) and isinstance(c.get("name"), str) for c in changes
    ):
        raise ValueError(
            f"events[{i}].changes: expected a list of {{name, before, after}}, "
            f"received {changes!r:.60}"
        )


#: The JSON schema's name and version (docs/trace-format.md); it changes when the format does.
SCHEMA = "ringsim-trace/1"


def _json_value(value: Any) -> Any:
    """Integers as JSON numbers when they fit in 53 bits, else as "0x..." strings (JSON
    readers lose precision above 2**53); booleans and text as themselves."""
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    return value if -(2**53) < value < 2**53 else hex(value)


def _from_json(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(("0x", "-0x")):
        return int(value, 16)
    return value
