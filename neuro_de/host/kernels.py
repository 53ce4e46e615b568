r"""Compiled host kernels of the per-individual bookkeeping (docs/design.md, "Host
bookkeeping").

A generation of an adaptive DE does two kinds of work. The *genome* work (mutants,
crossover, repair, evaluation, row copies) touches ``(N, d)`` tensors and stays in torch on
the problem's device. The *bookkeeping* (strategy choice, parameter draws, p-best picks,
selection outcome, memory and learner updates, archive slots) touches a few vectors of
length :math:`N` (100 in a benchmark, 10 for networks). As eager torch operations those
cost a few microseconds each whatever their size, and the adaptive variants need dozens of
them per generation; compiled with numba, each rule is one call of well under a
microsecond of dispatch. The kernels work on NumPy arrays on the host (CPU tensors share
their memory with them); every random number they use is a uniform drawn beforehand from
the problem's torch generator, so a seed still reproduces a run exactly.

All kernels use ``error_model="numpy"`` (a division by zero gives inf or NaN as in torch,
instead of raising) and are cached on disk after their first compilation.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "archive_plan",
    "copy_rows",
    "distinct_columns",
    "draw_normal_clipped",
    "draw_truncated",
    "learner_record",
    "median_window_record",
    "memory_cells",
    "memory_update",
    "midpoint_crossover",
    "mutation_tables",
    "ndtri",
    "p_best_picks",
    "selection",
    "shuffle_in_place",
    "strategy_draw",
    "utility",
]

_kernel = njit(cache=True, nogil=True, error_model="numpy")

_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)
_HALF_PI = 0.5 * math.pi
_FINITE_MAX = 1e30  # the cap of an unbounded draw (a uniform of exactly 0 gives inf)
_INF_WEIGHT = 1e300  # an infinite improvement (a trial beating a NaN parent)

# Acklam's rational approximation of the inverse normal CDF (relative error < 1.2e-9),
# refined below by one Halley step to full double precision.
_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
      1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
      6.680131188771972e01, -1.328068155288572e01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
      -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
      3.754408661907416e00)
_P_LOW = 0.02425


@_kernel
def _ndtri_lower(p: float) -> float:
    """:func:`ndtri` for ``0 < p <= 1/2``."""
    if p < _P_LOW:
        q = math.sqrt(-2.0 * math.log(p))
        x = (((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5]) / (
            (((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1.0
        )
    else:
        q = p - 0.5
        r = q * q
        x = (((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]) * q / (
            ((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1.0
        )
    e = 0.5 * math.erfc(-x / _SQRT2) - p
    u = e * _SQRT2PI * math.exp(0.5 * x * x)
    return x - u / (1.0 + 0.5 * x * u)


@_kernel
def ndtri(p: float) -> float:
    r""":math:`\Phi^{-1}(p)`, the standard normal quantile (``-inf`` at 0, ``inf`` at 1).

    Acklam's rational approximation (relative error below 1.2e-9) refined by one Halley
    step on :math:`\Phi(x) - p`, :math:`\Phi(x) = \tfrac12\mathrm{erfc}(-x/\sqrt2)`, in the
    lower half; the upper half by symmetry, :math:`\Phi^{-1}(p) = -\Phi^{-1}(1 - p)`
    (:math:`1 - p` is exact there). Accurate to a few ulps over the whole range, the far
    tails included."""
    if p <= 0.0:
        return -np.inf
    if p >= 1.0:
        return np.inf
    if p > 0.5:
        return -_ndtri_lower(1.0 - p)
    return _ndtri_lower(p)


@_kernel
def draw_truncated(loc, scale, low, high, cauchy, u, out):
    r"""``out[i]`` from :math:`\mathrm{Cauchy}(loc_i, scale)` (``cauchy``) or
    :math:`N(loc_i, scale^2)`, redrawn while :math:`\le low`, then capped at ``high``
    (SHADE's F rule, Tanabe & Fukunaga 2013; the seed paper's normal form), by the inverse
    CDF of the distribution truncated to :math:`(low, \infty)` with the uniform ``u[i]``.

    Cauchy: the angle :math:`\varphi = \arctan((F - loc)/scale)` given :math:`F > low` is
    uniform in :math:`(\theta_0, \pi/2)`, so with :math:`w = \pi/2 - \theta_0`,
    :math:`F = loc + scale / \tan(w u)`.

    Normal: with the upper tail :math:`Q(z) = \tfrac12 \mathrm{erfc}(z/\sqrt2)` and
    :math:`z_0 = (low - loc)/scale`, :math:`Z = -\Phi^{-1}((1 - u) Q(z_0))`; the result is
    kept at least ``low + 1e-8`` (a location so far below ``low`` that float64 cannot
    resolve the tail gives ``low + 1e-8``, as a capped redraw loop would).
    """
    cap = min(high, _FINITE_MAX)
    for i in range(out.shape[0]):
        m = loc[i]
        if cauchy:
            width = math.atan((m - low) / scale) + _HALF_PI
            f = m + scale / math.tan(u[i] * width)  # u = 0: +inf, capped
            out[i] = min(f, cap)
        else:
            tail = 0.5 * math.erfc((low - m) / (scale * _SQRT2))
            f = m - scale * ndtri((1.0 - u[i]) * tail)
            if not math.isfinite(f):
                f = low + 1e-8
            out[i] = min(max(f, low + 1e-8), high)


@_kernel
def draw_normal_clipped(loc, scale, low, high, u, out):
    r"""``out[i]`` from :math:`N(loc_i, scale^2)` clipped to ``[low, high]`` (the CR rule
    of SaDE and SHADE), by the inverse CDF of the uniform ``u[i]``."""
    for i in range(out.shape[0]):
        z = loc[i] + scale * ndtri(u[i])
        out[i] = min(max(z, low), high)


@_kernel
def shuffle_in_place(values, u):
    """Fisher-Yates shuffle of ``values`` with the uniforms ``u[1:]`` (``u[i]`` picks the
    element swapped into position ``i``, from ``0..i``)."""
    for i in range(values.shape[0] - 1, 0, -1):
        j = min(int(u[i] * (i + 1)), i)
        values[i], values[j] = values[j], values[i]


@_kernel
def strategy_draw(probabilities, sus, u, out):
    r"""A strategy id per individual, drawn with ``probabilities``.

    ``sus``: stochastic universal sampling (SaDE): ``n`` pointers :math:`(u_0 + j)/n`
    into the cumulative probabilities, then the ids shuffled with ``u[1:]`` so that no
    individual is tied to a strategy; each strategy gets the floor or the ceiling of its
    expected count. Otherwise independent (roulette) draws, one uniform each.
    """
    n = out.shape[0]
    k = probabilities.shape[0]
    cumulative = np.cumsum(probabilities)
    for j in range(n):
        pointer = (u[0] + j) / n if sus else u[j]
        s = 0
        while s < k - 1 and cumulative[s] <= pointer:
            s += 1
        out[j] = s
    if sus:
        shuffle_in_place(out, u)


@_kernel
def learner_record(window, totals, row, strategy_ids, success, probabilities, epsilon, adapt):
    r"""SaDE's strategy learner, one generation: row ``row`` of the ``(LP, 2, K)`` window
    (failures, successes per strategy) becomes this generation's counts, the running
    ``(2, K)`` totals follow, and with ``adapt`` the probabilities become
    :math:`p_k = S_k/\sum S`, :math:`S_k = ns_k/(ns_k + nf_k) + \epsilon` (a strategy unused
    in the window: :math:`S_k = \epsilon`)."""
    k = totals.shape[1]
    for s in range(2):
        for j in range(k):
            totals[s, j] -= window[row, s, j]
            window[row, s, j] = 0
    for i in range(strategy_ids.shape[0]):
        s = 1 if success[i] else 0
        window[row, s, strategy_ids[i]] += 1
        totals[s, strategy_ids[i]] += 1.0
    if adapt:
        norm = 0.0
        for j in range(k):
            used = totals[0, j] + totals[1, j]
            probabilities[j] = (totals[1, j] / used if used > 0 else 0.0) + epsilon
            norm += probabilities[j]
        for j in range(k):
            probabilities[j] /= norm


@_kernel
def median_window_record(values, ids, row, cr, strategy_ids, success, means, update):
    r"""SaDE's CR memory, one generation: row ``row`` of the ``(LP, N)`` window keeps the
    CR and strategy of each success (NaN and -1 elsewhere); with ``update``, :math:`CRm_k`
    becomes the median of strategy ``k``'s CRs in the window (the mean of the two middle
    values for an even count), and stays where ``k`` has none."""
    n = cr.shape[0]
    for i in range(n):
        if success[i]:
            values[row, i] = cr[i]
            ids[row, i] = strategy_ids[i]
        else:
            values[row, i] = np.nan
            ids[row, i] = -1
    if not update:
        return
    k_all = means.shape[0]
    lp, width = ids.shape
    counts = np.zeros(k_all, np.int64)
    for g in range(lp):
        for i in range(width):
            if ids[g, i] >= 0:
                counts[ids[g, i]] += 1
    starts = np.zeros(k_all + 1, np.int64)
    for k in range(k_all):
        starts[k + 1] = starts[k] + counts[k]
    grouped = np.empty(starts[k_all], np.float64)
    filled = starts[:k_all].copy()
    for g in range(lp):
        for i in range(width):
            k = ids[g, i]
            if k >= 0:
                grouped[filled[k]] = values[g, i]
                filled[k] += 1
    for k in range(k_all):
        if counts[k] > 0:  # np.median: the mean of the two middle values of an even count
            means[k] = np.median(grouped[starts[k] : starts[k + 1]])


@_kernel
def memory_cells(values, strategy_ids, u, out):
    r"""For each individual, a random slot :math:`r_i = \lfloor u_i H \rfloor` of its
    strategy's memory row and the ``(P, n)`` cells :math:`M_{p, k_i, r_i}` of every
    parameter (``strategy_ids`` of length 0: row 0 for everyone)."""
    size = values.shape[2]
    single = strategy_ids.shape[0] == 0
    for i in range(out.shape[1]):
        slot = min(int(u[i] * size), size - 1)
        k = 0 if single else strategy_ids[i]
        for p in range(values.shape[0]):
            out[p, i] = values[p, k, slot]


@_kernel
def memory_update(values, positions, lehmer, strategy_ids, params, weights, updated):
    r"""SHADE's success-history update, one generation, for every strategy at once.

    With weights :math:`w_i` (the improvement :math:`|\Delta f_i|` of a success; 0, or NaN
    for a non-finite trial, elsewhere; an infinite one counts as 1e300), a strategy with
    :math:`\sum w > 0` writes at its position, then advances it cyclically, for each
    parameter :math:`p` the weighted Lehmer mean :math:`\sum w v^2 / \sum w v` (``lehmer[p]``)
    or the weighted mean :math:`\sum w v / \sum w` (0 where undefined); a strategy without
    success changes nothing. ``updated[k]`` tells which were written. The sums are in
    float64 whatever the memory's dtype.
    """
    num_params, k_all, size = values.shape
    single = strategy_ids.shape[0] == 0
    sums = np.zeros((k_all, 1 + 2 * num_params), np.float64)
    for i in range(weights.shape[0]):
        w = weights[i]
        if not (w > 0):  # 0, negative or NaN
            continue
        if w > _INF_WEIGHT:
            w = _INF_WEIGHT
        k = 0 if single else strategy_ids[i]
        sums[k, 0] += w
        for p in range(num_params):
            v = params[p, i]
            sums[k, 1 + p] += w * v
            sums[k, 1 + num_params + p] += w * v * v
    for k in range(k_all):
        updated[k] = sums[k, 0] > 0
        if not updated[k]:
            continue
        pos = positions[k]
        for p in range(num_params):
            if lehmer[p]:
                num, den = sums[k, 1 + num_params + p], sums[k, 1 + p]
            else:
                num, den = sums[k, 1 + p], sums[k, 0]
            mean = num / den if den != 0 else 0.0
            values[p, k, pos] = mean if mean == mean else 0.0
        positions[k] = (pos + 1) % size


@_kernel
def p_best_picks(utility, cdf, u, out):
    r"""SHADE's p-best pick for each individual: the parent of rank
    ``searchsorted(cdf, u_i, right)`` in the order of ``utility`` (best first), ``cdf`` the
    cumulative law of that rank (its last entry +inf)."""
    order = np.argsort(utility, kind="mergesort")
    last = cdf.shape[0] - 1
    for i in range(out.shape[0]):
        r = np.searchsorted(cdf, u[i], side="right")
        out[i] = order[min(r, last)]


@_kernel
def archive_plan(old, capacity, newcomers, u, slots, survivors):
    r"""Where the beaten parents ``newcomers`` go in an archive of ``old`` members.

    If they fit, they fill slots ``old, old + 1, ...``. Otherwise a uniformly random
    subset of ``excess = old + k - capacity`` of the ``old + k`` candidates (members
    first, then newcomers) is deleted (a partial Fisher-Yates draw with ``u[:excess]``;
    ``excess <= k``): the newcomers that survive fill the slots of the deleted members and
    the free tail. Writes ``slots`` and ``survivors`` (positions in ``newcomers``) and
    returns how many pairs it wrote; the archive then holds ``min(capacity, old + k)``.
    """
    k = newcomers.shape[0]
    if old + k <= capacity:
        for j in range(k):
            slots[j] = old + j
            survivors[j] = j
        return k
    total = old + k
    excess = total - capacity
    labels = np.arange(total)
    deleted = np.zeros(total, np.bool_)
    for j in range(excess):  # a uniform excess-subset: the first `excess` of a shuffle
        pick = j + min(int(u[j] * (total - j)), total - j - 1)
        labels[j], labels[pick] = labels[pick], labels[j]
        deleted[labels[j]] = True
    count = 0
    for m in range(old):
        if deleted[m]:
            slots[count] = m
            count += 1
    for m in range(old, capacity):
        slots[count] = m
        count += 1
    written = 0
    for j in range(k):
        if not deleted[old + j]:
            survivors[written] = j
            written += 1
    return count


@_kernel
def selection(parent, evals, sign, replace_rows, success, weights):
    r"""One-to-one selection of DE. ``parent``: the parents' minimisation utilities (NaN
    parents as +inf); ``evals``: the trials' evaluations, times ``sign`` (+1 for a
    minimisation problem, -1 for maximisation).

    A non-finite trial never wins and never counts as a success. Otherwise the trial
    replaces its parent when :math:`f(u_i) \le f(x_i)` (``replace_rows``, in order) and is
    a success when :math:`f(u_i) < f(x_i)`, with the weight :math:`f(x_i) - f(u_i)` (+inf
    against a non-finite parent; 0 for a failure). Returns ``(number replaced, number of
    non-finite trials)``.
    """
    replaced = 0
    nonfinite = 0
    for i in range(parent.shape[0]):
        f = sign * evals[i]
        success[i] = False
        weights[i] = 0.0
        if not math.isfinite(f):
            nonfinite += 1
            continue
        if f <= parent[i]:
            replace_rows[replaced] = i
            replaced += 1
            if f < parent[i]:
                success[i] = True
                weights[i] = parent[i] - f
    return replaced, nonfinite


@_kernel
def utility(evals, sign, out):
    r"""Minimisation utilities ``sign * evals`` (``sign`` -1 for a maximisation problem),
    with every non-finite evaluation as +inf, so that it never wins a comparison."""
    for i in range(out.shape[0]):
        f = sign * evals[i]
        out[i] = f if math.isfinite(f) else np.inf


@_kernel
def distinct_columns(pools, u, out):
    r"""DE's index draw: for every row :math:`i`, ``len(pools)`` mutually distinct indices,
    all different from :math:`i`; column :math:`j` is uniform over
    :math:`\{0, \dots, P_j - 1\}` minus :math:`i` and the earlier columns (sequential
    sampling without replacement; the pools are non-decreasing, each at least ``n``).

    ``u[j, i]`` picks the :math:`m`-th admissible value, :math:`m = \lfloor u (P_j - 1 - j)
    \rfloor`, found by stepping over the excluded values in ascending order: exact up to the
    rounding of a float64 uniform (a relative bias below :math:`P_j / 2^{53}`).
    """
    n, c = out.shape
    taken = np.empty(c + 1, np.int64)  # the row's excluded values, ascending
    for i in range(n):
        taken[0] = i
        count = 1
        for j in range(c):
            available = pools[j] - count
            v = min(int(u[j, i] * available), available - 1)
            at = 0
            while at < count and taken[at] <= v:
                v += 1
                at += 1
            out[i, j] = v
            for t in range(count, at, -1):  # insert v at position `at`, keeping the order
                taken[t] = taken[t - 1]
            taken[at] = v
            count += 1


@_kernel
def mutation_tables(
    util, columns, best, pbest, strategy_ids, slot_table, coef_kind, const, per_F, per_K, F,
    K, index, coef,
):
    r"""The ``(n, T)`` index and coefficient tables of a pool of linear strategies.

    Individual :math:`i` (strategy :math:`k_i`; ``strategy_ids`` of length 0: strategy 0)
    reads its candidate vectors from the row :math:`(i, \mathrm{best}, \mathrm{pbest}_i,
    r_{i,0}, r_{i,1}, \dots)`: term :math:`t` reads entry ``slot_table[k_i, t]`` of it
    (``best`` < 0 and ``pbest`` of length 0 when unused; ``columns`` are the random
    picks). Its coefficient is :math:`a + b F_i + c K_i` from ``const``, ``per_F``,
    ``per_K`` (``coef_kind[k] = 0``), or for the trigonometric mutation
    (``coef_kind[k] = 1``; Fan & Lampinen 2003) on its first three vectors
    :math:`c_t = 4/3 - 3 a_t / \sum_s a_s`, :math:`a_t = |f_t - \min(0, \min_j f_j)|`
    capped at 1e300 (1/3 each when the sum is 0), or 0 (``coef_kind[k] = 2``: coefficients
    a torch function adds afterwards).
    """
    n, num_terms = index.shape
    single = strategy_ids.shape[0] == 0
    has_K = K.shape[0] > 0
    c = columns.shape[1]
    shift = 0.0
    for j in range(util.shape[0]):
        if util[j] < shift:
            shift = util[j]
    row = np.empty(3 + c, np.int64)
    weights = np.empty(num_terms, np.float64)
    for i in range(n):
        k = 0 if single else strategy_ids[i]
        row[0] = i
        row[1] = best
        row[2] = pbest[i] if pbest.shape[0] > 0 else -1
        for j in range(c):
            row[3 + j] = columns[i, j]
        for t in range(num_terms):
            index[i, t] = row[slot_table[k, t]]
        kind = coef_kind[k]
        if kind == 0:
            for t in range(num_terms):
                value = const[k, t] + per_F[k, t] * F[i]
                if has_K:
                    value += per_K[k, t] * K[i]
                coef[i, t] = value
        elif kind == 1:
            total = 0.0
            for t in range(3):
                a = abs(util[index[i, t]] - shift)
                weights[t] = min(a, _INF_WEIGHT)
                total += weights[t]
            for t in range(num_terms):
                if t >= 3:
                    coef[i, t] = 0.0
                elif total > 0:
                    coef[i, t] = 4.0 / 3.0 - 3.0 * weights[t] / total
                else:
                    coef[i, t] = 1.0 / 3.0
        else:
            for t in range(num_terms):
                coef[i, t] = 0.0


@_kernel
def copy_rows(dst, dst_rows, src, src_rows, count):
    """``dst[dst_rows[r]] = src[src_rows[r]]`` for ``r < count``: each row copied once,
    with no gathered temporary (the CPU path of the engine's row copies)."""
    for r in range(count):
        dst[dst_rows[r]] = src[src_rows[r]]


@_kernel
def midpoint_crossover(parents, mutants, mask, lower, upper, half, out):
    r"""Binomial crossover with SHADE's midpoint repair in one pass (the CPU path of
    :func:`~neuro_de.operators.binomial_crossover` with ``midpoint_bounds``).

    ``out[i, j]`` is the parent's coordinate where ``mask`` is 0, else the mutant's when it
    is inside ``[lower_j, upper_j]`` (length-1 bounds: the same for every column), else
    :math:`e - (e - x)/2` with :math:`e` the violated bound: the values
    ``torch.lerp(x, clamp(v), mask * (1 - [clamp(v) != v] / 2))`` gives, NaN included (a
    NaN mutant coordinate gives NaN, taken or not, as lerp's :math:`0 \cdot` NaN does).
    ``half`` is 1/2 in the arrays' dtype, so that the arithmetic is theirs and the result
    is bit-identical to the torch path's.
    """
    n, d = out.shape
    h = half[0]
    scalar = lower.shape[0] == 1 and upper.shape[0] == 1
    # written as selects, not branches, so that the inner loops vectorise
    for i in range(n):
        x_row, v_row, m_row, o_row = parents[i], mutants[i], mask[i], out[i]
        if scalar:
            lo, hi = lower[0], upper[0]
            for j in range(d):
                x, v = x_row[j], v_row[j]
                e = lo if v < lo else v
                e = hi if v > hi else e
                taken = e - (e - x) * h if e != v else e  # NaN: e != v, and stays NaN
                o_row[j] = taken if m_row[j] != 0 else (x if v == v else v)
        else:
            for j in range(d):
                x, v, lo, hi = x_row[j], v_row[j], lower[j], upper[j]
                e = lo if v < lo else v
                e = hi if v > hi else e
                taken = e - (e - x) * h if e != v else e
                o_row[j] = taken if m_row[j] != 0 else (x if v == v else v)
