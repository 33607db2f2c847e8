"""Proof in torch: build the spec, run it, compare every layer with the analysis, time it.

The analysis claims; torch proves. :func:`verify` builds the spec with
:func:`cnncalc.pytorch.bridge.build`, runs one batch with a forward hook on every layer's
module (at the layer's path, merges included) to record the real output shapes, counts
parameters from the modules themselves (a tensor shared by two layers counts once), and
compares both with the report. A layer torch cannot run in the asked dtype on this device,
but can in another, is bad input named at that layer (found by running the layer alone in
each dtype, not by reading torch's message). Then it times the forward pass (and, on
request, forward and backward) the way a benchmark should: warm-up runs first, eval and
inference mode, and on CUDA ``cudnn.benchmark``, CUDA events and synchronisation.

Before anything is allocated, the memory the run needs is estimated from the
analysis and compared with what the device has free; a run that would not fit
is refused with the estimate and the largest batch that fits (or, when not even a
batch of 1 fits, what one needs).

torch is imported inside these functions only; ``import cnncalc.pytorch.verification`` is cheap.
"""

from __future__ import annotations

import copy
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from cnncalc.analysis.walk import Report, analyze
from cnncalc.errors import CnncalcError, Issue, SpecError
from cnncalc.spec.models import Spec, image_shape
from cnncalc.text import plural

__all__ = ["DTYPES", "DtypeError", "LayerCheck", "MemoryEstimate", "Timing", "Verification",
           "VerifyError", "assess_timings", "estimate_memory", "peak_tflops", "verify"]

DTYPES = {"float32": 4, "float16": 2, "bfloat16": 2}

# Dense peak TFLOP/s from the vendors' datasheets: (FP32 on CUDA cores, FP16/BF16 on tensor cores).
# Matched against torch.cuda.get_device_name(); the first key found in the name wins.
_PEAKS = (
    ("H200", (67.0, 989.4)),
    ("H100 PCIe", (51.2, 756.0)),
    ("H100", (67.0, 989.4)),  # SXM (e.g. "NVIDIA H100 80GB HBM3")
    ("A100", (19.5, 312.0)),
    ("L40S", (91.6, 362.1)),
    ("L4", (30.3, 121.0)),
    ("A10G", (31.2, 70.0)),
    ("A10", (31.2, 125.0)),
    ("V100", (15.7, 125.0)),
    ("T4", (8.1, 65.0)),
    ("RTX 4090", (82.6, 165.2)),
)


class VerifyError(CnncalcError):
    """A run that cannot be done as asked (no CUDA, too much memory, a dtype the device lacks)."""


class DtypeError(SpecError, VerifyError):
    """A layer torch cannot run in the asked dtype on this device (LocalResponseNorm in float16
    on a CPU), though it runs in another: bad input, located at the layer like a spec error."""


@dataclass(frozen=True)
class LayerCheck:
    """One layer: what the analysis expects and what torch produced."""

    name: str
    type: str
    expected_shape: tuple[int, ...]
    actual_shape: tuple[int, ...] | None  # None: the forward pass never reached this layer
    expected_parameters: int
    actual_parameters: int
    activation: str | None = None  # the lecture's g() inside the layer, as the report shows it

    @property
    def ok(self) -> bool:
        return self.actual_shape == self.expected_shape and self.actual_parameters == self.expected_parameters


@dataclass(frozen=True)
class Timing:
    """Wall-clock per run of one batch, in milliseconds, with what it means in throughput."""

    runs: int
    warmup: int
    median_ms: float
    min_ms: float
    max_ms: float
    p90_ms: float
    images_per_s: float
    tflops: float  # achieved, from the analysis's MACs: 2 FLOPs per MAC
    peak_fraction: float | None  # of the device's datasheet peak, where the device is known
    note: str | None = None  # why the numbers are not to be trusted (a busy machine), or None

    @property
    def reliable(self) -> bool:
        """No sign that something else ran while timing (see :func:`assess_timings`)."""
        return self.note is None


@dataclass(frozen=True)
class MemoryEstimate:
    """What a run needs, from the analysis: parameters, activations of one batch, and the input."""

    parameter_bytes: int
    activation_bytes: int  # every layer's output for the whole batch
    input_bytes: int
    gradient_bytes: int  # with --backward: a gradient per parameter and per saved activation

    @property
    def total(self) -> int:
        return self.parameter_bytes + self.activation_bytes + self.input_bytes + self.gradient_bytes


@dataclass(frozen=True)
class Verification:
    """The outcome of one verify run."""

    device: str
    dtype: str
    batch: int
    channels_last: bool
    layers: list[LayerCheck]
    expected_parameters: int
    actual_parameters: int
    error: str | None  # the exception the forward pass raised, if it did
    timing: Timing | None
    backward_timing: Timing | None
    memory: MemoryEstimate
    peak_memory_bytes: int | None  # measured on CUDA (torch.cuda.max_memory_allocated)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (self.error is None and all(layer.ok for layer in self.layers)
                and self.actual_parameters == self.expected_parameters)


def estimate_memory(report: Report, batch: int, dtype: str = "float32",
                    backward: bool = False) -> MemoryEstimate:
    """Bytes a run needs: parameters + every layer's output for the batch + the input.

    An upper bound for a forward pass under ``inference_mode`` (which frees outputs as it
    goes), and close for forward + backward, which keeps them for the gradients; the
    backward pass adds a gradient per parameter and per kept activation.
    """
    size = DTYPES[dtype]
    parameters = report.totals.parameters * size
    activations = sum(math.prod(row.output_shape) for row in report.rows) * batch * size
    inputs = math.prod(report.input_shape) * batch * size
    gradients = parameters + activations if backward else 0
    return MemoryEstimate(parameters, activations, inputs, gradients)


def peak_tflops(device_name: str, dtype: str) -> float | None:
    """The datasheet's dense peak for this GPU and dtype, or None for an unknown device."""
    for key, (fp32, half) in _PEAKS:
        if key in device_name:
            return fp32 if dtype == "float32" else half
    return None


# On an idle machine the runs of one batch differ by a few per cent (CUDA events: less); half
# as long again as the median (p90), or the median half as long again as the fastest run, means
# something else had the cores or the GPU for a good share of the runs. The slowest single run
# is not judged: one page fault or collection in fifty runs is normal.
_SPREAD = 1.5
_JUDGED_RUNS = 5  # fewer runs have no p90 or median worth the name


def assess_timings(forward: Timing, backward: Timing | None = None) -> tuple[Timing, Timing | None]:
    """The timings with ``note`` set on each that a busy machine made unreliable: a spread
    between runs that an idle machine does not show, or (on the forward timing) a forward pass
    slower than forward + backward, which does the forward pass and more."""
    def spread(timing: Timing) -> list[str]:
        if timing.runs < _JUDGED_RUNS:
            return []
        doubts = []
        if timing.p90_ms > _SPREAD * timing.median_ms:
            doubts.append(f"a tenth of the runs took {timing.p90_ms / timing.median_ms:.1f}× the median "
                          f"or longer (p90 {timing.p90_ms:.3f} ms, median {timing.median_ms:.3f} ms)")
        if timing.median_ms > _SPREAD * timing.min_ms:
            doubts.append(f"the median run took {timing.median_ms / timing.min_ms:.1f}× the fastest "
                          f"({timing.median_ms:.3f} ms against {timing.min_ms:.3f} ms)")
        return doubts

    def noted(timing: Timing, doubts: list[str]) -> Timing:
        if not doubts:
            return timing
        return replace(timing, note="; ".join(doubts) + ": other work on the machine disturbed the "
                       "timing; rerun it on an idle machine")

    doubts = spread(forward)
    if backward is not None and forward.median_ms > backward.median_ms:
        doubts.insert(0, f"the forward pass (median {forward.median_ms:.3f} ms) took longer than "
                         f"forward + backward ({backward.median_ms:.3f} ms), which includes it")
    return noted(forward, doubts), None if backward is None else noted(backward, spread(backward))


def verify(spec: Spec, *, device: str = "auto", dtype: str = "float32", batch: int = 8, runs: int = 50,
           warmup: int = 10, channels_last: bool = False, backward: bool = False, seed: int = 0,
           max_memory: int | None = None, force: bool = False,
           build: Callable[[Spec], Any] | None = None) -> Verification:
    """Build ``spec`` in torch, run it, compare with the analysis layer by layer, and time it.

    ``build`` defaults to :func:`cnncalc.pytorch.bridge.build`; tests pass a double. Raises
    :class:`TorchMissingError` without torch and :class:`VerifyError` when the run cannot
    be done as asked (``force`` skips the memory guard): :class:`DtypeError`, naming the
    layer, when torch cannot run one in ``dtype`` on this device though it can in another.
    """
    from cnncalc.pytorch import bridge

    torch = bridge.require_torch()

    report = analyze(spec)
    bridge.buildable(spec, report, "verify")
    target = _device(torch, device)
    torch_dtype = getattr(torch, dtype)
    memory = estimate_memory(report, batch, dtype, backward)
    if not force:
        _guard(torch, target, report, memory, batch, dtype, backward, max_memory)

    torch.manual_seed(seed)
    model: Any = (build or bridge.build)(spec)  # Any: torch's stubs lack .to(memory_format=)
    try:
        model = model.to(device=target, dtype=torch_dtype).eval()
        x = torch.randn(batch, *report.input_shape, device=target, dtype=torch_dtype)
    except (RuntimeError, TypeError) as err:  # e.g. a dtype or device torch cannot provide here
        raise VerifyError(f"cannot place the model on {target} as {dtype}: "
                          f"{str(err).splitlines()[0]}") from None
    if channels_last and x.dim() == 4:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)

    names = bridge.module_names(report)
    children = _submodules(model, names)
    seen: dict[str, tuple[int, ...]] = {}
    running: dict[str, Any] = {}  # the child running now and its inputs: where an error arose
    hooks = [hook for name in names if name in children for hook in (
        children[name].register_forward_pre_hook(_entering(running, name)),
        children[name].register_forward_hook(_recorder(seen, name)))]
    error = failed = None
    try:
        with torch.inference_mode():
            model(x)
    except (RuntimeError, ValueError, TypeError) as err:  # torch's errors for a bad module
        error = f"{type(err).__name__}: {str(err).splitlines()[0]}"
        failed = err
    finally:
        for hook in hooks:
            hook.remove()
    if isinstance(failed, RuntimeError) and running:
        # A kernel this device lacks for this dtype is bad input, not a disagreement.
        _refuse_dtype(torch, spec, report, names, {running["name"]: running["inputs"]}, children,
                      dtype, target, backward=False)
    running.clear()  # the last layer's input, no longer needed while timing
    held = {}  # a parameter layer is the tensor at its path: its shape as one image sees it
    for row, name in zip(report.rows, names, strict=True):
        if row.type == "parameter" and name not in children:
            tensor = model.get_parameter(name)
            held[name] = tensor.numel()
            seen[name] = image_shape(tensor.shape)

    layers = [LayerCheck(
        name=row.name, type=row.type, expected_shape=tuple(row.output_shape),
        actual_shape=seen.get(name), expected_parameters=row.parameters,
        actual_parameters=(sum(p.numel() for p in children[name].parameters()) if name in children
                           else held.get(name, 0)),
        activation=row.activation,
    ) for row, name in zip(report.rows, names, strict=True)]
    verification = Verification(
        device=_describe(torch, target), dtype=dtype, batch=batch, channels_last=channels_last,
        layers=layers, expected_parameters=report.totals.parameters,
        actual_parameters=sum(p.numel() for p in model.parameters()),  # shared tensors once
        error=error, timing=None, backward_timing=None, memory=memory, peak_memory_bytes=None,
    )
    if error is not None or not verification.ok:
        return verification

    if target.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.cuda.synchronize(target)
        torch.cuda.reset_peak_memory_stats(target)
    flops = 2 * report.totals.macs * batch
    peak = peak_tflops(verification.device, dtype) if target.type == "cuda" else None
    with torch.inference_mode():
        forward = _time(torch, target, lambda: model(x), runs, warmup, batch, flops, peak)
    backward_timing = None
    if backward:
        x_grad = x.detach().clone()

        def step() -> None:
            model.zero_grad(set_to_none=True)
            model(x_grad).float().sum().backward()

        try:
            # Backward costs about twice the forward: 3 × the forward FLOPs in all.
            backward_timing = _time(torch, target, step, runs, warmup, batch, 3 * flops, peak)
        except RuntimeError:  # a backward kernel this device lacks for the dtype, or a bug
            _refuse_dtype(torch, spec, report, names, _inputs(torch, model, x, names, children),
                          children, dtype, target, backward=True)
            raise
    forward, backward_timing = assess_timings(forward, backward_timing)
    peak_memory = int(torch.cuda.max_memory_allocated(target)) if target.type == "cuda" else None
    notes = []
    if target.type == "cuda" and dtype == "float32" and torch.backends.cudnn.allow_tf32:
        notes.append("float32 convolutions may run on TF32 tensor cores (torch.backends.cudnn.allow_tf32), "
                     "so the % of the FP32 peak can exceed what FP32 cores alone reach")
    return Verification(
        device=verification.device, dtype=dtype, batch=batch, channels_last=channels_last, layers=layers,
        expected_parameters=verification.expected_parameters,
        actual_parameters=verification.actual_parameters, error=None, timing=forward,
        backward_timing=backward_timing, memory=memory, peak_memory_bytes=peak_memory, notes=notes,
    )


def _submodules(model: Any, paths: list[str]) -> dict[str, Any]:
    """Each layer's module by its path (``layer2.0.conv1``), where the model has one."""
    modules = dict(model.named_modules())
    return {path: modules[path] for path in paths if path in modules}


def _recorder(seen: dict[str, tuple[int, ...]], name: str) -> Callable[..., None]:
    def record(module: Any, inputs: Any, output: Any) -> None:
        seen[name] = tuple(output.shape[1:])
    return record


def _entering(running: dict[str, Any], name: str) -> Callable[..., None]:
    def enter(module: Any, inputs: Any) -> None:
        running["name"], running["inputs"] = name, inputs
    return enter


def _keeper(inputs: dict[str, Any], name: str) -> Callable[..., None]:
    def keep(module: Any, args: Any) -> None:
        inputs[name] = args
    return keep


def _inputs(torch: Any, model: Any, x: Any, names: list[str], children: dict[str, Any]) -> dict[str, Any]:
    """Every child's inputs, by name, from one forward pass."""
    inputs: dict[str, Any] = {}
    hooks = [children[name].register_forward_pre_hook(_keeper(inputs, name))
             for name in names if name in children]
    try:
        with torch.inference_mode():
            model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return inputs


def _runs_in(torch: Any, module: Any, inputs: Any, dtype: str, device: Any, backward: bool) -> bool:
    """Whether a copy of ``module`` runs on ``inputs`` in ``dtype`` on ``device`` (forward, or
    forward and backward)."""
    wanted = getattr(torch, dtype)
    module = copy.deepcopy(module).to(device=device, dtype=wanted)
    floats = [torch.is_tensor(arg) and arg.is_floating_point() for arg in inputs]
    args = [arg.detach().to(device=device, dtype=wanted, copy=True) if real else arg
            for arg, real in zip(inputs, floats, strict=True)]
    try:
        if not backward:
            with torch.inference_mode():
                module(*args)
            return True
        with torch.enable_grad():
            # A clone of each leaf, so that an in-place layer does not write into the leaf itself.
            out = module(*[arg.requires_grad_().clone() if real else arg
                           for arg, real in zip(args, floats, strict=True)])
            out.float().sum().backward()
    except RuntimeError:
        return False
    return True


def _refuse_dtype(torch: Any, spec: Spec, report: Report, names: list[str], inputs: dict[str, Any],
                  children: dict[str, Any], dtype: str, device: Any, backward: bool) -> None:
    """Raise :class:`DtypeError` at the first layer (of those whose ``inputs`` are given) that
    fails in ``dtype`` on its own but runs in another dtype; return when there is none, for
    the error was something else. The test is torch's behaviour, not its message's words."""
    for index, (layer, row, name) in enumerate(zip(report.layers, report.rows, names, strict=True), 1):
        if name not in inputs or name not in children:
            continue
        module, args = children[name], inputs[name]
        if _runs_in(torch, module, args, dtype, device, backward):
            continue
        others = [other for other in DTYPES if other != dtype
                  and _runs_in(torch, module, args, other, device, backward)]
        if not others:
            return
        advice = " or ".join(f"--dtype {other}" for other in others)
        if device.type == "cpu":
            advice += ", or --device cuda"
        what = f"the backward pass of {row.kind}" if backward else row.kind
        raise DtypeError([Issue(f"torch cannot run {what} in {dtype} on {device.type}: use {advice}",
                                line=layer.line, layer=row.name, index=index)], spec.source)


def _device(torch: Any, wanted: str) -> Any:
    if wanted == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(wanted)
    except RuntimeError as err:
        raise VerifyError(f"--device {wanted}: {str(err).splitlines()[0]}") from None
    if device.type not in ("cpu", "cuda"):
        raise VerifyError(f"--device {wanted}: cnncalc verifies on cpu or cuda only")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise VerifyError("--device cuda: no CUDA device is available here (torch.cuda.is_available() "
                              "is False); use --device cpu or auto")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise VerifyError(f"--device {wanted}: this machine has {plural(count, 'CUDA device')} "
                              f"(cuda:0 … cuda:{count - 1})")
    return device


def _describe(torch: Any, device: Any) -> str:
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return f"cpu ({_cpu_name()}, {plural(torch.get_num_threads(), 'thread')})"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _available(torch: Any, device: Any) -> int | None:
    """Bytes free on the device: CUDA's free memory, or the host's MemAvailable."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def _guard(torch: Any, device: Any, report: Report, memory: MemoryEstimate, batch: int, dtype: str,
           backward: bool, max_memory: int | None) -> None:
    """Refuse a run whose estimate exceeds the free memory (or --max-memory), before allocating."""
    available = _available(torch, device)
    limits = [limit for limit in (available, max_memory) if limit is not None]
    if not limits:
        return
    limit = min(limits)
    # Leave room for the framework's own workspace (cuDNN, allocator rounding): 10 %.
    usable = int(limit * 0.9)
    if memory.total <= usable:
        return
    one = estimate_memory(report, 1, dtype, backward)
    per_image = one.total - one.parameter_bytes - (one.parameter_bytes if backward else 0)
    fixed = memory.total - per_image * batch
    fits = max((usable - fixed) // per_image, 0) if per_image else 0
    by_flag = max_memory is not None and limit == max_memory
    where = "allowed by --max-memory" if by_flag else f"free on {device.type}"
    if fits >= 1:
        advice = f"the largest batch that fits is {fits}: use --batch {fits}, or --force to try anyway"
    else:
        advice = (f"not even a batch of 1 fits: it needs about {_gib(one.total)}, and 10 % of "
                  f"{'the limit' if by_flag else 'the free memory'} is kept for torch's own workspace; ")
        if by_flag:
            advice += f"use --max-memory {_size(_limit_for(one.total))} or more, or --force to try anyway"
        else:
            advice += (f"free memory on {device.type}{', use --device cpu' if device.type == 'cuda' else ''}"
                       ", or use --force to try anyway")
    raise VerifyError(f"this run needs about {_gib(memory.total)} "
                      f"(parameters {_gib(memory.parameter_bytes)}, "
                      f"outputs of a batch of {batch} {_gib(memory.activation_bytes)}"
                      f"{', gradients ' + _gib(memory.gradient_bytes) if backward else ''}) but "
                      f"only {_gib(limit)} is {where}; {advice}")


_UNITS = (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))


def _limit_for(needed: int) -> int:
    """The least limit whose usable 90 % holds ``needed`` bytes (the guard's own arithmetic)."""
    limit = math.ceil(needed / 0.9)
    while int(limit * 0.9) < needed:
        limit += 1
    return limit


def _size(n: int) -> str:
    """At least ``n`` bytes, rounded up to a tenth of its unit, as --max-memory reads it: 589.5MiB."""
    unit, size = next(((unit, size) for unit, size in _UNITS if n >= size), ("B", 1))
    tenths = math.ceil(n * 10 / size)
    while int(float(f"{tenths / 10:.1f}") * size) < n:  # read back as float(text) × unit
        tenths += 1
    return f"{tenths / 10:.1f}".removesuffix(".0") + unit


def _gib(n: int) -> str:
    for unit, size in _UNITS:
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n} B"


def _time(torch: Any, device: Any, run: Callable[[], Any], runs: int, warmup: int, batch: int, flops: int,
          peak: float | None) -> Timing:
    """Time ``run``: warm-up first; on CUDA with events around each run and a synchronise."""
    for _ in range(warmup):
        run()
    samples = []
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        for _ in range(runs):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            run()
            end.record()
            end.synchronize()
            samples.append(float(start.elapsed_time(end)))
    else:
        for _ in range(runs):
            began = time.perf_counter()
            run()
            samples.append((time.perf_counter() - began) * 1000)
    median = statistics.median(samples)
    p90 = statistics.quantiles(samples, n=10, method="inclusive")[-1] if len(samples) > 1 else samples[0]
    tflops = flops / (median / 1000) / 1e12 if median > 0 else 0.0
    return Timing(runs=runs, warmup=warmup, median_ms=median, min_ms=min(samples), max_ms=max(samples),
                  p90_ms=p90, images_per_s=batch / (median / 1000) if median > 0 else math.inf,
                  tflops=tflops, peak_fraction=tflops / peak if peak else None)
