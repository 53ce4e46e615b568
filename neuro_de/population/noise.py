"""A population of Gaussian perturbations of one trained network (Table S9's baseline)."""

from __future__ import annotations

import math
from typing import Literal

import torch

from ..problems.parameter_view import ParameterView
from .result import Population

__all__ = ["noise_population", "population_std"]


def population_std(
    reference: torch.Tensor | Population, *, mode: Literal["coordinate", "pooled"] = "coordinate"
) -> torch.Tensor:
    """The spread of a population around its own mean, as a noise scale.

    With ``k`` members ``θ_1..θ_k`` (rows of ``reference``) and their mean ``θ̄``:

    - ``"coordinate"`` (default): ``σ_j = sqrt(Σ_i (θ_ij - θ̄_j)² / (k - 1))`` for every
      coordinate ``j``, i.e. ``reference.std(dim=0)`` (unbiased), a ``(d,)`` tensor;
    - ``"pooled"``: one number ``σ = sqrt(mean_j σ_j²)``, a 0-d tensor. Isotropic noise of
      this scale has the same expected squared distance to the centre as the reference
      members have to their mean.

    Args:
        reference: ``(k, d)`` tensor with ``k >= 2`` (or a :class:`Population`).
        mode: ``"coordinate"`` or ``"pooled"``.

    Returns:
        The standard deviation(s), float tensor on the reference's device.

    Raises:
        ValueError: If ``reference`` is not 2-D with at least two rows, is not finite, or
            ``mode`` is unknown.
    """
    ref = reference.vectors if isinstance(reference, Population) else reference
    if not isinstance(ref, torch.Tensor):
        raise TypeError(
            f"`reference` must be a (k, d) tensor or a Population, got {type(ref).__name__}."
        )
    if ref.ndim != 2 or ref.shape[0] < 2:
        raise ValueError(
            "`reference` must be a (k, d) population with k >= 2 members to have a standard "
            f"deviation, got shape {tuple(ref.shape)}."
        )
    if mode not in ("coordinate", "pooled"):
        raise ValueError(f"Unknown `mode` {mode!r}; use 'coordinate' or 'pooled'.")
    ref = ref if torch.is_floating_point(ref) else ref.float()
    std = ref.std(dim=0, correction=1)
    if not torch.isfinite(std).all():
        raise ValueError("`reference` holds non-finite values (NaN or inf).")
    return std.pow(2).mean().sqrt() if mode == "pooled" else std


def noise_population(
    vector: torch.Tensor,
    m: int,
    *,
    std: float | torch.Tensor | None = None,
    reference: torch.Tensor | Population | None = None,
    std_mode: Literal["coordinate", "pooled"] = "coordinate",
    scale: float = 1.0,
    generator: torch.Generator | int | None = None,
    include_center: bool = True,
    view: ParameterView | None = None,
) -> Population:
    """Trained weights plus Gaussian noise: the random-noise population of Table S9.

    Member ``i`` is ``vector + scale * σ ⊙ z_i`` with ``z_i ~ N(0, I)``. The seed paper
    (Supplement S3.2, Table S9, after Whitaker & Whitley 2023) computes the standard
    deviation of the fine-tuned population and adds Gaussian noise of that size to the
    pre-trained model; give that population as ``reference`` to reproduce it. ``σ`` is:

    - ``std`` if given: a number (the same for every coordinate), a 0-d tensor, or a
      ``(d,)`` tensor of per-coordinate values;
    - otherwise :func:`population_std` of ``reference``: by default the per-coordinate
      unbiased standard deviation ``reference.std(dim=0)``, with ``std_mode="pooled"`` the
      single value ``sqrt(mean_j σ_j²)``.

    Args:
        vector: The centre, a 1-D genome of length ``d`` (e.g. ``view.to_vector(model)``).
        m: Population size (>= 1).
        std: The noise standard deviation (>= 0); not together with ``reference``.
        reference: A ``(k, d)`` population (``k >= 2``) whose spread sets ``σ``.
        std_mode: How ``σ`` is taken from ``reference`` (see :func:`population_std`).
        scale: Multiplier of ``σ`` (>= 0), for sweeps of the noise strength.
        generator: A ``torch.Generator`` on ``vector``'s device, or an int seed for a new
            one; ``None`` uses the global RNG.
        include_center: Make member 0 the unperturbed ``vector`` (so the trained network is
            in the population); otherwise all ``m`` members are perturbed.
        view: Optional parameter view recorded in the result (checked against ``d``).

    Returns:
        A :class:`Population` of shape ``(m, d)`` in ``vector``'s dtype and device, with
        ``info["std"]`` the ``scale * σ`` used (0-d or ``(d,)``) and ``meta[i]["center"]`` telling
        which member is unperturbed.

    Raises:
        ValueError: For ``m < 1``, negative or non-finite ``std``/``scale``, neither or both
            of ``std`` and ``reference``, or a ``vector``/``std``/``reference`` length that
            does not match.
    """
    if not isinstance(vector, torch.Tensor) or vector.ndim != 1 or vector.numel() == 0:
        shape = tuple(vector.shape) if isinstance(vector, torch.Tensor) else type(vector).__name__
        raise ValueError(
            f"`vector` must be a non-empty 1-D genome tensor (e.g. view.to_vector(model)), got "
            f"{shape}."
        )
    if not torch.is_floating_point(vector):
        raise TypeError(f"`vector` must be a floating-point tensor, got dtype {vector.dtype}.")
    d = vector.numel()
    if isinstance(m, bool) or not isinstance(m, int) or m < 1:
        raise ValueError(f"`m` (the population size) must be an integer >= 1, got {m!r}.")
    if isinstance(scale, bool) or not math.isfinite(float(scale)) or scale < 0:
        raise ValueError(f"`scale` must be a finite number >= 0, got {scale!r}.")
    if view is not None and view.numel != d:
        raise ValueError(
            f"`vector` has length {d} but the view holds {view.numel} values; they must match."
        )
    if (std is None) == (reference is None):
        raise ValueError(
            "Give exactly one of `std` (the noise standard deviation) and `reference` (a (k, d) "
            "population whose own std is used, as in Table S9)."
        )

    if reference is not None:
        ref = reference.vectors if isinstance(reference, Population) else reference
        if isinstance(ref, torch.Tensor) and ref.ndim == 2 and ref.shape[1] != d:
            raise ValueError(
                f"`reference` has genomes of length {ref.shape[1]} but `vector` has length {d}; "
                "use the same parameter view for both."
            )
        sigma = population_std(reference, mode=std_mode)
    elif isinstance(std, torch.Tensor):
        if std.ndim > 1 or (std.ndim == 1 and std.numel() != d):
            raise ValueError(
                f"A tensor `std` must be 0-d or of shape ({d},) like `vector`, got "
                f"{tuple(std.shape)}."
            )
        sigma = std.detach()
    else:
        if isinstance(std, bool) or not isinstance(std, (int, float)):
            raise TypeError(f"`std` must be a number or a tensor, got {type(std).__name__}.")
        sigma = torch.tensor(float(std))
    if not torch.isfinite(sigma).all() or (sigma < 0).any():
        raise ValueError("`std` must be finite and >= 0 (it is a standard deviation).")
    sigma = sigma.to(device=vector.device, dtype=vector.dtype) * scale

    if isinstance(generator, int) and not isinstance(generator, bool):
        generator = torch.Generator(device=vector.device).manual_seed(generator)
    elif generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"`generator` must be a torch.Generator, an int seed or None, got {generator!r}."
        )

    n_noisy = m - 1 if include_center else m
    z = torch.randn((n_noisy, d), generator=generator, device=vector.device, dtype=vector.dtype)
    noisy = vector.detach().unsqueeze(0) + sigma * z
    vectors = torch.cat([vector.detach().unsqueeze(0), noisy]) if include_center else noisy
    centers = [include_center and i == 0 for i in range(m)]
    return Population(
        vectors=vectors,
        view=view,
        meta=[{"member": i, "center": c} for i, c in enumerate(centers)],
        info={
            "method": "noise",
            "std": sigma.cpu(),
            "std_source": "std" if std is not None else f"reference/{std_mode}",
            "scale": float(scale),
        },
    )
