"""The host suite's fixtures: one build folder and one probe per test session."""

from __future__ import annotations

import pytest

from tests.host import hostrun
from tests.host.probe import HostProbe, probe_host

_SUMMARY = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def builder(tmp_path_factory) -> hostrun.Builder:
    """Builds the host programs into this session's temporary folder (never the repo)."""
    return hostrun.Builder(tmp_path_factory.mktemp("host-programs"))


@pytest.fixture(scope="session")
def host(builder, pytestconfig) -> HostProbe:
    """What the host is and can run, probed once."""
    found = probe_host(builder)
    pytestconfig.stash[_SUMMARY] = found.summary()
    return found


def pytest_terminal_summary(terminalreporter, config):
    """The probe's findings at the end of a run that used them."""
    summary = config.stash.get(_SUMMARY, None)
    if summary:
        terminalreporter.write_sep("-", "differential suite: the host")
        terminalreporter.write_line(summary)
