r"""Particle swarm optimisation (Kennedy & Eberhart 1995; Shi & Eberhart 1998; Clerc &
Kennedy 2002)."""

from __future__ import annotations

import torch
from evotorch import Problem, SolutionBatch

from ..operators import (
    candidate_utility,
    clamp_bounds,
    inside_bounds,
    one_to_one,
    random_int16,
)
from .base import PopulationAlgorithm, copy_rows_where, plain_bound

# Elements per column chunk of the velocity update (its random draws and difference).
_CHUNK_ELEMENTS = 1 << 20

__all__ = ["PSO"]

TOPOLOGIES = ("global", "ring")


class PSO(PopulationAlgorithm):
    r"""Particle swarm optimisation with inertia weight or constriction.

    Each particle has a position :math:`x_i`, velocity :math:`v_i` and personal best
    :math:`p_i`; :math:`l_i` is the best personal best of its neighbourhood (the whole swarm
    for ``topology="global"``; itself and its two ring neighbours for ``"ring"``).
    With :math:`r_1, r_2 \sim U[0, 1)` drawn per particle and dimension (on a grid of
    :math:`2^{-16}`, from 16-bit random integers, which is ~2x cheaper on CPU than float
    uniforms and far finer than anything the swarm's dynamics resolve):

    .. math::
        v_i \leftarrow \chi \left( w v_i + c_1 r_1 (p_i - x_i) + c_2 r_2 (l_i - x_i) \right),
        \qquad x_i \leftarrow x_i + v_i

    * ``mode="inertia"`` (Shi & Eberhart 1998): :math:`\chi = 1`, :math:`w` decreases linearly
      from ``inertia[0]`` (0.9) to ``inertia[1]`` (0.4) over ``max_generations`` (constant
      ``inertia[0]`` if ``max_generations`` is None); :math:`c_1 = c_2 = 2`.
    * ``mode="constriction"`` (Clerc & Kennedy 2002): :math:`w = 1`, :math:`\chi = 0.7298`,
      :math:`c_1 = c_2 = 2.05` (i.e. :math:`\chi c = 1.49618`).

    Velocities are clamped to ``[-v_max, v_max]`` per dimension when ``v_max`` is given
    (a number, or a fraction of the bound width when ``v_max_fraction`` is used on a bounded
    problem). Positions leaving hard bounds are clipped and that velocity component zeroed.
    A personal best is replaced when the new position is at least as good (``<=``); a NaN/inf
    evaluation never replaces it. When the problem's objective data change (mini-batch
    fitness), the personal bests are re-scored before comparison.

    Args:
        problem: A single-objective EvoTorch problem.
        popsize: Swarm size.
        init_population: Optional ``(N, d)`` starting positions (a CPU tensor is copied to
            the problem's device; one on another device is refused, naming both).
        mode: ``"inertia"`` or ``"constriction"``.
        c1, c2: Acceleration coefficients (defaults per mode).
        inertia: ``(w_start, w_end)`` for the inertia mode.
        max_generations: Length of the inertia schedule.
        topology: ``"global"`` or ``"ring"``.
        v_max: Absolute velocity clamp, or None.
        v_max_fraction: Velocity clamp as a fraction of (upper - lower) bounds, or None.
        v_max_spread: Velocity clamp as a multiple of the first population's per-coordinate
            standard deviation, or None: the scale for a population of trained networks,
            which has no bounds (a coordinate on which every individual agrees then never
            moves). With the default (no clamp) PSO's first steps from trained snapshots
            can be far larger than their spread and wreck them; ``v_max_spread=1.0`` keeps
            each step within the population's own spread.
        init_velocity: ``"zero"`` (default) or ``"uniform"`` (U(-|u-l|, |u-l|) of the initial
            bounds, as in Kennedy & Eberhart; needs bounds).
    """

    def __init__(
        self,
        problem: Problem,
        *,
        popsize: int | None = None,
        init_population: torch.Tensor | None = None,
        mode: str = "constriction",
        c1: float | None = None,
        c2: float | None = None,
        inertia: tuple[float, float] = (0.9, 0.4),
        max_generations: int | None = None,
        topology: str = "global",
        v_max: float | None = None,
        v_max_fraction: float | None = None,
        v_max_spread: float | None = None,
        init_velocity: str = "zero",
    ):
        """Build the algorithm; the class docstring describes every argument."""
        if mode not in ("inertia", "constriction"):
            raise ValueError(f"`mode` must be 'inertia' or 'constriction', got {mode!r}.")
        if topology not in TOPOLOGIES:
            raise ValueError(f"`topology` must be one of {TOPOLOGIES}, got {topology!r}.")
        if init_velocity not in ("zero", "uniform"):
            raise ValueError(f"`init_velocity` must be 'zero' or 'uniform', got {init_velocity!r}.")
        super().__init__(
            problem,
            popsize=popsize,
            init_population=init_population,
            min_popsize=3 if topology == "ring" else 1,
            status_keys=("success_rate", "swarm_best_eval", "inertia", "mean_speed", "spread"),
        )
        default_c = 2.05 if mode == "constriction" else 2.0
        self._c1 = float(default_c if c1 is None else c1)
        self._c2 = float(default_c if c2 is None else c2)
        if self._c1 < 0 or self._c2 < 0:
            raise ValueError(f"`c1` and `c2` must be >= 0, got {self._c1}, {self._c2}.")
        self._chi = 0.7298 if mode == "constriction" else 1.0
        self._mode = mode
        self._inertia = (float(inertia[0]), float(inertia[1]))
        if max_generations is not None and max_generations < 1:
            raise ValueError(f"`max_generations` must be >= 1, got {max_generations}.")
        self._max_generations = max_generations
        self._topology = topology
        dev, dt = self._population.device, problem.dtype
        lb, ub = problem.lower_bounds, problem.upper_bounds
        self._vmax = None
        given = [n for n, v in (("v_max", v_max), ("v_max_fraction", v_max_fraction),
                                ("v_max_spread", v_max_spread)) if v is not None]
        if len(given) > 1:
            raise ValueError(f"Give one velocity clamp, not {' and '.join(given)}.")
        if v_max_spread is not None:
            if not v_max_spread > 0:
                raise ValueError(f"`v_max_spread` must be > 0, got {v_max_spread}.")
            if self._popsize < 2:
                raise ValueError("`v_max_spread` needs popsize >= 2 (a spread to measure).")
            values = self._population.access_values(keep_evals=True)
            self._vmax = values.std(dim=0).to(dev, dt) * float(v_max_spread)
        elif v_max is not None:
            if v_max <= 0:
                raise ValueError(f"`v_max` must be > 0, got {v_max}.")
            self._vmax = torch.as_tensor(float(v_max), device=dev, dtype=dt)
        elif v_max_fraction is not None:
            if lb is None or ub is None:
                raise ValueError("`v_max_fraction` needs a problem with hard bounds; use `v_max`.")
            if v_max_fraction <= 0:
                raise ValueError(f"`v_max_fraction` must be > 0, got {v_max_fraction}.")
            self._vmax = (ub - lb).to(dev, dt) * float(v_max_fraction)
        d = problem.solution_length
        if init_velocity == "uniform":
            ilb, iub = problem.initial_lower_bounds, problem.initial_upper_bounds
            if ilb is None or iub is None:
                raise ValueError("init_velocity='uniform' needs initial bounds on the problem.")
            width = (iub - ilb).abs().to(dev, dt)
            u = torch.rand((self._popsize, d), generator=problem.generator, device=dev, dtype=dt)
            self._velocity = (u * 2 - 1) * width
        else:
            self._velocity = torch.zeros((self._popsize, d), device=dev, dtype=dt)
        self._pbest = SolutionBatch(problem, self._popsize, empty=True)
        self._pbest_valid = False
        # the positions' and personal bests' storage: a SolutionBatch keeps one tensor each
        # for its lifetime, so these references stay valid (and spare accessor calls)
        self._x = self._population.access_values(keep_evals=True)
        self._x_evals = self._population.access_evals()
        self._pb = self._pbest.access_values(keep_evals=True)
        self._pb_evals = self._pbest.access_evals()
        # both numbers or both tensors where given: torch.clamp does not take a mix
        self._lb, self._ub = clamp_bounds(plain_bound(lb), plain_bound(ub), dtype=dt, device=dev)

    @property
    def velocity(self) -> torch.Tensor:
        return self._velocity

    @property
    def personal_best(self) -> SolutionBatch:
        return self._pbest

    def _evaluate_parents(self) -> None:
        if not self._pbest_valid:  # first generation: positions are the personal bests
            self._evaluate(self._population)
            self._pbest.access_values()[:] = self._population.values
            self._pbest.access_evals()[:] = self._population.evals
            self._pbest_valid = True
        else:  # objective data changed: re-score the personal bests (the positions move
            # and are scored in this generation before anything reads their evaluations)
            self._evaluate(self._pbest)

    def _current_inertia(self) -> float:
        if self._mode == "constriction":
            return 1.0
        w0, w1 = self._inertia
        if self._max_generations is None:
            return w0
        t = min(self._generation_index / self._max_generations, 1.0)
        return w0 + (w1 - w0) * t

    def _neighbour_best(self, f_best: torch.Tensor) -> torch.Tensor:
        pb = self._pb
        if self._topology == "global":
            return pb[torch.argmin(f_best)].unsqueeze(0)
        idx = torch.arange(self._popsize, device=pb.device)
        cand = torch.stack([(idx - 1) % self._popsize, idx, (idx + 1) % self._popsize], dim=1)
        pick = torch.argmin(f_best[cand], dim=1)
        return pb.index_select(0, cand[idx, pick])

    def _generation(self) -> None:
        gen = self.problem.generator
        x, evals, pb = self._x, self._x_evals, self._pb
        v = self._velocity
        f_best = self._utility_of(self._pb_evals[:, 0])
        lbest = self._neighbour_best(f_best)
        w = self._current_inertia()
        # r_k = 1/2 + 2^-16 h_k with h_k uniform 16-bit integers (U[0, 1) on a 2^-16 grid),
        # so chi c_k r_k (p - x) = (chi c_k / 2)(p - x) + chi c_k 2^-16 h_k (p - x): each
        # term is one difference, one add and one addcmul, with no float uniforms made
        # a wide genome in column chunks, so the draws and the difference are chunk-sized
        # temporaries (one chunk covering everything draws exactly as a single block)
        n, d = x.shape
        step = max(1, _CHUNK_ELEMENTS // n)
        scale = w * self._chi
        c1, c2 = self._chi * self._c1, self._chi * self._c2
        for start in range(0, d, step):
            cols = slice(start, min(d, start + step))
            xs, vs = (x, v) if step >= d else (x[:, cols], v[:, cols])
            h1, h2 = random_int16((2, *xs.shape), generator=gen, device=x.device).to(x.dtype)
            if scale != 1.0:  # (v * 1.0 is v: skipped)
                vs.mul_(scale)
            diff = torch.sub(pb if step >= d else pb[:, cols], xs)
            vs.add_(diff, alpha=0.5 * c1).addcmul_(h1, diff, value=c1 * 2.0**-16)
            torch.sub(lbest if step >= d else lbest[:, cols], xs, out=diff)
            vs.add_(diff, alpha=0.5 * c2).addcmul_(h2, diff, value=c2 * 2.0**-16)
            del h1, h2, diff
        if self._vmax is not None:
            torch.clamp(v, -self._vmax, self._vmax, out=v)
        x.add_(v)
        lb, ub = self._lb, self._ub
        # clip positions leaving the bounds and zero those velocity components; when all are
        # inside (and none is NaN) that is the identity, so it is skipped
        bounded = lb is not None or ub is not None
        if bounded and not (x.device.type == "cpu" and inside_bounds(x, lb, ub)):
            clipped = x.clamp(min=lb, max=ub)
            # 1 where the coordinate stayed, 0 where it was clipped (or is NaN), as floats:
            # a bool mask costs several times more on CPU
            v.mul_(torch.eq(clipped, x, out=torch.empty_like(v)))
            x.copy_(clipped)
        evals.fill_(float("nan"))  # the positions moved: what EvoTorch marks "not evaluated"
        self._evaluate(self._population)
        # NaN for a non-finite evaluation, which then never becomes a personal best
        f_new = candidate_utility(evals[:, 0], sign=self._sign)
        sel = one_to_one(f_best, f_new)  # the moved particle against its personal best
        nonfinite = int(sel.nonfinite)
        self._nonfinite_total += nonfinite
        self._stats["nonfinite_trials"] = float(nonfinite)
        copy_rows_where(sel.selected, (x, evals), (self._pb, self._pb_evals))
        self._stats["inertia"] = w
        # the other status items are computed only if a logger reads them
        self._pending_stats = lambda: self._swarm_stats(x, v, f_new, f_best, sel)

    def _swarm_stats(self, x, v, f_new, f_best, sel) -> dict:
        st: dict = {}
        st["success_rate"] = sel.improved.to(torch.float64).mean()
        best_now = torch.minimum(f_best, torch.where(sel.selected, f_new, f_best)).min()
        st["swarm_best_eval"] = best_now * self._sign
        st["mean_speed"] = v.norm(dim=1).mean()
        st["spread"] = (x - x.mean(dim=0, keepdim=True)).norm(dim=1).mean()
        return st

    def _extra_state(self) -> dict:
        return {
            "velocity": self._velocity.clone(),
            "pbest_values": self._pbest.values.clone(),
            "pbest_evals": self._pbest.evals.clone(),
            "pbest_valid": self._pbest_valid,
        }

    def _load_extra_state(self, state: dict) -> None:
        self._velocity.copy_(state["velocity"])
        self._pbest.access_values()[:] = state["pbest_values"]
        self._pbest.access_evals()[:] = state["pbest_evals"]
        self._pbest_valid = bool(state["pbest_valid"])
