r"""Parameter rules: how each individual's :math:`F` and :math:`CR` are drawn and adapted.

A rule has a small interface (:class:`ParameterRule`):

* :meth:`~ParameterRule.sample` returns ``(F, CR)``, two ``(N,)`` float64 tensors on the
  problem's device, for the :class:`~neuro_de.adaptation.Generation` it is given
  (``generation.strategy_ids`` says which strategy each individual uses);
* :meth:`~ParameterRule.update` learns from the generation's
  :class:`~neuro_de.adaptation.Outcome` (which trials were selected, which strictly
  improved, by how much);
* :meth:`~ParameterRule.status` reports float status items (e.g. ``F/<strategy key>``);
* ``state_dict`` / ``load_state_dict`` carry its state through a checkpoint.

Every rule takes admissible ranges ``F_range`` and ``CR_range``: a trained network needs
small steps (the seed paper's Table S3: F in (0, 0.2), CR in (0, 0.3)).

Built-ins: :class:`FixedParameters` (classic DE, with dither), :class:`SaDEParameters`,
:class:`SuccessHistoryParameters` (SHADE) and :class:`Sinusoidal`, LSHADE-EpSin's
sinusoidal F as a wrapper around another rule. jDE's and JADE's rules live beside their
algorithms (:mod:`neuro_de.algorithms.jde`, :mod:`neuro_de.algorithms.jade`); the
"Writing your own adaptive DE" section of ``docs/algorithms.md`` writes jDE's from scratch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from .context import Generation, Outcome
from .memory import MEANS, SuccessHistoryMemory
from .sade import MedianCRMemory
from .sampling import cauchy_regenerate, normal_clipped
from .sinusoidal import sinusoidal_decreasing, sinusoidal_increasing

__all__ = [
    "FixedParameters",
    "ParameterRule",
    "SaDEParameters",
    "Sinusoidal",
    "SuccessHistoryParameters",
    "check_range",
]


def check_range(name: str, rng, low: float, high: float) -> tuple[float, float]:
    """``rng`` as a ``(lo, hi)`` pair of floats with ``low <= lo < hi <= high``, or a clear
    error naming ``name``."""
    try:
        lo, hi = float(rng[0]), float(rng[1])
        if len(rng) != 2:
            raise ValueError
    except (TypeError, IndexError, ValueError):
        raise TypeError(f"`{name}` must be a (low, high) pair of floats, got {rng!r}.") from None
    if not (low <= lo < hi <= high):
        raise ValueError(f"`{name}` must satisfy {low} <= low < high <= {high}, got {rng!r}.")
    return lo, hi


class ParameterRule:
    r"""Base of the F/CR rules. A subclass implements :meth:`sample`; one that adapts also
    :meth:`update` and the state methods.

    Args:
        F_range: Admissible :math:`F`, a ``(low, high)`` pair in [0, 2].
        CR_range: Admissible :math:`CR`, a ``(low, high)`` pair in [0, 1].
    """

    def __init__(
        self,
        *,
        F_range: tuple[float, float] = (0.0, 1.0),
        CR_range: tuple[float, float] = (0.0, 1.0),
    ):
        self.F_range = check_range("F_range", F_range, 0.0, 2.0)
        self.CR_range = check_range("CR_range", CR_range, 0.0, 1.0)

    def setup(self, *, popsize: int, num_strategies: int, device) -> None:
        """Called once by the algorithm before the first generation (allocate state)."""

    def sample(self, generation: Generation) -> tuple[torch.Tensor, torch.Tensor]:
        """``(F, CR)`` for the generation's individuals (``(N,)`` tensors)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def update(self, outcome: Outcome) -> None:
        """Learn from the generation's outcome (nothing, by default)."""

    def status_keys(self) -> tuple[str, ...]:
        """Status items this rule adds beyond the algorithm's (declared once)."""
        return ()

    def status(self, strategy_keys: Sequence[str]) -> dict[str, float]:
        """Float status items; may override the algorithm's ``F/<key>``, ``CR/<key>``
        (by default the means of the generation's draws)."""
        return {}

    def reindex(self, rows: torch.Tensor) -> None:
        """The population kept the individuals ``rows``, in this order (L-SHADE's
        population reduction): a rule with per-individual state keeps those entries."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class FixedParameters(ParameterRule):
    r"""Classic DE (Storn & Price 1997): the same :math:`F` and :math:`CR` for everyone,
    or dither, a fresh :math:`F_i \sim U(low, high)` per individual and generation.

    Args:
        F: Scale factor in (0, 2], or a ``(low, high)`` dither pair.
        CR: Crossover rate in [0, 1].
        F_range, CR_range: Admissible ranges the values must lie in (default: any).
    """

    def __init__(
        self,
        F: float | tuple[float, float] = 0.5,
        CR: float = 0.9,
        *,
        F_range: tuple[float, float] = (0.0, 2.0),
        CR_range: tuple[float, float] = (0.0, 1.0),
    ):
        super().__init__(F_range=F_range, CR_range=CR_range)
        lo, hi = self.F_range
        if isinstance(F, (tuple, list)):
            if len(F) != 2 or not (lo <= float(F[0]) <= float(F[1]) <= hi):
                raise ValueError(
                    f"Dither `F` must be (low, high) with {lo} <= low <= high <= {hi}, got "
                    f"{F!r}."
                )
            F = (float(F[0]), float(F[1]))
        elif isinstance(F, bool) or not isinstance(F, (int, float)) or not (0 < F <= 2):
            raise ValueError(f"`F` must be a number in (0, 2] (typically 0.4-1), got {F!r}.")
        elif not lo <= F <= hi:
            raise ValueError(f"`F`={F} lies outside `F_range` {self.F_range}.")
        if isinstance(CR, bool) or not isinstance(CR, (int, float)) or not (0 <= CR <= 1):
            raise ValueError(f"`CR` must be a number in [0, 1], got {CR!r}.")
        if not self.CR_range[0] <= CR <= self.CR_range[1]:
            raise ValueError(f"`CR`={CR} lies outside `CR_range` {self.CR_range}.")
        self.F, self.CR = F, float(CR)

    def sample(self, generation: Generation) -> tuple[torch.Tensor, torch.Tensor]:
        n, dev = generation.popsize, generation.device
        if isinstance(self.F, tuple):
            a, b = self.F
            F = generation.uniform().mul_(b - a).add_(a)
        else:
            F = torch.full((n,), float(self.F), dtype=torch.float64, device=dev)
        return F, torch.full((n,), self.CR, dtype=torch.float64, device=dev)


class SaDEParameters(ParameterRule):
    r"""SaDE's parameter rules (Qin, Huang & Suganthan 2009):

    * :math:`F_i \sim N(\mu_F, \sigma_F)` per individual (0.5 and 0.3; not truncated, as in
      the paper, unless ``clip_F``);
    * :math:`CR_{k,i} \sim N(CRm_k, \sigma_{CR})` clipped to ``CR_range``, with
      :math:`CRm_k` the median of strategy :math:`k`'s successful CRs over the last
      :math:`LP` generations (:class:`~neuro_de.adaptation.MedianCRMemory`).

    Args:
        F_mean, F_std: :math:`\mu_F`, :math:`\sigma_F`.
        CR_std: :math:`\sigma_{CR}` (0.1).
        CR_init: The first :math:`CRm_k` (default: the middle of ``CR_range``, 0.5).
        learning_period: :math:`LP` of the median window (50).
        clip_F: Clip F to ``F_range`` (the seed paper's ranges for networks).
        F_range, CR_range: Admissible ranges.
    """

    def __init__(
        self,
        *,
        F_mean: float = 0.5,
        F_std: float = 0.3,
        CR_std: float = 0.1,
        CR_init: float | None = None,
        learning_period: int = 50,
        clip_F: bool = False,
        F_range: tuple[float, float] = (0.0, 1.0),
        CR_range: tuple[float, float] = (0.0, 1.0),
    ):
        super().__init__(F_range=F_range, CR_range=CR_range)
        if F_std < 0 or CR_std < 0:
            raise ValueError(f"`F_std` and `CR_std` must be >= 0, got {F_std}, {CR_std}.")
        if isinstance(learning_period, bool) or not isinstance(learning_period, int) or (
            learning_period < 1
        ):
            raise ValueError(f"`learning_period` must be >= 1 (an int), got {learning_period!r}.")
        self.F_mean, self.F_std, self.CR_std = float(F_mean), float(F_std), float(CR_std)
        self.CR_init = 0.5 * sum(self.CR_range) if CR_init is None else float(CR_init)
        self.learning_period = learning_period
        self.clip_F = bool(clip_F)
        self.memory: MedianCRMemory | None = None

    def setup(self, *, popsize: int, num_strategies: int, device) -> None:
        self.memory = MedianCRMemory(num_strategies, popsize, learning_period=self.learning_period,
                                     init=self.CR_init, dtype=torch.float64,
                                     device=device)

    def sample(self, generation: Generation) -> tuple[torch.Tensor, torch.Tensor]:
        F = generation.normal().mul_(self.F_std).add_(self.F_mean)
        if self.clip_F:
            F.clamp_(*self.F_range)
        loc = self.memory.means[generation.strategy_ids]
        CR = normal_clipped(loc, self.CR_std, low=self.CR_range[0], high=self.CR_range[1],
                            generator=generation.generator)
        return F, CR

    def update(self, outcome: Outcome) -> None:
        self.memory.record(outcome.strategy_ids, outcome.CR, outcome.improved)

    def status(self, strategy_keys: Sequence[str]) -> dict[str, float]:
        means = self.memory.means.tolist()
        return {f"CR/{k}": float(m) for k, m in zip(strategy_keys, means, strict=True)}

    def state_dict(self) -> dict:
        return {"cr_memory": self.memory.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.memory.load_state_dict(state["cr_memory"])


class SuccessHistoryParameters(ParameterRule):
    r"""SHADE's success-history parameter adaptation (Tanabe & Fukunaga, CEC 2013), one
    memory per strategy (the seed paper's hybrid; one row for plain SHADE).

    Memories :math:`M_F, M_{CR}` of size :math:`H`. Per individual: a random slot
    :math:`r_i`, :math:`F_i \sim D(M_{F,k_i,r_i}, 0.1)` regenerated while :math:`\le`
    the range's low end and capped at its high end (``F_sampler``: Cauchy, SHADE's, by
    default; :func:`~neuro_de.adaptation.normal_regenerate` is the seed paper's normal),
    :math:`CR_i \sim N(M_{CR,k_i,r_i}, 0.1)` clipped to ``CR_range``. After selection,
    with weights :math:`w = \Delta f / \sum \Delta f` over the successes of strategy
    :math:`k`, :math:`M_{F,k} = \sum w F^2 / \sum w F` (Lehmer) and
    :math:`M_{CR,k} = \sum w CR` (``cr_mean="arithmetic"``, SHADE 2013) or the Lehmer mean
    (``"lehmer"``: SHADE 1.1, L-SHADE, the seed paper) at the position :math:`pos_k`, which
    then advances; a strategy without success changes nothing.

    Args:
        memory_size: :math:`H`.
        F_init, CR_init: The memories' first values (default: the middle of each range,
            0.5 for (0, 1) as in SHADE).
        F_scale, CR_scale: Spreads of the draws (0.1).
        F_sampler: ``f(loc, scale, *, low, high, generator) -> F``.
        cr_mean: ``"arithmetic"`` or ``"lehmer"``.
        F_range, CR_range: Admissible ranges.
    """

    def __init__(
        self,
        *,
        memory_size: int = 100,
        F_init: float | None = None,
        CR_init: float | None = None,
        F_scale: float = 0.1,
        CR_scale: float = 0.1,
        F_sampler: Callable[..., torch.Tensor] = cauchy_regenerate,
        cr_mean: str = "arithmetic",
        F_range: tuple[float, float] = (0.0, 1.0),
        CR_range: tuple[float, float] = (0.0, 1.0),
    ):
        super().__init__(F_range=F_range, CR_range=CR_range)
        if cr_mean not in MEANS:
            raise ValueError(f"`cr_mean` must be one of {MEANS}, got {cr_mean!r}.")
        if not (F_scale > 0 and CR_scale >= 0):
            raise ValueError(f"`F_scale` must be > 0 and `CR_scale` >= 0, got {F_scale}, "
                             f"{CR_scale}.")
        if isinstance(memory_size, bool) or not isinstance(memory_size, int) or memory_size < 1:
            raise ValueError(
                f"Memory size `H` must be >= 1 (`memory_size`, an int), got {memory_size!r}."
            )
        self.memory_size = memory_size
        self.F_init = 0.5 * sum(self.F_range) if F_init is None else float(F_init)
        self.CR_init = 0.5 * sum(self.CR_range) if CR_init is None else float(CR_init)
        self.F_scale, self.CR_scale = float(F_scale), float(CR_scale)
        self.F_sampler = F_sampler
        self.cr_mean = cr_mean
        self.memory: SuccessHistoryMemory | None = None

    def setup(self, *, popsize: int, num_strategies: int, device) -> None:
        self.memory = SuccessHistoryMemory(
            num_strategies, self.memory_size,
            params={"F": (self.F_init, "lehmer"), "CR": (self.CR_init, self.cr_mean)},
            dtype=torch.float64, device=device,
        )

    def sample(self, generation: Generation) -> tuple[torch.Tensor, torch.Tensor]:
        slots = self.memory.sample_slots(generation.popsize, generator=generation.generator)
        return self.sample_at(generation, slots)

    def sample_at(
        self, generation: Generation, slots: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(F, CR)`` drawn around the memory cells at ``slots`` (one per individual)."""
        cells = self.memory.cells(generation.strategy_ids, slots)
        gen = generation.generator
        F = self.F_sampler(cells[0], self.F_scale, low=self.F_range[0], high=self.F_range[1],
                           generator=gen)
        CR = normal_clipped(cells[1], self.CR_scale, low=self.CR_range[0],
                            high=self.CR_range[1], generator=gen)
        return F, CR

    def update(self, outcome: Outcome) -> None:
        self.memory.update(outcome.strategy_ids, (outcome.F, outcome.CR), outcome.improvement)

    def status(self, strategy_keys: Sequence[str]) -> dict[str, float]:
        F, CR = (self.memory[n].mean(1).tolist() for n in ("F", "CR"))
        out = {f"F/{k}": float(v) for k, v in zip(strategy_keys, F, strict=True)}
        out.update({f"CR/{k}": float(v) for k, v in zip(strategy_keys, CR, strict=True)})
        return out

    def state_dict(self) -> dict:
        return {"memory": self.memory.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.memory.load_state_dict(state["memory"])


class Sinusoidal(ParameterRule):
    r"""LSHADE-EpSin's sinusoidal scale factor (Awad, Ali, Suganthan & Reynolds 2016) as a
    wrapper around another rule, which gives CR (and F outside the sinusoidal phases).

    Within each cycle of ``horizon`` generations (:math:`G`; the seed paper: the generations
    spent on one mini-batch, 10), in the first half (:math:`g \le G/2`, :math:`g` counted
    from 1) each generation uses, with probability 1/2 each, the non-adaptive decreasing
    :math:`F = \tfrac12(\sin(2\pi\nu g + \pi)\tfrac{G-g}{G} + 1)` or the adaptive
    increasing :math:`F_i = \tfrac12(\sin(2\pi\nu_i g)\tfrac{g}{G} + 1)` with
    :math:`\nu_i` drawn (``freq_sampler``, scale ``freq_scale``, kept > 0) from a
    per-strategy success-history memory of frequencies (Lehmer mean). The second half uses
    the wrapped rule's F. The [0, 1] schedule is mapped linearly onto the wrapped rule's
    ``F_range``. Successful F values reach the wrapped rule's update whichever phase made
    them, as in LSHADE-EpSin.

    Status item ``sinusoidal_phase``: 0 (wrapped rule), 1 (decreasing), 2 (increasing).

    Args:
        rule: The wrapped rule.
        horizon: :math:`G` (>= 2).
        freq: The non-adaptive :math:`\nu` (0.5).
        freq_init: The frequency memory's first value (0.5).
        freq_scale: Spread of the frequency draw (0.1).
        memory_size: :math:`H` of the frequency memory.
        freq_sampler: ``f(loc, scale, *, low, high, generator)``, Cauchy by default.
    """

    def __init__(
        self,
        rule: ParameterRule,
        *,
        horizon: int = 10,
        freq: float = 0.5,
        freq_init: float = 0.5,
        freq_scale: float = 0.1,
        memory_size: int = 5,
        freq_sampler: Callable[..., torch.Tensor] = cauchy_regenerate,
    ):
        if not isinstance(rule, ParameterRule):
            raise TypeError(f"`rule` must be a ParameterRule, got {type(rule).__name__}.")
        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 2:
            raise ValueError(f"`sin_horizon` must be an int >= 2 generations, got {horizon!r}.")
        self.rule = rule
        self.F_range, self.CR_range = rule.F_range, rule.CR_range
        self.horizon = horizon
        self.freq, self.freq_init, self.freq_scale = float(freq), float(freq_init), float(
            freq_scale)
        self.memory_size = int(memory_size)
        self.freq_sampler = freq_sampler
        self.memory: SuccessHistoryMemory | None = None
        self.phase = 0
        self._freqs: torch.Tensor | None = None

    def setup(self, *, popsize: int, num_strategies: int, device) -> None:
        self.rule.setup(popsize=popsize, num_strategies=num_strategies, device=device)
        self.memory = SuccessHistoryMemory(
            num_strategies, self.memory_size, params={"freq": (self.freq_init, "lehmer")},
            dtype=torch.float64, device=device,
        )

    def phase_of(self, generation: Generation) -> int:
        """0: the wrapped rule's F; 1: non-adaptive decreasing; 2: adaptive increasing (one
        uniform decides between 1 and 2 in the first half of a cycle)."""
        g = generation.index % self.horizon + 1
        if g > self.horizon / 2:
            return 0
        return 1 if float(generation.uniform(1)) < 0.5 else 2

    def sample(self, generation: Generation) -> tuple[torch.Tensor, torch.Tensor]:
        self.phase = self.phase_of(generation)
        F, CR = self.rule.sample(generation)
        if self.phase == 0:
            return F, CR
        g = generation.index % self.horizon + 1
        lo, hi = self.F_range
        if self.phase == 1:
            unit = sinusoidal_decreasing(g, self.horizon, freq=self.freq)
            return torch.full_like(F, lo + (hi - lo) * unit), CR
        slots = self.memory.sample_slots(generation.popsize, generator=generation.generator)
        cells = self.memory.cells(generation.strategy_ids, slots)
        self._freqs = self.freq_sampler(cells[0], self.freq_scale, low=0.0, high=math.inf,
                                        generator=generation.generator)
        unit = sinusoidal_increasing(g, self.horizon, self._freqs)
        return lo + (hi - lo) * unit, CR

    def update(self, outcome: Outcome) -> None:
        self.rule.update(outcome)
        if self.phase == 2:
            self.memory.update(outcome.strategy_ids, (self._freqs,), outcome.improvement)

    def status_keys(self) -> tuple[str, ...]:
        return (*self.rule.status_keys(), "sinusoidal_phase")

    def status(self, strategy_keys: Sequence[str]) -> dict[str, float]:
        return {**self.rule.status(strategy_keys), "sinusoidal_phase": float(self.phase)}

    def reindex(self, rows: torch.Tensor) -> None:
        self.rule.reindex(rows)

    def state_dict(self) -> dict:
        return {"rule": self.rule.state_dict(), "freq_memory": self.memory.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.rule.load_state_dict(state["rule"])
        self.memory.load_state_dict(state["freq_memory"])
