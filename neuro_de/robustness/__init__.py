"""Robustness to common corruptions: corruption suites, corrupted test sets, CE and mCE.

The seed paper's supplement (S2.5, Tables S4-S6) compares Adam-trained and DE-evolved
networks on MNIST-C and CIFAR-10-C. This subpackage makes those sets and metrics::

    from neuro_de.robustness import (CorruptedSets, CorruptionSuite, robustness_errors,
                                     robustness_table)

    suite = CorruptionSuite.mnist_c()                     # MNIST-C's 15 corruptions
    sets = CorruptedSets(test_set, suite, cache_dir="runs/mnist_c_cache")
    errors = robustness_errors({"adam": adam_net, "DE": de_net, "lenet1": reference},
                               sets, clean=test_set)
    print(robustness_table(errors, reference="lenet1"))   # error and CE per corruption, mCE

- :mod:`~neuro_de.robustness.suite`: :class:`CorruptionSuite` (reproducible per image:
  the result depends only on image index, corruption, severity and seed).
- :mod:`~neuro_de.robustness.mnist_c`: MNIST-C's 15 corruptions (Mu & Gilmer, 2019),
  written for current NumPy / scikit-image, without ImageMagick.
- :mod:`~neuro_de.robustness.cifar_c`: the CIFAR-10-C corruptions (Hendrycks & Dietterich,
  2019) through the ``imagecorruptions`` package with a compatibility layer.
- :mod:`~neuro_de.robustness.released`: read the published MNIST-C / CIFAR-10-C files.
- :mod:`~neuro_de.robustness.sets`: corrupted test sets as data sets a network reads.
- :mod:`~neuro_de.robustness.evaluate` and :mod:`~neuro_de.robustness.metrics`: errors,
  CE, mCE, relative mCE, and Table S4's layout.

The corruptions need the ``robustness`` extra: ``pip install "neuro_de[robustness]"``
(scikit-image, imagecorruptions).
"""

from .evaluate import as_networks, robustness_errors
from .metrics import CLEAN, corruption_errors, robustness_summary, robustness_table
from .plots import plot_corruption_errors
from .sets import CorruptedSets, ReleasedSets, as_dataset, raw_images
from .suite import SEVERITIES, CorruptionFn, CorruptionSuite, check_images

__all__ = [
    "CLEAN",
    "CorruptedSets",
    "CorruptionFn",
    "CorruptionSuite",
    "ReleasedSets",
    "SEVERITIES",
    "as_dataset",
    "as_networks",
    "check_images",
    "corruption_errors",
    "plot_corruption_errors",
    "raw_images",
    "robustness_errors",
    "robustness_summary",
    "robustness_table",
]
