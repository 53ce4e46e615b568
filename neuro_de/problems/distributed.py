r"""Replicated-population evaluation of :class:`SupervisedNetProblem` on ``torch.distributed``.

Every rank (one process per GPU, or per CPU socket) holds the **whole population** and
uses the **same seed**, so the algorithms of :mod:`neuro_de.algorithms` -- which draw all
their randomness from ``problem.generator`` -- build bit-identical trials on every rank
without exchanging them. Only the evaluation is split, in one of two ways:

* ``split="population"``: rank :math:`r` scores its contiguous share of the :math:`n`
  trials (``torch.arange(n).tensor_split(W)[r]``) on the whole minibatch; one
  ``all_reduce`` (sum) of an :math:`n \times 2` float32 tensor that is zero outside each
  rank's rows assembles ``[loss, accuracy]`` for all trials. Adding zeros is exact, so the
  result is bit-identical to what the owning rank computed -- hence equal to a
  single-process run (exactly for the loop path; to float tolerance for ``vmap``, whose
  chunks differ). Efficient when :math:`n \ge W` (smaller batches leave ranks idle).
* ``split="batch"``: rank :math:`r` loads only its shard
  ``indices.tensor_split(W)[r]`` of every minibatch and scores *every* trial on it; one
  ``all_reduce`` of an :math:`n \times 2` float64 tensor of per-individual loss sums and
  correct counts, divided by the total batch size :math:`B`, gives

  .. math::
      f(\theta) = \frac{1}{B}\sum_{r}\sum_{(x, y)\in\mathcal{B}^{(r)}} \ell(\theta; x, y)
          + \alpha\lVert\theta\rVert^2,

  the single-process mean up to float summation order (~1e-7 relative). Needs
  ``batch_size >= W`` and, because batch statistics of a shard are not those of the whole
  batch, is refused with ``bn="batch"`` on a network with BatchNorm.

Either way only :math:`O(n)` numbers cross the network per evaluation, never
:math:`O(n \times d)`; :attr:`DistributedSupervisedNetProblem.comm_bytes_last` and
:attr:`~DistributedSupervisedNetProblem.comm_bytes_total` count them (the payload each rank
hands to ``all_reduce``; a ring all-reduce moves about twice that per rank on the wire),
and the status item ``comm_bytes`` reports the last evaluation's.

Rules for the user (see ``docs/scaling.md``):

* every rank must call ``evaluate`` (i.e. run the same algorithm for the same number of
  steps) in the same order -- the evaluation is a collective operation;
* every rank must start from the same population (same ``init_population`` tensor, or the
  problem's seeded ``generate_batch``); :func:`neuro_de.distributed.assert_replicated`
  checks it cheaply;
* log and write checkpoints on rank 0 only (:func:`neuro_de.distributed.is_main_process`):
  all ranks hold the same numbers.

The minibatch stream is seeded from ``seed`` exactly as in the single-process problem, so
every rank draws the same minibatch indices; with ``seed=None`` rank 0 draws a seed and
broadcasts it (one integer) so that the replicas still agree.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset

from .evaluation import batchnorm_modules
from .supervised import SupervisedNetProblem

__all__ = ["DistributedSupervisedNetProblem", "SPLITS"]

#: The ways of splitting an evaluation between ranks.
SPLITS = ("population", "batch")


class DistributedSupervisedNetProblem(SupervisedNetProblem):
    r"""A :class:`SupervisedNetProblem` whose evaluation is shared by the ranks of a
    ``torch.distributed`` process group (replicated population, module docstring).

    Without an initialised process group (or in a world of 1) it behaves exactly like
    :class:`SupervisedNetProblem`, so one script serves ``python script.py`` and
    ``torchrun --nproc-per-node N script.py``.

    Args:
        model, dataset: As for :class:`SupervisedNetProblem`.
        split: ``"population"`` (default: exactly the single-process fitness, any BatchNorm
            policy) or ``"batch"`` (module docstring).
        group: The process group (default: the default group, e.g. set up by
            :func:`neuro_de.distributed.init_from_env`). Its backend must handle tensors on
            ``device`` (gloo: CPU; NCCL: CUDA, one device per rank).
        seed: As for :class:`SupervisedNetProblem`; must be the same on every rank
            (``None``: rank 0 draws one and broadcasts it).
        **kwargs: Passed to :class:`SupervisedNetProblem` (``batch_size`` is the *total*
            minibatch size over all ranks). ``num_actors`` is refused: the replicated mode
            replaces EvoTorch's Ray actors.

    Attributes:
        comm_bytes_last: Bytes each rank handed to collectives in the last evaluation.
        comm_bytes_total: The sum over all evaluations so far.
        comm_calls: Number of collective calls so far.

    Notes:
        In ``split="batch"`` :attr:`current_batch` is this rank's shard of the minibatch.
        :meth:`evaluate_vector`, :meth:`to_module` and :meth:`recalibrate_bn` are local,
        not collective: call them on rank 0 (or on every rank, with the same result).
        As in :class:`SupervisedNetProblem`, EvoTorch's best/worst tracking is off when
        ``batch_size`` (the total) is smaller than the data set (no cross-batch ``best``
        status; choose the winner with :func:`neuro_de.runner.select_on_heldout`), and a
        custom per-sample ``loss`` works in both splits: ``split="batch"`` sums each shard's
        per-sample losses, so the fitness is still the mean over the whole minibatch.
        Without accuracy the accuracy half of the reduced tensor is NaN and unused.
    """

    def __init__(
        self,
        model: nn.Module,
        dataset: Dataset,
        *,
        split: str = "population",
        group: Any = None,
        seed: int | None = None,
        **kwargs: Any,
    ):
        if split not in SPLITS:
            raise ValueError(f"`split` must be one of {SPLITS}, got {split!r}.")
        num_actors = kwargs.get("num_actors")
        if num_actors not in (None, 0, 1):
            raise ValueError(
                "DistributedSupervisedNetProblem replaces EvoTorch's Ray actors with "
                f"torch.distributed ranks; remove `num_actors` (got {num_actors!r}), or use "
                "SupervisedNetProblem(num_actors=...) for the Ray mode."
            )
        # Set before SupervisedNetProblem.__init__, which loads the first minibatch through
        # the overridden _load_batch below.
        self._split = split
        self._group = group
        if dist.is_available() and dist.is_initialized():
            self._rank = dist.get_rank(group)
            self._world = dist.get_world_size(group)
        else:
            self._rank, self._world = 0, 1
        self.comm_bytes_last = 0
        self.comm_bytes_total = 0
        self.comm_calls = 0
        batch_size = int(kwargs.get("batch_size", 256))
        if split == "batch" and batch_size < self._world:
            raise ValueError(
                f"split='batch' shards each minibatch over {self._world} ranks and needs "
                f"batch_size >= world size; got batch_size={batch_size}. Use a larger batch "
                "or split='population'."
            )
        if split == "batch" and kwargs.get("bn", "frozen") == "batch" and self._world > 1:
            if batchnorm_modules(model):
                raise ValueError(
                    "split='batch' with bn='batch' would normalise each rank's shard with its "
                    "own statistics, not the whole minibatch's, so fitness would depend on "
                    "the number of ranks. Use bn='frozen' or split='population'."
                )
        if seed is None and self._world > 1:
            seed = self._broadcast_seed()
        super().__init__(model, dataset, seed=seed, **kwargs)

    # ------------------------------------------------------------------ properties
    @property
    def split(self) -> str:
        """``"population"`` or ``"batch"``."""
        return self._split

    @property
    def rank(self) -> int:
        """This process's rank in the group (0 without one)."""
        return self._rank

    @property
    def world_size(self) -> int:
        """Number of ranks sharing the evaluation (1 without a process group)."""
        return self._world

    @property
    def is_distributed(self) -> bool:
        """Whether evaluations are shared with other ranks (world size > 1)."""
        return self._world > 1

    # ------------------------------------------------------------------ plumbing
    def _comm_device(self) -> torch.device:
        return self.device

    def _broadcast_seed(self) -> int:
        if str(dist.get_backend(self._group)) == "nccl":
            device = torch.device("cuda", torch.cuda.current_device())
        else:
            device = torch.device("cpu")
        buf = torch.randint(0, 2**62, (1,), dtype=torch.int64).to(device)
        src = 0 if self._group is None else dist.get_global_rank(self._group, 0)
        dist.broadcast(buf, src=src, group=self._group)
        self.comm_bytes_total += buf.numel() * buf.element_size()
        self.comm_calls += 1
        return int(buf.item())

    def _all_reduce(self, tensor: torch.Tensor) -> torch.Tensor:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM, group=self._group)
        nbytes = tensor.numel() * tensor.element_size()
        self.comm_bytes_last += nbytes
        self.comm_bytes_total += nbytes
        self.comm_calls += 1
        return tensor

    def _shard(self, indices: torch.Tensor) -> torch.Tensor:
        if self._split != "batch" or self._world == 1:
            return indices
        return torch.as_tensor(indices).tensor_split(self._world)[self._rank]

    def _load_batch(self, indices: torch.Tensor) -> None:
        # The stream (same seed everywhere) yields the same indices on every rank; in the
        # batch split each rank then reads only its contiguous shard of them.
        self._global_batch_len = int(torch.as_tensor(indices).numel())
        super()._load_batch(self._shard(indices))

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, x: Any) -> None:
        """A collective ``evaluate``: every rank must call it with the same solutions.

        Afterwards :attr:`status` also has ``comm_bytes`` (bytes of the last evaluation).
        """
        self.comm_bytes_last = 0
        super().evaluate(x)
        if self.is_main:
            self._after_eval_status["comm_bytes"] = float(self.comm_bytes_last)

    def score(self, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fitness and accuracy of ``(n, d)`` genomes on the whole current minibatch.

        A collective operation when the world has more than one rank: every rank must call
        it with the same ``values``; every rank gets the same result.
        """
        if self._world == 1:
            return super().score(values)
        if values.ndim != 2 or values.shape[1] != self._view.numel:
            raise ValueError(
                f"`values` must be a (n, {self._view.numel}) tensor of genomes, got "
                f"{tuple(values.shape)}."
            )
        values = values.to(self.device, torch.float32)
        if self._split == "population":
            return self._score_population_split(values)
        return self._score_batch_split(values)

    def _score_population_split(
        self, values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n = values.shape[0]
        rows = torch.arange(n).tensor_split(self._world)[self._rank]
        out = torch.zeros((n, 2), dtype=torch.float32, device=self._comm_device())
        if rows.numel() > 0:
            lo, hi = int(rows[0]), int(rows[-1]) + 1
            loss, acc = super().score(values[lo:hi])  # includes the alpha penalty
            out[lo:hi, 0] = loss.to(out.device)
            out[lo:hi, 1] = acc.to(out.device)
        self._all_reduce(out)
        out = out.to(self.device)
        return out[:, 0].contiguous(), out[:, 1].contiguous()

    def _score_batch_split(self, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = values.shape[0]
        local_size = int(self._y.shape[0])
        sums = torch.zeros((n, 2), dtype=torch.float64, device=self._comm_device())
        if n > 0:
            if self._eval_mode == "vmap":
                loss, acc = self._score_vmap(values)
            else:
                loss, acc = self._score_loop(values)
            # Shard means -> sums: loss sums in float64, correct counts as exact integers.
            sums[:, 0] = loss.to(sums.device, torch.float64) * local_size
            sums[:, 1] = torch.round(acc.to(sums.device, torch.float64) * local_size)
        self._all_reduce(sums)
        sums = sums.to(self.device) / float(self._global_batch_len)
        loss = sums[:, 0].to(torch.float32)
        acc = sums[:, 1].to(torch.float32)
        if self._alpha > 0.0:
            loss = loss + self._alpha * values.square().sum(dim=1)
        return loss, acc

    def __repr__(self) -> str:
        base = super().__repr__()
        return (
            f"Distributed{base[:-1]}, split={self._split!r}, rank={self._rank}, "
            f"world_size={self._world})"
        )
