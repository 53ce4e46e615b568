r"""Binomial crossover with a forced ``j_rand`` per individual."""

from __future__ import annotations

import functools

import torch

from .grad import without_grad
from .strategies import Combination
from .uniform import random_int16

__all__ = ["binomial_crossover", "binomial_mask", "crossover_thresholds"]

# Elements per column chunk of a large genome: the random draws and the mask of a chunk stay
# in cache (2**20 measured ~2.4x faster than 2**24 at d = 11.7M, 10 rows, one CPU thread),
# and one buffer of each serves every chunk.
_CHUNK_ELEMENTS = 1 << 20


# Elements per block of unbuilt mutants (a column source): built, crossed and written while
# in cache.
_BLOCK_ELEMENTS = 1 << 16

_LEVELS = 1 << 16  # CR resolution of the mask: 2**-16


def crossover_thresholds(CR: torch.Tensor | float, num_rows: int, *, device=None) -> torch.Tensor:
    """Per-row thresholds ``CR * 2**16 - (2**15 + 1/2)`` compared with int16 draws ``h``,
    an ``(num_rows, 1)`` float32 tensor (for a number ``CR``, made once and cached).

    An integer ``h`` is below the threshold exactly when ``h < round(CR * 2**16) - 2**15``
    (a tie ``CR * 2**16 = k + 1/2`` rounded down), so the decision probability is ``CR``
    rounded to a multiple of ``2**-16``, exact at 0 and 1. The threshold is exact in
    float32 for a float32 ``CR`` (its multiple of ``2**-8`` below ``2**15`` fits in 24 bits),
    and one ``add`` makes it; other dtypes are rounded to float32 first. An int16 draw
    compares with a float32 threshold ~1.5x faster than with an int32 one on CPU (int16
    itself cannot hold the ``2**15`` of CR = 1)."""
    if not isinstance(CR, torch.Tensor):
        return _scalar_thresholds(float(CR), num_rows, str(torch.device(device or "cpu")))
    if CR.shape != (num_rows,) or (device is not None and CR.device != torch.device(device)):
        CR = CR.to(device=device).reshape(-1).expand(num_rows)  # (n,) as the engine gives
    cr = CR.view(num_rows, 1)
    if cr.dtype != torch.float32:
        cr = cr.to(torch.float32)
    return torch.add(_OFFSET, cr, alpha=_LEVELS)


def _make_offset() -> torch.Tensor:
    with torch.inference_mode(False):  # an ordinary 0-d tensor, usable in and out of it
        return torch.tensor(-(_LEVELS // 2) - 0.5, dtype=torch.float32)


_OFFSET = _make_offset()  # a 0-d CPU tensor combines with a tensor on any device


@functools.lru_cache(maxsize=64)
def _scalar_thresholds(cr: float, num_rows: int, device: str) -> torch.Tensor:
    with torch.inference_mode(False):  # an ordinary tensor, usable in and out of it
        level = float(torch.add(_OFFSET, torch.tensor(cr, dtype=torch.float32), alpha=_LEVELS))
        return torch.full((num_rows, 1), level, dtype=torch.float32, device=device)


def binomial_mask(
    num_rows: int,
    dim: int,
    CR: torch.Tensor | float,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    col_start: int = 0,
    j_rand: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""The ``(num_rows, dim)`` float mask of binomial crossover: 1 takes the mutant.

    .. math:: m_{ij} = 1 \text{ if } u_{ij} < CR_i \text{ or } j = j_{rand,i}, \text{ else } 0

    Speed: :math:`u_{ij}` are 16-bit uniform integers, four per 64-bit draw, compared with
    :math:`\mathrm{round}(CR_i \cdot 2^{16})` straight into a float tensor. This is ~2x
    cheaper than ``torch.rand`` on CPU; the price is that :math:`CR` acts rounded to a
    multiple of :math:`2^{-16}` (exact at 0 and 1). ``j_rand`` (one column per row) is drawn
    when not given; ``col_start`` offsets the column numbering for chunked masks.
    """
    if j_rand is None:
        j_rand = torch.randint(0, dim, (num_rows,), generator=generator, device=device)
    thresholds = crossover_thresholds(CR, num_rows, device=device)
    return _mask(num_rows, dim, thresholds, generator, device, dtype, col_start, j_rand, False)


def _mask(num_rows, dim, thresholds, generator, device, dtype, col_start, j_rand, all_inside,
          buffers=None):
    """The mask of :func:`binomial_mask` from precomputed thresholds. ``all_inside`` says
    that every ``j_rand`` falls in this block of columns (one block covering all of them),
    so the forced entries are simply set to 1. ``buffers``: ``(words, mask)`` storage to
    reuse (an int64 buffer for the draws, a flat one of ``dtype`` for the mask)."""
    words, flat = buffers if buffers is not None else (None, None)
    draws = random_int16((num_rows, dim), generator=generator, device=device, words=words)
    if flat is None:
        mask = torch.empty((num_rows, dim), device=device, dtype=dtype)
    else:
        mask = flat[: num_rows * dim].view(num_rows, dim)
    torch.lt(draws, thresholds, out=mask)
    if all_inside:
        return mask.scatter_(1, j_rand.unsqueeze(1), 1.0)
    local = (j_rand - col_start).unsqueeze(1)
    inside = (local >= 0) & (local < dim)
    index = local.clamp(0, dim - 1)
    forced = torch.where(inside, torch.ones_like(mask[:, :1]), mask.gather(1, index))
    return mask.scatter_(1, index, forced)


@without_grad
def binomial_crossover(
    parents: torch.Tensor,
    mutants: torch.Tensor | Combination,
    CR: torch.Tensor | float,
    *,
    generator: torch.Generator | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Binomial (uniform) crossover of Storn & Price (1997):

    .. math::
        u_{ij} = \begin{cases} v_{ij} & \text{if } \mathrm{rand}_{ij}[0,1) < CR_i
        \text{ or } j = j_{rand,i} \\ x_{ij} & \text{otherwise} \end{cases}

    ``j_rand`` is drawn per individual (row), so every trial differs from its parent in at
    least one coordinate. The choice is made with :func:`torch.lerp`, exact at weights 0 and
    1, so each trial coordinate is bit-identical to the parent's or the mutant's. A genome
    of many columns is processed in column chunks of ``2**20`` elements (the mask and the
    draws of one chunk, in buffers reused from chunk to chunk).

    The mutants may also be given unbuilt, as an object with ``shape`` and
    ``columns(start, stop)`` (a :class:`~neuro_de.operators.Combination`, from
    :meth:`~neuro_de.operators.StrategyPool.lazy_mutants`): each block of columns is then
    built just before it is used (on the CPU blocks of ``2**16`` elements, which stay in
    cache, so the mutants never travel to memory and back; on an accelerator one block per
    chunk of draws). The trials and the random draws are the same either way.

    Args:
        parents: ``(n, d)`` parent values :math:`x`.
        mutants: ``(n, d)`` mutant values :math:`v`, or a column source of that shape.
        CR: Crossover rate, a float or a per-row ``(n,)``/``(n, 1)`` tensor in [0, 1].
        generator: Random generator.
        out: Where to write the trials; may be ``mutants`` itself (in place). With a column
            source, ``out`` must not share memory with the rows it reads (the DE loop
            writes the trial buffer, the source being the parents and the archive).

    Returns:
        The ``(n, d)`` trials.
    """
    built = isinstance(mutants, torch.Tensor)
    shape = tuple(getattr(mutants, "shape", ()))
    if not built and not callable(getattr(mutants, "columns", None)):
        raise TypeError(
            "`mutants` must be a tensor or a column source with `shape` and "
            f"`columns(start, stop)`, got {type(mutants).__name__}."
        )
    if tuple(parents.shape) != shape or parents.ndim != 2:
        raise ValueError(
            f"`parents` and `mutants` must be (n, d) tensors of one shape, got "
            f"{tuple(parents.shape)} and {shape}."
        )
    n, d = parents.shape
    if out is None:
        out = torch.empty_like(parents)
    j_rand = torch.randint(0, d, (n,), generator=generator, device=parents.device)
    thresholds = crossover_thresholds(CR, n, device=parents.device)
    step = max(1, _CHUNK_ELEMENTS // max(n, 1))
    whole = step >= d  # one block: no column slices
    buffers = None
    if not whole:  # one draw buffer and one mask buffer serve every chunk
        size = n * step
        buffers = (torch.empty(((size + 3) // 4,), dtype=torch.int64, device=parents.device),
                   torch.empty((size,), dtype=parents.dtype, device=parents.device))
    # on the CPU a block stays in cache; elsewhere kernel launches, not caches, are the
    # cost, so each draw chunk is one block
    block = max(1, _BLOCK_ELEMENTS // max(n, 1)) if parents.device.type == "cpu" else step
    for start in range(0, d, step):
        stop = min(d, start + step)
        mask = _mask(
            n, stop - start, thresholds, generator, parents.device, parents.dtype, start, j_rand,
            whole, buffers,
        )
        if built and whole:
            torch.lerp(parents, mutants, mask, out=out)
        elif built:
            cols = slice(start, stop)
            torch.lerp(parents[:, cols], mutants[:, cols], mask, out=out[:, cols])
        else:  # build each block of mutant columns while it is in cache
            for a in range(start, stop, block):
                b = min(stop, a + block)
                torch.lerp(parents[:, a:b], mutants.columns(a, b), mask[:, a - start : b - start],
                           out=out[:, a:b])
    return out
