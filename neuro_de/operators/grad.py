"""A cheap ``torch.no_grad`` for functions called many times per generation."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import torch

__all__ = ["without_grad"]

_F = TypeVar("_F", bound=Callable)


def without_grad(fn: _F) -> _F:
    """Run ``fn`` with autograd off, entering ``torch.no_grad()`` only when it is on.

    ``@torch.no_grad()`` builds and enters a fresh context manager on every call (several
    microseconds each, dozens of calls per generation); the algorithms already run each
    generation under one ``no_grad``, so the nested ones only cost time.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if torch.is_grad_enabled():
            with torch.no_grad():
                return fn(*args, **kwargs)
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
