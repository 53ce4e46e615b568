r"""EvoTorch problem of NE-SGD: the fitness of a block code is the held-out accuracy after
decoding and retraining (Zhang et al., 2020, Sec. II-C, Eq. 6).

A solution is a bit string :math:`k \in \{0, 1\}^n`, one bit per block of a
:class:`~neuro_de.models.blocks.BlockPartition`. Its fitness is

.. math::
    F(k) = \operatorname{acc}_{\text{held-out}}\Big(g\big(f_k(P^\alpha), \eta_0, \eta_1\big)\Big),

with :math:`f_k` the decoding of Eq. (1) (blocks with :math:`k_i = 0` re-initialised) and
:math:`g` the two-rate SGD retraining of :func:`~neuro_de.problems.retraining.retrain`; it is
maximised. The held-out split is carved from the training data by the caller (see
:func:`neuro_de.data.train_heldout_split`); the problem never sees a test set.

References:
    H. Zhang, K. Hao, L. Gao, B. Wei, X. Tang. *Optimizing Deep Neural Networks through
    Neuroevolution with Stochastic Gradient Descent.* arXiv:2012.11184, 2020.
    Y. Sun, B. Xue, M. Zhang, G. G. Yen, J. Lv. *Automatically Designing CNN Architectures
    Using the Genetic Algorithm for Image Classification.* IEEE Trans. Cybern. 2020
    (``yn-sun/cnn-ga``: a genome already evaluated is not retrained).
"""

from __future__ import annotations

import copy
import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from evotorch import Problem, SolutionBatch
from torch import nn
from torch.utils.data import Dataset

from ..models.blocks import BlockPartition, InitFn, _check_seed, derive_seed
from .checks import resolve_device
from .retraining import RetrainConfig, check_dataset, check_model_fits, run_retraining, score

__all__ = ["BlockCodeProblem"]

_FORMAT = "neuro_de.BlockCodeProblem/1"


class BlockCodeProblem(Problem):
    r"""Maximise the held-out accuracy of a network after NE-SGD's decode-and-retrain.

    ``Problem(objective_sense="max", dtype=torch.int64, solution_length=n, bounds=(0, 1),
    eval_data_length=1)``: every solution is ``n`` integers 0/1 (EvoTorch's
    ``generate_batch`` draws them uniformly); ``evals[:, 0]`` is the top-1 accuracy in
    :math:`[0, 1]` on ``heldout_set`` of the retrained network and ``evals[:, 1]`` (extra
    evaluation data, never used for selection) its mean held-out cross-entropy. Solutions
    are evaluated one at a time, in batch order.

    **Retraining seed.** The :math:`r`-th retraining of code :math:`k` (``r = 0`` first)
    uses the seed ``derive_seed("nesgd-retrain", seed, "0110...", r)``
    (:func:`~neuro_de.models.blocks.derive_seed`: SHA-256 of the values), which seeds the
    re-initialisation, the data order and dropout. So a code always retrains the same way
    (bitwise on the CPU), whatever the order of evaluation, and two codes that reset the
    same block draw the same fresh values for it.

    **Cache by code** (``rescore_duplicates=False``, the default; as in ``yn-sun/cnn-ga``).
    A code already scored is not retrained: its stored accuracy and loss are reused, also
    for duplicates inside one batch. With ``rescore_duplicates=True`` every request
    retrains, as repetition ``r = 0, 1, ...`` of that code with its own seed (a noisy
    fitness; the repetitions are all kept). :meth:`counters` gives ``evaluations``
    (fitness requests), ``retrainings``, ``cache_hits`` and ``distinct_codes``; they also
    appear in the problem's (and so the search algorithm's) ``status`` as floats.

    **Weights kept.** The retrained ``state_dict`` of every scoring is kept, on the CPU in
    memory, or, with ``store_dir``, in one file per scoring written atomically (a temporary
    file, then :func:`os.replace`) and read with ``torch.load(weights_only=True)``.
    :meth:`network` rebuilds any scored network without retraining and :meth:`best` returns
    the best one. *Memory:* in memory this costs one copy of the network's tensors per
    retraining, e.g. ResNet-18 (11.2 M parameters, 45 MB) x 185 evaluations ~ 8 GB; use
    ``store_dir`` for large networks (then only the files hold weights).

    **Parallelism.** EvoTorch's Ray actors (``num_actors >= 2``) return only the evals to
    the main process, so the weights stored inside an actor would be lost (spec A.11); the
    problem refuses them. Retraining runs in this process on ``device``; the population
    itself always lives on the CPU.

    The user's ``model`` is deep-copied at construction and never modified.

    Args:
        model: The trained network :math:`P^\alpha` (``(batch, C)`` logits).
        partition: Its blocks: a :class:`BlockPartition`, a mapping
            ``{block: [module prefixes]}``, or ``None`` for
            :meth:`BlockPartition.for_model`.
        train_set: Training data of the retraining (without the held-out part).
        heldout_set: Held-out data of the fitness (carved from the training data).
        retrain_epochs: Epochs of every retraining (>= 1).
        eta0: Rate of the kept blocks.
        eta1: Rate of the re-initialised blocks (> ``eta0``, Eq. 5).
        momentum: SGD momentum of the retraining.
        weight_decay: Weight decay of the retraining.
        batch_size: Minibatch size of the retraining.
        schedule: ``"cosine"`` or ``"constant"``.
        init_fn: Optional re-initialiser (see :meth:`BlockPartition.decode`).
        eval_batch_size: Samples per forward pass when scoring.
        seed: Seeds EvoTorch's problem generator (which the GA draws from) and the
            retraining seeds above (an integer >= 0).
        device: Where decoding, retraining and scoring run.
        store_dir: Folder for the retrained weights (created when missing); ``None`` keeps
            them in memory.
        rescore_duplicates: Retrain a code each time it is requested.
        allow_equal_rates: Accept ``eta0 == eta1``.
        num_actors: Only ``None``, 0 or 1 (no Ray actors) are accepted.
        store_solution_stats: Passed to :class:`evotorch.Problem` (``None``: its default).

    Raises:
        TypeError: For a ``model`` that is not a module, or a bad ``init_fn``.
        ValueError: For an empty ``train_set`` or ``heldout_set``, a partition of another
            model or a block that cannot be re-initialised, ``eta0 >= eta1`` (both named),
            other bad retraining options, a model that does not fit the data (labels
            outside its logits), or ``num_actors >= 2``. At evaluation: solutions that are
            not integers 0/1.

    Example:
        >>> train, heldout = train_heldout_split(train_full, 0.1, seed=0)
        >>> problem = BlockCodeProblem(net, None, train, heldout, retrain_epochs=5,
        ...                            eta0=0.005, eta1=0.05, seed=0)
        >>> batch = problem.generate_batch(5)
        >>> problem.evaluate(batch)          # evals[:, 0] accuracy, evals[:, 1] loss
        >>> code, accuracy, network = problem.best()
    """

    def __init__(
        self,
        model: nn.Module,
        partition: BlockPartition | Mapping[str, Any] | None,
        train_set: Dataset,
        heldout_set: Dataset,
        *,
        retrain_epochs: int,
        eta0: float,
        eta1: float,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        batch_size: int = 128,
        schedule: str = "cosine",
        init_fn: InitFn | None = None,
        eval_batch_size: int = 512,
        seed: int = 0,
        device: str | torch.device = "cpu",
        store_dir: str | os.PathLike | None = None,
        rescore_duplicates: bool = False,
        allow_equal_rates: bool = False,
        num_actors: int | str | None = None,
        store_solution_stats: bool | None = None,
    ):
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"`model` must be a torch.nn.Module, got {type(model).__name__}; pass the "
                "trained network itself."
            )
        if num_actors not in (None, 0, 1):
            raise ValueError(
                f"`num_actors`={num_actors!r}: BlockCodeProblem keeps every retrained network "
                "in a side store of the problem, and EvoTorch's Ray actors send back only the "
                "fitness, so the networks would be lost. Use num_actors=None (retrain in this "
                "process, on `device`)."
            )
        config = RetrainConfig(
            epochs=retrain_epochs,
            eta0=eta0,
            eta1=eta1,
            momentum=momentum,
            weight_decay=weight_decay,
            batch_size=batch_size,
            schedule=schedule,
            allow_equal_rates=allow_equal_rates,
        )
        seed = _check_seed(seed)
        if isinstance(eval_batch_size, bool) or not isinstance(eval_batch_size, int):
            raise TypeError(f"`eval_batch_size` must be an integer, got {eval_batch_size!r}.")
        if eval_batch_size < 1:
            raise ValueError(f"`eval_batch_size` must be >= 1, got {eval_batch_size}.")
        if rescore_duplicates not in (True, False):
            raise ValueError(
                f"`rescore_duplicates` must be True or False, got {rescore_duplicates!r}."
            )
        device = resolve_device(device)
        if partition is None:
            partition = BlockPartition.for_model(model)
        elif isinstance(partition, Mapping):
            partition = BlockPartition(model, partition)
        elif not isinstance(partition, BlockPartition):
            raise TypeError(
                "`partition` must be a BlockPartition, a mapping {block: [module prefixes]} or "
                f"None (built-in), got {type(partition).__name__}."
            )
        partition.check_model(model)
        partition.check_resettable(init_fn=init_fn)
        check_dataset(train_set, name="train_set")
        check_dataset(heldout_set, name="heldout_set")

        with torch.no_grad():
            template = copy.deepcopy(model).to(device)
        template.eval()
        check_model_fits(template, train_set, name="train_set")
        check_model_fits(template, heldout_set, name="heldout_set")

        store = None
        if store_dir is not None:
            store = Path(store_dir)
            try:
                store.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise type(err)(
                    err.errno, f"`store_dir` {str(store)!r} cannot be created: {err.strerror}"
                ) from err
            if not os.access(store, os.W_OK | os.X_OK):
                raise PermissionError(f"`store_dir` {str(store)!r} is not a writable folder.")

        extra = (
            {} if store_solution_stats is None else {"store_solution_stats": store_solution_stats}
        )
        super().__init__(
            objective_sense="max",
            dtype=torch.int64,
            solution_length=partition.n,
            bounds=(0, 1),
            eval_data_length=1,
            seed=seed,
            device="cpu",
            **extra,
        )
        self._partition = partition
        self._template = template
        self._config = config
        self._init_fn = init_fn
        self._eval_batch_size = int(eval_batch_size)
        self._nesgd_seed = seed
        self._train_device = device
        self._store_dir = store
        self._rescore = bool(rescore_duplicates)
        self.train_set = train_set
        self.heldout_set = heldout_set
        self._reset_records()
        self.after_eval_hook.append(self._status_counters)

    # ------------------------------------------------------------------ records
    def _reset_records(self) -> None:
        self._codes: list[tuple[int, ...]] = []
        self._repeats: list[int] = []
        self._accuracy: list[float] = []
        self._loss: list[float] = []
        self._seeds: list[int] = []
        self._eval_ids: list[int] = []
        self._seconds: list[float] = []
        self._weights: list[dict[str, torch.Tensor] | None] = []
        self._files: list[str] = []
        self._index: dict[tuple[int, ...], list[int]] = {}
        self._evaluations = 0
        self._retrainings = 0
        self._cache_hits = 0

    @property
    def partition(self) -> BlockPartition:
        """The block partition (gene ``i`` is block ``partition.names[i]``)."""
        return self._partition

    @property
    def config(self) -> RetrainConfig:
        """The retraining hyper-parameters."""
        return self._config

    @property
    def rescore_duplicates(self) -> bool:
        """Whether a code is retrained at every request."""
        return self._rescore

    def retrain_seed(self, code: Any, repeat: int = 0) -> int:
        """The seed of the ``repeat``-th retraining of ``code`` (see the class docstring)."""
        key = self._partition.format_code(code)
        return derive_seed("nesgd-retrain", self._nesgd_seed, key, int(repeat))

    def counters(self) -> dict[str, int]:
        """``evaluations`` (fitness requests), ``retrainings``, ``cache_hits`` and
        ``distinct_codes`` so far (``evaluations == retrainings + cache_hits``)."""
        return {
            "evaluations": self._evaluations,
            "retrainings": self._retrainings,
            "cache_hits": self._cache_hits,
            "distinct_codes": len(self._index),
        }

    def _status_counters(self, batch: SolutionBatch) -> dict[str, float]:
        return {k: float(v) for k, v in self.counters().items()}

    def records(self) -> list[dict[str, Any]]:
        """One dict per retraining, in order: ``code`` (a ``"0110..."`` string), ``repeat``,
        ``accuracy``, ``loss``, ``seed``, ``evaluation`` (the id of the fitness request that
        retrained it, from 0), ``seconds`` and ``file`` (``""`` when in memory)."""
        return [
            {
                "code": "".join(map(str, self._codes[i])),
                "repeat": self._repeats[i],
                "accuracy": self._accuracy[i],
                "loss": self._loss[i],
                "seed": self._seeds[i],
                "evaluation": self._eval_ids[i],
                "seconds": self._seconds[i],
                "file": self._files[i],
            }
            for i in range(len(self._codes))
        ]

    def cached(self, code: Any) -> tuple[float, float] | None:
        """``(accuracy, loss)`` of ``code``'s first scoring, or ``None`` if never scored."""
        idx = self._index.get(self._partition.parse_code(code))
        return None if not idx else (self._accuracy[idx[0]], self._loss[idx[0]])

    # ------------------------------------------------------------------ evaluation
    def _codes_of(self, values: torch.Tensor) -> list[tuple[int, ...]]:
        if values.is_floating_point() or values.is_complex() or values.dtype == torch.bool:
            raise TypeError(
                f"BlockCodeProblem's solutions must be integers 0/1 (int64), got {values.dtype} "
                "values; build them with problem.generate_batch or an integer tensor."
            )
        if values.ndim != 2 or values.shape[1] != self._partition.n:
            raise ValueError(
                f"Solutions must have {self._partition.n} genes (one per block), got shape "
                f"{tuple(values.shape)}."
            )
        bad = (values != 0) & (values != 1)
        if bool(bad.any()):
            row, col = (int(i) for i in bad.nonzero()[0])
            raise ValueError(
                f"Solution {row} has value {int(values[row, col])} at gene {col} (block "
                f"{self._partition.names[col]!r}); genes must be 0 (re-initialise) or 1 (keep)."
            )
        return [tuple(int(v) for v in row) for row in values.tolist()]

    def _evaluate_batch(self, batch: SolutionBatch) -> None:
        codes = self._codes_of(batch.values)  # every row checked before any retraining
        acc = torch.empty(len(codes), dtype=torch.float64)
        loss = torch.empty(len(codes), dtype=torch.float64)
        for i, code in enumerate(codes):
            seen = self._index.get(code)
            if seen and not self._rescore:
                self._cache_hits += 1
                rec = seen[0]
            else:
                rec = self._retrain_and_store(code, repeat=len(seen) if seen else 0)
                self._retrainings += 1
            self._evaluations += 1
            acc[i] = self._accuracy[rec]
            loss[i] = self._loss[rec]
        evals = torch.stack([acc, loss], dim=1).to(batch.evals.dtype)
        batch.set_evals(evals)

    def _retrain_and_store(self, code: tuple[int, ...], *, repeat: int) -> int:
        seed = self.retrain_seed(code, repeat)
        result = run_retraining(
            self._template,
            code,
            self._partition,
            self.train_set,
            self._config,
            seed=seed,
            device=self._train_device,
            init_fn=self._init_fn,
        )
        accuracy, loss = score(result.model, self.heldout_set, batch_size=self._eval_batch_size)
        weights = {k: v.detach().to("cpu").clone() for k, v in result.model.state_dict().items()}
        rec = len(self._codes)
        file = ""
        if self._store_dir is not None:
            file = self._file_name(code, repeat)
            payload = {
                "format": _FORMAT,
                "code": "".join(map(str, code)),
                "repeat": repeat,
                "seed": seed,
                "accuracy": accuracy,
                "state_dict": weights,
            }
            _atomic_save(payload, self._store_dir / file)
            weights = None
        self._codes.append(code)
        self._repeats.append(repeat)
        self._accuracy.append(accuracy)
        self._loss.append(loss)
        self._seeds.append(seed)
        self._eval_ids.append(self._evaluations)
        self._seconds.append(result.seconds)
        self._weights.append(weights)
        self._files.append(file)
        self._index.setdefault(code, []).append(rec)
        return rec

    @staticmethod
    def _file_name(code: tuple[int, ...], repeat: int) -> str:
        key = "".join(map(str, code))
        if len(key) > 128:
            key = hashlib.sha256(key.encode()).hexdigest()[:32]
        return f"code-{key}-r{repeat}.pt"

    # ------------------------------------------------------------------ networks
    def _record_of(self, code: Any, repeat: int | None) -> int:
        bits = self._partition.parse_code(code)
        idx = self._index.get(bits)
        if not idx:
            raise KeyError(
                f"Code {''.join(map(str, bits))} has not been scored; evaluate it first (the "
                "problem keeps only the networks of the codes it has scored)."
            )
        if repeat is None:
            return max(idx, key=lambda i: (self._accuracy[i], -i))
        for i in idx:
            if self._repeats[i] == repeat:
                return i
        raise KeyError(
            f"Code {''.join(map(str, bits))} has no repetition {repeat}; it has "
            f"{[self._repeats[i] for i in idx]}."
        )

    def _weights_of(self, rec: int) -> dict[str, torch.Tensor]:
        weights = self._weights[rec]
        if weights is not None:
            return weights
        if self._store_dir is None or not self._files[rec]:
            raise RuntimeError(
                "The weights of this scoring are not here: the state_dict was saved with "
                "include_weights=False, or with `store_dir` and loaded into a problem without "
                "it. Build the problem with the same `store_dir`, or evaluate the code again "
                "in a fresh problem."
            )
        path = self._store_dir / self._files[rec]
        if not path.is_file():
            raise FileNotFoundError(
                f"The stored network {str(path)!r} is missing; was `store_dir` moved or cleaned?"
            )
        payload = torch.load(path, map_location="cpu", weights_only=True)
        code = "".join(map(str, self._codes[rec]))
        if (
            not isinstance(payload, dict)
            or payload.get("format") != _FORMAT
            or payload.get("code") != code
            or payload.get("seed") != self._seeds[rec]
        ):
            raise ValueError(
                f"{str(path)!r} does not hold the network of code {code} (seed "
                f"{self._seeds[rec]}); `store_dir` belongs to another run."
            )
        return payload["state_dict"]

    def network(self, code: Any, *, repeat: int | None = None) -> nn.Module:
        """The retrained network of a scored code, rebuilt without retraining.

        Args:
            code: The code (any form :meth:`BlockPartition.parse_code` accepts).
            repeat: Which retraining of the code (with ``rescore_duplicates=True``);
                ``None``: the one with the best accuracy (the first on ties).

        Returns:
            A new module on ``device``, in eval mode.

        Raises:
            KeyError: If the code (or that repetition) was never scored.
        """
        rec = self._record_of(code, repeat)
        net = copy.deepcopy(self._template)
        net.load_state_dict(self._weights_of(rec))
        net.eval()
        return net

    def best(self) -> tuple[torch.Tensor, float, nn.Module]:
        """``(code, accuracy, network)`` of the best scoring so far (highest held-out
        accuracy; the earliest on ties). ``code`` is an int64 tensor.

        Raises:
            RuntimeError: If nothing has been scored yet.
        """
        if not self._codes:
            raise RuntimeError("No code has been scored yet; call evaluate() first.")
        rec = max(range(len(self._codes)), key=lambda i: (self._accuracy[i], -i))
        code = self._codes[rec]
        net = self.network(code, repeat=self._repeats[rec])
        return torch.tensor(code, dtype=torch.int64), self._accuracy[rec], net

    # ------------------------------------------------------------------ state
    def state_dict(self, *, include_weights: bool = True) -> dict[str, Any]:
        """The cache, records and counters as tensors and plain values, loadable with
        ``torch.load(..., weights_only=True)``.

        In-memory weights are included (``include_weights=True``) so that :meth:`network`
        works after a resume; with ``store_dir`` only the file names are (the files stay).
        EvoTorch's generator state is the algorithm's to save.
        """
        n = self._partition.n
        keep = include_weights and self._store_dir is None
        return {
            "format": _FORMAT,
            "seed": self._nesgd_seed,
            "blocks": self._partition.names,
            "rescore_duplicates": self._rescore,
            "counters": {
                "evaluations": self._evaluations,
                "retrainings": self._retrainings,
                "cache_hits": self._cache_hits,
            },
            "codes": torch.tensor(self._codes, dtype=torch.int64).reshape(-1, n),
            "repeats": torch.tensor(self._repeats, dtype=torch.int64),
            "accuracy": torch.tensor(self._accuracy, dtype=torch.float64),
            "loss": torch.tensor(self._loss, dtype=torch.float64),
            "seeds": torch.tensor(self._seeds, dtype=torch.int64),
            "evaluation_ids": torch.tensor(self._eval_ids, dtype=torch.int64),
            "seconds": torch.tensor(self._seconds, dtype=torch.float64),
            "files": list(self._files),
            "weights": [dict(w) for w in self._weights] if keep else None,  # type: ignore[arg-type]
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` of a problem with the same seed, blocks and
        ``rescore_duplicates`` (replacing the current cache and counters).

        Raises:
            ValueError: For a state of another problem.
        """
        if not isinstance(state, Mapping) or state.get("format") != _FORMAT:
            raise ValueError("`state` is not a BlockCodeProblem state_dict.")
        for key, mine in (
            ("seed", self._nesgd_seed),
            ("blocks", self._partition.names),
            ("rescore_duplicates", self._rescore),
        ):
            if state[key] != mine:
                raise ValueError(
                    f"The state belongs to another problem: its {key!r} is {state[key]!r}, "
                    f"this problem has {mine!r}."
                )
        codes = [tuple(int(v) for v in row) for row in state["codes"].tolist()]
        weights = state.get("weights")
        files = list(state["files"])
        if weights is None and self._store_dir is None and codes:
            weights = [None] * len(codes)
        self._reset_records()
        self._codes = codes
        self._repeats = [int(v) for v in state["repeats"].tolist()]
        self._accuracy = [float(v) for v in state["accuracy"].tolist()]
        self._loss = [float(v) for v in state["loss"].tolist()]
        self._seeds = [int(v) for v in state["seeds"].tolist()]
        self._eval_ids = [int(v) for v in state["evaluation_ids"].tolist()]
        self._seconds = [float(v) for v in state["seconds"].tolist()]
        self._files = files
        if weights is None:
            self._weights = [None] * len(codes)
        else:
            self._weights = [
                None if w is None else {k: v.detach().to("cpu") for k, v in w.items()}
                for w in weights
            ]
        for i, code in enumerate(codes):
            self._index.setdefault(code, []).append(i)
        counters = state["counters"]
        self._evaluations = int(counters["evaluations"])
        self._retrainings = int(counters["retrainings"])
        self._cache_hits = int(counters["cache_hits"])


def _atomic_save(payload: Any, path: Path) -> None:
    """``torch.save`` to a temporary file in ``path``'s folder, then :func:`os.replace`."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
