"""What the recipe tests share: loading a recipe script as a module, reading its CSVs."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def load_recipe(name: str):
    """``recipes/<name>.py`` as a fresh module (its ``main``, ``build_parser``, ...)."""
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", RECIPES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_rows(path: Path) -> list[dict]:
    """The rows of a CSV the recipes write (results.csv, logger CSVs)."""
    with open(path) as fh:
        return list(csv.DictReader(fh))


def refused_before_loading(name: str, argv: list[str], monkeypatch) -> int:
    """Run recipe ``name`` with ``argv``, its ``load_data`` made to fail, and return the
    exit code of the ``SystemExit`` it must raise first (a bad option refused before any
    data are loaded or any work done)."""
    import pytest

    recipe = load_recipe(name)

    def blocked(args):
        raise AssertionError("data were loaded before the bad option was refused")

    monkeypatch.setattr(recipe, "load_data", blocked)
    with pytest.raises(SystemExit) as exc:
        recipe.main(argv)
    return exc.value.code
