"""The stories of "Anatomy of a system call" as runnable scenarios, and the command line."""

from scenarios.registry import BY_NAME, SCENARIOS, Scenario

__all__ = ["BY_NAME", "SCENARIOS", "Scenario"]
