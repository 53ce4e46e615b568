"""The example notebooks in ``examples/`` run top to bottom, and are committed without outputs.

Each notebook is executed with ``nbclient`` in a fresh kernel (the interpreter running the
tests, one torch thread via ``OMP_NUM_THREADS=1``), in a temporary working directory, with a
timeout per cell; any cell that raises fails the test.
"""

from __future__ import annotations

import io
import os
import sys
import tokenize
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="needs the dev extra: pip install -e '.[dev]'")
nbclient = pytest.importorskip("nbclient", reason="needs the dev extra: pip install -e '.[dev]'")
pytest.importorskip("ipykernel", reason="needs the dev extra: pip install -e '.[dev]'")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
NOTEBOOKS = ("quickstart", "extending", "your_model", "rl_policy")
CELL_TIMEOUT_S = 120


def read(name: str):
    return nbformat.read(EXAMPLES / f"{name}.ipynb", as_version=4)


def code_cells(nb) -> list[str]:
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


def test_every_notebook_is_listed():
    assert sorted(p.stem for p in EXAMPLES.glob("*.ipynb")) == sorted(NOTEBOOKS)
    listing = (EXAMPLES / "README.md").read_text()
    for name in NOTEBOOKS:
        assert f"{name}.ipynb" in listing


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_without_outputs(name):
    nb = read(name)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert cell.outputs == [], f"{name}.ipynb cell {i} has outputs; clear them"
        assert cell.execution_count is None, f"{name}.ipynb cell {i} has an execution count"
        assert "execution" not in cell.metadata, f"{name}.ipynb cell {i} has timing metadata"


def test_extending_notebook_uses_no_underscore_names():
    """The extension notebook shows the public API only: no name in its code starts with
    an underscore (private names and dunders alike)."""
    names = set()
    for source in code_cells(read("extending")):
        for tok in tokenize.generate_tokens(io.StringIO(source + "\n").readline):
            if tok.type == tokenize.NAME and tok.string.startswith("_"):
                names.add(tok.string)
    assert not names, f"extending.ipynb uses underscore names: {sorted(names)}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name, tmp_path):
    from jupyter_client.manager import AsyncKernelManager

    nb = read(name)
    km = AsyncKernelManager(kernel_name="python3")
    # The kernel runs this interpreter (the one with neuro_de and the dev extra installed),
    # whatever kernel spec named "python3" the machine has.
    km.kernel_spec.argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("MPLBACKEND", None)  # the kernel's inline backend shows the figures
    client = nbclient.NotebookClient(
        nb, km=km, timeout=CELL_TIMEOUT_S, allow_errors=False,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute(cwd=str(tmp_path), env=env)  # raises CellExecutionError if a cell fails
    errors = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
              if out.output_type == "error"]
    assert not errors
