"""``cnncalc export --to torch``: the generated code, executed, is the model build() makes.

For every bundled architecture and for random specs (tests/strategies.py), the
generated source is executed and its class instantiated; its ``state_dict()``
keys and tensor shapes must be build's, and with build's weights loaded it must
give build's output. The code must pass ruff, list every layer in its docstring,
and need neither cnncalc to run nor torch to be written.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from hypothesis import example, given, settings
from strategies import branching_specs, specs
from torch import nn

from cnncalc import analyze, load_spec
from cnncalc.analysis.walk import Report
from cnncalc.cli import cli
from cnncalc.pytorch import lenet as torch_modules
from cnncalc.pytorch.bridge import build, is_flat, module_names, unique_names
from cnncalc.pytorch.export import (
    NN_MODULE_ATTRIBUTES,
    class_name_error,
    default_class_name,
    export,
    to_torch,
)
from cnncalc.pytorch.export_graph import ExportUnsupported
from cnncalc.spec import bundled
from cnncalc.spec.models import Spec

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]

GOLDEN = Path(__file__).parent / "golden"
ROOT = Path(__file__).resolve().parent.parent

# Specs that reach the corners: uneven 'same' (pad module + conv) with each padding mode,
# groups and dilation, ceil_mode, adaptive pools with None, asymmetric zero padding, batchnorm
# without affine or running stats, softmax with no dim, and layer names that are no Python
# attribute (a '-', a keyword, a private name, non-ASCII, nn.Module's own attributes).
TRICKY: dict[str, dict[str, Any]] = {
    "same": {"input": [3, 17, 12], "layers": [
        {"type": "conv2d", "filters": 4, "kernel": 4, "padding": "same", "name": "even"},
        {"type": "conv2d", "filters": 4, "kernel": 3, "stride": 2, "padding": "same",
         "padding_mode": "reflect", "activation": "relu", "name": "strided"},
        {"type": "conv2d", "filters": 6, "kernel": [3, 2], "stride": [2, 1], "padding": "same",
         "padding_mode": "circular", "groups": 2},
        {"type": "conv2d", "filters": 6, "kernel": 3, "padding": "same", "dilation": 2,
         "padding_mode": "replicate", "activation": "softmax"},
        {"type": "conv2d", "filters": 6, "kernel": 3, "padding": [1, 0], "padding_mode": "reflect",
         "bias": False},
        {"type": "conv2d", "filters": 4, "kernel": 2, "padding": "same", "connection_table":
            [[0, 1], [2], [3, 4, 5], [5, 0]], "padding_mode": "replicate", "activation": "tanh"},
    ]},
    "pools": {"input": [2, 15, 11], "layers": [
        {"type": "maxpool2d", "kernel": 3, "stride": 2, "ceil_mode": True, "padding": 1,
         "dilation": [1, 2]},
        {"type": "avgpool2d", "kernel": [2, 3], "stride": 1, "padding": [1, 0], "ceil_mode": True,
         "count_include_pad": False, "divisor_override": 3},
        {"type": "adaptiveavgpool2d", "output_size": [None, 5]},
        {"type": "adaptivemaxpool2d", "output_size": [4, None]},
        {"type": "zeropad2d", "padding": [1, 2, 0, 3]},
        {"type": "zeropad2d", "padding": 1},
        {"type": "subsampling", "kernel_size": 3, "stride": [1, 2], "bias": False},
        {"type": "batchnorm2d", "affine": False, "momentum": None},
        {"type": "localresponsenorm", "size": 3, "alpha": 0.001, "k": 2},
        {"type": "dropout2d", "p": 0.2, "inplace": True},
        {"type": "softmax"},
        {"type": "logsoftmax", "dim": -1},
        {"type": "flatten"},
        {"type": "batchnorm1d", "track_running_stats": False, "eps": 0.001},
        {"type": "linear", "units": 7, "bias": False, "activation": "logsoftmax"},
        {"type": "rbf", "units": 3},
    ]},
    "names": {"input": [1, 4, 4], "layers": [
        {"type": "relu", "name": "a-b", "inplace": True}, {"type": "elu", "name": "class", "alpha": 0.5},
        {"type": "leakyrelu", "name": "__private", "negative_slope": 0.2},
        {"type": "gelu", "name": "C₁", "approximate": "tanh"}, {"type": "tanh", "name": "forward"},
        {"type": "sigmoid", "name": "mro"}, {"type": "relu", "name": "b.1"},
        {"type": "relu", "name": "b_1"}, {"type": "relu", "name": "__init__"},
        {"type": "relu", "name": 'say "hi"\\'}, {"type": "dropout", "name": "x", "p": 0.0},
        {"type": "flatten", "name": "self", "start_dim": 2}, {"type": "relu", "name": "F"},
    ]},
}


def load_class(code: str, name: str) -> type[nn.Module]:
    """Execute the generated code alone (no cnncalc in its namespace) and return its class."""
    namespace: dict[str, Any] = {"__name__": "generated"}
    exec(compile(code, "<generated>", "exec"), namespace)
    cls: type[nn.Module] = namespace[name]
    return cls


# Every module class a warning could name: torch.nn's and LeNet-5's own.
MODULE_CLASSES = {name for namespace in (nn, torch_modules) for name, value in vars(namespace).items()
                  if isinstance(value, type) and issubclass(value, nn.Module)}


def named_modules_are_built(report: Report, model: nn.Module) -> None:
    """A warning that names a module class names one that build made for that layer."""
    paths = module_names(report)
    for warning in report.warnings:
        named = set(re.findall(r"\b[A-Z]\w*", warning.message)) & MODULE_CLASSES
        if not named:  # nothing to look for (and a parameter's row has no module)
            continue
        built = {type(m).__name__ for m in model.get_submodule(paths[warning.index - 1]).modules()}
        assert named <= built, (warning.message, sorted(built))


def check_against_build(spec: Spec, side: int | None = None) -> str:
    """The generated model has build's state_dict keys and shapes, and build's outputs (on
    inputs ``side`` × ``side`` where given, else the spec's size)."""
    report = analyze(spec)
    code = to_torch(spec, report=report)
    # standalone: no import statement names cnncalc (the header may name the spec's path)
    assert not [line for line in code.splitlines()
                if line.lstrip().startswith(("import ", "from ")) and "cnncalc" in line]
    expected = build(spec).eval()
    named_modules_are_built(report, expected)
    model = load_class(code, default_class_name(report.name))().eval()

    state, wanted = model.state_dict(), expected.state_dict()
    assert list(state) == list(wanted)
    assert {k: v.shape for k, v in state.items()} == {k: v.shape for k, v in wanted.items()}
    paths = module_names(report)
    if is_flat(report):  # a chain: one child per layer, in order
        assert [name for name, _ in model.named_children()] == paths
    else:  # every layer at its path, as build has it
        def held(m: nn.Module, path: str) -> str:  # a module, or a parameter at its path
            found = dict(m.named_modules()).get(path)
            return type(found if found is not None else m.get_parameter(path)).__name__

        assert [held(model, path) for path in paths] == [held(expected, path) for path in paths]
    model.load_state_dict(wanted, strict=True)

    shape = report.input_shape if side is None else (report.input_shape[0], side, side)
    x = torch.randn(2, *shape)
    with torch.no_grad():
        # Inputs cloned: an in-place first layer would change the other model's input.
        torch.testing.assert_close(model(x.clone()), expected(x.clone()), equal_nan=True)

    # The docstring lists every layer, in order, with its output shape and parameters.
    assert model.__doc__ is not None
    lines = iter(model.__doc__.splitlines())
    names = paths if is_flat(report) else [row.name for row in report.rows]
    for row, layer, name in zip(report.rows, report.layers, names, strict=True):
        # what torch holds: (N, ...) for a layer's output, a parameter's own shape for it
        sizes = layer.shape if row.type == "parameter" else ["N", *row.output_shape]
        shape = "(" + ", ".join(map(str, sizes)) + ("," if len(sizes) == 1 else "") + ")"
        line = next(line for line in lines if line.strip().startswith(name + " "))
        assert shape in line and line.rstrip().endswith(f"{row.parameters:,}"), line
    return code


@pytest.mark.parametrize("name", bundled.names())
def test_bundled_architecture(name: str) -> None:
    # The networks built at their module paths end in adaptive or global pooling (or are U-Net):
    # their outputs are compared on small inputs, U-Net's smallest tile, 64 × 64 for AlexNet's
    # strides and 32 × 32 for the other classifiers.
    flat = is_flat(analyze(load_spec(name)))
    side = None if flat else {"unet": 188, "alexnet-torchvision": 64}.get(name, 32)
    code = check_against_build(load_spec(name), side)
    assert f"class {default_class_name(load_spec(name).name or name)}(nn.Module):" in code


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_tricky_specs(name: str) -> None:
    check_against_build(load_spec(TRICKY[name]))


@pytest.mark.parametrize("table", [None, [[0], [0, 1], [1]]])
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_uneven_padding_warning_names_the_pad_built(mode: str, table: list[list[int]] | None) -> None:
    # 'same' at stride 2 on 9×8: ceil(9/2) = 5 needs 2 rows of padding (1 + 1), ceil(8/2) = 4
    # needs 1 column (0 left + 1 right), so the conv is built as a pad module then the conv.
    spec = load_spec({"input": [2, 9, 8], "layers": [
        {"type": "conv2d", "filters": 3, "kernel": 3, "stride": 2, "padding": "same",
         "padding_mode": mode, "connection_table": table}]})
    report = analyze(spec)
    [warning] = [w for w in report.warnings if w.kind == "asymmetric_padding"]
    built = {type(m).__name__ for m in build(spec).modules()} & MODULE_CLASSES
    named = set(re.findall(r"\b[A-Z]\w*", warning.message)) & MODULE_CLASSES
    assert named and named <= built, (warning.message, sorted(built))
    check_against_build(spec)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(data=specs())
@example(data={"input": [1, 1, 1], "layers": [{"type": "gelu", "name": "b.1"},
                                              {"type": "tanh", "name": "b_1"}]})
# adaptive pooling's [null, null] is (None, None), which torch does not take as one None
@example(data={"input": [1, 2, 3], "layers": [{"type": "adaptivemaxpool2d", "output_size": [None, None]}]})
def test_random_specs(data: dict[str, Any]) -> None:
    check_against_build(load_spec(data))


def test_generated_code_passes_ruff(tmp_path: Path) -> None:
    files = []
    for name in [*bundled.names(), *TRICKY]:
        path = tmp_path / f"{name.replace('-', '_')}.py"
        path.write_text(to_torch(load_spec(TRICKY.get(name, name))), encoding="utf-8")
        files.append(str(path))
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", *files],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    # The imports are also sorted as isort would, and nothing is unused.
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--select", "I,F,E9",
                           *files], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_golden_lenet5(regen_golden: bool) -> None:
    for name in ("lenet5", "lenet5-1998"):
        path = GOLDEN / f"export_{name}.py.txt"
        code = to_torch(load_spec(name))
        if regen_golden:
            path.write_text(code, encoding="utf-8")
        assert code == path.read_text(encoding="utf-8")


def test_only_the_custom_modules_used_are_copied() -> None:
    lenet = to_torch(load_spec("lenet5"))
    assert "class TableConv2d" not in lenet and "import math" not in lenet and "as F" not in lenet
    paper = to_torch(load_spec("lenet5-1998"))
    assert {"class TableConv2d", "class Subsampling", "class RBF", "import math"} <= set(
        line.split("(")[0] for line in paper.splitlines())
    rbf_only = to_torch(load_spec({"input": [4, 1, 1], "layers": [{"type": "flatten"},
                                                                  {"type": "rbf", "units": 2}]}))
    assert "class RBF(nn.Module)" in rbf_only and "class Subsampling" not in rbf_only
    assert "import math" not in rbf_only and "torch.nn.functional" not in rbf_only


def module_attribute_names() -> list[str]:
    """Every attribute an ``nn.Module`` or ``nn.Sequential`` (build's container) has, on the
    instance (``training``, ``_modules``, ``_parameters``, hooks, ...) and on the class (methods,
    ``type``'s own), private ones included: each is a layer name someone may write."""
    names = {n for n in set(dir(nn.Module)) | set(dir(type)) if hasattr(nn.Module, n)}
    for module in (nn.Module(), nn.Sequential()):
        names |= set(dir(module)) | set(vars(module))
    return sorted(names)


def every_attribute_spec() -> dict[str, Any]:
    """One layer per attribute name, cycling through a layer with parameters and an activation
    (a child Sequential), one with buffers, and one with neither; plus names that collide."""
    kinds: list[dict[str, Any]] = [{"type": "conv2d", "filters": 1, "kernel": 1, "activation": "relu"},
                                   {"type": "batchnorm2d"}, {"type": "relu"}]
    names = [*module_attribute_names(), "conv", "b_1", "b_1_", "training_", "append_"]
    return {"name": "attributes", "input": [1, 2, 2],
            "layers": [{**kinds[i % len(kinds)], "name": name} for i, name in enumerate(names)]}


def test_the_exporters_list_covers_the_installed_torch() -> None:
    """Export needs no torch, so it names children from a list: it must hold every attribute
    the installed torch's nn.Module and nn.Sequential have, or export's names would not be build's."""
    missing = set(module_attribute_names()) - NN_MODULE_ATTRIBUTES
    assert not missing, sorted(missing)


def test_child_names_are_unique_and_never_reserved() -> None:
    # A name whose mangled form is reserved too (requires_grad_ is a method) is mangled again.
    reserved = {"x", "x_", "y_1_2", "requires_grad_"}
    names = unique_names(["x", "x_", "x__", "y.1", "y_1", "y_1_", "requires_grad_", "requires_grad"],
                         reserved.__contains__)
    assert len(set(names)) == len(names) and not reserved & set(names), names


def test_layers_named_like_module_attributes_build_and_export() -> None:
    # Each name is accepted by analyze, built (as a child named with a trailing '_'), and
    # exported as code that runs with build's state_dict keys, shapes and outputs.
    spec = load_spec(every_attribute_spec())
    assert [row.name for row in analyze(spec).rows] == [layer["name"] for layer in
                                                        every_attribute_spec()["layers"]]
    check_against_build(spec)
    names = module_names(spec)
    assert "training_" in names and "_modules_" in names and "append_" in names
    model = load_class(to_torch(spec, "Net"), "Net")()
    assert [name for name, _ in model.named_children()] == names
    assert model.training is True and isinstance(model._modules, dict)  # nothing was shadowed
    # With a dotted name the chain is built at its paths: "b.1" is module 1 of b, beside "b_1".
    dotted = load_spec({**every_attribute_spec(), "layers": [*every_attribute_spec()["layers"],
                                                             {"type": "relu", "name": "b.1"}]})
    check_against_build(dotted)
    assert {"b.1", "b_1"} <= set(module_names(dotted))


@pytest.mark.parametrize("name, expected", [
    ("LeNet-5", "LeNet5"), ("AlexNet", "AlexNet"), ("VGG-16", "Vgg16"), ("LeNet-5 (1998)", "LeNet5_1998"),
    ("CIFAR-10 CNN", "Cifar10Cnn"), ("mnist cnn", "MnistCnn"), ("3-layer net", "Net3LayerNet"),
    ("", "Net"), ("—", "Net"), ("none", "NoneNet"), ("RBF", "Rbf"), ("nn", "Nn"), ("F", "FNet"),
])
def test_default_class_name(name: str, expected: str) -> None:
    assert default_class_name(name) == expected
    assert class_name_error(expected) is None


def test_class_name_checks() -> None:
    assert class_name_error("for") == "is a Python keyword"
    assert class_name_error("RBF") is not None and class_name_error("nn") is not None
    assert class_name_error("2net") is not None and class_name_error("Nét") is not None
    with pytest.raises(ValueError, match="class name 'class' is a Python keyword"):
        to_torch(load_spec("lenet5"), "class")
    with pytest.raises(ValueError, match="unknown export target"):
        export(load_spec("lenet5"), "keras")


# --- the command ----------------------------------------------------------------------------

@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("COLUMNS", "FORCE_COLOR", "NO_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def test_cli_writes_the_file(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "model.py"
    result = runner.invoke(cli, ["export", "lenet5", "--to", "torch", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr == f"wrote {out}\n"
    assert out.read_text(encoding="utf-8") == to_torch(load_spec("lenet5"))


def test_cli_stdout_and_class_name(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["export", "architectures/lenet5-1998.yaml", "--class-name", "Paper"])
    assert result.exit_code == 0, result.output
    model = load_class(result.stdout, "Paper")()
    assert sum(p.numel() for p in model.parameters()) == 60_840
    assert "Generated by cnncalc from architectures/lenet5-1998.yaml." in result.stdout


def test_cli_reads_standard_input(runner: CliRunner) -> None:
    spec = "name: tiny\ninput: [1, 4, 4]\nlayers:\n  - {type: conv2d, filters: 2, kernel: 3}\n"
    result = runner.invoke(cli, ["export", "-"], input=spec)
    assert result.exit_code == 0, result.output
    assert "class Tiny(nn.Module):" in result.stdout
    assert "self.conv2d_1 = nn.Conv2d(1, 2, 3)" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["nope.yaml"], "nope.yaml: no such file"),
    (["lenet5", "--class-name", "for"], "'for' is a Python keyword"),
    (["lenet5", "--class-name", "2x"], "'2x' is not a Python identifier"),
    (["lenet5", "--to", "keras"], "'keras' is not 'torch'"),
    (["lenet5", "-o", "/nonexistent-dir/model.py"], "cannot write /nonexistent-dir/model.py"),
])
def test_cli_bad_input_exits_2(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(cli, ["export", *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_cli_bad_spec_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [1, 4, 4]\nlayers:\n  - {type: conv2d, filters: 2, kernel: 5}\n")
    result = runner.invoke(cli, ["export", str(bad), "-o", str(tmp_path / "out.py")])
    assert result.exit_code == 2
    assert "does not fit its 4×4 input" in result.stderr
    assert not (tmp_path / "out.py").exists()  # nothing written for a spec that cannot be built


def test_export_without_torch_says_how_to_install() -> None:
    # A fresh interpreter where `import torch` fails: exit 2 with the install command, as for verify.
    code = ("import sys\nsys.modules['torch'] = None\nfrom cnncalc.cli import main\n"
            "sys.argv = ['cnncalc', 'export', 'lenet5-1998']\nmain()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == 'this command needs PyTorch: pip install "cnncalc[torch]"'
    assert done.stdout == ""


def test_writing_the_code_imports_no_torch() -> None:
    # The generator itself works from the spec and the analysis alone.
    code = ("import sys\nsys.modules['torch'] = None\nimport cnncalc\n"
            "from cnncalc.pytorch.export import export\n"
            "print(export(cnncalc.load_spec('lenet5-1998'), 'torch', None))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "class LeNet5_1998(nn.Module):" in done.stdout and "class TableConv2d(nn.Module):" in done.stdout


# --- networks that branch: one class per block, module paths as the spec's names ------------

SPECS = Path(__file__).parent / "export_specs"
BRANCHING = sorted(path.stem for path in SPECS.glob("*.yaml"))
ALLOWED_IMPORTS = {"import math", "from collections import OrderedDict", "from fractions import Fraction",
                   "import torch", "from torch import nn"}


def owner(path: str, names: list[str]) -> str | None:
    """The longest row name that is a module path above ``path`` (a state_dict key)."""
    found = [name for name in names if path.startswith(name + ".")]
    return max(found, key=len) if found else None


def check_branching(spec: Spec) -> str:
    """The generated code of a network that branches: standalone, one class per block it calls,
    each layer at its path, every layer's output shape and parameters as the analysis has them."""
    report = analyze(spec)
    assert report.graph is not None
    code = to_torch(spec, report=report)
    imports = {line for line in code.splitlines() if line.startswith(("import ", "from "))}
    assert imports <= ALLOWED_IMPORTS, imports - ALLOWED_IMPORTS
    blocks = {call.block for call in report.graph.calls.values()}
    classes = re.findall(r"^class (\w+)\(nn\.Module\):", code, flags=re.MULTILINE)
    merges = {"Add", "Mul", "Concat", "CenterCrop"} & set(classes)
    assert len(classes) == len(blocks) + len(merges) + 1, classes  # and the network's own
    model = load_class(code, default_class_name(report.name))().eval()

    names = [row.name for row in report.rows]
    held = {row.name for row in report.rows if row.type == "parameter"}  # tensors at their paths
    modules = dict(model.named_modules())
    assert set(names) - held <= set(modules), sorted(set(names) - held - set(modules))
    owned: dict[str, int] = {}
    for key, parameter in model.named_parameters():
        row = key if key in held else owner(key, names)
        assert row is not None, key
        owned[row] = owned.get(row, 0) + parameter.numel()
    assert owned == {row.name: row.parameters for row in report.rows if row.parameters}
    assert sum(p.numel() for p in model.parameters()) == report.totals.parameters

    shapes: dict[str, tuple[int, ...]] = {}
    for name in held:
        tensor = model.get_parameter(name)
        shapes[name] = tuple(tensor.shape[1:] if tensor.dim() == 4 else tensor.shape)
    for name in set(names) - held:
        modules[name].register_forward_hook(
            lambda module, args, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:])))
    with torch.no_grad():
        y = model(torch.randn(2, *report.input_shape))
    assert tuple(y.shape[1:]) == report.output_shape
    assert shapes == {row.name: row.output_shape for row in report.rows}
    return code


@pytest.mark.parametrize("name", BRANCHING)
def test_branching_specs(name: str) -> None:
    check_branching(load_spec(str(SPECS / f"{name}.yaml")))


@pytest.mark.parametrize("name", BRANCHING)
def test_branching_specs_match_build(name: str) -> None:
    """The generated model is cnncalc's own build: same state_dict keys, build's weights load with
    strict=True, same outputs."""
    check_against_build(load_spec(str(SPECS / f"{name}.yaml")))


def torchvision_resnet18_keys() -> list[str]:
    """torchvision.models.resnet18().state_dict() keys, written out from its source
    (torchvision/models/resnet.py: BasicBlock, _make_layer)."""
    def bn(prefix: str) -> list[str]:
        return [f"{prefix}.{k}" for k in ("weight", "bias", "running_mean", "running_var",
                                          "num_batches_tracked")]
    keys = ["conv1.weight", *bn("bn1")]
    for layer in range(1, 5):
        for block in range(2):
            at = f"layer{layer}.{block}"
            keys += [f"{at}.conv1.weight", *bn(f"{at}.bn1"), f"{at}.conv2.weight", *bn(f"{at}.bn2")]
            if layer > 1 and block == 0:
                keys += [f"{at}.downsample.0.weight", *bn(f"{at}.downsample.1")]
    return [*keys, "fc.weight", "fc.bias"]


def test_resnet18_has_torchvisions_state_dict_keys() -> None:
    code = to_torch(load_spec(str(SPECS / "resnet18.yaml")))
    model = load_class(code, "ResNet18")()
    assert list(model.state_dict()) == torchvision_resnet18_keys()
    assert sum(p.numel() for p in model.parameters()) == 11_689_512


def test_the_code_reads_like_the_spec() -> None:
    resnet = to_torch(load_spec(str(SPECS / "resnet18.yaml")))
    # one class for the block, its __init__ taking what varies between calls, its `when` an if
    assert "    def __init__(self, in_channels: int, c: int = 64, stride: int = 1) -> None:" in resnet
    assert "        self.use_downsample = stride != 1 or in_channels != c\n" in resnet
    assert "nn.Conv2d(in_channels, c, 3, stride=stride, padding=1, bias=False)" in resnet
    assert "nn.Conv2d(in_channels, c, 1, stride=stride, bias=False), nn.BatchNorm2d(c)" in resnet
    forward = ("        bn2 = self.bn2(x)\n        if self.use_downsample:\n"
               "            downsample = self.downsample(input)\n        else:\n"
               "            downsample = input\n        x = self.add(bn2, downsample)\n")
    assert forward in resnet
    assert "self.layer2 = nn.Sequential(Basic(64, c=128, stride=2), Basic(128, c=128))" in resnet
    inception = to_torch(load_spec(str(SPECS / "inception.yaml")))
    assert "self.branch2 = nn.Sequential(ConvBn(in_channels, c=c3r), ConvBn(c3r, c=c3, k=3))" in inception
    assert "x = self.cat(branch1, branch2, branch3, branch4)" in inception
    assert "nn.Conv2d(in_channels, c, k, padding=k // 2, bias=False)" in inception
    nested = to_torch(load_spec(str(SPECS / "nested.yaml")))
    # a reference to one instance of a repeat, and a layer type given as a parameter (built by
    # the caller), and a dotted name as a container
    assert "units_0 = self.units[0](input)\n        units = self.units[1:](units_0)" in nested
    assert "self.conv = nn.Conv2d(in_channels, c, (k, 1), padding=(k // 2, 0), bias=not norm)" in nested
    assert 'self.head.pool = nn.AdaptiveAvgPool2d(1)' in nested


def test_decimals_are_exact() -> None:
    # 1 × 0.29 × 100 is 29 in cnncalc; a float product would give 28.999… and int() 28 channels.
    code = check_branching(load_spec(str(SPECS / "exact.yaml")))
    assert "r = Fraction(str(r))" in code and "def make_divisible(" in code
    model = load_class(code, "ExactArithmetic")()
    assert model.a.conv.out_channels == 29


def test_branching_code_passes_ruff(tmp_path: Path) -> None:
    files = []
    for name in BRANCHING:
        path = tmp_path / f"{name}.py"
        path.write_text(to_torch(load_spec(str(SPECS / f"{name}.yaml"))), encoding="utf-8")
        files.append(str(path))
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--select", "E,F,W,I,B",
                           "--line-length", "120", *files], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_block_takes_the_names_it_reads_from_outside_as_arguments() -> None:
    # U-Net's decoder reads the encoder's map named by its parameter: forward(self, x, skip), and
    # its channels are an argument of __init__; the caller passes each call's own.
    unet = to_torch(load_spec("unet"))
    assert "    def forward(self, input: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:" in unet
    assert "    def __init__(self, in_channels: int, skip_channels: int, c: int = 512) -> None:" in unet
    assert "        crop = self.crop(skip, upconv)\n" in unet
    assert "self.conv1 = nn.Conv2d(skip_channels + c, c, 3)" in unet
    assert "self.dec3 = Up(512, skip_channels=256, c=256)" in unet
    forward = [line.split("#")[0].strip() for line in unet.splitlines() if "self.dec" in line and "=" in line
               and "(x" in line]
    assert forward == ["x = self.dec4(x, enc4)", "x = self.dec3(x, enc3)", "x = self.dec2(x, enc2)",
                       "x = self.dec1(x, enc1)"]
    # Every name read from outside, in the order first read; passed on by a block that calls
    # another; a repeat's instances called in a loop, as a Sequential passes on one value only.
    skips = check_branching(load_spec(str(SPECS / "skips.yaml")))
    assert skips.count("def forward(self, input: torch.Tensor, skip: torch.Tensor, stem: torch.Tensor)") == 2
    assert "self.mix = Mix(c, skip_channels=skip_channels, stem_channels=stem_channels, c=c)" in skips
    assert "        for block in self.more:\n            x = block(x, pre, stem)\n" in skips
    assert "l1 = self.l1(a, a, stem)" in skips and "x = self.l2(l1, stem, stem)" in skips


def test_an_entry_reading_different_names_in_different_calls() -> None:
    choices = check_branching(load_spec(str(SPECS / "choices.yaml")))
    # entries of the block: chosen by name in forward, the name a parameter kept in __init__
    assert 'def __init__(self, in_channels: int, r: int = 2, a: str = "input", b: str = "gate")' in choices
    assert ('        inputs = {"input": input, "gate": gate}\n'
            "        x = self.scale(inputs[self.a], inputs[self.b])\n") in choices
    assert 'self.se2 = Se(3, a="gate", b="input")' in choices
    # the block's input in one call, the caller's entry in another: the caller passes either
    assert "    def forward(self, input: torch.Tensor, shortcut: torch.Tensor) -> torch.Tensor:" in choices
    assert "x = self.res1(stem, stem)" in choices and "x = self.res2(x, stem)" in choices


@settings(max_examples=60, deadline=None, derandomize=True)
@given(data=branching_specs())
def test_random_branching_specs(data: dict[str, Any]) -> None:
    """Random networks that branch (blocks, repeats, `when`, parameters naming entries, U-Net
    skips) export as build makes them; a top-level reference into a call (``s3.bn2``) is the one
    thing refused, in one line."""
    spec = load_spec(data)
    try:
        check_against_build(spec)
    except ExportUnsupported as err:
        inside = [item for layer in data["layers"] for item in layer.get("from", []) if "." in item]
        assert inside and "names a layer inside a call" in str(err), err
        assert "\n" not in str(err)


def test_a_name_read_from_outside_exports(tmp_path: Path) -> None:
    spec = tmp_path / "outer.yaml"
    spec.write_text("input: [2, 8, 8]\nblocks:\n  b:\n    layers:\n"
                    "      - {name: cat, type: concat, from: [input, stem]}\n"
                    "layers:\n  - {name: stem, type: conv2d, out_channels: 2, kernel_size: 1}\n"
                    "  - {name: call, block: b}\n", encoding="utf-8")
    code = check_against_build(load_spec(str(spec)))
    assert "def forward(self, input: torch.Tensor, stem: torch.Tensor) -> torch.Tensor:" in code
    assert "x = self.call(stem, stem)" in code


def test_a_layer_inside_a_call_is_refused_in_one_line(runner: CliRunner, tmp_path: Path) -> None:
    # A block reading a layer inside the caller's earlier call: that call is one module, which
    # gives only its output.
    spec = tmp_path / "inside.yaml"
    spec.write_text("input: [2, 8, 8]\nblocks:\n  enc:\n    layers:\n"
                    "      - {name: conv, type: conv2d, out_channels: 2, kernel_size: 1}\n"
                    "      - {name: relu, type: relu}\n"
                    "  dec:\n    layers:\n"
                    "      - {name: cat, type: concat, from: [input, e.conv]}\n"
                    "layers:\n  - {name: e, block: enc}\n  - {name: d, block: dec}\n", encoding="utf-8")
    result = runner.invoke(cli, ["export", str(spec)])
    assert result.exit_code == 2, result.output
    assert "from: 'e.conv' names a layer inside a call" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_the_bundled_networks_read_like_their_specs() -> None:
    dense = to_torch(load_spec("densenet121"))
    # the channels a dense layer reads, in the calls that have it (a sum folded)
    assert "        self.denselayer3 = DenseLayer(in_channels + 64)\n" in dense
    assert ("        if self.use_denselayer7:\n"
            "            self.denselayer7 = DenseLayer(in_channels + 192)\n") in dense
    assert "self.features.denseblock2 = DenseBlock(128, n=12)" in dense
    mobilenet = to_torch(load_spec("mobilenet_v2"))
    # features.1 holds only conv, a Sequential of three layers written in the network
    assert 'self.features.add_module("1", nn.Sequential())' in mobilenet
    assert "x = self.features[1].conv(x)" in mobilenet


def test_cli_exports_a_branching_spec(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["export", str(SPECS / "resnet18.yaml"), "--class-name", "Net"])
    assert result.exit_code == 0, result.output
    model = load_class(result.stdout, "Net")()
    assert sum(p.numel() for p in model.parameters()) == 11_689_512
