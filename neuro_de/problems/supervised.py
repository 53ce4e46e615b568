r"""EvoTorch problem: evolve the weights of a trained network on minibatches.

:class:`SupervisedNetProblem` turns a network and a labelled data set into a minimised
EvoTorch :class:`~evotorch.Problem` whose solutions are flat parameter vectors of the
network (its *genome*, see :class:`~neuro_de.problems.ParameterView`). The fitness of a
vector :math:`\theta` on the current minibatch :math:`\mathcal{B}_k` is

.. math::
    f_k(\theta) = \frac{1}{|\mathcal{B}_k|} \sum_{(x, y) \in \mathcal{B}_k}
        \ell\big(g_\theta(x), y\big) \;+\; \alpha \lVert\theta\rVert_2^2,

with :math:`g_\theta` the network with :math:`\theta` loaded, :math:`\alpha \ge 0`, and
:math:`\ell(z, y) = -\log \operatorname{softmax}(z)_y` (cross-entropy on logits) unless
the user passes another per-sample ``loss`` (regression, other tasks).
Each minibatch serves ``generations_per_batch`` generations (10 in the seed paper,
Algorithm 1), then the next one of a seeded, reshuffled-per-epoch stream is used.

The protocol between this problem and the neuro_de algorithms (``neuro_de.algorithms``):

* :attr:`SupervisedNetProblem.fitness_epoch` is the id of the minibatch the objective
  currently uses (0 first, +1 at every change);
* an algorithm calls :meth:`SupervisedNetProblem.advance_generation` at the start of every
  generation but the first; after ``generations_per_batch`` calls the problem switches to
  the next minibatch and the call returns ``True``;
* an algorithm re-evaluates its parents whenever ``fitness_epoch`` differs from the epoch
  their evaluations came from, so a trial is only ever compared with a parent scored on the
  same data (the selection :math:`f_k(u_i) \le f_k(x_i)` always uses one :math:`k`).

EvoTorch's own algorithms (SNES, CEM, ...) do not know this protocol;
:meth:`SupervisedNetProblem.attach` adds it to them with a ``before_step_hook``.

References:
    R. Storn and K. Price, "Differential Evolution - A Simple and Efficient Heuristic for
    Global Optimization over Continuous Spaces", J. Global Optim. 11, 1997.
    S. Ioffe and C. Szegedy, "Batch Normalization", ICML 2015.
    P. Izmailov et al., "Averaging Weights Leads to Wider Optima and Better
    Generalization", UAI 2018 (BatchNorm recalibration, ``update_bn``).
"""

from __future__ import annotations

import copy
import functools
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch
from evotorch import Problem, SolutionBatch
from torch import nn
from torch.utils.data import Dataset

from .batching import MinibatchStream, dataset_labels, fetch_samples
from .checks import check_class_labels, first_item, model_failure_hint, resolve_device
from .evaluation import (
    autocast_context,
    batchnorm_modules,
    choose_eval_mode,
    cross_entropy_and_accuracy,
    functional_forward,
    iterate_batches,
    output_is_probability,
    per_sample_loss,
    recalibrate_batchnorm_,
    strip_batchnorm_running_stats_,
    topk_correct,
)
from .parameter_view import ParameterView

__all__ = ["SupervisedNetProblem", "AdvanceGenerationHook", "DEFAULT_TOPK", "LossFn"]

_BN_POLICIES = ("frozen", "batch")
_EVAL_MODES = ("auto", "loop", "vmap")
_RESERVED_KWARGS = ("objective_sense", "solution_length", "dtype", "eval_data_length")
#: Top-k accuracies :meth:`SupervisedNetProblem.evaluate_vector` reports by default; a k
#: is left out when the model has ``k`` or fewer classes (top-k would be 100 % by
#: construction), so a 2- or 3-class problem reports ``top1`` only.
DEFAULT_TOPK = (1, 5)
#: Per-sample loss signature: ``loss(outputs, targets) -> (B, ...)`` tensor.
LossFn = Callable[[torch.Tensor, Any], torch.Tensor]
_AUTOCAST_DTYPES = {
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
}
#: Default vmap chunk: as many individuals as keep chunk_size * batch_size <= this.
_VMAP_SAMPLES_PER_CHUNK = 65536


class AdvanceGenerationHook:
    """A ``before_step_hook`` that makes an EvoTorch algorithm follow the batch schedule.

    Called before every step of ``searcher``; on every step but the first it calls
    ``problem.advance_generation()``. With ``rescore=True``, when the minibatch changed it
    also re-evaluates ``searcher.population`` (for algorithms that keep evaluated parents
    across steps, e.g. EvoTorch's ``GeneticAlgorithm``; distribution-based searchers such as
    SNES sample and evaluate a whole new population every step and do not need it).

    A plain class (not a closure), so that problems and searchers stay picklable.
    """

    def __init__(self, problem: SupervisedNetProblem, searcher: Any, *, rescore: bool = False):
        self.problem = problem
        self.searcher = searcher
        self.rescore = bool(rescore)

    def __call__(self) -> None:
        if int(self.searcher.step_count) == 0:
            return
        changed = self.problem.advance_generation()
        if changed and self.rescore:
            population = getattr(self.searcher, "population", None)
            if isinstance(population, SolutionBatch) and len(population) > 0:
                self.problem.evaluate(population)


class SupervisedNetProblem(Problem):
    r"""Minimise the minibatch loss of a network over its flat weight vector.

    Solutions are ``float32`` vectors of length ``view.numel`` (the network's parameters in
    ``named_parameters()`` order, minus ``exclude``). Each solution's evaluation row is
    ``[loss, accuracy]``: ``evals[:, 0]`` is the fitness :math:`f_k(\theta)` above
    (minimised) and ``evals[:, 1]`` is the top-1 accuracy on the same minibatch in
    :math:`[0, 1]`, stored as EvoTorch *extra evaluation data* (``eval_data_length=1``), so
    it never influences selection. After each ``evaluate``, :attr:`status` also holds
    ``fitness_epoch``, ``batch_accuracy_mean`` and ``batch_accuracy_max`` (Python floats).
    Without accuracy (a custom ``loss``, below) the row is ``[loss]`` alone and the two
    ``batch_accuracy_*`` items are absent.

    **No "best network" across minibatches.** By default an EvoTorch ``Problem`` keeps the
    best and worst solution it has ever evaluated (status items ``best``, ``worst``,
    ``best_eval``, ``worst_eval``). Under a minibatch fitness these compare losses measured
    on *different data*: ``best`` is the network that scored lowest on *some* minibatch,
    the luckiest on its batch rather than the best network (in a user test it had 6.6 times
    the test loss of the Adam network evolution started from). So whenever a minibatch is
    smaller than the data set this problem turns EvoTorch's tracking off
    (``store_solution_stats=False``): the status has no ``best``/``worst`` items and loggers
    get no ``best_eval`` column. Choose the network to keep on held-out data instead, with
    :func:`neuro_de.runner.select_on_heldout` (e.g.
    ``values[select_on_heldout(problem, values, heldout_set)]`` with
    ``values = searcher.population.values``). With ``batch_size == len(dataset)`` the fitness
    is the whole data set at every generation (the same samples, reshuffled), so the
    tracking is meaningful and EvoTorch's default applies (on for a population on the
    CPU). Asking for ``store_solution_stats=True`` with minibatches is refused.

    **Loss** (``loss``). The default is the cross-entropy of ``(batch, num_classes)``
    logits. A model whose output already is a probability (it ends in ``nn.Softmax``, or its
    rows are non-negative and sum to 1) gets a ``UserWarning`` at construction: the loss
    applies log-softmax itself, so it would take the softmax of probabilities and barely
    tell networks apart; remove the final ``Softmax``. A final ``nn.LogSoftmax`` is accepted
    silently: log-softmax is idempotent, so the cross-entropy of log-probabilities is that
    of the logits.

    Any other task passes ``loss(outputs, targets)``, a callable returning **one loss per
    sample**: a tensor whose first dimension is the batch; further dimensions are averaged
    (e.g. ``nn.MSELoss(reduction="none")`` or
    ``functools.partial(F.mse_loss, reduction="none")`` for regression). Per-sample, not a
    mean, so that a minibatch's fitness, a shard's share of it in
    :class:`~neuro_de.problems.DistributedSupervisedNetProblem` and :meth:`evaluate_vector`
    over a whole data set are one and the same mean of per-sample losses. ``outputs`` is the
    model's float32 ``(batch, ...)`` output for one individual, ``targets`` the data set's
    labels of the minibatch as stored (any shape and dtype: float targets for regression);
    it is called once per individual under :func:`torch.inference_mode`. It is tried on two
    samples at construction, and a loss that returns one reduced number is refused with the
    fix. ``accuracy`` (default: on for cross-entropy, off for a custom loss) adds the top-1
    accuracy column; with a custom loss it needs ``(batch, num_classes)`` outputs and
    integer labels, as for cross-entropy (e.g. a focal loss). With ``num_actors`` the loss
    travels to the Ray actors with the problem, so it must pickle (Ray uses cloudpickle:
    lambdas do).

    **The user's module is never modified.** It is deep-copied at construction into a
    private *template* (kept pristine, used by :meth:`to_module`) and a *work* copy on
    ``device`` that the loop path writes candidate vectors into.
    :meth:`parameter_vector` reads the user's module as it is when called.

    **BatchNorm policy** (``bn``):

    * ``"frozen"`` (default): the network runs in eval mode and normalises with its stored
      running statistics, which are never changed.
    * ``"batch"``: BatchNorm normalises each minibatch with its own statistics (as in
      training) but no running buffer exists in the work copy, so nothing is ever updated;
      the template and the user's module keep their buffers bit-identical. Use
      :meth:`recalibrate_bn` (or ``to_module(..., update_bn=True)``) to export a winner with
      statistics recomputed on training data.

    Every other layer always runs in eval mode (dropout off), so fitness is deterministic.

    **Evaluation paths** (``eval_mode``):

    * ``"loop"``: each vector is copied into the work module's parameters in place
      (``torch._foreach_copy_``) and the module is run under :func:`torch.inference_mode`;
      the module is converted to ``channels_last`` when ``channels_last`` allows it.
    * ``"vmap"``: :func:`torch.func.functional_call` ``vmap``-ed over chunks of
      ``chunk_size`` individuals, under :func:`torch.no_grad`.
    * ``"auto"``: ``"loop"`` if the network has a convolution, recurrent or attention layer,
      ``"vmap"`` otherwise. Measured on this project's 2-core CPU (1 thread, popsize 32):
      LeNet-5 batch 256 loop 691 ms vs vmap 1351 ms (vmap, chunk 8: 1043 ms); batch 1024
      loop 2123 ms vs vmap 5963 ms; LeNet-1 batch 1024 loop 1083 ms vs vmap 2530 ms --
      vmapped convolutions become grouped convolutions, 2-2.8x slower; a 784-100-10 MLP,
      batch 1024: loop 106 ms vs vmap 86-91 ms. ``vmap`` + ``torch.compile`` of LeNet-5
      (batch 1024) took 2022 ms after a 24 s compile, i.e. no better than the loop, while
      the compiled module in the loop took 1184 ms after a 5 s compile. GPUs were not
      measured; the rule is the same there (``benchmarks/evaluation.py --device cuda``
      measures it). Both paths give the same losses to float tolerance.

    ``compile=True`` wraps the loop's module (or the vmapped function) in
    :func:`torch.compile` on first use (seconds of compile time; needs a C++ compiler on
    CPU). ``channels_last=None`` (auto) turns channels-last memory format on for the loop
    path of networks with ``Conv2d`` layers (measured on CPU, LeNet-5 batch 256: 17.1 ->
    12.5 ms per forward; a BN conv net 12.9 -> 5.8 ms; ResNet-18 on 32 px 113 -> 70 ms).
    ``autocast_dtype`` (``torch.bfloat16``/``"bf16"`` or float16) runs forward passes
    under :func:`torch.autocast` -- meant for GPUs; the loss is always computed in float32.

    Args:
        model: The network. With the default loss (or ``accuracy=True``) its output must be
            ``(batch, num_classes)`` logits; with a custom ``loss``, any ``(batch, ...)``
            tensor the loss accepts.
        dataset: A map-style ``Dataset`` of ``(input, label)`` pairs (e.g. a
            ``TensorDataset``), labels integers in ``[0, num_classes)`` (with a custom
            ``loss`` and no accuracy: any tensor targets).
        batch_size: Samples per minibatch (``<= len(dataset)``).
        generations_per_batch: Generations each minibatch serves.
        exclude: Parameters kept out of the genome (names/prefixes or module types, see
            :class:`ParameterView`); e.g. ``exclude=["fc"]`` exempts the last layer. A
            single string is one pattern: ``exclude="fc"`` is ``exclude=["fc"]``.
        bn: BatchNorm policy, ``"frozen"`` or ``"batch"`` (above); ``"batch"`` needs
            ``batch_size >= 2`` when the model has BatchNorm layers.
        alpha: Weight :math:`\alpha \ge 0` of the :math:`\lVert\theta\rVert_2^2` penalty.
        device: Where the work module, the minibatches and the population live
            (default ``"cpu"``): ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or a
            ``torch.device``, checked at construction to exist on this machine.
        seed: Seeds the minibatch stream and EvoTorch's problem generator (which the
            algorithms draw from). ``None``: nondeterministic (the stream's drawn seed is in
            :meth:`state_dict`).
        eval_mode: ``"auto"``, ``"loop"`` or ``"vmap"``.
        chunk_size: Individuals per vmap call; ``None`` picks
            ``max(1, 65536 // batch_size)``.
        compile: Wrap the forward path in :func:`torch.compile`.
        autocast_dtype: Forward-pass autocast dtype, or ``None`` for full precision.
        channels_last: ``True``/``False`` to force, ``None`` for the rule above.
        num_workers: Worker processes used to gather a minibatch from a data set that is
            not a ``TensorDataset`` (0: read items in this process).
        init_std: Standard deviation of the Gaussian noise around :meth:`parameter_vector`
            with which EvoTorch fills new solutions (``generate_batch``, SNES's default
            center) when ``initial_bounds`` is not given.
        loss: ``None`` for cross-entropy on logits, or ``loss(outputs, targets)`` returning
            per-sample losses (above).
        accuracy: Add the top-1 accuracy column and status items; ``None``: on for
            cross-entropy, off for a custom ``loss``.
        **problem_kwargs: Passed on to :class:`evotorch.Problem` (e.g. ``num_actors``,
            ``initial_bounds``, ``store_solution_stats``: see "No best network" above).

    Raises:
        TypeError: If ``model`` is not an ``nn.Module``, ``dataset`` not a data set or
            ``loss`` not callable.
        ValueError: For an empty data set, items that are not ``(input, label)`` pairs,
            non-positive ``batch_size``/``generations_per_batch``/``chunk_size``, an unknown
            ``bn``/``eval_mode``/``autocast_dtype``, a negative ``alpha``, a model whose
            output is not ``(batch, C)`` logits (when cross-entropy or accuracy needs them)
            or has fewer logits than the data has classes, a ``loss`` that does not return
            per-sample losses, ``store_solution_stats=True`` with minibatches smaller than
            the data set, or ``problem_kwargs`` that this class sets itself; a ``device``
            that is not a device or is missing here (``"gpu"``, ``"cuda"`` without a GPU);
            a model without parameters; ``bn="batch"`` with ``batch_size=1`` on a
            BatchNorm network; a model that fails on one input (the message says whether
            the dtypes differ, e.g. float64 inputs, or a channel dimension is missing);
            labels outside ``[0, num_classes)``. Every label is checked here when the data
            set's labels are cheap to read (a ``TensorDataset``, a ``Subset`` of one, or a
            ``targets`` attribute as torchvision data sets have); for other data sets the
            first label is checked here and the others when their minibatch is loaded.

    Warns:
        UserWarning: When the model's output already is a probability and the loss is the
            default cross-entropy; once, when :meth:`evaluate` has been called more than
            ``generations_per_batch + 1`` times without :meth:`advance_generation` (an
            EvoTorch algorithm run without :meth:`attach`: the minibatch never changes).

    Example:
        >>> problem = SupervisedNetProblem(net, train_set, batch_size=256, seed=0)
        >>> batch = problem.generate_batch(32)
        >>> problem.evaluate(batch)
        >>> loss, acc = batch.evals[:, 0], batch.evals[:, 1]
        >>> best = problem.to_module(batch.values[loss.argmin()])
    """

    def __init__(
        self,
        model: nn.Module,
        dataset: Dataset,
        *,
        batch_size: int = 256,
        generations_per_batch: int = 10,
        exclude: Iterable[str | type] | None = None,
        bn: str = "frozen",
        alpha: float = 0.0,
        device: str | torch.device | None = None,
        seed: int | None = None,
        eval_mode: str = "auto",
        chunk_size: int | None = None,
        compile: bool = False,
        autocast_dtype: torch.dtype | str | None = None,
        channels_last: bool | None = None,
        num_workers: int = 0,
        init_std: float = 0.01,
        loss: LossFn | None = None,
        accuracy: bool | None = None,
        **problem_kwargs: Any,
    ):
        # ---- validation, before anything expensive --------------------------------------
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"`model` must be a torch.nn.Module, got {type(model).__name__}; pass the "
                "network itself (not its state_dict or class)."
            )
        if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
            raise TypeError(
                f"`dataset` must be a map-style torch Dataset of (input, label) pairs (with "
                f"__len__ and __getitem__), got {type(dataset).__name__}."
            )
        if len(dataset) == 0:
            raise ValueError("`dataset` is empty; pass a data set with at least one sample.")
        _check_positive_int(batch_size, "batch_size")
        _check_positive_int(generations_per_batch, "generations_per_batch")
        if chunk_size is not None:
            _check_positive_int(chunk_size, "chunk_size")
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"`num_workers` must be an integer >= 0, got {num_workers!r}.")
        if bn not in _BN_POLICIES:
            raise ValueError(f"`bn` must be one of {_BN_POLICIES}, got {bn!r}.")
        if eval_mode not in _EVAL_MODES:
            raise ValueError(f"`eval_mode` must be one of {_EVAL_MODES}, got {eval_mode!r}.")
        alpha = float(alpha)
        if not alpha >= 0.0:
            raise ValueError(f"`alpha` must be a number >= 0, got {alpha!r}.")
        init_std = float(init_std)
        if not init_std >= 0.0:
            raise ValueError(f"`init_std` must be a number >= 0, got {init_std!r}.")
        autocast_dtype = _parse_autocast_dtype(autocast_dtype)
        if channels_last not in (None, True, False):
            raise ValueError(f"`channels_last` must be True, False or None, got {channels_last!r}.")
        clash = [k for k in _RESERVED_KWARGS if k in problem_kwargs]
        if clash:
            raise ValueError(
                f"SupervisedNetProblem sets {clash} itself (min, genome length, float32, the "
                "accuracy column); remove them from the keyword arguments."
            )
        if loss is not None and not callable(loss):
            raise TypeError(
                f"`loss` must be None (cross-entropy) or a callable loss(outputs, targets) "
                f"returning per-sample losses, got {type(loss).__name__}."
            )
        if accuracy not in (None, True, False):
            raise ValueError(f"`accuracy` must be True, False or None, got {accuracy!r}.")
        accuracy = (loss is None) if accuracy is None else bool(accuracy)
        class_labels = loss is None or accuracy
        sample = _first_pair(dataset, class_labels=class_labels)
        device = resolve_device(device)
        store_stats = _solution_stats_policy(
            problem_kwargs.pop("store_solution_stats", None), batch_size, len(dataset)
        )

        view = ParameterView(model, exclude=exclude)
        if bn == "batch" and batch_size == 1 and batchnorm_modules(model):
            raise ValueError(
                "`bn`='batch' with `batch_size`=1: BatchNorm cannot normalise a minibatch of "
                "one sample with its own statistics (torch refuses it at the first "
                "evaluation). Use batch_size >= 2, or bn='frozen' to use the stored running "
                "statistics."
            )
        super().__init__(
            objective_sense="min",
            solution_length=view.numel,
            dtype=torch.float32,
            eval_data_length=1 if accuracy else 0,
            device=device,
            seed=seed,
            store_solution_stats=store_stats,
            **problem_kwargs,
        )

        self._model = model  # the user's module: read by parameter_vector(), never written
        self._view = view
        self._bn = bn
        self._alpha = alpha
        self._batch_size = int(batch_size)
        self._generations_per_batch = int(generations_per_batch)
        self._num_workers = int(num_workers)
        self._init_std = init_std
        self._compile = bool(compile)
        self._autocast_dtype = autocast_dtype
        self._loss = loss
        self._accuracy = accuracy
        self._class_labels = class_labels
        self.dataset = dataset

        with torch.no_grad():
            template = copy.deepcopy(model).to(device)
        template.eval()
        self._template = template
        self._num_classes = self._check_model_output(template, sample)
        self._eval_mode = choose_eval_mode(template) if eval_mode == "auto" else eval_mode
        if chunk_size is None:
            chunk_size = max(1, _VMAP_SAMPLES_PER_CHUNK // self._batch_size)
        self._chunk_size = int(chunk_size)
        if channels_last is None:
            channels_last = self._eval_mode == "loop" and any(
                isinstance(m, nn.Conv2d) for m in template.modules()
            )
        self._channels_last = bool(channels_last)

        work = copy.deepcopy(template)
        for p in work.parameters():
            p.requires_grad_(False)
        if bn == "batch":
            strip_batchnorm_running_stats_(work)
        if self._channels_last and self._eval_mode == "loop":
            work = work.to(memory_format=torch.channels_last)
        work.eval()
        self._work = work

        self._stream = MinibatchStream(
            len(dataset), self._batch_size, seed=_derive_stream_seed(seed)
        )
        self._fitness_epoch = 0
        self._generation = 0  # advance_generation() calls so far
        self._generation_in_batch = 0
        self._evals_since_advance = 0  # evaluate() calls since advance_generation()
        self._stall_warned = False
        self._cache: dict[str, Any] | None = None  # compiled fns, work params; not pickled
        self._stream_state_of_batch = self._stream.state_dict()
        self._x: torch.Tensor
        self._y: torch.Tensor
        self._load_batch(self._stream.next())

    # ---------------------------------------------------------------------------------
    # construction helpers
    # ---------------------------------------------------------------------------------
    def _check_model_output(self, template: nn.Module, sample: tuple[Any, Any]) -> int:
        """Run the model (and a custom loss) on the first samples; return the output width."""
        x0, y0 = sample
        try:
            with torch.no_grad():
                out = template(torch.as_tensor(x0).unsqueeze(0).to(self.device))
        except Exception as err:
            x1 = torch.as_tensor(x0).unsqueeze(0)
            shape = tuple(x1.shape[1:])
            raise ValueError(
                f"`model` failed on one input of `dataset` (shape {shape}, dtype {x1.dtype}, "
                f"batched to 1 x ...): {err}. {model_failure_hint(template, x1, err)}"
            ) from err
        if not self._class_labels:
            if not isinstance(out, torch.Tensor) or out.ndim < 1 or out.shape[0] != 1:
                shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise ValueError(
                    f"`model` must return a (batch, ...) tensor; on one sample it returned "
                    f"{shape}."
                )
            self._check_custom_loss(template)
            return int(out.shape[1]) if out.ndim >= 2 else 1
        if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != 1:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(
                f"`model` must return (batch, num_classes) logits; on one sample it returned "
                f"{shape}."
            )
        width = int(out.shape[1])
        labels = dataset_labels(self.dataset)
        if labels is None:  # no cheap access to every label: the first one now, the rest
            labels = torch.as_tensor(y0).reshape(1)  # when their minibatch is loaded
        check_class_labels(labels, width, name="dataset")
        if self._loss is None:
            _warn_if_probabilities(template, out)
        else:
            self._check_custom_loss(template)
        return width

    def _check_custom_loss(self, template: nn.Module) -> None:
        """Call the user's loss once on (up to) two samples, as evaluation will."""
        k = min(2, len(self.dataset))
        x, y = fetch_samples(self.dataset, torch.arange(k), num_workers=0)
        y = self._targets_to_device(torch.as_tensor(y))
        with torch.no_grad():
            out = template(x.to(self.device))
        out = out.float() if out.is_floating_point() else out
        try:
            with torch.inference_mode():
                losses = per_sample_loss(self._loss, out, y)
        except (TypeError, ValueError) as err:
            raise type(err)(f"{err} (checked on the first {k} samples of `dataset`)") from err
        except Exception as err:
            raise ValueError(
                f"`loss` failed on the model's output for the first {k} samples of `dataset` "
                f"(outputs {tuple(out.shape)} {out.dtype}, targets {tuple(y.shape)} {y.dtype}): "
                f"{err}. It is called as loss(outputs, targets) with the targets as the data "
                "set stores them."
            ) from err
        if not bool(torch.isfinite(losses).all()):
            raise ValueError(
                f"`loss` returned non-finite values {losses.tolist()} for the trained model on "
                f"the first {k} samples of `dataset`; check the loss and the targets' scale."
            )

    def _targets_to_device(self, y: torch.Tensor) -> torch.Tensor:
        if self._class_labels:
            return y.to(device=self.device, dtype=torch.long)
        return y.to(self.device)

    @property
    def _nonserialized_attribs(self) -> list[str]:
        return ["_cache"]

    def _get_cache(self) -> dict[str, Any]:
        if self._cache is None:
            self._cache = {}
        return self._cache

    def _work_params(self) -> list[torch.Tensor]:
        cache = self._get_cache()
        if "work_params" not in cache:
            params = dict(self._work.named_parameters())
            cache["work_params"] = [params[n] for n in self._view.names]
        return cache["work_params"]

    def _loop_forward(self) -> Any:
        cache = self._get_cache()
        if "loop_fn" not in cache:
            cache["loop_fn"] = torch.compile(self._work) if self._compile else self._work
        return cache["loop_fn"]

    def _vmap_forward(self) -> Any:
        cache = self._get_cache()
        if "vmap_fn" not in cache:
            fn = torch.func.vmap(
                functools.partial(functional_forward, self._work), in_dims=(0, None)
            )
            if self._compile:
                fn = torch.compile(fn, dynamic=False)
            cache["vmap_fn"] = fn
        return cache["vmap_fn"]

    # ---------------------------------------------------------------------------------
    # batch schedule
    # ---------------------------------------------------------------------------------
    def _load_batch(self, indices: torch.Tensor) -> None:
        x, y = fetch_samples(self.dataset, indices, num_workers=self._num_workers)
        y = torch.as_tensor(y)
        if not self._class_labels:  # a custom loss without accuracy: targets as stored
            self._x = x.to(self.device)
            self._y = y.to(self.device)
            if self._cache is not None:
                self._cache.pop("x_loop", None)
            return
        if y.is_floating_point() or y.ndim != 1:
            raise ValueError(
                f"`dataset` labels must be integer class indices (one per sample); got a "
                f"batch of labels with dtype {y.dtype} and shape {tuple(y.shape)}."
            )
        check_class_labels(y, self._num_classes, name="dataset", where=" in a minibatch")
        y = y.to(device=self.device, dtype=torch.long)
        self._x = x.to(self.device)
        self._y = y
        if self._cache is not None:
            self._cache.pop("x_loop", None)

    def _x_for_loop(self) -> torch.Tensor:
        cache = self._get_cache()
        if "x_loop" not in cache:
            x = self._x
            if self._channels_last and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            cache["x_loop"] = x
        return cache["x_loop"]

    @property
    def fitness_epoch(self) -> int:
        """Id of the minibatch the objective currently uses (0, then +1 at each change).

        Evaluations made under different ``fitness_epoch`` values are not comparable.
        """
        return self._fitness_epoch

    @property
    def generation(self) -> int:
        """Number of :meth:`advance_generation` calls so far."""
        return self._generation

    @property
    def generations_per_batch(self) -> int:
        """Generations each minibatch serves."""
        return self._generations_per_batch

    @property
    def batch_size(self) -> int:
        """Samples per minibatch."""
        return self._batch_size

    def advance_generation(self) -> bool:
        """Count one generation; switch to the next minibatch after every
        ``generations_per_batch`` calls.

        The neuro_de algorithms call it once at the start of every generation after the
        first, so generations ``1..G`` (with ``G = generations_per_batch``) use minibatch 0,
        ``G+1..2G`` minibatch 1, and so on.

        Returns:
            ``True`` iff the minibatch (and so :attr:`fitness_epoch`) changed: the caller
            must then re-score its parents before selection.
        """
        self._generation += 1
        self._generation_in_batch += 1
        self._evals_since_advance = 0
        if self._generation_in_batch >= self._generations_per_batch:
            self.next_batch()
            return True
        return False

    def next_batch(self) -> int:
        """Switch to the next minibatch of the stream now; return the new ``fitness_epoch``."""
        self._stream_state_of_batch = self._stream.state_dict()
        self._load_batch(self._stream.next())
        self._fitness_epoch += 1
        self._generation_in_batch = 0
        self._evals_since_advance = 0
        return self._fitness_epoch

    @property
    def current_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``(inputs, labels)`` of the current minibatch, on :attr:`device`."""
        return self._x, self._y

    def attach(self, searcher: Any, *, rescore: bool = False) -> AdvanceGenerationHook:
        """Make an EvoTorch search algorithm follow the batch schedule.

        Appends an :class:`AdvanceGenerationHook` to ``searcher.before_step_hook``, which
        calls :meth:`advance_generation` before every step but the first. neuro_de's own
        algorithms call it themselves: attaching one raises ``TypeError``.

        Args:
            searcher: An EvoTorch ``SearchAlgorithm`` built on this problem (e.g. ``SNES``).
            rescore: Also re-evaluate ``searcher.population`` when the minibatch changes
                (for algorithms that keep evaluated parents, e.g. ``GeneticAlgorithm``).

        Returns:
            The hook (remove it with ``searcher.before_step_hook.remove(hook)``).

        Raises:
            TypeError: For a neuro_de algorithm
                (:class:`neuro_de.algorithms.PopulationAlgorithm`), which already follows
                the schedule: attaching it would advance it twice per generation.
            ValueError: For a searcher built on another problem.
        """
        from ..algorithms.base import PopulationAlgorithm  # lazy: algorithms import problems

        if isinstance(searcher, PopulationAlgorithm):
            raise TypeError(
                f"`searcher` is a neuro_de algorithm ({type(searcher).__name__}), which already "
                "follows the batch schedule (it calls advance_generation itself); attaching "
                "it would advance the schedule twice per generation. Remove the attach() call."
            )
        if getattr(searcher, "problem", None) is not self:
            raise ValueError(
                "`searcher` was not built on this problem; pass the search algorithm that was "
                "constructed with this SupervisedNetProblem."
            )
        hook = AdvanceGenerationHook(self, searcher, rescore=rescore)
        searcher.before_step_hook.append(hook)
        return hook

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the batch schedule exactly (plain Python values)."""
        return {
            "stream": dict(self._stream_state_of_batch),
            "fitness_epoch": self._fitness_epoch,
            "generation": self._generation,
            "generation_in_batch": self._generation_in_batch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the current minibatch is rebuilt from it."""
        self._stream.load_state_dict(state["stream"])
        self._stream_state_of_batch = self._stream.state_dict()
        self._fitness_epoch = int(state["fitness_epoch"])
        self._load_batch(self._stream.next())
        self._generation = int(state["generation"])
        self._generation_in_batch = int(state["generation_in_batch"])

    # Ray actors: ship the (tiny) schedule state before each evaluation, so every actor
    # scores on the minibatch the main process uses.
    def _make_sync_data_for_actors(self) -> Any:
        return self.state_dict()

    def _use_sync_data_from_main(self, received: Any) -> None:
        if received["stream"] != self._stream_state_of_batch or (
            int(received["fitness_epoch"]) != self._fitness_epoch
        ):
            self.load_state_dict(received)
        else:
            self._generation = int(received["generation"])
            self._generation_in_batch = int(received["generation_in_batch"])

    # ---------------------------------------------------------------------------------
    # genome <-> module
    # ---------------------------------------------------------------------------------
    @property
    def view(self) -> ParameterView:
        """The parameter view defining the genome."""
        return self._view

    @property
    def num_classes(self) -> int:
        """Width of the model's output: the number of logits (with a custom loss and no
        accuracy, the size of the output's second dimension, 1 for a 1-D output)."""
        return self._num_classes

    @property
    def loss(self) -> LossFn | None:
        """The custom per-sample loss, or ``None`` for cross-entropy on logits."""
        return self._loss

    @property
    def has_accuracy(self) -> bool:
        """Whether evaluations carry the top-1 accuracy column (and status items)."""
        return self._accuracy

    @property
    def eval_mode(self) -> str:
        """The evaluation path in use, ``"loop"`` or ``"vmap"`` (``"auto"`` resolved)."""
        return self._eval_mode

    @property
    def bn(self) -> str:
        """The BatchNorm policy, ``"frozen"`` or ``"batch"``."""
        return self._bn

    def parameter_vector(self) -> torch.Tensor:
        """The user's module's current genome: a new float32 tensor on :attr:`device`."""
        return self._view.to_vector(self._model).to(device=self.device, dtype=torch.float32)

    def _as_vector(self, vector: Any, name: str = "vector") -> torch.Tensor:
        if not isinstance(vector, torch.Tensor):
            values = getattr(vector, "values", None)  # an evotorch Solution
            if isinstance(values, torch.Tensor):
                vector = values
        self._view.check_vector(vector, name=name)
        return vector.detach().as_subclass(torch.Tensor).to(self.device, torch.float32)

    def to_module(
        self,
        vector: torch.Tensor,
        *,
        update_bn: bool = False,
        bn_data: Any = None,
        num_batches: int | None = None,
    ) -> nn.Module:
        """A new network (a copy of the model as given) with ``vector`` loaded, in eval mode.

        Buffers (BatchNorm running statistics) are those of the model at construction,
        unless ``update_bn`` recomputes them (see :meth:`recalibrate_bn`).

        Args:
            vector: A genome (1-D, length ``view.numel``) or an EvoTorch ``Solution``.
            update_bn: Recompute BatchNorm running statistics on ``bn_data``.
            bn_data: Data for ``update_bn`` (default: the problem's training data set).
            num_batches: Batches for ``update_bn`` (default: one epoch).
        """
        if update_bn:
            return self.recalibrate_bn(vector, bn_data, num_batches=num_batches)
        vector = self._as_vector(vector)
        with torch.no_grad():
            module = copy.deepcopy(self._template)
            self._view.load_into(module, vector.to(next(iter(module.parameters())).device))
        return module.eval()

    def recalibrate_bn(
        self,
        vector: torch.Tensor,
        dataset: Any = None,
        *,
        num_batches: int | None = None,
        batch_size: int | None = None,
        seed: int = 0,
    ) -> nn.Module:
        """A new network with ``vector`` loaded and BatchNorm statistics recomputed.

        The statistics are the cumulative average over ``num_batches`` minibatches of
        ``dataset`` (default: the problem's training set, one epoch), drawn by a stream
        seeded with ``seed`` (see :func:`~neuro_de.problems.evaluation.recalibrate_batchnorm_`).
        A network without BatchNorm is returned as :meth:`to_module` gives it.
        """
        module = self.to_module(vector)
        if not batchnorm_modules(module):
            return module
        data = self.dataset if dataset is None else dataset
        bs = min(self._batch_size if batch_size is None else int(batch_size), len(data))
        _check_positive_int(bs, "batch_size")
        stream = MinibatchStream(len(data), bs, seed=seed)
        n = stream.batches_per_epoch if num_batches is None else int(num_batches)
        _check_positive_int(n, "num_batches")

        def inputs():
            for _ in range(n):
                x, _y = fetch_samples(data, stream.next(), num_workers=self._num_workers)
                yield x.to(self.device)

        return recalibrate_batchnorm_(module, inputs())

    # ---------------------------------------------------------------------------------
    # evaluation
    # ---------------------------------------------------------------------------------
    def _evaluate_batch(self, batch: SolutionBatch) -> None:
        values = batch.values.as_subclass(torch.Tensor)
        loss, acc = self.score(values)
        if self._accuracy:
            batch.set_evals(loss, acc.unsqueeze(1))
            self._get_cache()["last_accuracy"] = acc
        else:
            batch.set_evals(loss)

    def evaluate(self, x: Any) -> None:
        """EvoTorch's ``evaluate``; afterwards :attr:`status` also reports
        ``fitness_epoch`` and, with accuracy, ``batch_accuracy_mean`` and
        ``batch_accuracy_max``."""
        self._get_cache().pop("last_accuracy", None)
        if self.is_main:
            self._warn_if_schedule_stalled()
        super().evaluate(x)
        if self.is_main:
            self._after_eval_status["fitness_epoch"] = float(self._fitness_epoch)
            acc = self._get_cache().get("last_accuracy")
            if acc is not None and acc.numel() > 0:
                self._after_eval_status["batch_accuracy_mean"] = float(acc.mean())
                self._after_eval_status["batch_accuracy_max"] = float(acc.max())

    def _warn_if_schedule_stalled(self) -> None:
        """Warn once when ``evaluate`` keeps being called without ``advance_generation``:
        an EvoTorch algorithm run without :meth:`attach` never changes minibatch."""
        count = getattr(self, "_evals_since_advance", 0) + 1
        self._evals_since_advance = count
        if (
            count == self._generations_per_batch + 2
            and self._stream.batches_per_epoch > 1
            and not getattr(self, "_stall_warned", False)
        ):
            self._stall_warned = True
            warnings.warn(
                f"SupervisedNetProblem.evaluate was called {count} times without "
                "advance_generation(): the minibatch never changes, so the search fits one "
                f"batch of {self._batch_size} samples. Call problem.attach(searcher) for an "
                "EvoTorch algorithm (SNES, CEM, GeneticAlgorithm, ...); neuro_de's algorithms "
                "advance the schedule themselves.",
                UserWarning,
                stacklevel=3,
            )

    def score(self, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fitness and accuracy of a ``(n, d)`` tensor of genomes on the current minibatch.

        Returns:
            ``(loss, accuracy)``, two float32 tensors of shape ``(n,)`` on :attr:`device`;
            ``loss`` includes the ``alpha`` penalty; ``accuracy`` is NaN when the problem
            has none (:attr:`has_accuracy`).
        """
        if values.ndim != 2 or values.shape[1] != self._view.numel:
            raise ValueError(
                f"`values` must be a (n, {self._view.numel}) tensor of genomes, got "
                f"{tuple(values.shape)}."
            )
        values = values.to(self.device, torch.float32)
        if values.shape[0] == 0:
            empty = values.new_empty(0)
            return empty, empty.clone()
        if self._eval_mode == "vmap":
            loss, acc = self._score_vmap(values)
        else:
            loss, acc = self._score_loop(values)
        if self._alpha > 0.0:
            loss = loss + self._alpha * values.square().sum(dim=1)
        return loss, acc

    def _score_loop(self, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = values.shape[0]
        params = self._work_params()
        forward = self._loop_forward()
        x, y = self._x_for_loop(), self._y
        numels, shapes = self._view.numels, self._view.shapes
        loss = torch.empty(n, device=self.device, dtype=torch.float32)
        acc = torch.empty(n, device=self.device, dtype=torch.float32)
        with torch.inference_mode():
            for i in range(n):
                pieces = values[i].split(numels)
                torch._foreach_copy_(
                    params, [p.view(s) for p, s in zip(pieces, shapes, strict=True)]
                )
                with autocast_context(self.device, self._autocast_dtype):
                    logits = forward(x)
                loss[i], acc[i] = self._loss_and_accuracy(logits, y)
        return loss, acc

    def _loss_and_accuracy(
        self, outputs: torch.Tensor, y: torch.Tensor, *, stacked: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean loss and top-1 accuracy of one individual's ``(B, ...)`` outputs, or with
        ``stacked`` of ``(n, B, ...)`` outputs (one value per individual); the accuracy is
        NaN when the problem has none."""
        if self._loss is None:
            loss, acc = cross_entropy_and_accuracy(outputs, y)
        else:
            outputs = outputs.float() if outputs.is_floating_point() else outputs
            stack = outputs if stacked else outputs.unsqueeze(0)
            loss = torch.stack([per_sample_loss(self._loss, o, y).mean() for o in stack])
            acc = (stack.argmax(-1) == y).float().mean(-1) if self._accuracy else loss
            if not stacked:
                loss, acc = loss[0], acc[0]
        if not self._accuracy:
            acc = torch.full_like(loss, float("nan"))
        return loss, acc

    def _score_vmap(self, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        forward = self._vmap_forward()
        dtypes = {n: p.dtype for n, p in zip(self._view.names, self._work_params(), strict=True)}
        losses, accs = [], []
        with torch.no_grad():
            for start in range(0, values.shape[0], self._chunk_size):
                chunk = values[start : start + self._chunk_size]
                params = {k: v.to(dtypes[k]) for k, v in self._view.split(chunk).items()}
                with autocast_context(self.device, self._autocast_dtype):
                    logits = forward(params, self._x)
                loss, acc = self._loss_and_accuracy(logits, self._y, stacked=True)
                losses.append(loss)
                accs.append(acc)
        return torch.cat(losses), torch.cat(accs)

    def evaluate_vector(
        self,
        vector: torch.Tensor,
        data: Any,
        *,
        topk: Iterable[int] | None = None,
        batch_size: int = 1024,
        update_bn: bool = False,
        module: nn.Module | None = None,
    ) -> dict[str, float]:
        r"""Mean loss (and top-k accuracies) of one genome on a whole data set.

        One pass over ``data`` (a ``Dataset`` of ``(input, label)`` pairs, read in order, or
        any iterable of ``(inputs, labels)`` batches such as a ``DataLoader``) under
        :func:`torch.inference_mode`, with the network of :meth:`to_module` (eval mode,
        stored BatchNorm statistics; ``update_bn=True`` recalibrates them on the training
        set first -- the right choice after evolving with ``bn="batch"``).

        .. math::
            \text{top-}k = \frac{1}{N}\sum_{n=1}^{N}
                [\,y_n \in \operatorname{top}_k(g_\theta(x_n))\,],\qquad
            \text{loss} = \frac{1}{N}\sum_{n=1}^{N} \ell\big(g_\theta(x_n), y_n\big)

        with :math:`\ell` the problem's per-sample loss (cross-entropy by default; no
        ``alpha`` term: this is the data loss).

        Args:
            vector: A genome or an EvoTorch ``Solution``.
            data: Evaluation data.
            topk: The ``k`` values to report, each in ``[1, num_classes]``. ``None``
                (default): :data:`DEFAULT_TOPK` ``(1, 5)`` without the ``k`` that are
                ``>= num_classes`` (always 100 %), so ``(1,)`` for up to 5 classes and
                ``(1, 5)`` above. Ignored when the problem has no accuracy
                (:attr:`has_accuracy` is false, e.g. a regression loss): no ``top`` key is
                returned then.
            batch_size: Batch size when ``data`` is a ``Dataset``.
            update_bn: Recalibrate BatchNorm statistics on the training data first.
            module: Use this network as is (``vector`` is ignored when given as ``None``).

        Returns:
            A dict with ``"loss"`` (the mean per-sample loss), ``"num_samples"`` (``N``)
            and, when the problem has accuracy, one ``"top{k}"`` key per ``k`` (a fraction
            in [0, 1]); e.g. ``{"top1": 0.93, "loss": 0.21, "num_samples": 171}`` for a
            2-class problem with the default ``topk``.

        Raises:
            ValueError: For a ``topk`` value outside ``[1, num_classes]``, a non-positive
                ``batch_size``, data that yields no samples, or labels outside
                ``[0, num_classes)`` (checked per batch, before the loss).
        """
        ks: list[int] = []
        if self._accuracy:
            if topk is None:
                ks = [k for k in DEFAULT_TOPK if k == 1 or k < self._num_classes]
            else:
                ks = sorted({int(k) for k in topk})
                if not ks or ks[0] < 1 or ks[-1] > self._num_classes:
                    raise ValueError(
                        f"`topk` values must lie in [1, {self._num_classes}] (the number of "
                        f"classes), got {tuple(topk)}; leave `topk` out for the default "
                        f"(top-1, and top-5 above 5 classes)."
                    )
        _check_positive_int(batch_size, "batch_size")
        if module is None:
            net = self.to_module(vector, update_bn=update_bn)
        else:
            net = module.eval()
        device = next(iter(net.parameters())).device
        correct = dict.fromkeys(ks, 0)
        total_loss, total = 0.0, 0
        with torch.inference_mode():
            for x, y in iterate_batches(data, batch_size=batch_size):
                x = torch.as_tensor(x).to(device)
                y = torch.as_tensor(y).to(device)
                if self._class_labels:
                    y = y.to(torch.long)
                    check_class_labels(
                        y, self._num_classes, name="data", where=f" (after {total} samples)"
                    )
                with autocast_context(device, self._autocast_dtype):
                    outputs = net(x)
                if outputs.is_floating_point():
                    outputs = outputs.float()
                if self._loss is None:
                    total_loss += float(
                        torch.nn.functional.cross_entropy(outputs, y, reduction="sum")
                    )
                else:
                    total_loss += float(per_sample_loss(self._loss, outputs, y).sum())
                if ks:
                    for k, c in topk_correct(outputs, y, ks).items():
                        correct[k] += c
                total += int(y.shape[0])
        if total == 0:
            raise ValueError("`data` yielded no samples; pass a non-empty data set or loader.")
        out: dict[str, float] = {f"top{k}": correct[k] / total for k in ks}
        out["loss"] = total_loss / total
        out["num_samples"] = total
        return out

    # ---------------------------------------------------------------------------------
    # new solutions
    # ---------------------------------------------------------------------------------
    def _fill(self, values: torch.Tensor) -> Any:
        if self.initial_lower_bounds is not None and self.initial_upper_bounds is not None:
            return super()._fill(values)
        center = self.parameter_vector()
        if self._init_std > 0.0:
            return self.make_gaussian(out=values, center=center, stdev=self._init_std)
        values[:] = center
        return values

    # ---------------------------------------------------------------------------------
    # EvoTorch Ray actors (num_actors >= 2); see also neuro_de.problems.distributed
    # ---------------------------------------------------------------------------------
    def seed(self, seed: int | None = None) -> None:
        """Alias of EvoTorch's :meth:`manual_seed`, for EvoTorch's Ray actors.

        EvoTorch 0.6.1's ``EvaluationActor.__init__`` calls ``problem.seed(...)`` on every
        problem with its own generator (any ``seed=``), but ``Problem`` only defines
        ``manual_seed``: without this alias ``num_actors >= 2`` with a seed fails at actor
        start-up. (An actor's generator does not affect fitness, which is deterministic.)
        """
        self.manual_seed(seed)

    def __repr__(self) -> str:
        return (
            f"SupervisedNetProblem({type(self._model).__name__}, genome={self._view.numel}, "
            f"batch_size={self._batch_size}, generations_per_batch={self._generations_per_batch}"
            f", bn={self._bn!r}, eval_mode={self._eval_mode!r}, device={str(self.device)!r})"
        )


def _check_positive_int(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")


def _parse_autocast_dtype(value: Any) -> torch.dtype | None:
    if value is None:
        return None
    if isinstance(value, str):
        if value.lower() in _AUTOCAST_DTYPES:
            return _AUTOCAST_DTYPES[value.lower()]
    elif value in (torch.bfloat16, torch.float16):
        return value
    raise ValueError(
        f"`autocast_dtype` must be None, torch.bfloat16 ('bf16') or torch.float16 ('fp16'), "
        f"got {value!r}."
    )


def _derive_stream_seed(seed: int | None) -> int | None:
    """The minibatch stream's seed: distinct from, but determined by, the problem's seed."""
    if seed is None:
        return None
    return (int(seed) * 1_000_003 + 0x5EED) & ((1 << 62) - 1)


def _solution_stats_policy(requested: Any, batch_size: Any, num_samples: int) -> bool | None:
    """EvoTorch's ``store_solution_stats`` for this problem: off under a minibatch fitness
    (the class docstring), the user's choice (default ``None``) for the full data set."""
    full_batch = isinstance(batch_size, int) and batch_size >= num_samples
    if full_batch:
        return requested
    if requested:
        raise ValueError(
            f"`store_solution_stats=True` would track a 'best' network across different "
            f"minibatches (batch_size={batch_size} < {num_samples} samples): the lowest loss "
            "on some minibatch, not the best network. Remove it and choose the network on "
            "held-out data with neuro_de.runner.select_on_heldout, or use "
            f"batch_size={num_samples} (the full data set) for a fixed fitness."
        )
    return False


def _last_leaf(module: nn.Module) -> nn.Module | None:
    """The last leaf module in registration order (the output layer of a Sequential)."""
    leaves = [m for m in module.modules() if not any(True for _ in m.children())]
    return leaves[-1] if leaves else None


def _warn_if_probabilities(template: nn.Module, out: torch.Tensor) -> None:
    """Warn when a cross-entropy problem's model already outputs probabilities."""
    last = _last_leaf(template)
    if isinstance(last, (nn.Softmax, nn.Softmin)):
        why = f"it ends in nn.{type(last).__name__}"
    elif output_is_probability(out):
        why = "its outputs are non-negative and sum to 1"
    else:
        return
    warnings.warn(
        f"`model`'s output already is a probability ({why}), but the cross-entropy loss "
        "applies log-softmax itself: the fitness would be the softmax of probabilities and "
        "barely tell networks apart. Remove the final Softmax (the model must return "
        "logits); a final LogSoftmax is fine.",
        UserWarning,
        stacklevel=4,
    )


def _first_pair(dataset: Dataset, *, class_labels: bool = True) -> tuple[Any, Any]:
    x0, y0 = first_item(dataset, name="dataset")
    if not isinstance(x0, torch.Tensor):
        raise ValueError(
            f"`dataset` must yield (input, label) pairs with a tensor input; dataset[0][0] is a "
            f"{type(x0).__name__}. Add a ToTensor() transform."
        )
    y0t = torch.as_tensor(y0)
    if class_labels and (y0t.ndim != 0 or y0t.is_floating_point()):
        raise ValueError(
            "`dataset` must yield (input, label) pairs with an integer class label; "
            f"dataset[0][1] is {y0!r}. For regression or other targets pass a per-sample "
            "`loss` (e.g. loss=nn.MSELoss(reduction='none'))."
        )
    return x0, y0
