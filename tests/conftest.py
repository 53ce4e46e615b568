import logging
import os

import pytest
import torch

# EvoTorch logs an INFO line per Problem; keep test output readable.
logging.getLogger("evotorch").setLevel(logging.WARNING)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tests run single-threaded: faster and steadier on the 2-core CI machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def mnist_root():
    """Folder containing MNIST/raw (real MNIST); skips when NEURO_DE_DATA is absent."""
    root = os.environ.get("NEURO_DE_DATA")
    if not root or not os.path.isdir(os.path.join(root, "MNIST", "raw")):
        pytest.skip("real MNIST not available: set NEURO_DE_DATA to a folder with MNIST/raw")
    return root
