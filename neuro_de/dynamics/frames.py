"""Reading EvoTorch ``PandasLogger`` frames (in memory or saved as CSV) for the plots.

A frame is what ``PandasLogger(searcher).to_dataframe()`` (or :func:`neuro_de.runner.evolve`)
returns: one row per generation, indexed by ``iter`` (the generation count, from 1), one
float column per status item. Saved with ``frame.to_csv(path)``, the index becomes a first
column named ``iter``; both forms are accepted here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

__all__ = [
    "GENERATION_COLUMNS",
    "MissingColumnsError",
    "Source",
    "load_frame",
    "load_runs",
    "strategy_keys",
    "strategy_label",
]

#: Names accepted for the generation counter (as index name or column), in order of
#: preference; EvoTorch's PandasLogger uses ``iter``.
GENERATION_COLUMNS = ("iter", "generation", "gen", "step")

#: One run: a logger data frame or the path of its CSV.
Source = pd.DataFrame | str | os.PathLike

_STRATEGY_PREFIXES = ("p/", "success/", "F/", "CR/")

#: Readable names of neuro_de's strategy keys (the seed paper's S1-S4 and S_trigo first).
_STRATEGY_NAMES = {
    "rand1": "S1 rand/1",
    "ctb1": "S2 current-to-best/1",
    "rand2": "S3 rand/2",
    "ctr1": "S4 current-to-rand/1",
    "trig": "S_trigo trigonometric",
    "ctb2": "current-to-best/2",
    "best1": "best/1",
    "best2": "best/2",
    "ctpb1": "current-to-pbest/1",
}


class MissingColumnsError(ValueError):
    """A plot needs status columns that none of the given runs logged."""


def load_frame(source: Source) -> pd.DataFrame:
    """One run's frame, indexed by generation (index name ``"iter"``, ascending integers).

    Args:
        source: A ``pandas.DataFrame`` from ``PandasLogger.to_dataframe()``, or the path of
            a CSV written by ``frame.to_csv(path)``.

    Raises:
        FileNotFoundError: ``source`` is a path that does not exist.
        TypeError: ``source`` is neither a data frame nor a path.
        ValueError: the frame has no generation counter (index or column named one of
            :data:`GENERATION_COLUMNS`), or it is empty.
    """
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
        where = "the data frame"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(
                f"No logger CSV at {str(path)!r}: pass an existing file written by "
                "`frame.to_csv(path)` or the data frame itself."
            )
        try:
            frame = pd.read_csv(path)
        except pd.errors.EmptyDataError:
            raise ValueError(f"The logger CSV {str(path)!r} is empty.") from None
        where = f"the CSV {str(path)!r}"
    else:
        raise TypeError(
            "Expected a pandas.DataFrame from PandasLogger.to_dataframe() or the path of its "
            f"CSV, got {type(source).__name__}."
        )

    frame = frame.loc[:, [not str(c).startswith("Unnamed:") for c in frame.columns]]
    gen_name = None
    if frame.index.name in GENERATION_COLUMNS:
        gen_name = frame.index.name
        frame = frame.reset_index()
    for name in GENERATION_COLUMNS:
        if gen_name is None and name in frame.columns:
            gen_name = name
    if gen_name is None:
        raise ValueError(
            f"{where[0].upper()}{where[1:]} has no generation column: expected an index or "
            f"column named one of {list(GENERATION_COLUMNS)} (EvoTorch's PandasLogger names "
            f"it 'iter'; save with `frame.to_csv(path)`, keeping the index). Columns: "
            f"{[str(c) for c in frame.columns][:12]}."
        )
    if len(frame) == 0:
        raise ValueError(f"{where[0].upper()}{where[1:]} has no rows (no generation logged).")
    gen = pd.to_numeric(frame[gen_name], errors="coerce")
    if gen.isna().any():
        raise ValueError(f"The generation column {gen_name!r} of {where} is not numeric.")
    frame = frame.drop(columns=[c for c in GENERATION_COLUMNS if c in frame.columns])
    frame.index = pd.Index(gen.to_numpy(), name="iter")
    frame = frame.apply(pd.to_numeric, errors="coerce").sort_index()
    return frame


def load_runs(
    source: Source | Sequence[Source] | Mapping[str, Source],
    labels: Sequence[str] | None = None,
) -> list[tuple[str, pd.DataFrame]]:
    """Normalise one run or several to ``[(label, frame), ...]``.

    Args:
        source: One frame or path; a list/tuple of them (runs to overlay); or a mapping
            ``{label: frame_or_path}``.
        labels: Legend names of the runs, one per run. Defaults: the mapping's keys; a CSV's
            file name without extension; ``"run 1"``, ``"run 2"``, ... for data frames; and
            ``""`` (no run name in the legend) for a single data frame.
    """
    if isinstance(source, Mapping):
        items = list(source.values())
        default = [str(k) for k in source.keys()]
    elif isinstance(source, (pd.DataFrame, str, os.PathLike)):
        items = [source]
        default = [Path(source).stem if not isinstance(source, pd.DataFrame) else ""]
    elif isinstance(source, Sequence):
        items = list(source)
        if not items:
            raise ValueError("Got an empty list of runs; pass at least one frame or path.")
        default = [
            f"run {i + 1}" if isinstance(s, pd.DataFrame) else Path(s).stem
            if isinstance(s, (str, os.PathLike)) else f"run {i + 1}"
            for i, s in enumerate(items)
        ]
    else:
        raise TypeError(
            "Expected a pandas.DataFrame from PandasLogger.to_dataframe(), a CSV path, a list "
            f"of them or a {{label: run}} mapping, got {type(source).__name__}."
        )
    if labels is not None:
        if isinstance(labels, str):
            labels = [labels]
        labels = [str(x) for x in labels]
        if len(labels) != len(items):
            raise ValueError(f"Got {len(labels)} labels for {len(items)} runs; give one per run.")
    else:
        labels = default
    return [(label, load_frame(item)) for label, item in zip(labels, items, strict=True)]


def strategy_keys(frame: pd.DataFrame) -> list[str]:
    """Mutation-strategy keys that have per-strategy columns (``p/<key>``, ``success/<key>``,
    ``F/<key>``, ``CR/<key>``), in column order."""
    keys: list[str] = []
    for col in frame.columns:
        col = str(col)
        for prefix in _STRATEGY_PREFIXES:
            if col.startswith(prefix):
                key = col[len(prefix):]
                if key and key not in keys:
                    keys.append(key)
    return keys


def strategy_label(key: str) -> str:
    """Readable legend name of a strategy key (``"trig"`` -> ``"S_trigo trigonometric"``)."""
    return _STRATEGY_NAMES.get(key, re.sub(r"\s+", " ", key))
