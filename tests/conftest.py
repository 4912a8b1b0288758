"""Test configuration: Hypothesis profiles chosen by HYPOTHESIS_PROFILE."""

import os

from hypothesis import HealthCheck, settings

# Timing is a benchmark's job, never a test's: both profiles have no deadline.
settings.register_profile("default", max_examples=60, deadline=None)
settings.register_profile(
    "ci",
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_addoption(parser):
    """--regen-golden rewrites tests/golden/ from the scenarios (the only way they change)."""
    parser.addoption(
        "--regen-golden",
        action="store_true",
        default=False,
        help="rewrite the golden scenario traces in tests/golden/ instead of comparing",
    )
