"""Building the first population (Algorithm 1, stage 1, and Sec. 3.3 of the seed paper).

- :func:`train_snapshots`: backpropagation keeping the last ``m`` epoch snapshots;
- :func:`init_rs`: ``m`` runs with different random seeds (Init-RS);
- :func:`init_hp`: ``m`` runs with different learning rate / weight decay / mixup / label
  smoothing (Init-HP), default grid :func:`default_hp_configs`;
- :func:`noise_population`: one trained network plus Gaussian noise with a given std or the
  std of a reference population (Table S9's baseline);
- :func:`population_from_networks`: the user's own networks (modules, state dicts or
  checkpoint files, read with ``weights_only=True``).

Each returns a :class:`Population` whose ``vectors`` is the ``(m, d)`` tensor for the
problem's parameter view.
"""

from .backprop import DEFAULT_LR, OPTIMIZERS, TrainConfig, mixup_batch, train_snapshots
from .initializers import HP_KEYS, default_hp_configs, init_hp, init_rs
from .networks import STATE_DICT_KEYS, NetworkSource, population_from_networks
from .noise import noise_population, population_std
from .result import Population, SnapshotResult

__all__ = [
    "DEFAULT_LR",
    "HP_KEYS",
    "NetworkSource",
    "OPTIMIZERS",
    "Population",
    "STATE_DICT_KEYS",
    "SnapshotResult",
    "TrainConfig",
    "default_hp_configs",
    "init_hp",
    "init_rs",
    "mixup_batch",
    "noise_population",
    "population_from_networks",
    "population_std",
    "train_snapshots",
]
