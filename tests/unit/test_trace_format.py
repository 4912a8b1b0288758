"""The JSON trace format, schema ringsim-trace/1 (docs/trace-format.md)."""

import json

import pytest

from simulator import Machine
from simulator.trace import SCHEMA, Trace


def _trace():
    m = Machine.boot()
    p = m.spawn("x86_64")
    return p.syscall("getpid").trace


def test_round_trip_is_exact():
    """to_json then from_dict gives the same events, 64-bit values included."""
    trace = _trace()
    back = Trace.from_dict(json.loads(trace.to_json()))
    assert list(back) == list(trace)
    assert back.render() == trace.render()


def test_big_integers_are_hex_strings():
    """Integers beyond 53 bits are hexadecimal strings; small ones plain numbers."""
    data = _trace().to_dict()
    assert data["schema"] == SCHEMA == "ringsim-trace/1"
    values = [c["after"] for e in data["events"] for c in e["changes"]]
    assert any(isinstance(v, str) and v.startswith("0x") for v in values)
    assert all(not isinstance(v, int) or abs(v) < 2**53 for v in values)
    assert [e["step"] for e in data["events"]] == list(range(1, len(data["events"]) + 1))


def test_same_seed_same_bytes():
    """Deterministic: two machines, the same call, the same JSON."""
    assert _trace().to_json() == _trace().to_json()


def test_wrong_schema_is_refused():
    """Another schema is a ValueError naming it; a malformed event names its index."""
    with pytest.raises(ValueError, match="ringsim-trace/0"):
        Trace.from_dict({"schema": "ringsim-trace/0", "events": []})
    with pytest.raises(ValueError, match=r"events\[0\]"):
        Trace.from_dict({"schema": SCHEMA, "events": [{"kind": "cpu"}]})


def test_html_for_notebooks():
    """_repr_html_ gives a table with one row per step, ring 0 rows shaded, text escaped."""
    trace = _trace()
    html = trace._repr_html_()
    assert html.startswith('<table class="ringsim-trace">')
    assert html.count("<tr") == len(trace) + 1
    assert "system_call (arch/x86/kernel/entry_64.S)" in html
    assert 'style="background:#fdecea"' in html
    t = Trace()
    t.record("kernel", 0, "<where>", "a & b")
    assert "&lt;where&gt;" in t.to_html() and "a &amp; b" in t.to_html()
