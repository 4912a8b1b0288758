"""The API reference in docs/api.md, generated from the code, never hand-written.

It reads what ``simulator`` and ``abi`` export (their ``__all__``), the signatures and
docstrings of those classes and functions, the comments of their data, and the help text of
the ``ringsim`` parser, and renders one Markdown page. ``python -m scenarios.apiref`` writes
docs/api.md; ``--check`` (run by the tests) exits 1 and names the sections that differ when
the page is not what the code gives.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import difflib
import functools
import importlib
import inspect
import io
import re
import sys
import textwrap
import tokenize
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"
DOC_NAME = "docs/api.md"  # how messages name it: never this machine's path
COMMAND = "python -m scenarios.apiref"
PACKAGES = ("simulator", "abi")
PROJECT = ("simulator", "abi", "scenarios")  # modules whose classes count as ringsim's own
SIGNATURE_WIDTH = 88  # a signature longer than this is shown one parameter a line
HELP_WIDTH = 88  # argparse wraps help text to the terminal; the page uses a fixed width
DATA_HEX_FROM = 4096  # a datum from here up is a mask or an address: shown in hex

EXAMPLE = """\
from simulator import Machine

m = Machine.boot(kernel="x86_64", cpu="intel", profile="linux-3.16", seed=0)
p = m.spawn(abi="i386")  # a 32-bit process on the 64-bit kernel
buf = p.alloc(64)  # fresh user pages
p.write_mem(buf, b"hello\\n")
r = p.syscall("write", 1, buf, 6, via="sysenter")  # through the vDSO's SYSENTER
print(r, p.stdout, sorted(r.changed))  # the result, the output, the registers changed
for event in r.trace:  # each step names what it models
    if event.kind == "kernel":
        print(event.where)
"""


# ------------------------------------------------------------------ what is documented


@attrs.frozen
class Member:
    """One documented member of a class: a field, attribute, property or method."""

    kind: str  # "field", "attribute", "class attribute", "property", "method", ...
    name: str
    obj: Any  # the function, property or value (None for an attribute)
    text: str  # the signature or ``name: type = default`` line
    summary: str  # the docstring's first paragraph, or the source's comment
    owner: type  # the class that defines it (a base class, for an inherited member)


@attrs.frozen
class Item:
    """One top-level entry: a class, function, module or datum, under its public name."""

    kind: str  # "class", "exception", "function", "module", "data"
    package: str  # the package that exports it ("simulator", "abi")
    name: str  # the public name ("Machine"), or the qualified one for a returned type
    obj: Any
    home: str  # the module that defines it
    exported: bool = True


def _own_doc(obj: Any) -> str:
    """An object's own docstring, cleaned; never one inherited from a base class."""
    target = obj.fget if isinstance(obj, property) else obj
    target = getattr(target, "func", target)  # functools.cached_property
    doc = target.__dict__.get("__doc__") if inspect.isclass(target) else target.__doc__
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


def _first_paragraph(doc: str) -> str:
    return " ".join(doc.split("\n\n", 1)[0].split()) if doc else ""


def _is_project(obj: Any) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module.split(".")[0] in PROJECT


def _kind_of(value: Any) -> str:
    if inspect.ismodule(value):
        return "module"
    if inspect.isclass(value):
        return "exception" if issubclass(value, BaseException) else "class"
    if callable(value) and inspect.isroutine(inspect.unwrap(value)):
        return "function"
    return "data"


def _import_homes(package: str) -> dict[str, str]:
    """Public name -> the module the package's ``__init__`` imports it from."""
    module = importlib.import_module(package)
    homes = {}
    for node in _source(module.__name__).tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                homes[alias.asname or alias.name] = node.module
    return homes


def exported(package: str) -> list[Item]:
    """What ``package`` exports, in its ``__all__`` order."""
    module = importlib.import_module(package)
    homes = _import_homes(package)
    items = []
    for name in module.__all__:
        value = getattr(module, name)
        kind = _kind_of(value)
        if kind == "module":
            home = value.__name__
        elif kind == "data":
            home = homes.get(name, package)
        else:
            home = inspect.unwrap(value).__module__
        items.append(Item(kind, package, name, value, home))
    return items


def returned_types(items: list[Item]) -> list[Item]:
    """The project's classes that a documented callable returns without the package
    exporting them (Machine.snapshot's MachineSnapshot, ...), found until none is new."""
    known = {id(item.obj) for item in items}
    cpu = importlib.import_module("simulator.cpu")
    known |= {id(getattr(cpu, name)) for name in cpu.__all__}  # documented in docs/cpu.md
    found: list[Item] = []
    queue = [item for item in items if item.kind in ("class", "exception", "function")]
    while queue:
        item = queue.pop(0)
        functions = [item.obj] if item.kind == "function" else []
        if item.kind in ("class", "exception"):
            functions = [m.obj for m in members(item.obj) if m.kind not in _DATA_KINDS]
        for function in functions:
            for cls in _annotation_classes(function):
                if id(cls) in known or not _is_project(cls):
                    continue
                known.add(id(cls))
                new = Item(
                    _kind_of(cls),
                    item.package,
                    f"{cls.__module__}.{cls.__qualname__}",
                    cls,
                    cls.__module__,
                    exported=False,
                )
                found.append(new)
                queue.append(new)
    return found


def _annotation_classes(obj: Any) -> Iterator[type]:
    """The classes a callable's return annotation names (resolved in its module)."""
    target = obj.fget if isinstance(obj, property) else obj
    target = inspect.unwrap(getattr(target, "__func__", target))
    annotation = getattr(target, "__annotations__", {}).get("return")
    if not isinstance(annotation, str):
        return
    scope = vars(sys.modules[target.__module__])
    for node in ast.walk(ast.parse(annotation, mode="eval")):
        if isinstance(node, (ast.Name, ast.Attribute)):
            with contextlib.suppress(Exception):
                value = eval(compile(ast.Expression(node), "<annotation>", "eval"), dict(scope))
                if inspect.isclass(value):
                    yield value


# ------------------------------------------------------------------ source facts


@attrs.frozen
class _Source:
    tree: ast.Module
    text: str
    comments: Mapping[int, str]  # line number -> the comment on it (without '#')


@functools.cache
def _source(module_name: str) -> _Source:
    module = importlib.import_module(module_name)
    text = inspect.getsource(module)
    comments = {}
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string[1:]
    return _Source(ast.parse(text), text, comments)


def _comment_above(source: _Source, line: int, marker: str) -> str:
    """The block of comment lines right above ``line`` that start with ``marker``."""
    lines = source.text.splitlines()
    block: list[str] = []
    at = line - 1
    while at >= 1 and lines[at - 1].strip().startswith("#" + marker):
        stripped = lines[at - 1].strip()[1 + len(marker) :].strip()
        if stripped.startswith("---"):  # a section rule heads a group, not this line
            break
        block.insert(0, stripped)
        at -= 1
    return " ".join(block)


def _comment_for(source: _Source, node: ast.AST) -> str:
    """What the source says about an assignment: a ``#:`` block above it, else a comment on
    its first line, else a plain comment block right above it."""
    above = _comment_above(source, node.lineno, ":")
    if above:
        return above
    trailing = source.comments.get(node.lineno, "").strip()  # later lines annotate parts
    if trailing and not trailing.startswith(("noqa", "type:", "fmt:")):
        return trailing
    return _comment_above(source, node.lineno, "")


def _assignment(module_name: str, name: str) -> ast.Assign | ast.AnnAssign | None:
    for node in _source(module_name).tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == name:
            return node
        if isinstance(node, ast.Assign) and any(
            getattr(t, "id", None) == name for t in node.targets
        ):
            return node
    return None


# ------------------------------------------------------------------ signatures


def _annotation_text(annotation: Any) -> str:
    if isinstance(annotation, str):
        return annotation  # ``from __future__ import annotations``: the source's text
    return inspect.formatannotation(annotation)


def value_text(value: Any, *, hex_from: int = 1 << 32) -> str:
    """A default or a datum as Python text, the same on every machine and Python version:
    an int from ``hex_from`` up in hex, a set sorted, an object by its type's name only."""
    if value is None or isinstance(value, (bool, float, str, bytes)):
        return repr(value)
    if isinstance(value, int):
        return f"{value:#x}" if value >= hex_from else str(value)
    if isinstance(value, (tuple, list)) and all(_is_plain(v) for v in value):
        inner = ", ".join(value_text(v, hex_from=hex_from) for v in value)
        if isinstance(value, list):
            return f"[{inner}]"
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, (frozenset, set)) and all(_is_plain(v) for v in value):
        ordered = sorted(value, key=lambda v: (type(v).__name__, v))
        inner = ", ".join(value_text(v, hex_from=hex_from) for v in ordered)
        return f"{type(value).__name__}({{{inner}}})" if value else f"{type(value).__name__}()"
    if isinstance(value, attrs.Factory):  # type: ignore[arg-type]
        factory = value.factory  # type: ignore[attr-defined]
        return f"{factory.__name__}()" if getattr(factory, "__name__", "<") != "<lambda>" else "…"
    return f"<{type(value).__name__}>"


def _is_plain(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, bytes))


def _format_parameters(
    params: list[inspect.Parameter], annotations: Mapping[str, str]
) -> list[str]:
    out = []
    star_done = False
    for i, p in enumerate(params):
        if p.kind is p.KEYWORD_ONLY and not star_done:
            out.append("*")
            star_done = True
        prefix = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "")
        if p.kind is p.VAR_POSITIONAL:
            star_done = True
        text = prefix + p.name
        annotation = annotations.get(p.name)
        if annotation is None and p.annotation is not p.empty:
            annotation = _annotation_text(p.annotation)
        if annotation:
            text += f": {annotation}"
        if p.default is not p.empty:
            text += f" = {value_text(p.default)}" if annotation else f"={value_text(p.default)}"
        out.append(text)
        is_last_positional_only = p.kind is p.POSITIONAL_ONLY and (
            i + 1 == len(params) or params[i + 1].kind is not p.POSITIONAL_ONLY
        )
        if is_last_positional_only:
            out.append("/")
    return out


def _join(name: str, params: list[str], returns: str | None, *, wrap: bool) -> str:
    tail = f" -> {returns}" if returns else ""
    line = f"{name}({', '.join(params)}){tail}"
    if not wrap or len(line) <= SIGNATURE_WIDTH or not params:
        return line
    body = "".join(f"    {p},\n" for p in params)
    return f"{name}(\n{body}){tail}"


def function_signature(function: Any, name: str, *, wrap: bool = False) -> str:
    """``name(params) -> return`` for a function or method (``self``/``cls`` left out)."""
    target = inspect.unwrap(getattr(function, "__func__", function))
    sig = inspect.signature(target)
    params = list(sig.parameters.values())
    if params and params[0].name in ("self", "cls") and "." in target.__qualname__:
        params = params[1:]
    returns = None
    if sig.return_annotation is not sig.empty:
        returns = _annotation_text(sig.return_annotation)
    return _join(name, _format_parameters(params, {}), returns, wrap=wrap)


def _attrs_generated_init(cls: type) -> bool:
    init = cls.__dict__.get("__init__")
    code = getattr(init, "__code__", None)
    return attrs.has(cls) and code is not None and code.co_filename.startswith("<attrs generated")


def constructor(cls: type) -> Callable[..., Any] | None:
    """The ``__init__`` that builds ``cls``, if ringsim (or attrs for it) wrote one."""
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None:
            return init if (_is_project(klass) or _attrs_generated_init(klass)) else None
    return None


def class_signature(cls: type, name: str, *, wrap: bool = False) -> str:
    """How to construct ``cls``: attrs fields with the types the source gives them (a
    converter's own annotation is not the field's type), else the ``__init__``'s."""
    init = constructor(cls)
    if init is None:  # an exception that takes BaseException's arguments
        return f"{name}(*args)"
    params = list(inspect.signature(init).parameters.values())[1:]
    annotations: dict[str, str] = {}
    if attrs.has(cls) and _attrs_generated_init(cls):
        for field in attrs.fields(cls):
            if field.type is not None:
                annotations[field.alias] = _annotation_text(field.type)
        defaults = {f.alias: f.default for f in attrs.fields(cls)}
        params = [
            p.replace(default=defaults[p.name])
            if isinstance(defaults.get(p.name), attrs.Factory)  # type: ignore[arg-type]
            else p
            for p in params
        ]
    return _join(name, _format_parameters(params, annotations), None, wrap=wrap)


def _bases(cls: type) -> list[str]:
    """The base classes as the source writes them (``Mapping[str, int]``)."""
    node = _class_node(cls)
    if node is None:
        return [b.__name__ for b in cls.__bases__ if b is not object]
    source = _source(cls.__module__)
    return [ast.get_source_segment(source.text, b) or ast.unparse(b) for b in node.bases]


def _class_node(cls: type) -> ast.ClassDef | None:
    for node in _source(cls.__module__).tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
            return node
    return None


# ------------------------------------------------------------------ members

_DATA_KINDS = ("field", "attribute", "class attribute")
_PROTOCOLS = {  # dunder -> what it lets a user write
    "__len__": "`len()`",
    "__iter__": "iteration",
    "__getitem__": "`[...]`",
    "__contains__": "`in`",
    "__str__": "`str()`",
    "__bool__": "truth testing",
    "__enter__": "`with`",
    "_repr_html_": "rich display in notebooks (`_repr_html_`)",
}


def members(cls: type) -> list[Member]:
    """A class's public members, its own in source order, then those it inherits from
    ringsim's own base classes."""
    out: list[Member] = []
    seen: set[str] = set()
    fields = {f.name for f in attrs.fields(cls)} if attrs.has(cls) else set()
    if attrs.has(cls):
        for field in attrs.fields(cls):
            if field.name.startswith("_"):
                continue
            seen.add(field.name)
            text = field.name
            if field.type is not None:
                text += f": {_annotation_text(field.type)}"
            if field.default is not attrs.NOTHING:
                text += f" = {value_text(field.default)}"
            out.append(
                Member("field", field.name, None, text, _field_comment(cls, field.name), cls)
            )
    for name, type_text, comment in _init_attributes(cls):
        if name not in seen and name not in fields:
            seen.add(name)
            text = f"{name}: {type_text}" if type_text else name
            out.append(Member("attribute", name, None, text, comment, cls))
    for klass in cls.__mro__:
        if not _is_project(klass):
            continue
        for name, raw in vars(klass).items():
            if name.startswith("_") or name in seen:
                continue
            member = _member(cls, klass, name, raw)
            if member is not None:
                seen.add(name)
                out.append(member)
    return out


def _member(cls: type, klass: type, name: str, raw: Any) -> Member | None:
    if isinstance(raw, (property, functools.cached_property)):
        getter = raw.fget if isinstance(raw, property) else raw.func
        returns = getter.__annotations__.get("return")
        text = f"{name}: {_annotation_text(returns)}" if returns is not None else name
        settable = isinstance(raw, property) and raw.fset is not None
        kind = "property" if not settable else "settable property"
        return Member(kind, name, raw, text, _first_paragraph(_own_doc(raw)), klass)
    if isinstance(raw, (classmethod, staticmethod)):
        function = raw.__func__
        kind = "classmethod" if isinstance(raw, classmethod) else "staticmethod"
        text = function_signature(function, name)
        return Member(kind, name, function, text, _first_paragraph(_own_doc(function)), klass)
    if inspect.isfunction(raw):
        text = function_signature(raw, name)
        return Member("method", name, raw, text, _first_paragraph(_own_doc(raw)), klass)
    if inspect.isdatadescriptor(raw) or inspect.ismethoddescriptor(raw) or callable(raw):
        return None  # slots, and what attrs adds
    return Member("class attribute", name, raw, f"{name} = {value_text(raw)}", "", klass)


def protocols(cls: type) -> list[str]:
    """The Python protocols ringsim's own code gives a class (``len()``, iteration, ...)."""
    found = []
    for dunder, words in _PROTOCOLS.items():
        for klass in cls.__mro__:
            if dunder in vars(klass):
                if _is_project(klass) and not _attrs_generated(vars(klass)[dunder]):
                    found.append(words)
                break
    return found


def _attrs_generated(function: Any) -> bool:
    code = getattr(function, "__code__", None)
    return code is not None and code.co_filename.startswith("<attrs generated")


def _field_comment(cls: type, name: str) -> str:
    node = _class_node(cls)
    if node is None:
        return ""
    for statement in node.body:
        if isinstance(statement, ast.AnnAssign) and getattr(statement.target, "id", None) == name:
            return _comment_for(_source(cls.__module__), statement)
    return ""


def _init_attributes(cls: type) -> list[tuple[str, str, str]]:
    """(name, type, comment) of the public ``self.name = ...`` of a hand-written
    ``__init__``; the type is the annotation, or the parameter's when one is assigned."""
    init = cls.__dict__.get("__init__")
    if not inspect.isfunction(init) or _attrs_generated(init):
        return []
    lines, start = inspect.getsourcelines(init)
    tree = ast.parse(textwrap.dedent("".join(lines)))
    function = tree.body[0]
    assert isinstance(function, ast.FunctionDef)
    params = {
        a.arg: ast.unparse(a.annotation)
        for a in function.args.args + function.args.kwonlyargs
        if a.annotation is not None
    }
    source = _source(cls.__module__)
    found: dict[str, tuple[str, str, int]] = {}
    for node in ast.walk(function):
        targets: list[ast.expr] = []
        annotation = ""
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
            annotation = ast.unparse(node.annotation)
        for target in targets:
            if not (
                isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Name)
                and target.value.id == "self"
                and not target.attr.startswith("_")
            ):
                continue
            value = getattr(node, "value", None)
            if not annotation and isinstance(value, ast.Name):
                annotation = params.get(value.id, "")
            line = start + node.lineno - 1
            comment = source.comments.get(line, "").strip()
            previous = found.get(target.attr)
            if previous is None or (annotation and not previous[0]):
                found[target.attr] = (annotation, comment, line)
    ordered = sorted(found.items(), key=lambda kv: kv[1][2])
    return [(name, annotation, comment) for name, (annotation, comment, _) in ordered]


# ------------------------------------------------------------------ Markdown


def _anchor(text: str, taken: dict[str, int]) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens,
    a -1, -2 suffix for a repeat."""
    slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
    count = taken.get(slug, 0)
    taken[slug] = count + 1
    return slug if count == 0 else f"{slug}-{count}"


def _markdown(doc: str) -> str:
    """A docstring as Markdown: reST roles become code spans."""
    return re.sub(r":(?:\w+:)?\w+:`~?([^`]+)`", r"`\1`", doc)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


class _Page:
    """A page under construction: its lines, and the headings for the contents."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.headings: list[tuple[int, str, str]] = []  # (level, text, anchor)
        self._taken: dict[str, int] = {}

    def heading(self, level: int, text: str) -> str:
        anchor = _anchor(text, self._taken)
        self.headings.append((level, text, anchor))
        self.lines += ["#" * level + " " + text, ""]
        return anchor

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def code(self, language: str, text: str) -> None:
        self.lines += [f"```{language}", *text.rstrip("\n").splitlines(), "```", ""]


def _render_class(page: _Page, item: Item, level: int) -> None:
    cls = item.obj
    short = item.name.rsplit(".", 1)[-1]
    page.heading(level, f"`{item.name}`")
    page.code("python", class_signature(cls, short, wrap=True))
    notes = []
    if not item.exported:
        notes.append(f"Defined in `{item.home}`; not exported, reached through results.")
    bases = _bases(cls)
    if bases:
        notes.append("Subclass of " + ", ".join(f"`{b}`" for b in bases) + ".")
    if attrs.has(cls):
        frozen = getattr(cls.__setattr__, "__name__", "") == "_frozen_setattrs"
        notes.append("An attrs class" + (", frozen." if frozen else "."))
    if notes:
        page.add(" ".join(notes), "")
    doc = _own_doc(cls)
    if doc:
        page.add(_markdown(doc), "")
    groups: dict[str, list[Member]] = {}
    for member in members(cls):
        group = {
            "field": "Fields",
            "attribute": "Attributes",
            "class attribute": "Class attributes",
            "property": "Properties",
            "settable property": "Properties",
        }.get(member.kind, "Methods")
        groups.setdefault(group, []).append(member)
    for group in ("Fields", "Attributes", "Class attributes", "Properties", "Methods"):
        if group not in groups:
            continue
        page.add(f"{group}:", "")
        for member in groups[group]:
            tags = []
            if member.kind in ("classmethod", "staticmethod"):
                tags.append(member.kind)
            if member.kind == "settable property":
                tags.append("settable")
            if member.owner is not cls:
                tags.append(f"from `{member.owner.__name__}`")
            line = f"- `{member.text}`"
            if tags:
                line += " (" + ", ".join(tags) + ")"
            if member.summary:
                line += f": {_markdown(member.summary)}"
            page.add(line)
        page.add("")
    supported = protocols(cls)
    if supported:
        page.add("Supports " + ", ".join(supported) + ".", "")


def _render_function(page: _Page, item: Item, level: int) -> None:
    page.heading(level, f"`{item.name}()`")
    page.code("python", function_signature(item.obj, item.name, wrap=True))
    doc = _own_doc(inspect.unwrap(item.obj))
    if doc:
        page.add(_markdown(doc), "")


def data_row(item: Item) -> tuple[str, str, str, str]:
    """(name, type, value, about) of one datum, from its assignment in the source."""
    node = _assignment(item.home, item.name)
    about = ""
    type_text = "Mapping" if isinstance(item.obj, MappingProxyType) else type(item.obj).__name__
    if node is not None:
        source = _source(item.home)
        about = _comment_for(source, node)
        if isinstance(node, ast.AnnAssign):
            type_text = ast.get_source_segment(source.text, node.annotation) or type_text
    value = item.obj
    if isinstance(value, Mapping):
        shown = f"{len(value)} entr{'y' if len(value) == 1 else 'ies'}"
        keys = list(value)[:3]
        if all(_is_plain(k) or isinstance(k, tuple) for k in keys) and keys:
            more = ", …" if len(value) > 3 else ""
            shown += ": " + ", ".join(value_text(k) for k in keys) + more
    else:
        shown = value_text(value, hex_from=DATA_HEX_FROM)
        if len(shown) > 60 and isinstance(value, (tuple, list)):
            shown = f"{len(value)} items"
        if shown.startswith("<"):
            shown = f"{len(value)} items" if isinstance(value, (tuple, list)) else ""
            name = getattr(value, "name", None)
            if isinstance(name, str):
                shown = f"{type(value).__name__} {name!r}"
    return item.name, type_text, shown, about


def _render_data(page: _Page, items: list[Item]) -> None:
    page.add("| name | type | value | about |", "|---|---|---|---|")
    for item in items:
        name, type_text, value, about = data_row(item)
        value_cell = f"`{_cell(value)}`" if value else ""
        page.add(f"| `{name}` | `{_cell(type_text)}` | {value_cell} | {_cell(_markdown(about))} |")
    page.add("")


def _render_module_table(page: _Page, module_name: str) -> None:
    page.add("| name | kind | summary |", "|---|---|---|")
    for item in exported(module_name):
        if item.kind == "data":
            summary = value_text(item.obj, hex_from=DATA_HEX_FROM)
            summary = "" if summary.startswith("<") else f"`{_cell(summary)}`"
            kind = f"data ({type(item.obj).__name__})"
        else:
            summary = _cell(_markdown(_first_paragraph(_own_doc(inspect.unwrap(item.obj)))))
            kind = item.kind
        page.add(f"| `{item.name}` | {kind} | {summary} |")
    page.add("")


class _SameOnEveryPython(argparse.HelpFormatter):
    """An option with a value as Python 3.13 shows it (``-o, --output FILE``), on every
    version: before 3.13 argparse repeated the metavar (``-o FILE, --output FILE``)."""

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if not action.option_strings or action.nargs == 0:
            return super()._format_action_invocation(action)
        metavar = self._format_args(action, self._get_default_metavar_for_optional(action))
        return ", ".join(action.option_strings) + " " + metavar


def cli_helps() -> list[tuple[str, str]]:
    """(command, help text) for ``ringsim`` and each subcommand, at a fixed width."""
    from scenarios.cli import _parser

    parser = _parser()
    out = []

    def text(p: argparse.ArgumentParser) -> str:
        fixed = type("Fixed", (_SameOnEveryPython, p.formatter_class), {})
        p.formatter_class = functools.partial(fixed, width=HELP_WIDTH)  # type: ignore[assignment]
        if hasattr(p, "color"):  # Python 3.14 colours help on a terminal
            p.color = False  # type: ignore[attr-defined]
        return p.format_help()

    out.append(("ringsim", text(parser)))
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.append((f"ringsim {name}", text(sub)))
    return out


def example_output() -> str:
    """What the page's example prints, run now (the machine is seeded: always the same)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        exec(compile(EXAMPLE, "docs/api.md example", "exec"), {"__name__": "__example__"})
    return buffer.getvalue()


# ------------------------------------------------------------------ the page


def reference() -> dict[str, list[Item]]:
    """package -> every item the page documents: its exports, then the returned types."""
    out = {}
    for package in PACKAGES:
        items = exported(package)
        out[package] = items + returned_types(items)
    return out


_GROUPS = (
    ("class", "Classes"),
    ("exception", "Exceptions"),
    ("function", "Functions"),
    ("module", "Modules"),
    ("data", "Data"),
)


def render() -> str:
    """The whole page: the introduction and its example (run), the contents, each package,
    the command line."""
    body = _Page()
    for package, items in reference().items():
        module = importlib.import_module(package)
        body.heading(2, f"`{package}`")
        body.add(_markdown(_own_doc(module)), "")
        exported_items = [i for i in items if i.exported]
        for kind, title in _GROUPS:
            group = [i for i in exported_items if i.kind == kind]
            if not group:
                continue
            body.heading(3, f"{title} of `{package}`")
            for item in group:
                if kind in ("class", "exception"):
                    _render_class(body, item, 4)
                elif kind == "function":
                    _render_function(body, item, 4)
                elif kind == "module":
                    body.heading(4, f"`{item.obj.__name__}`")
                    body.add(_markdown(_own_doc(item.obj)), "")
                    doc = f"docs/{item.name}.md"
                    if (DOC.parent.parent / doc).exists():
                        body.add(f"Its guide is [{doc}]({Path(doc).name}); it exports:", "")
                    _render_module_table(body, item.obj.__name__)
            if kind == "data":
                _render_data(body, group)
        returned = [i for i in items if not i.exported]
        if returned:
            body.heading(3, f"Returned types of `{package}`")
            body.add(
                f"Classes that `{package}`'s results hand back without `{package}` exporting "
                "them; import them from the module named, if you must.",
                "",
            )
            for item in returned:
                _render_class(body, item, 4)
    body.heading(2, "Command line")
    body.add(
        "`ringsim` (also `python -m scenarios`) runs the stories; its help, as the parser "
        "gives it:",
        "",
    )
    for command, text in cli_helps():
        body.heading(3, f"`{command}`")
        body.code("text", text)
    page = _Page()
    page.add(
        "# API reference",
        "",
        f"Generated by `{COMMAND}` from the code: what `simulator` and `abi` export (their",
        "`__all__`), the signatures and docstrings, and the `ringsim` parser's help. The tests",
        f"run `{COMMAND} --check`, so this page cannot go stale; do not edit it by hand.",
        "For a guided tour read [machine.md](machine.md); for the CPU alone, [cpu.md](cpu.md).",
        "",
        "How to read it:",
        "",
        "- A class opens with how to construct it, then its docstring, then its fields (attrs",
        "  classes: the values it is made of), attributes, properties and methods, each with",
        "  the first paragraph of its docstring. A function shows its whole docstring.",
        "- Types are written as the source writes them (the modules use `from __future__ import",
        "  annotations`), so a name may be an internal type or a module alias (`Kernel`, `Task`,",
        "  `P.PtraceResult`); the classes a result hands back are under each package's",
        "  *Returned types*.",
        "- Keyword-only parameters follow a `*`; defaults are shown as Python values.",
        "- Not here: the internals (`simulator.kernel`, the modules behind `simulator.cpu`) and",
        "  `abi.strategies`, which needs Hypothesis (see [abi.md](abi.md)).",
        "",
        "An example: boot, spawn, make a call, read the trace.",
        "",
    )
    page.code("python", EXAMPLE)
    page.add("prints:", "")
    page.code("text", example_output())
    page.add("## Contents", "")
    first = True
    for level, text, anchor in body.headings:
        link = f"[{text}](#{anchor})"
        if level == 4:  # the items of a group, on one line after it
            page.lines[-1] += (": " if first else ", ") + link
            first = False
        else:
            page.add("  " * (level - 2) + "- " + link)
            first = True
    page.add("")
    return "\n".join(page.lines + body.lines).rstrip("\n") + "\n"


# ------------------------------------------------------------------ the check


def _section_of(lines: list[str], index: int) -> str:
    for line in reversed(lines[: index + 1]):
        if re.match(r"#{1,6} ", line):
            return line.lstrip("#").strip()
    return "the introduction"


def check(current: str | None, generated: str) -> str | None:
    """None when ``current`` is ``generated``; else a message naming what differs."""
    if current is None:
        return f"{DOC_NAME} does not exist; generate it with: {COMMAND}\n"
    if current == generated:
        return None
    old, new = current.splitlines(), generated.splitlines()
    sections: list[str] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, _i2, j1, _j2 in matcher.get_opcodes():
        if tag != "equal":
            where = _section_of(new, j1) if new else _section_of(old, i1)
            if where not in sections:
                sections.append(where)
    diff = list(
        difflib.unified_diff(old, new, DOC_NAME, f"{COMMAND} (the code now)", n=1, lineterm="")
    )
    shown = diff[:40] + ([f"... {len(diff) - 40} more diff lines"] if len(diff) > 40 else [])
    return (
        f"{DOC_NAME} is out of date; regenerate it with: {COMMAND}\n"
        f"sections that differ: {'; '.join(sections) or 'whitespace only'}\n"
        + "\n".join(shown)
        + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    """Write docs/api.md, or with ``--check`` compare it with the code; the exit status."""
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in args:
        message = check(DOC.read_text() if DOC.exists() else None, text)
        if message:
            sys.stderr.write(message)
            return 1
        return 0
    DOC.write_text(text)
    sys.stdout.write(f"wrote {DOC_NAME}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
