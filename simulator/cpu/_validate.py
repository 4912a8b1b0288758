"""Argument checks shared by the CPU's public API: messages name field, expected, received."""

from __future__ import annotations

from typing import Any


def check_int(field: str, value: Any, bits: int) -> int:
    """Return ``value`` if it is an int in 0 .. 2**bits - 1, else raise naming ``field``."""
    if type(value) is not int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(
                f"{field}: expected an int of {bits} bits, received {type(value).__name__} "
                f"{value!r}"
            )
        value = int(value)
    if value < 0 or value >> bits:
        raise ValueError(
            f"{field}: expected 0 .. {(1 << bits) - 1:#x} ({bits} bits), received {_show(value)}"
        )
    return value


def check_range(field: str, value: Any, low: int, high: int) -> int:
    """Return ``value`` if it is an int in ``low .. high``, else raise naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{field}: expected an int in {low} .. {high}, received {type(value).__name__} "
            f"{value!r}"
        )
    if not low <= value <= high:
        raise ValueError(f"{field}: expected {low} .. {high}, received {_show(value)}")
    return int(value)


def check_bool(field: str, value: Any) -> bool:
    """Return ``value`` as a bool if it is a bool or 0/1, else raise naming ``field``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise TypeError(f"{field}: expected a bool (or 0/1), received {type(value).__name__} {value!r}")


def check_choice(field: str, value: Any, choices: tuple[Any, ...]) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise naming ``field``."""
    if value not in choices:
        shown = ", ".join(_show(c) if isinstance(c, int) else repr(c) for c in choices)
        raise ValueError(f"{field}: expected one of {shown}, received {_show(value)}")
    return value


def _show(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:#x}" if value >= 0 else f"-{-value:#x}"
    return repr(value)
