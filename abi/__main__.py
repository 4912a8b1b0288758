"""The ``python -m abi`` command line: generate headers, explain a syscall."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from abi.explain import explain
from abi.headers import write_headers
from abi.profiles import DEFAULT_PROFILE, PROFILES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m abi", description="Facts about the Linux x86 syscall ABIs."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    headers = commands.add_parser(
        "headers",
        help="write the headers a kernel build generates from the syscall tables",
        description=(
            "Write the seven headers a 64-bit build generates from arch/x86/syscalls/*.tbl, "
            "under DIR laid out as arch/x86/include/generated/ (asm/ and uapi/asm/)."
        ),
    )
    headers.add_argument("--profile", choices=sorted(PROFILES), default=DEFAULT_PROFILE)
    headers.add_argument("--out", required=True, metavar="DIR", help="output directory")
    explainer = commands.add_parser("explain", help="describe one syscall in every ABI")
    explainer.add_argument("name")
    explainer.add_argument("--profile", choices=sorted(PROFILES), default=DEFAULT_PROFILE)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "headers":
            for path in write_headers(args.out, args.profile):
                print(path)
        else:
            sys.stdout.write(explain(args.name, args.profile))
    except (ValueError, OSError) as error:
        print(f"python -m abi: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
