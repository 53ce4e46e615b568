"""The documentation site's structure (cheap checks; CI builds the site itself).

``.ci/run`` runs ``mkdocs build --strict``; these tests catch the usual ways it breaks
before that: a page missing from the navigation, an API page naming a module that no
longer imports, and a link to files outside the repository.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
API = DOCS / "api"

# The public packages the API reference must cover.
API_MODULES = {
    "neuro_de.algorithms",
    "neuro_de.adaptation",
    "neuro_de.operators",
    "neuro_de.problems",
    "neuro_de.population",
    "neuro_de.baselines",
    "neuro_de.runner",
    "neuro_de.checkpoint",
    "neuro_de.reporting",
    "neuro_de.dynamics",
    "neuro_de.data",
    "neuro_de.models",
    "neuro_de.loggers",
}


def _nav_pages(node) -> list[str]:
    """Every page path in an mkdocs ``nav`` (nested lists of ``{title: page}`` entries)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [page for item in node for page in _nav_pages(item)]
    if isinstance(node, dict):
        return [page for value in node.values() for page in _nav_pages(value)]
    return []


def _config() -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))


def _api_directives() -> dict[str, list[str]]:
    """The modules each API page renders (its ``::: module`` lines)."""
    return {
        page.name: re.findall(r"^:::\s*(\S+)", page.read_text(encoding="utf-8"), re.M)
        for page in sorted(API.glob("*.md"))
    }


def test_nav_lists_every_page():
    nav = _nav_pages(_config()["nav"])
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    assert "index.md" in pages
    assert sorted(set(nav)) == pages, "mkdocs.yml's nav and the .md files under docs/ differ"
    assert len(nav) == len(set(nav)), "a page is listed twice in mkdocs.yml's nav"


def test_api_pages_cover_the_public_packages():
    directives = _api_directives()
    assert directives, "no API pages under docs/api/"
    for page, modules in directives.items():
        assert modules, f"docs/api/{page} renders no module (no '::: module' line)"
    covered = {module for modules in directives.values() for module in modules}
    assert API_MODULES <= covered, f"no API page for {sorted(API_MODULES - covered)}"


@pytest.mark.parametrize(
    "module", sorted({m for ms in _api_directives().values() for m in ms}) or ["<none>"]
)
def test_api_page_module_imports(module):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # EvoTorch's import-time deprecation warnings
        importlib.import_module(module)


def test_docs_stay_inside_the_repository():
    offenders = []
    for path in sorted(DOCS.rglob("*")):
        if not path.is_file() or path.suffix not in {".md", ".py", ".yml", ".yaml", ".html"}:
            continue
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "../shared" in line or "DESIGN.md" in line:
                offenders.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()}")
    assert not offenders, "docs point outside the repository:\n" + "\n".join(offenders)


def _rst_roles():
    pytest.importorskip("griffe")
    spec = importlib.util.spec_from_file_location("rst_roles", API / "rst_roles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_math_directives_become_display_blocks():
    rst = _rst_roles()
    text = "Crossover:\n\n.. math::\n    u = v\n    + w\n\nThen.\n    .. math:: a_{ij}\n    more"
    assert rst._math_blocks(text) == (
        "Crossover:\n\n\\[\nu = v\n+ w\n\\]\n\nThen.\n\n    \\[\n    a_{ij}\n    \\]\n\n    more"
    )


def test_roles_become_code_and_math():
    rst = _rst_roles()
    griffe = pytest.importorskip("griffe")
    module = griffe.Module("neuro_de")
    text = rst._rewrite(module, ":math:`x_i` and :func:`~torch.lerp`, :class:`neuro_de.X`")
    assert text == (
        "\\(x_i\\) and <code>lerp</code>, "
        '<autoref identifier="neuro_de.X" optional><code>neuro_de.X</code></autoref>'
    )
