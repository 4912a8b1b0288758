"""The ``ringsim`` command line: list, run and tour the scenarios."""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence

from scenarios.registry import BY_NAME, SCENARIOS

# ANSI colours for a terminal: headings bold, ring 0 steps red, ring 3 steps green.
_BOLD, _RED, _GREEN, _RESET = "\x1b[1m", "\x1b[31m", "\x1b[32m", "\x1b[0m"


def use_colour(stream) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    import os

    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and "NO_COLOR" not in os.environ


def colourize(line: str) -> str:
    """A story line with colour: headings bold, the ring of each step coloured."""
    import re

    if line.startswith("== "):
        return f"{_BOLD}{line}{_RESET}"
    step = re.match(r"(\s*\d+\. )ring ([03]) ", line)
    if step:
        colour = _RED if step.group(2) == "0" else _GREEN
        head = step.group(1)
        return f"{head}{colour}ring {step.group(2)}{_RESET} " + line[step.end() :]
    return line


def _write_story(out, lines: list[str]) -> None:
    if use_colour(out):
        lines = [colourize(line) for line in lines]
    out.write("\n".join(lines) + "\n")


EXAMPLES = """\
examples:
  ringsim tour                    every landed scenario, in the article's order
  ringsim list                    one scenario a line, pending ones marked
  ringsim run cpu-foundations     one scenario
  ringsim explain read            read's number, entry points and registers in each ABI
  ringsim run ptrace-syscall | less   plain text when not on a terminal (or with NO_COLOR)
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ringsim",
        description="ringsim: how an x86 Linux program enters the kernel and comes back.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("list", help="list the scenarios")
    run = sub.add_parser("run", help="run one scenario")
    run.add_argument("name", help="a scenario name (see 'ringsim list')")
    sub.add_parser("tour", help="run every landed scenario in the article's order")
    explain = sub.add_parser(
        "explain", help="a system call's numbers, entry points and argument registers"
    )
    explain.add_argument("syscall", help="a system call name, such as read or execve")
    explain.add_argument("--profile", default="linux-3.16", help="kernel profile (linux-3.16)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    out = sys.stdout
    if args.command == "list":
        width = max(len(s.name) for s in SCENARIOS)
        for s in SCENARIOS:
            mark = " (pending: not landed yet)" if s.pending else ""
            out.write(f"{s.name:<{width}}  {s.summary}{mark}\n")
        return 0
    if args.command == "run":
        scenario = BY_NAME.get(args.name)
        if scenario is None:
            close = difflib.get_close_matches(args.name, BY_NAME, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else "; see 'ringsim list'"
            sys.stderr.write(f"ringsim: no scenario named {args.name!r}{hint}\n")
            return 2
        if scenario.run is None:
            sys.stderr.write(
                f"ringsim: scenario {scenario.name!r} is pending: its capability has not "
                "landed yet\n"
            )
            return 2
        _write_story(out, scenario.run())
        return 0
    if args.command == "tour":
        landed = [s for s in SCENARIOS if s.run is not None]
        for i, s in enumerate(landed):
            if i:
                out.write("\n")
            _write_story(out, s.run())  # type: ignore[misc]
        pending = [s.name for s in SCENARIOS if s.pending]
        if pending:
            out.write(f"\n({len(pending)} more stories are pending: {', '.join(pending)})\n")
        return 0
    if args.command == "explain":
        import abi

        try:
            out.write(abi.explain(args.syscall, profile=args.profile))
        except ValueError as error:
            sys.stderr.write(f"ringsim: {error}\n")
            return 2
        return 0
    parser.print_help(out)
    return 0
