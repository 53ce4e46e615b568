"""Griffe extension for the API site: render the reST the docstrings use as Markdown.

The library's docstrings are Google style with reST roles inside (``:math:`x```,
``:class:`~neuro_de.population.Population```, ``.. math::`` blocks). mkdocstrings renders
docstrings as Markdown, where those roles would show up literally and the TeX would be
mangled by emphasis rules. This extension rewrites the docstring text when the package is
loaded, before mkdocstrings parses it (the source files are not touched):

- ``:math:`x``` becomes ``\\(x\\)`` and a ``.. math::`` directive a ``\\[ ... \\]`` block, both
  rendered by ``pymdownx.arithmatex`` (generic mode) and MathJax;
- ``:class:``, ``:func:``, ``:meth:``, ``:attr:``, ``:data:``, ``:mod:`` become inline code,
  linked (as an optional cross-reference that never warns) where the target resolves to an
  object of ``neuro_de``; ``~`` keeps only the last component as the title, as in Sphinx.

Loaded from ``mkdocs.yml`` (``plugins.mkdocstrings.handlers.python.options.extensions``).
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_XREF_ROLE = re.compile(r":(?:class|func|meth|attr|data|mod|obj|exc):`([^`]+)`")
_MATH_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<rest>.*)$")


def _math_blocks(text: str) -> str:
    """Turn every ``.. math::`` directive (one-line or indented body) into a display block."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _MATH_DIRECTIVE.match(lines[i])
        if match is None:
            out.append(lines[i])
            i += 1
            continue
        indent = match.group("indent")
        body = [match.group("rest").strip()] if match.group("rest").strip() else []
        i += 1
        # The directive's body: the following lines indented deeper (blank lines inside allowed).
        while i < len(lines):
            line = lines[i]
            if line.strip() and len(line) - len(line.lstrip()) <= len(indent):
                break
            if not line.strip() and not (
                i + 1 < len(lines)
                and lines[i + 1].strip()
                and len(lines[i + 1]) - len(lines[i + 1].lstrip()) > len(indent)
            ):
                break
            if line.strip():
                body.append(line.strip())
            i += 1
        if out and out[-1].strip():
            out.append("")
        out.append(f"{indent}\\[")
        out.extend(f"{indent}{line}" for line in body)
        out.append(f"{indent}\\]")
        if i < len(lines) and lines[i].strip():
            out.append("")
    return "\n".join(out)


def _identifier(obj: griffe.Object, target: str) -> str | None:
    """The full path of a role's target as seen from ``obj``, if it is an object of neuro_de."""
    target = target.lstrip(".")
    head, _, tail = target.partition(".")
    if target.startswith("neuro_de."):
        return target
    scope: griffe.Object | None = obj
    while scope is not None:
        try:
            resolved = scope.resolve(head)
        except Exception:  # griffe's NameResolutionError, or an object that cannot resolve
            resolved = None
        if resolved:
            full = f"{resolved}.{tail}" if tail else resolved
            return full if full.startswith("neuro_de") else None
        scope = scope.parent
    return None


def _rewrite(obj: griffe.Object, text: str) -> str:
    text = _math_blocks(text)
    text = _MATH_ROLE.sub(lambda m: f"\\({m.group(1)}\\)", text)

    def xref(match: re.Match[str]) -> str:
        target = match.group(1).strip()
        short = target.startswith("~")
        target = target.lstrip("~")
        title = target.rsplit(".", 1)[-1] if short else target.lstrip(".")
        code = f"<code>{html.escape(title)}</code>"
        identifier = _identifier(obj, target.split("(")[0].split("[")[0])
        if identifier is None:
            return code
        return f'<autoref identifier="{html.escape(identifier)}" optional>{code}</autoref>'

    return _XREF_ROLE.sub(xref, text)


class RstRoles(griffe.Extension):
    """Rewrite reST roles and math directives in every docstring of the loaded package."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        seen: set[int] = set()

        def walk(obj: griffe.Object) -> None:
            if id(obj) in seen:
                return
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = _rewrite(obj, obj.docstring.value)
            for member in obj.members.values():
                if not member.is_alias:
                    walk(member)

        walk(pkg)
