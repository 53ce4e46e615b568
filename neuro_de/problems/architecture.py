r"""EvoTorch problem of Prellberg & Kramer (2018): the fitness of a CNN architecture (with
the weights it inherited) is its held-out accuracy after ``e`` epochs of Adam, under a total
training-epoch budget, and the trained weights are written back into the solution
(Lamarckian inheritance).

A solution is a Python dict (EvoTorch ``dtype=object``)::

    {"arch": ((f1, k1, s1), ..., (fL, kL, sL)),   # (filters, kernel, stride) per block
     "weights": {name: tensor} | None,            # a state_dict, or None: fresh initialisation
     "inherited_fraction": float, ...}            # any further plain entries are kept

Evaluating it builds the network for ``arch`` with the caller's ``build`` callable, loads
``weights`` (strictly) when given, trains ``epochs_per_evaluation`` epochs with a **fresh**
Adam (no optimiser state is inherited, paper Sec. 4.2), scores the top-1 accuracy on the
held-out split (the fitness, maximised; the mean held-out cross-entropy is kept as
evaluation data) and stores the *trained* ``state_dict`` back in the solution, so a child
mutated from it starts from the learned weights (paper Sec. 3.3; spec B.11).

Every evaluation costs ``epochs_per_evaluation`` epochs of the budget ``n``; the initial
individual's evaluation counts too (spec B.9 #3) and an evaluation that would exceed the
budget is refused (:class:`BudgetExceeded`), so a search can never overrun it (B.9 #2). The
set of every evaluated architecture (:attr:`ArchitectureProblem.history`) is global over the
run, niching sub-runs included (B.9 #8): the mutation's forced-novelty rule reads it.

References:
    M. Prellberg, O. Kramer. *Lamarckian Evolution of Convolutional Neural Networks.*
    PPSN XV, 2018. arXiv:1806.08099.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from evotorch import Problem, Solution, SolutionBatch
from torch import nn
from torch.utils.data import Dataset

from ..models.blocks import _check_seed, derive_seed, seeded_rng
from .checks import resolve_device
from .retraining import check_dataset, check_model_fits, train_epochs
from .retraining import score as _score

__all__ = [
    "ArchitectureProblem",
    "BudgetExceeded",
    "parse_arch",
    "plain_value",
]

_FORMAT = "neuro_de.ArchitectureProblem/1"

Arch = tuple[tuple[int, int, int], ...]


class BudgetExceeded(RuntimeError):
    """An evaluation would spend more training epochs than the budget has left."""


# ----------------------------------------------------------------------- genomes
def plain_value(value: Any, *, clone: bool = True) -> Any:
    """A mutable, plain copy of a value stored in an EvoTorch object-dtype solution.

    EvoTorch keeps object values as ``ImmutableDict`` / ``ImmutableList`` /
    ``ReadOnlyTensor``; this turns mappings into ``dict``, sequences (lists, tuples,
    immutable lists) into ``tuple`` (so an ``arch`` becomes a tuple of tuples) and tensors
    into ordinary ``torch.Tensor`` (cloned unless ``clone=False``). A
    :class:`~evotorch.Solution` gives the plain copy of its values.

    Args:
        value: The stored value (or a plain one, which is copied the same way).
        clone: Clone tensors (``False`` shares their storage, read-only use only).

    Returns:
        The plain copy.
    """
    if isinstance(value, Solution):
        value = value.values
    if isinstance(value, torch.Tensor):
        t = value.as_subclass(torch.Tensor)
        return t.clone() if clone else t
    if isinstance(value, (str, bytes)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {k: plain_value(v, clone=clone) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or (
        hasattr(value, "__iter__") and hasattr(value, "__len__") and hasattr(value, "__getitem__")
    ):
        return tuple(plain_value(v, clone=clone) for v in value)
    return value


def _is_int(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, (int, np.integer))


def parse_arch(arch: Any, *, where: str = "arch") -> Arch:
    """Check an architecture genome and return it as a tuple of ``(f, k, s)`` int triples.

    Args:
        arch: The genome: a non-empty sequence of ``(filters, kernel, stride)`` blocks,
            each three positive integers (paper Sec. 3.2: at least one block).
        where: What to call it in the message (e.g. ``"solution 3's arch"``).

    Returns:
        ``((f1, k1, s1), ...)`` as plain ints.

    Raises:
        ValueError: For anything else (a corrupted genome), naming the value and the block.
    """
    if isinstance(arch, (str, bytes, Mapping)) or not hasattr(arch, "__len__"):
        raise ValueError(
            f"{where} must be a non-empty tuple of (filters, kernel, stride) blocks, got "
            f"{type(arch).__name__} {arch!r} (corrupted genome)."
        )
    blocks = list(arch)
    if not blocks:
        raise ValueError(
            f"{where} has no block; an architecture needs at least one (filters, kernel, "
            "stride) block (corrupted genome)."
        )
    out = []
    for j, block in enumerate(blocks):
        ok = (
            not isinstance(block, (str, bytes, Mapping))
            and hasattr(block, "__len__")
            and len(block) == 3
            and all(_is_int(v) and v > 0 for v in block)
        )
        if not ok:
            raise ValueError(
                f"{where} block {j} is {plain_value(block, clone=False)!r}; every block must "
                "be three positive integers (filters, kernel, stride) (corrupted genome: "
                f"{plain_value(arch, clone=False)!r})."
            )
        out.append(tuple(int(v) for v in block))
    return tuple(out)  # type: ignore[return-value]


def _check_value(value: Any, *, where: str) -> tuple[Arch, dict[str, torch.Tensor] | None]:
    """``(arch, weights)`` of a solution value, or a clear error."""
    if not isinstance(value, Mapping):
        raise ValueError(
            f"{where} is {type(value).__name__} {value!r}; an ArchitectureProblem solution is "
            "a dict {'arch': ((f, k, s), ...), 'weights': state_dict or None, ...}."
        )
    if "arch" not in value:
        raise ValueError(f"{where} has no 'arch' entry (keys: {sorted(map(str, value))}).")
    arch = parse_arch(value["arch"], where=f"{where}'s arch")
    weights = value.get("weights")
    if weights is None:
        return arch, None
    if not isinstance(weights, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()
    ):
        raise ValueError(
            f"{where}'s 'weights' must be None or a state_dict {{name: tensor}}, got "
            f"{type(weights).__name__}."
        )
    return arch, {k: v.as_subclass(torch.Tensor) for k, v in weights.items()}


def _check_positive_int(name: str, value: Any) -> int:
    if not _is_int(value):
        raise TypeError(f"`{name}` must be an integer, got {value!r}.")
    if value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value}.")
    return int(value)


# ----------------------------------------------------------------------- problem
class ArchitectureProblem(Problem):
    r"""Held-out accuracy of a CNN architecture after ``e`` epochs of Adam, with Lamarckian
    write-back of the trained weights and a total epoch budget (Prellberg & Kramer 2018).

    ``Problem(objective_sense="max", dtype=object, eval_dtype=torch.float64,
    eval_data_length=1, device="cpu")``:
    ``evals[:, 0]`` is the top-1 accuracy in :math:`[0, 1]` on ``heldout_set``,
    ``evals[:, 1]`` (evaluation data, never used for selection) the mean held-out
    cross-entropy. The population stays on the CPU; training runs on ``device``.

    **One evaluation** of a solution ``{"arch", "weights", ...}`` (in batch order):

    1. Build ``build(arch)`` and load ``weights`` with ``strict=True`` when they are given
       (``None``: the network keeps the initialisation ``build`` gave it, drawn under the
       evaluation seed below).
    2. Train ``epochs_per_evaluation`` epochs on ``train_set`` with a **new**
       ``torch.optim.Adam(lr=lr)`` (its ``state`` is empty at the start: Adam's moments are
       never inherited, paper Sec. 4.2), cross-entropy, minibatches of ``batch_size`` in a
       fresh random order each epoch (the last minibatch is skipped when it holds one sample
       and the network has BatchNorm).
    3. Score top-1 accuracy and loss on ``heldout_set`` (eval mode).
    4. Write the trained ``state_dict`` (on the CPU) back into the solution's ``weights``;
       every other entry of the value is kept.

    **Seeds.** Evaluation number ``t`` (0 for the first one of the problem, counting every
    evaluation, niching included) uses the seed
    ``derive_seed("prellberg-kramer-evaluation", seed, t)`` (SHA-256 of the values): it
    seeds the data order (a private ``torch.Generator``) and, inside
    :func:`torch.random.fork_rng`, the network construction (fresh initialisation) and any
    dropout. So a seeded run repeats exactly on the CPU and a resumed one continues as the
    uninterrupted one would; the caller's global RNG state is left unchanged.

    **Budget.** Every evaluation charges ``epochs_per_evaluation`` to :attr:`epochs_used`
    (also the initial individual's, B.9 #3). A batch whose evaluation would exceed
    ``budget`` raises :class:`BudgetExceeded` before any training; a search checks
    :meth:`can_afford` first.

    **Fresh optimiser check (B.12.6).** :attr:`optimizer_hook` is a list of callables
    ``hook(optimizer, network)`` called right after each evaluation's Adam is created and
    before its first step; :attr:`last_initial_optimizer_state` is ``len(opt.state)`` at
    that moment (0 for a fresh Adam).

    Args:
        build: ``build(arch) -> nn.Module``, the network of an architecture
            (``(batch, C)`` logits), e.g. ``lambda a: BlockCNN(a, in_channels=1,
            num_classes=10, dim=1)``. Its parameter names must match the weights the
            mutation produces.
        train_set: Labelled map-style training data (without the held-out part).
        heldout_set: Labelled held-out data of the fitness (never the test set).
        epochs_per_evaluation: Epochs ``e`` of every evaluation (paper: 4 or 16).
        budget: Total training epochs ``n`` of the run (paper: 512), at least one
            evaluation (``budget >= epochs_per_evaluation``).
        lr: Adam's learning rate (paper: 1e-3).
        batch_size: Minibatch size (paper: 512; 128 in the scaled protocol).
        seed: Seed (integer >= 0) of the evaluations (above) and of EvoTorch's problem
            generator (given to ``initial``).
        device: Where networks are trained and scored.
        initial: Optional ``initial(generator) -> value dict`` used when the problem is
            asked to draw solutions (``generate_batch``); without it drawing raises.
        eval_batch_size: Samples per forward pass when scoring.
        store_solution_stats: Passed to :class:`evotorch.Problem` (``None``: its default).

    Raises:
        TypeError: ``build`` or ``initial`` not callable, non-integer counts.
        ValueError: Non-positive ``epochs_per_evaluation`` or ``batch_size``, a budget
            smaller than one evaluation, a non-positive ``lr``, an empty or badly labelled
            data set. At evaluation: a corrupted genome (naming it), weights that do not fit
            the built network. :class:`BudgetExceeded`: an evaluation beyond the budget.

    Example:
        >>> problem = ArchitectureProblem(build, train, heldout, epochs_per_evaluation=1,
        ...                               budget=64, lr=1e-3, batch_size=128, seed=0)
        >>> ea = OnePlusOneEA(problem, mutate=mutate, initial=initial)
    """

    def __init__(
        self,
        build: Callable[[Arch], nn.Module],
        train_set: Dataset,
        heldout_set: Dataset,
        *,
        epochs_per_evaluation: int,
        budget: int,
        lr: float = 1e-3,
        batch_size: int = 128,
        seed: int = 0,
        device: str | torch.device = "cpu",
        initial: Callable[[torch.Generator], dict] | None = None,
        eval_batch_size: int = 512,
        store_solution_stats: bool | None = None,
    ):
        if not callable(build):
            raise TypeError(
                f"`build` must be a callable arch -> nn.Module, got {type(build).__name__}."
            )
        if initial is not None and not callable(initial):
            raise TypeError(
                f"`initial` must be a callable generator -> value dict, got "
                f"{type(initial).__name__}."
            )
        epochs = _check_positive_int("epochs_per_evaluation", epochs_per_evaluation)
        budget = _check_positive_int("budget", budget)
        if budget < epochs:
            raise ValueError(
                f"`budget`={budget} epochs is smaller than one evaluation "
                f"(epochs_per_evaluation={epochs}); the initial individual alone costs "
                f"{epochs} epochs. Give budget >= {epochs}."
            )
        self._batch_size = _check_positive_int("batch_size", batch_size)
        self._eval_batch_size = _check_positive_int("eval_batch_size", eval_batch_size)
        if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating)):
            raise TypeError(f"`lr` must be a number, got {lr!r}.")
        if not math.isfinite(float(lr)) or lr <= 0:
            raise ValueError(f"`lr` must be a finite learning rate > 0, got {lr}.")
        seed = _check_seed(seed)
        device = resolve_device(device)
        check_dataset(train_set, name="train_set")
        check_dataset(heldout_set, name="heldout_set")
        extra = (
            {} if store_solution_stats is None else {"store_solution_stats": store_solution_stats}
        )
        super().__init__(
            objective_sense="max",
            dtype=object,
            eval_dtype=torch.float64,
            eval_data_length=1,
            seed=seed,
            device="cpu",
            **extra,
        )
        self._build = build
        self._initial = initial
        self._epochs = epochs
        self._budget = budget
        self._lr = float(lr)
        self._arch_seed = seed
        self._train_device = device
        self.train_set = train_set
        self.heldout_set = heldout_set
        self.optimizer_hook: list[Callable[[torch.optim.Optimizer, nn.Module], Any]] = []
        self.last_initial_optimizer_state: int | None = None
        self._fits_checked = False
        self._reset_records()

    def _reset_records(self) -> None:
        self._epochs_used = 0
        self._evaluations = 0
        if hasattr(self, "_history"):
            self._history.clear()  # the same set: a mutation closure may hold it
        else:
            self._history: set[Arch] = set()
        self._records: list[dict[str, Any]] = []

    # ---------------------------------------------------------------- budget
    @property
    def epochs_used(self) -> int:
        """Training epochs spent so far (every evaluation, the initial one included)."""
        return self._epochs_used

    @property
    def budget(self) -> int:
        """The run's total training-epoch budget ``n``."""
        return self._budget

    @property
    def epochs_left(self) -> int:
        """``budget - epochs_used``."""
        return self._budget - self._epochs_used

    @property
    def evaluation_cost(self) -> int:
        """Epochs one evaluation costs (``epochs_per_evaluation``)."""
        return self._epochs

    @property
    def epochs_per_evaluation(self) -> int:
        """Training epochs ``e`` of every evaluation."""
        return self._epochs

    @property
    def lr(self) -> float:
        """Adam's learning rate."""
        return self._lr

    @property
    def batch_size(self) -> int:
        """Training minibatch size."""
        return self._batch_size

    def can_afford(self, n: int = 1) -> bool:
        """Whether ``n`` more evaluations fit in the budget."""
        if not _is_int(n) or n < 0:
            raise ValueError(f"`n` must be an integer >= 0, got {n!r}.")
        return self._epochs_used + int(n) * self._epochs <= self._budget

    @property
    def evaluations(self) -> int:
        """Number of evaluations so far."""
        return self._evaluations

    @property
    def history(self) -> set[Arch]:
        """Every architecture evaluated so far (global over the run, B.9 #8); the mutation's
        forced-novelty rule reads it. The set itself, not a copy."""
        return self._history

    def records(self) -> list[dict[str, Any]]:
        """One dict per evaluation, in order: ``evaluation`` (from 0), ``arch``,
        ``accuracy``, ``loss``, ``epochs_used`` (after it), ``seed``,
        ``inherited_fraction`` (``nan`` when the value has none), ``train_loss`` (mean of
        the last epoch) and ``seconds``."""
        return [dict(r) for r in self._records]

    def evaluation_seed(self, t: int) -> int:
        """The seed of evaluation number ``t`` (see the class docstring)."""
        return derive_seed("prellberg-kramer-evaluation", self._arch_seed, int(t))

    # ---------------------------------------------------------------- networks
    def network(self, solution_value: Any) -> nn.Module:
        """The network of a solution: ``build(arch)`` with its ``weights`` loaded (strict),
        on ``device``, in eval mode. A value without weights gets ``build``'s own
        initialisation (from the global RNG).

        Args:
            solution_value: A value dict (plain or as stored) or a
                :class:`~evotorch.Solution`.

        Raises:
            ValueError: For a corrupted genome or weights that do not fit the network.
        """
        if isinstance(solution_value, Solution):
            solution_value = solution_value.values
        arch, weights = _check_value(solution_value, where="the solution")
        net = self._make(arch, weights, where="the solution")
        net.eval()
        return net

    def _make(
        self, arch: Arch, weights: Mapping[str, torch.Tensor] | None, *, where: str
    ) -> nn.Module:
        net = self._build(arch)
        if not isinstance(net, nn.Module):
            raise TypeError(
                f"`build({arch!r})` returned {type(net).__name__}, not a torch.nn.Module."
            )
        if weights is not None:
            try:
                net.load_state_dict(dict(weights), strict=True)
            except RuntimeError as err:
                raise ValueError(
                    f"{where}'s weights do not fit the network built for arch {arch!r}: {err}"
                ) from err
        return net.to(self._train_device)

    def score(self, network: nn.Module, data: Dataset) -> tuple[float, float]:
        """``(top-1 accuracy, mean cross-entropy)`` of ``network`` on ``data`` (eval mode,
        no gradients; the network's modes are restored)."""
        return _score(network, data, batch_size=self._eval_batch_size,
                      device=self._train_device)

    # ---------------------------------------------------------------- evaluation
    def _fill(self, values: Any) -> None:
        if self._initial is None:
            raise TypeError(
                "ArchitectureProblem cannot draw solutions by itself: pass "
                "`initial=` (a callable generator -> {'arch': ..., 'weights': None}) to the "
                "problem, or the `initial` callable to OnePlusOneEA."
            )
        for i in range(len(values)):
            values[i] = self._initial(self.generator)

    def _evaluate_batch(self, batch: SolutionBatch) -> None:
        stored = batch.values
        n = len(stored)
        parsed = [_check_value(stored[i], where=f"solution {i}") for i in range(n)]
        if not self.can_afford(n):
            raise BudgetExceeded(
                f"Evaluating {n} solution(s) costs {n * self._epochs} training epochs, but "
                f"only {self.epochs_left} of the budget's {self._budget} are left "
                f"({self._epochs_used} used). Check problem.can_afford() before evaluating."
            )
        evals = torch.empty((n, 2), dtype=torch.float64)
        trained: list[dict[str, Any]] = []
        for i, (arch, weights) in enumerate(parsed):
            acc, loss, state = self._evaluate_one(stored[i], arch, weights, where=f"solution {i}")
            evals[i, 0] = acc
            evals[i, 1] = loss
            value = plain_value(stored[i], clone=False)
            value["weights"] = state
            trained.append(value)
        vals = batch.access_values(keep_evals=True)
        for i, value in enumerate(trained):
            vals[i] = value  # Lamarckian write-back (stored as a cloned ReadOnlyTensor dict)
        batch.set_evals(evals.to(batch.evals.dtype))

    def _evaluate_one(
        self,
        value: Mapping[str, Any],
        arch: Arch,
        weights: Mapping[str, torch.Tensor] | None,
        *,
        where: str,
    ) -> tuple[float, float, dict[str, torch.Tensor]]:
        start = time.perf_counter()
        t = self._evaluations
        seed = self.evaluation_seed(t)
        with seeded_rng(seed, [self._train_device]):
            net = self._make(arch, weights, where=where)
            if not self._fits_checked:
                check_model_fits(net, self.train_set, name="train_set")
                check_model_fits(net, self.heldout_set, name="heldout_set")
                self._fits_checked = True
            # the epochs are spent from here on, whatever happens
            self._epochs_used += self._epochs
            self._evaluations += 1
            self._history.add(arch)
            with torch.enable_grad():  # EvoTorch steps run under no_grad
                train_loss = self._train(net, seed)
        acc, loss = self.score(net, self.heldout_set)
        state = {k: v.detach().to("cpu").clone() for k, v in net.state_dict().items()}
        try:
            fraction = float(value.get("inherited_fraction", float("nan")))
        except (TypeError, ValueError):
            fraction = float("nan")
        self._records.append(
            {
                "evaluation": t,
                "arch": arch,
                "accuracy": float(acc),
                "loss": float(loss),
                "epochs_used": self._epochs_used,
                "seed": seed,
                "inherited_fraction": fraction,
                "train_loss": train_loss,
                "seconds": time.perf_counter() - start,
            }
        )
        return acc, loss, state

    def _train(self, net: nn.Module, seed: int) -> float:
        """Train ``net`` for ``epochs_per_evaluation`` epochs with a fresh Adam; returns the
        mean training loss of the last epoch."""
        opt = torch.optim.Adam(net.parameters(), lr=self._lr)
        self.last_initial_optimizer_state = len(opt.state)
        for hook in self.optimizer_hook:
            hook(opt, net)
        history = train_epochs(
            net, opt, self.train_set, epochs=self._epochs, batch_size=self._batch_size,
            generator=torch.Generator().manual_seed(seed), device=self._train_device,
        )
        return history[-1]

    # ---------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Counters, history and records as plain values (loadable with
        ``torch.load(..., weights_only=True)``), for an exact resume."""
        gen = self.generator
        return {
            "format": _FORMAT,
            "seed": self._arch_seed,
            "epochs_per_evaluation": self._epochs,
            "budget": self._budget,
            "epochs_used": self._epochs_used,
            "evaluations": self._evaluations,
            "history": [list(map(list, a)) for a in sorted(self._history)],
            "records": [
                {**r, "arch": [list(b) for b in r["arch"]]} for r in self._records
            ],
            "generator_state": None if gen is None else gen.get_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` of a problem with the same seed, epochs per
        evaluation and budget.

        Raises:
            ValueError: For a state of another problem.
        """
        if not isinstance(state, Mapping) or state.get("format") != _FORMAT:
            raise ValueError("`state` is not an ArchitectureProblem state_dict.")
        for key, mine in (
            ("seed", self._arch_seed),
            ("epochs_per_evaluation", self._epochs),
            ("budget", self._budget),
        ):
            if state[key] != mine:
                raise ValueError(
                    f"The state belongs to another problem: its {key!r} is {state[key]!r}, "
                    f"this problem has {mine!r}."
                )
        self._reset_records()
        self._epochs_used = int(state["epochs_used"])
        self._evaluations = int(state["evaluations"])
        self._history.update(parse_arch(a, where="a stored arch") for a in state["history"])
        self._records = [
            {**r, "arch": parse_arch(r["arch"], where="a stored arch")}
            for r in state["records"]
        ]
        if state.get("generator_state") is not None and self.generator is not None:
            self.generator.set_state(state["generator_state"])
