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
