"""Running a search with a progress bar and an EvoTorch logger, and choosing its winner."""

from __future__ import annotations

from typing import Any

import torch
from evotorch.algorithms.searchalgorithm import SearchAlgorithm
from evotorch.logging import PandasLogger

__all__ = ["evolve", "select_on_heldout"]


def evolve(
    searcher: SearchAlgorithm,
    generations: int,
    *,
    progress: bool = True,
    desc: str = "evolve",
    show: tuple[str, ...] = ("pop_best_eval", "success_rate"),
) -> Any:
    """Run ``generations`` steps of ``searcher`` with a tqdm bar showing ``show`` items.

    Returns:
        The ``pandas.DataFrame`` of every status item per generation (EvoTorch
        ``PandasLogger``), indexed by generation.
    """
    from tqdm.auto import tqdm

    if isinstance(generations, bool) or not isinstance(generations, int) or generations < 0:
        raise ValueError(f"`generations` must be an integer >= 0, got {generations!r}.")
    logger = PandasLogger(searcher)
    bar = tqdm(total=generations, desc=desc, disable=not progress, leave=False)
    try:
        for _ in range(generations):
            searcher.step()
            if progress:
                status = searcher.status
                bar.set_postfix(
                    {k: f"{float(status[k]):.4g}" for k in show if k in status}, refresh=False
                )
            bar.update(1)
    finally:
        bar.close()
    return logger.to_dataframe()


@torch.no_grad()
def select_on_heldout(problem, values: torch.Tensor, heldout, *, key: str = "loss") -> int:
    """Index of the individual with the lowest held-out loss (or highest ``top1``).

    The held-out split is carved from the training data; the test set is never used to
    choose. ``problem`` must offer ``evaluate_vector(vector, data)`` (as
    :class:`~neuro_de.problems.SupervisedNetProblem` does).
    """
    scores = []
    for i in range(values.shape[0]):
        metrics = problem.evaluate_vector(values[i], heldout, topk=(1,))
        scores.append(metrics[key] if key == "loss" else -metrics[key])
    return int(torch.tensor(scores).argmin())
