"""The package's top level: cheap to import, subpackages on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_import_is_cheap_and_subpackages_load_on_use():
    code = ("import sys, neuro_de; assert 'torch' not in sys.modules; "
            "assert neuro_de.algorithms.SHADE.__name__ == 'SHADE'; "
            "assert 'torch' in sys.modules; print(neuro_de.__version__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == __import__("neuro_de").__version__


def test_unknown_attribute_is_an_attribute_error():
    import neuro_de

    with pytest.raises(AttributeError, match="no attribute 'algorithm'"):
        neuro_de.algorithm  # noqa: B018
    assert "algorithms" in dir(neuro_de)
