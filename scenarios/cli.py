"""The ``ringsim`` command line: list, run and tour the scenarios."""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence

from scenarios.registry import BY_NAME, SCENARIOS
from scenarios.story import CPUS, KERNELS, Options

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
  ringsim run ia32-compat --cpu amd           the story told on AMD only
  ringsim run x86_32-read --format html       writes x86_32-read.html: the traces and
                                              a map of each call's path (SVG)
  ringsim run x86_64-syscall-read --format json -o read.json --seed 7
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
    run.add_argument("--kernel", choices=KERNELS, help="tell it on this kernel, if it can be")
    run.add_argument("--cpu", choices=CPUS, help="tell it on this CPU vendor only")
    run.add_argument("--seed", type=int, help="the machines' seed (stack and vDSO placement)")
    run.add_argument(
        "--format",
        choices=("text", "json", "html"),
        default="text",
        help="text (default), json (docs/trace-format.md) or html (a page with maps)",
    )
    run.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write here ('-' for standard output); html defaults to NAME.html, "
        "text and json to standard output",
    )
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
        if scenario.pending:
            sys.stderr.write(
                f"ringsim: scenario {scenario.name!r} is pending: its capability has not "
                "landed yet\n"
            )
            return 2
        try:
            options = Options(kernel=args.kernel, cpu=args.cpu, seed=args.seed)
            scenario.check(options)
        except ValueError as error:
            sys.stderr.write(f"ringsim: {error}\n")
            return 2
        story = scenario.tell(options)
        target = args.output or (f"{scenario.name}.html" if args.format == "html" else "-")
        if args.format == "text" and target == "-":
            _write_story(out, story.lines())
            return 0
        text = {"text": story.text, "json": story.to_json, "html": story.to_html}[args.format]()
        if target == "-":
            out.write(text if text.endswith("\n") else text + "\n")
            return 0
        try:
            with open(target, "w", encoding="utf-8") as file:
                file.write(text if text.endswith("\n") else text + "\n")
        except OSError as error:
            sys.stderr.write(f"ringsim: cannot write {target}: {error.strerror}\n")
            return 1
        sys.stderr.write(
            f"ringsim: wrote {target}"
            + (" (open it in a browser)\n" if args.format == "html" else "\n")
        )
        return 0
    if args.command == "tour":
        landed = [s for s in SCENARIOS if not s.pending]
        for i, s in enumerate(landed):
            if i:
                out.write("\n")
            _write_story(out, s.run())
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
