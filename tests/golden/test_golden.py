"""Golden traces: every landed scenario's text, stored with a format version and compared
byte for byte (the simulator is deterministic). `pytest --regen-golden` rewrites them; a
scenario without a golden, or a golden without a scenario, fails. Pending stories are
exempt until they land."""

from pathlib import Path

import pytest

from scenarios.registry import SCENARIOS

FORMAT = "ringsim-golden 1"
HERE = Path(__file__).parent
LANDED = [s for s in SCENARIOS if not s.pending]


def _text(scenario) -> str:
    return f"# {FORMAT}: {scenario.name}\n" + "\n".join(scenario.run()) + "\n"


@pytest.mark.parametrize("scenario", LANDED, ids=[s.name for s in LANDED])
def test_scenario_matches_its_golden(scenario, request):
    """The scenario prints exactly what its golden file holds."""
    path = HERE / f"{scenario.name}.txt"
    text = _text(scenario)
    if request.config.getoption("--regen-golden"):
        path.write_text(text)
        return
    assert path.exists(), (
        f"{path.name}: no golden for scenario {scenario.name!r}; run pytest --regen-golden"
    )
    expected = path.read_text()
    assert expected.splitlines()[0] == f"# {FORMAT}: {scenario.name}", "golden format changed"
    assert text == expected


def test_every_golden_has_a_scenario():
    """A golden whose scenario is gone (or pending) is stale."""
    names = {s.name for s in LANDED}
    stale = sorted(p.stem for p in HERE.glob("*.txt") if p.stem not in names)
    assert not stale, f"goldens without a landed scenario: {stale}"
