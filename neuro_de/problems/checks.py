"""Early checks of arguments shared by the problems and the population builders.

Each check raises before any compute is spent, with a message naming the argument, the
value and the fix.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = [
    "run_on_one_sample",
    "resolve_device",
    "check_class_labels",
    "model_failure_hint",
    "genome_length_hint",
]

_DEVICE_ALIASES = {"gpu": "cuda", "nvidia": "cuda", "apple": "mps", "metal": "mps"}


def resolve_device(device: Any, *, name: str = "device") -> torch.device:
    """A ``torch.device`` from a user's ``device`` argument, checked to be usable here.

    Args:
        device: ``None`` (the CPU), a string such as ``"cpu"``, ``"cuda"``, ``"cuda:1"``
            or ``"mps"``, or a ``torch.device``.
        name: The argument's name, for the message.

    Returns:
        The device.

    Raises:
        ValueError: For a value torch does not know as a device (e.g. ``"gpu"``), or a CUDA
            or MPS device this machine does not have.
    """
    if device is None:
        return torch.device("cpu")
    is_index = isinstance(device, int) and not isinstance(device, bool)
    if not (isinstance(device, (str, torch.device)) or is_index):
        raise ValueError(
            f"`{name}` must be a string such as 'cpu' or 'cuda', or a torch.device, got "
            f"{type(device).__name__} {device!r}."
        )
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError) as err:
        text = str(device).strip().lower()
        alias = _DEVICE_ALIASES.get(text.split(":")[0])
        if alias is None and text != str(device) and text:
            try:
                alias = str(torch.device(text))
            except (RuntimeError, ValueError, TypeError):
                alias = None
        fix = f" Did you mean {name}={alias!r}?" if alias else ""
        raise ValueError(
            f"`{name}`={device!r} is not a device; valid choices are 'cpu', 'cuda', "
            f"'cuda:N' and 'mps' (or a torch.device).{fix}"
        ) from err
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(
                f"`{name}`={device!r} but this machine has no usable CUDA GPU "
                "(torch.cuda.is_available() is False); pass device='cpu'."
            )
        if dev.index is not None and dev.index >= count:
            raise ValueError(
                f"`{name}`={device!r} but this machine has {count} CUDA GPU(s) "
                f"(indices 0..{count - 1}); pass device='cuda:0' or another index below "
                f"{count}."
            )
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(
                f"`{name}`={device!r} but Apple's MPS backend is not available here; pass "
                "device='cpu'."
            )
    elif dev.type not in ("cpu", "meta", "xpu"):
        raise ValueError(
            f"`{name}`={device!r} is not supported; valid choices are 'cpu', 'cuda', "
            "'cuda:N' and 'mps'."
        )
    return dev


def check_class_labels(
    labels: torch.Tensor, num_classes: int, *, name: str = "dataset", where: str = ""
) -> None:
    """Refuse class labels that are not integers in ``[0, num_classes)``.

    Args:
        labels: The labels (any shape; one per sample).
        num_classes: The model's number of outputs (logits).
        name: The argument holding the labels, for the message.
        where: Where the labels were found (e.g. ``" (batch 3)"``), for the message.

    Raises:
        ValueError: For floating-point labels or labels outside ``[0, num_classes)``.
    """
    labels = torch.as_tensor(labels)
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(
            f"`{name}` labels must be integer class indices{where}; got dtype {labels.dtype}. "
            "Convert them with labels.long() (for regression targets pass a per-sample "
            "`loss`)."
        )
    if labels.numel() == 0:
        return
    low, high = int(labels.min()), int(labels.max())
    if low < 0:
        raise ValueError(
            f"`{name}` has label {low}{where}, but class labels must lie in "
            f"[0, {num_classes - 1}] (`model` outputs {num_classes} logits). Drop unlabelled "
            "samples (e.g. label -1) or remap the labels to 0..num_classes-1."
        )
    if high >= num_classes:
        raise ValueError(
            f"`{name}` has label {high}{where} but `model` outputs only {num_classes} logits; "
            f"labels must lie in [0, {num_classes - 1}]. Build the model with at least "
            f"{high + 1} outputs (num_classes) or remap the labels to 0..num_classes-1."
        )


def model_failure_hint(model: torch.nn.Module, x: torch.Tensor, err: Exception) -> str:
    """The likely fix for a model that failed on a batch ``x`` of one input.

    Distinguishes a dtype mismatch (e.g. float64 inputs, or a ``model.double()``) from a
    missing channel dimension and from a shape mismatch.
    """
    params = [p for p in model.parameters() if p.is_floating_point()]
    pdtype = params[0].dtype if params else None
    if pdtype is not None and x.is_floating_point() and x.dtype != pdtype:
        return (
            f"The inputs are {x.dtype} but the model's parameters are {pdtype}: convert "
            f"one of them, e.g. the inputs with x.to({pdtype}) ({_dtype_method(pdtype)}) "
            f"or the model with model.to({x.dtype})."
        )
    if pdtype is not None and not x.is_floating_point() and "dtype" in str(err).lower():
        return (
            f"The inputs are {x.dtype} but the model's parameters are {pdtype}: convert the "
            f"inputs with x.to({pdtype}) (e.g. images scaled to [0, 1] with x.float() / 255)."
        )
    convs = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv1d))]
    if convs:
        conv = convs[0]
        want = 4 if isinstance(conv, torch.nn.Conv2d) else 3
        if x.ndim == want - 1:
            return (
                f"The input has one dimension fewer than the model's first "
                f"{type(conv).__name__} expects ({x.ndim - 1}-D samples, batched to "
                f"{tuple(x.shape)}): add the channel dimension, e.g. x.unsqueeze(1) for "
                f"(N, H, W) images (in_channels={conv.in_channels})."
            )
    return "Check that the model fits the data's channels and image size."


def run_on_one_sample(model: torch.nn.Module, x0: torch.Tensor, *, name: str) -> Any:
    """``model``'s output on the single input ``x0`` (batched to one), in eval mode without
    gradients, every module's mode restored afterwards: the check that a network fits its
    data before any training step.

    Raises:
        ValueError: The model fails on it; the message gives the input's shape and dtype and
            :func:`model_failure_hint`'s fix.
    """
    x = torch.as_tensor(x0).unsqueeze(0)
    param = next(iter(model.parameters()), None)
    if param is not None:
        x = x.to(param.device)
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            return model(x)
    except Exception as err:
        raise ValueError(
            f"`model` failed on one input of `{name}` (shape {tuple(x.shape[1:])}, dtype "
            f"{x.dtype}, batched to 1 x ...): {err}. {model_failure_hint(model, x, err)}"
        ) from err
    finally:
        for module, training in modes:
            module.train(training)


def _dtype_method(dtype: torch.dtype) -> str:
    return {torch.float32: ".float()", torch.float64: ".double()", torch.float16: ".half()"}.get(
        dtype, f".to({dtype})"
    )


def genome_length_hint(problem: Any, columns: int) -> str:
    """Why a population of ``columns`` columns may not fit ``problem``'s genome, and the fix.

    For a problem with a parameter view (:class:`~neuro_de.problems.SupervisedNetProblem`)
    the views of the population and of the problem differ: typically one was built with
    ``exclude`` and the other without, or with another ``exclude``. For other problems the
    hint is empty.

    Args:
        problem: The problem (anything with a ``view`` attribute holding a
            :class:`~neuro_de.problems.ParameterView` gets the hint).
        columns: The population's number of columns.
    """
    view = getattr(problem, "view", None)
    names = getattr(view, "names", None)
    if view is None or names is None:
        return ""
    excluded = list(getattr(view, "excluded", ()))
    model = getattr(problem, "_model", None)  # SupervisedNetProblem's user module
    total = None
    if isinstance(model, torch.nn.Module):
        total = sum(int(p.numel()) for p in model.parameters())
    what = f"exclude={excluded!r}" if excluded else "no exclude (every parameter)"
    msg = (
        f" The parameter views differ: the problem's genome is {view.numel} values "
        f"({what}); the population was built with another `exclude` or `view`."
    )
    if total is not None and columns == total and excluded:
        msg += " Its length is that of every parameter: it was built without `exclude`."
    return msg + (
        " Build both with the same view, e.g. train_snapshots(..., view=problem.view) or "
        "the same `exclude` in both."
    )


def first_item(dataset: Any, *, name: str = "dataset") -> tuple[Any, Any]:
    """``dataset[0]`` as an ``(input, label)`` pair, or a clear error naming the argument
    ``name``: indexing failed (not a map-style Dataset), or the item is not a pair."""
    try:
        item = dataset[0]
    except Exception as err:
        raise ValueError(f"`{name}[0]` failed ({err}); pass a map-style Dataset.") from err
    if not isinstance(item, (tuple, list)) or len(item) < 2:
        raise ValueError(
            f"`{name}` must yield (input, label) pairs; {name}[0] is a "
            f"{type(item).__name__}. Wrap inputs and labels in a TensorDataset(x, y)."
        )
    return item[0], item[1]
