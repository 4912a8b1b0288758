"""A told story: its text, the traces of the calls it shows, and their renderings.

A scenario's function returns a list of parts: plain text lines, and ``Shown`` parts for
the calls whose traces it shows. ``Story`` keeps them together, so one run gives the text
the tour prints (and the golden files pin), JSON with every trace in full, and an HTML page
with each trace and a map of the path the call took (``simulator.pathmap``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from html import escape
from typing import Any

import attrs

from simulator import Machine
from simulator.trace import Trace

KERNELS = ("x86_64", "i386")
CPUS = ("intel", "amd")

#: The JSON schema of a told story (docs/trace-format.md); its traces use ringsim-trace/1.
STORY_SCHEMA = "ringsim-story/1"


def _optional_choice(choices: tuple[str, ...]):
    def check(_instance: object, attribute: attrs.Attribute, value: object) -> None:
        if value is None:
            return
        if not isinstance(value, str):
            raise TypeError(
                f"{attribute.name}: expected one of {', '.join(choices)} or None, "
                f"received {value!r}"
            )
        if value not in choices:
            raise ValueError(
                f"{attribute.name}: expected one of {', '.join(choices)}, received {value!r}"
            )

    return check


def _optional_seed(_instance: object, attribute: attrs.Attribute, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{attribute.name}: expected an int or None, received {value!r}")
    if not 0 <= value < 1 << 64:
        raise ValueError(f"{attribute.name}: expected a seed 0 .. 2**64-1, received {value}")


@attrs.frozen
class Options:
    """What ``ringsim run`` may change in a story: the kernel, the CPU vendor and the seed.

    None keeps the story's own choice. A story that compares kernels or vendors shows only
    the chosen one when one is given (``cpus``/``kernels``).
    """

    kernel: str | None = attrs.field(default=None, validator=_optional_choice(KERNELS))
    cpu: str | None = attrs.field(default=None, validator=_optional_choice(CPUS))
    seed: int | None = attrs.field(default=None, validator=_optional_seed)

    def cpus(self, default: Iterable[str] = CPUS) -> tuple[str, ...]:
        """The vendors to show: the chosen one, or the story's ``default``."""
        return (self.cpu,) if self.cpu else tuple(default)

    def kernels(self, default: Iterable[str] = KERNELS) -> tuple[str, ...]:
        """The kernels to show: the chosen one, or the story's ``default``."""
        return (self.kernel,) if self.kernel else tuple(default)

    def boot(self, kernel: str, cpu: str, *, seed: int = 0, **options: Any) -> Machine:
        """``Machine.boot`` with the story's kernel and vendor unless the options choose
        others, and the options' seed when one is given."""
        return Machine.boot(
            kernel=self.kernel or kernel,
            cpu=self.cpu or cpu,
            seed=seed if self.seed is None else self.seed,
            **options,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"kernel": self.kernel, "cpu": self.cpu, "seed": self.seed}


DEFAULT = Options()


@attrs.frozen
class Shown:
    """A call the story shows: the heading line, the call's trace, and whether the text
    prints the trace in full (``in_text``) or only the story's own excerpt of it."""

    heading: str
    trace: Trace = attrs.field(eq=False)
    in_text: bool = True
    indent: str = "   "

    def lines(self) -> list[str]:
        if not self.in_text:
            return []
        return [self.heading, *(self.indent + line for line in self.trace.render().splitlines())]

    @property
    def title(self) -> str:
        return self.heading.removeprefix("-- ").strip()


Part = str | Shown


def shown(heading: str, trace: Trace | None, *, in_text: bool = True) -> list[Part]:
    """The parts for one call: its heading and trace (an empty list when it has no trace)."""
    if trace is None:
        return [heading] if in_text else []
    return [Shown(heading, trace, in_text)]


def text_lines(parts: Iterable[Part]) -> list[str]:
    """The text of a story's parts: plain lines as they are, each shown call as its heading
    and indented trace (or nothing, when the story prints only its own excerpt)."""
    out: list[str] = []
    for part in parts:
        if isinstance(part, Shown):
            out += part.lines()
        elif isinstance(part, str):
            out.append(part)
        else:
            raise TypeError(f"parts: expected str or Shown, received {part!r:.60}")
    return out


@attrs.frozen
class Story:
    """One telling of a scenario: its parts in order, with the options it was told with."""

    name: str
    summary: str
    options: Options
    parts: tuple[Part, ...]

    def lines(self) -> list[str]:
        """The story as text lines (what the tour prints and tests/golden pins)."""
        return text_lines(self.parts)

    def text(self) -> str:
        return "\n".join(self.lines()) + "\n"

    @property
    def calls(self) -> list[Shown]:
        """Every call the story shows, with its full trace."""
        return [p for p in self.parts if isinstance(p, Shown)]

    def to_dict(self) -> dict[str, Any]:
        """The story as JSON-ready data: schema ringsim-story/1 (docs/trace-format.md)."""
        return {
            "schema": STORY_SCHEMA,
            "scenario": self.name,
            "summary": self.summary,
            "options": self.options.to_dict(),
            "parts": [
                {"kind": "call", "heading": p.heading, "in_text": p.in_text}
                | {"trace": p.trace.to_dict()}
                if isinstance(p, Shown)
                else {"kind": "text", "text": p}
                for p in self.parts
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def to_html(self) -> str:
        """A self-contained HTML page: the story's text, and for each call its map (SVG,
        drawn by simulator.pathmap) and its trace as a table."""
        from simulator import pathmap

        body: list[str] = []
        pre: list[str] = []

        def flush() -> None:
            if pre:
                body.append(f"<pre>{escape(chr(10).join(pre))}</pre>")
                pre.clear()

        for part in self.parts:
            if isinstance(part, Shown):
                flush()
                body.append(
                    f"<section class='call'><h2>{escape(part.title)}</h2>"
                    f"<figure>{pathmap.svg(part.trace)}<figcaption>The path this call took: "
                    "ring 3 above the line, ring 0 below.</figcaption></figure>"
                    f"<details{' open' if part.in_text else ''}><summary>trace, "
                    f"{len(part.trace)} steps</summary>{part.trace.to_html()}</details>"
                    "</section>"
                )
            elif part.startswith("== "):
                flush()
                body.append(f"<h1>{escape(part.strip('= '))}</h1>")
            else:
                pre.append(part)
        flush()
        options = ", ".join(f"{k} {v}" for k, v in self.options.to_dict().items() if v is not None)
        return PAGE.format(
            title=escape(f"ringsim: {self.name}"),
            name=escape(self.name),
            summary=escape(self.summary),
            options=escape(options or "the story's own kernel, CPU and seed"),
            body="\n".join(body),
        )

    def _repr_html_(self) -> str:
        return self.to_html()


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em;
  color: #1b1b1b; }}
pre {{ background: #f6f6f4; padding: .6em; overflow-x: auto; }}
table.ringsim-trace {{ border-collapse: collapse; font-size: 85%; }}
table.ringsim-trace td, table.ringsim-trace th {{ border: 1px solid #ccc; padding: 2px 6px;
  vertical-align: top; text-align: left; }}
section.call {{ border-top: 1px solid #bbb; margin-top: 1.5em; }}
figure {{ margin: 1em 0; }} figcaption {{ font-size: 85%; color: #555; }}
svg {{ max-width: 100%; height: auto; }}
</style>
</head>
<body>
<p><b>ringsim</b> scenario <code>{name}</code>: {summary}<br>
<small>Told with: {options}. Each step names the kernel symbol (with its file in the
Linux release the machine models: 3.16 unless the story boots 6.9) or the manual section it
models.</small></p>
{body}
</body>
</html>
"""
