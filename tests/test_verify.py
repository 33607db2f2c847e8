"""cnncalc verify: torch proves the analysis, per layer; honest timing; a memory guard."""

from __future__ import annotations

import json
import re
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from hypothesis import given, settings
from strategies import branching_specs, specs

from cnncalc import load_spec
from cnncalc.cli import cli
from cnncalc.pytorch.bridge import build
from cnncalc.pytorch.verification import Timing, assess_timings, estimate_memory, peak_tflops, verify
from cnncalc.spec import bundled
from cnncalc.spec.models import Spec

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]

QUICK = ["--device", "cpu", "--batch", "1", "--runs", "2", "--warmup", "0"]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env={"COLUMNS": "160"})


@pytest.mark.parametrize("name", bundled.names())
def test_every_bundled_architecture_verifies_on_cpu(runner: CliRunner, name: str) -> None:
    result = runner.invoke(cli, ["verify", name, *QUICK, "-f", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] is True
    assert all(layer["ok"] for layer in doc["layers"])
    assert doc["parameters"]["actual"] == doc["parameters"]["expected"]


def test_json_has_the_contract_keys(runner: CliRunner) -> None:
    doc = json.loads(runner.invoke(cli, ["verify", "lenet5", "--device", "cpu", "--batch", "4", "--runs", "5",
                                         "--warmup", "1", "-f", "json"]).stdout)
    assert {"device", "dtype", "batch", "ok", "layers", "timing"} <= set(doc)
    assert doc["device"].startswith("cpu") and doc["dtype"] == "float32" and doc["batch"] == 4
    first = doc["layers"][0]
    assert first == {"name": "C1", "type": "conv2d", "expected_shape": [6, 28, 28],
                     "actual_shape": [6, 28, 28], "expected_parameters": 156, "actual_parameters": 156,
                     "ok": True}
    timing = doc["timing"]
    assert {"runs", "warmup", "median_ms", "min_ms", "max_ms", "images_per_s"} <= set(timing)
    assert timing["runs"] == 5 and timing["warmup"] == 1
    assert timing["min_ms"] <= timing["median_ms"] <= timing["p90_ms"] <= timing["max_ms"]
    assert timing["images_per_s"] == pytest.approx(4 / (timing["median_ms"] / 1000), rel=1e-3)


def broken_build(spec: Spec) -> Any:
    """A test double: the real build with one layer (C3) given 8 filters instead of 16."""
    model = build(spec)
    children = OrderedDict(model.named_children())
    conv = children["C3"][0]
    children["C3"] = torch.nn.Sequential(torch.nn.Conv2d(conv.in_channels, 8, conv.kernel_size),
                                         torch.nn.Tanh())
    return torch.nn.Sequential(children)


def test_a_broken_build_is_caught_and_the_layer_named(runner: CliRunner,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    result = verify(load_spec("lenet5"), device="cpu", batch=1, runs=1, warmup=0, build=broken_build)
    assert not result.ok
    bad = [layer for layer in result.layers if not layer.ok]
    assert bad[0].name == "C3"
    assert bad[0].actual_shape == (8, 10, 10) and bad[0].actual_parameters == 8 * 151
    assert result.error is not None  # F5 then gets 200 features instead of 400
    assert result.timing is None  # no timing for a model that does not match
    # Through the command line: exit 1, the layer named.
    import cnncalc.pytorch.bridge

    monkeypatch.setattr(cnncalc.pytorch.bridge, "build", broken_build)
    cli_result = runner.invoke(cli, ["verify", "lenet5", *QUICK])
    assert cli_result.exit_code == 1
    assert "disagree: C3" in cli_result.stdout
    assert "the forward pass failed" in cli_result.stdout


def test_layers_named_like_module_attributes_verify(runner: CliRunner, tmp_path: Path) -> None:
    # training, _modules, append, forward, __class__, ...: every attribute an nn.Module or
    # nn.Sequential has is a layer name that builds and verifies, reported by the spec's name.
    from test_export import every_attribute_spec

    data = every_attribute_spec()
    path = tmp_path / "attributes.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML
    result = runner.invoke(cli, ["verify", str(path), *QUICK, "-f", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] is True and all(layer["ok"] for layer in doc["layers"])
    assert [layer["name"] for layer in doc["layers"]] == [layer["name"] for layer in data["layers"]]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(specs())
def test_random_specs_verify(data: dict[str, Any]) -> None:
    result = verify(load_spec(data), device="cpu", batch=2, runs=1, warmup=0)
    assert result.ok, [(layer.name, layer.expected_shape, layer.actual_shape) for layer in result.layers
                       if not layer.ok] or result.error


@settings(max_examples=30, deadline=None, derandomize=True)
@given(branching_specs())
def test_random_branching_specs_verify(data: dict[str, Any]) -> None:
    result = verify(load_spec(data), device="cpu", batch=2, runs=1, warmup=0)
    assert result.ok, [(layer.name, layer.expected_shape, layer.actual_shape) for layer in result.layers
                       if not layer.ok] or result.error


def test_a_branching_spec_verifies_every_layer_by_its_path(runner: CliRunner, tmp_path: Path) -> None:
    # Merges included, under the spec's names even where torch's module path differs (training_).
    from test_bridge import RESNET18

    path = tmp_path / "resnet.yaml"
    path.write_text(RESNET18.replace("name: relu2", "name: training"), encoding="utf-8")
    result = runner.invoke(cli, ["verify", str(path), *QUICK, "-f", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    names = [layer["name"] for layer in doc["layers"]]
    assert names[4:11] == ["layer1.0.conv1", "layer1.0.bn1", "layer1.0.relu", "layer1.0.conv2",
                           "layer1.0.bn2", "layer1.0.add", "layer1.0.training"]
    assert "layer2.0.downsample.0" in names and "layer1.0.downsample.0" not in names
    add = next(layer for layer in doc["layers"] if layer["name"] == "layer4.1.add")
    assert add["type"] == "add" and add["actual_shape"] == [512, 2, 2] and add["ok"] is True
    assert doc["ok"] is True and doc["parameters"]["actual"] == 11_689_512


def broken_add(spec: Spec) -> Any:
    """A test double: the real build with layer2.0's add replaced by a concat."""
    from cnncalc.pytorch.modules import Concat

    model = build(spec)
    block = model.get_submodule("layer2.0")
    steps = model._cnncalc_steps
    index = next(k for k, step in enumerate(steps) if step[0] is block.add)
    block.add = Concat()
    steps[index] = (block.add, *steps[index][1:])
    return model


def test_a_broken_merge_is_caught_by_its_path(tmp_path: Path) -> None:
    from test_bridge import RESNET18

    path = tmp_path / "resnet.yaml"
    path.write_text(RESNET18, encoding="utf-8")
    result = verify(load_spec(path), device="cpu", batch=1, runs=1, warmup=0, build=broken_add)
    assert not result.ok
    bad = next(layer for layer in result.layers if not layer.ok)
    assert bad.name == "layer2.0.add" and bad.actual_shape == (256, 8, 8)


def test_options_dtype_channels_last_backward(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["verify", "cifar10-cnn", "--device", "cpu", "--dtype", "bfloat16",
                                 "--channels-last", "--backward", "--batch", "2", "--runs", "2",
                                 "--warmup", "1", "-f", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["dtype"] == "bfloat16" and doc["channels_last"] is True
    assert doc["backward_timing"]["runs"] == 2


# --- a dtype the device lacks is bad input at the layer, not a disagreement ------------------

LRN = "input: [3, 8, 8]\nlayers:\n  - {type: conv2d, filters: 4, kernel: 3, name: c1}\n" \
      "  - {type: localresponsenorm, size: 3, name: norm1}\n  - {type: relu}\n"


def runs_on_cpu(module: torch.nn.Module, dtype: torch.dtype) -> bool:
    try:
        module.to(dtype)(torch.randn(1, 4, 6, 6, dtype=dtype))
    except RuntimeError:
        return False
    return True


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_a_layer_the_cpu_cannot_run_in_a_dtype_is_bad_input(runner: CliRunner, tmp_path: Path,
                                                            dtype: str) -> None:
    path = tmp_path / "lrn.yaml"
    path.write_text(LRN, encoding="utf-8")
    result = runner.invoke(cli, ["verify", str(path), *QUICK, "--dtype", dtype, "--backward"])
    if runs_on_cpu(torch.nn.LocalResponseNorm(3), getattr(torch, dtype)):  # a later torch may add it
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and "Traceback" not in result.output
    line = result.stderr.strip()
    assert "\n" not in line
    assert line.startswith(f"{path}:4: layer norm1 (#2): ")  # file, line and layer
    assert dtype in line and "cpu" in line and "--dtype float32" in line and "--device cuda" in line


class Dtyped(torch.nn.Module):
    """A test double: ReLU that, like a missing kernel, fails in any dtype but float32, in its
    forward pass or (``backward=True``) only in its backward pass; with words unlike torch's."""

    def __init__(self, backward: bool = False) -> None:
        super().__init__()
        self.backward = backward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.backward:
            if x.dtype != torch.float32:
                raise RuntimeError("no")
            return torch.relu(x)
        return _FailingBackward.apply(x)  # type: ignore[no-untyped-call,no-any-return]


class _FailingBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        if grad.dtype != torch.float32:
            raise RuntimeError("no")
        return grad


SMALL = {"input": [1, 6, 6], "layers": [
    {"type": "conv2d", "filters": 2, "kernel": 3, "name": "c1"}, {"type": "relu", "name": "act"},
    {"type": "flatten"}, {"type": "linear", "units": 3, "name": "fc"}]}


def with_act(module: torch.nn.Module) -> Any:
    def double(spec: Spec) -> Any:
        children = OrderedDict(build(spec).named_children())
        children["act"] = module
        return torch.nn.Sequential(children)
    return double


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("backward", [False, True])
def test_a_missing_kernel_is_found_at_its_layer(dtype: str, backward: bool) -> None:
    from cnncalc.errors import SpecError
    from cnncalc.pytorch.verification import DtypeError, VerifyError

    spec = load_spec(SMALL)
    with pytest.raises(DtypeError) as caught:
        verify(spec, device="cpu", dtype=dtype, batch=2, runs=1, warmup=0, backward=backward,
               build=with_act(Dtyped(backward)))
    assert isinstance(caught.value, SpecError) and isinstance(caught.value, VerifyError)
    [issue] = caught.value.issues
    assert issue.layer == "act" and issue.index == 2
    assert dtype in issue.message and "cpu" in issue.message and "--dtype float32" in issue.message
    assert ("backward" in issue.message) == backward
    # In float32 the same model runs and agrees.
    assert verify(spec, device="cpu", batch=2, runs=1, warmup=0, backward=backward,
                  build=with_act(Dtyped(backward))).ok


def test_a_broken_layer_in_half_precision_still_disagrees() -> None:
    # A layer that fails in every dtype is a disagreement (exit 1), not a dtype the device lacks.
    result = verify(load_spec("lenet5"), device="cpu", dtype="bfloat16", batch=1, runs=1, warmup=0,
                    build=broken_build)
    assert not result.ok and result.error is not None
    assert next(layer.name for layer in result.layers if not layer.ok) == "C3"


def test_memory_guard_refuses_with_the_largest_batch_that_fits(runner: CliRunner) -> None:
    spec = load_spec("lenet5")
    from cnncalc import analyze

    report = analyze(spec)
    one = estimate_memory(report, 1)
    per_image = one.total - one.parameter_bytes
    limit = one.parameter_bytes + 10 * per_image
    result = runner.invoke(cli, ["verify", "lenet5", "--device", "cpu", "--batch", "64",
                                 "--max-memory", str(limit)])
    assert result.exit_code == 2
    fits = (int(limit * 0.9) - one.parameter_bytes) // per_image
    assert f"the largest batch that fits is {fits}" in result.stderr
    forced = runner.invoke(cli, ["verify", "lenet5", *QUICK, "--max-memory", str(limit), "--force"])
    assert forced.exit_code == 0


def test_memory_guard_when_not_even_a_batch_of_1_fits(runner: CliRunner) -> None:
    # Not "use --batch": what a batch of 1 needs, and a --max-memory that lets it run.
    from cnncalc import analyze

    one = estimate_memory(analyze(load_spec("lenet5")), 1)
    for limit in (one.parameter_bytes // 2, one.total):  # the parameters alone do not fit; they do
        result = runner.invoke(cli, ["verify", "lenet5", *QUICK, "--max-memory", str(limit)])
        assert result.exit_code == 2, result.output
        message = result.stderr.strip()
        assert "not even a batch of 1 fits" in message and "--batch" not in message
        assert f"it needs about {one.total / 2**10:,.1f} KiB" in message
        suggested = re.search(r"use --max-memory (\S+) or more", message)
        assert suggested is not None, message
        assert runner.invoke(cli, ["verify", "lenet5", *QUICK, "--max-memory", suggested[1]]).exit_code == 0


def test_memory_guard_when_the_device_has_too_little_free(runner: CliRunner,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import cnncalc.pytorch.verification

    monkeypatch.setattr(cnncalc.pytorch.verification, "_available", lambda torch, device: 1000)
    result = runner.invoke(cli, ["verify", "lenet5", *QUICK])
    assert result.exit_code == 2
    assert "only 1000 B is free on cpu; not even a batch of 1 fits" in result.stderr
    assert "--batch" not in result.stderr and "--force" in result.stderr


def test_a_huge_run_is_refused_before_anything_is_allocated(runner: CliRunner) -> None:
    # VGG-16 at a batch of a million needs terabytes: refused at once, not attempted.
    result = runner.invoke(cli, ["verify", "vgg16", "--device", "cpu", "--batch", "1000000"])
    assert result.exit_code == 2
    assert "this run needs about" in result.stderr and "largest batch that fits" in result.stderr


def test_no_cuda_here_is_bad_input(runner: CliRunner) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = runner.invoke(cli, ["verify", "lenet5", "--device", "cuda"])
    assert result.exit_code == 2
    assert "no CUDA device is available" in result.stderr


def test_without_torch_verify_says_how_to_install(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    result = runner.invoke(cli, ["verify", "lenet5"])
    assert result.exit_code == 2
    assert result.stderr.strip() == 'this command needs PyTorch: pip install "cnncalc[torch]"'


def test_peaks_of_known_gpus() -> None:
    assert peak_tflops("NVIDIA H100 80GB HBM3", "bfloat16") == 989.4
    assert peak_tflops("NVIDIA H100 PCIe", "float32") == 51.2
    assert peak_tflops("NVIDIA H200", "float16") == 989.4
    assert peak_tflops("Some Unknown GPU", "float32") is None


# --- a timing a busy machine disturbed says so --------------------------------------------------

def timing(median: float, fastest: float, p90: float, slowest: float, runs: int = 50) -> Timing:
    return Timing(runs=runs, warmup=10, median_ms=median, min_ms=fastest, max_ms=slowest, p90_ms=p90,
                  images_per_s=8 / median * 1000, tflops=0.0, peak_fraction=None)


QUIET = timing(1.0, 0.95, 1.1, 3.0)  # one slow run in fifty is normal


@pytest.mark.parametrize(("forward", "backward", "forward_note", "backward_note"), [
    (QUIET, timing(2.9, 2.8, 3.0, 3.2), None, None),
    (QUIET, None, None, None),
    (timing(1.5, 1.0, 2.25, 2.3), None, None, None),  # exactly 1.5× is still an idle machine's
    (timing(3.0, 2.9, 3.1, 3.2), timing(2.5, 2.4, 2.6, 2.7), "took longer than forward + backward", None),
    (timing(1.0, 0.9, 2.0, 5.0), None, "p90 2.000 ms, median 1.000 ms", None),
    (timing(2.0, 1.0, 2.1, 2.2), None, "the median run took 2.0× the fastest", None),
    (QUIET, timing(3.0, 2.9, 9.0, 9.5), None, "a tenth of the runs took 3.0× the median"),
    (timing(1.0, 0.3, 3.0, 3.0, runs=4), None, None, None),  # four runs: too few to judge a spread
])
def test_assess_timings(forward: Timing, backward: Timing | None, forward_note: str | None,
                        backward_note: str | None) -> None:
    judged, judged_backward = assess_timings(forward, backward)
    for result, note in ((judged, forward_note), (judged_backward, backward_note)):
        if result is None:
            continue
        assert result.reliable is (note is None)
        if note is not None:
            assert result.note is not None and note in result.note and "idle machine" in result.note
    # The measured numbers are kept as they were.
    assert judged.median_ms == forward.median_ms and judged.p90_ms == forward.p90_ms


def test_an_unreliable_timing_is_flagged_in_table_and_json(runner: CliRunner,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # Injected measurements: the forward pass slower than forward + backward.
    import cnncalc.pytorch.verification

    measured = iter([timing(3.0, 2.9, 3.1, 3.2), timing(2.5, 2.4, 2.6, 2.7)])
    monkeypatch.setattr(cnncalc.pytorch.verification, "_time", lambda *args: next(measured))
    doc = json.loads(runner.invoke(cli, ["verify", "lenet5", *QUICK, "--backward", "-f", "json"]).stdout)
    assert doc["ok"] is True
    assert doc["timing"]["reliable"] is False and "forward + backward" in doc["timing"]["note"]
    assert doc["backward_timing"]["reliable"] is True and doc["backward_timing"]["note"] is None

    measured = iter([timing(3.0, 2.9, 3.1, 3.2), timing(2.5, 2.4, 2.6, 2.7)])
    table = runner.invoke(cli, ["verify", "lenet5", *QUICK, "--backward"])
    assert table.exit_code == 0  # a disturbed timing is reported, not a failed check
    assert "forward timing unreliable: the forward pass (median 3.000 ms) took longer than" in table.stdout
    assert "forward + backward timing unreliable" not in table.stdout


# --- CUDA: run where a GPU exists, skipped only where none does ----------------------------------

def cuda(test: Any) -> Any:
    """Runs where a GPU exists; skipped (and only then, even under CI) where none does."""
    skip = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
    return pytest.mark.cuda(skip(test))


@cuda
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_cuda_verify(dtype: str) -> None:
    result = verify(load_spec("alexnet"), device="cuda", dtype=dtype, batch=8, runs=5, warmup=2)
    assert result.ok
    assert result.device.startswith("cuda:")
    assert result.timing is not None and result.timing.tflops > 0
    assert result.peak_memory_bytes is not None and result.peak_memory_bytes > 0


@cuda
def test_cuda_auto_takes_the_gpu() -> None:
    result = verify(load_spec("lenet5"), device="auto", batch=2, runs=2, warmup=1, channels_last=True,
                    backward=True)
    assert result.ok and result.device.startswith("cuda:") and result.backward_timing is not None


def test_the_package_functions_stay_functions() -> None:
    # A submodule named like a function would replace it on the package after the first import.
    import cnncalc

    spec = load_spec("lenet5")
    for _ in range(2):
        assert cnncalc.verify(spec, device="cpu", batch=1, runs=1, warmup=0).ok
        assert callable(cnncalc.build) and callable(cnncalc.analyze) and callable(cnncalc.load_spec)
    assert {"verify", "build", "analyze", "load_spec", "Verification"} <= set(dir(cnncalc))


@pytest.mark.parametrize(("args", "message"), [
    (["--max-memory", "1e999"], "write a size such as 8GiB"),
    (["--seed", str(10**24)], "--seed"),
    (["--device", "mps"], "cnncalc verifies on cpu or cuda only"),
    (["--device", "meta"], "cnncalc verifies on cpu or cuda only"),
    (["--device", "nonsense"], "--device nonsense"),
])
def test_bad_verify_options_are_bad_input(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(cli, ["verify", "lenet5", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
