"""Fresh exercises in the lecture's format, reproducible from a seed.

A quiz is a small network in the shape of the lecture's examples (LeNet,
AlexNet): convolutions and poolings in a chain, each layer working on the
previous one's output. For a convolution the student is asked the width of the
next layer, weights per neuron, neurons, connections and independent
parameters; for a pooling layer its size and its parameters. Because the quiz
is a real spec, its answer key is an answers file that ``cnncalc check``
marks, and every answer comes from the same analysis as everything else.

Sizes are whole unless the quiz is asked for fractions, in which case some
layers are like AlexNet's first: (J + 2P − M)/s is not whole and PyTorch
rounds it down.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from cnncalc.analysis.walk import Report, analyze
from cnncalc.lecture.worked import METRICS, Worked, explain_layer
from cnncalc.spec.loader import load_spec
from cnncalc.spec.models import Spec
from cnncalc.text import plural

__all__ = ["BRANCHING_QUESTIONS", "CONV_QUESTIONS", "POOL_QUESTIONS", "Question", "Quiz", "describe",
           "make_branching_quiz", "make_quiz"]

CONV_QUESTIONS = ("output_size", "weights_per_neuron", "neurons", "connections", "parameters")
POOL_QUESTIONS = ("output_size", "parameters")

_INPUTS = ((1, 28), (1, 32), (3, 32), (3, 64), (3, 96), (3, 128), (3, 224), (3, 227))
_FILTERS = (6, 8, 12, 16, 20, 32, 48, 64, 96, 128)
_KERNELS = (3, 5, 7, 11)
_STRIDES = (1, 1, 1, 2, 2, 4)
_TRIES = 200  # draws per layer before giving up on a whole size; bounded work


@dataclass(frozen=True)
class Question:
    """One question about one layer, with its answer worked."""

    number: int
    layer: str
    metric: str
    answer: Any
    worked: Worked
    wording: str = ""  # the question as asked, where it is not one of the per-layer questions

    @property
    def text(self) -> str:
        if self.wording:
            return self.wording
        if self.metric == "output_size":
            return "What is the width of the next layer?"
        if self.metric == "parameters":
            return "How many independent parameters does it have?"
        return f"How many {METRICS[self.metric]}?"


@dataclass(frozen=True)
class Quiz:
    """A generated exercise sheet: the network, the layers described, and the questions."""

    seed: int
    layers: int  # as asked; the chain stops sooner when no sensible layer fits the map
    fractions: bool
    network: dict[str, Any]  # the spec as drawn, plain data
    spec: Spec
    report: Report
    descriptions: dict[str, str]  # layer name → the full wording, with the size that reaches it
    sheet_descriptions: dict[str, str]  # the same without an earlier layer's size (an answer)
    questions: list[Question]
    branching: bool = False  # a network that branches (make_branching_quiz), not a chain

    @property
    def command(self) -> str:
        """The command that sets this quiz again."""
        return command(self.seed, self.layers, self.fractions, self.branching)

    def answers(self) -> dict[str, dict[str, Any]]:
        """The answer key as an answers mapping for ``cnncalc check``."""
        key: dict[str, dict[str, Any]] = {}
        for question in self.questions:
            key.setdefault(question.layer, {})[question.metric] = question.answer
        return key


def command(seed: int, layers: int, fractions: bool, branching: bool = False) -> str:
    """``cnncalc quiz`` with every option that the quiz depends on."""
    if branching:
        return f"cnncalc quiz --seed {seed} --branching"
    return f"cnncalc quiz --seed {seed} --layers {layers}" + (" --fractions" if fractions else "")


def make_quiz(seed: int, layers: int = 3, fractions: bool = False) -> Quiz:
    """A quiz of up to ``layers`` layers (convolutions, then pooling after each, like LeNet).

    The chain stops early when the map has become too small for another sensible layer; the
    first layer, on an input of 28 or more, always fits, so a quiz has at least one.
    """
    rng = random.Random(seed)
    channels, size = rng.choice(_INPUTS)
    shape: tuple[int, ...] = (channels, size, size)
    drawn: list[dict[str, Any]] = []
    convs = pools = 0
    for position in range(layers):
        pooling = position % 2 == 1 and shape[1] >= 4
        if pooling:
            pools += 1
            layer = _pool(rng, shape[1], f"pool{pools}")
        else:
            convs += 1
            layer = _conv(rng, shape[1], f"conv{convs}", fractions and rng.random() < 0.4)
            if layer is None and fractions:
                layer = _conv(rng, shape[1], f"conv{convs}", False)  # no fraction fits: a whole one
        if layer is None:
            break
        drawn.append(layer)
        shape = analyze(load_spec({"input": [channels, size, size], "layers": drawn})).rows[-1].output_shape
        if shape[1] < 2:
            break
    network = {"name": f"quiz {seed}", "description": command(seed, layers, fractions),
               "input": [channels, size, size], "layers": drawn}
    spec = load_spec(network)
    report = analyze(spec)
    questions: list[Question] = []
    descriptions: dict[str, str] = {}
    sheet: dict[str, str] = {}
    previous: str | None = None
    for model, row in zip(report.layers, report.rows, strict=True):
        worked = {w.metric: w for w in explain_layer(model, row)}
        asked = CONV_QUESTIONS if row.type == "conv2d" else POOL_QUESTIONS
        descriptions[row.name] = describe(model, row)
        sheet[row.name] = describe(model, row, after=previous)
        previous = row.name
        for metric in asked:
            questions.append(Question(len(questions) + 1, row.name, metric, worked[metric].value,
                                      worked[metric]))
    return Quiz(seed, layers, fractions, network, spec, report, descriptions, sheet, questions)


def _conv(rng: random.Random, size: int, name: str, fraction: bool) -> dict[str, Any] | None:
    """A convolution whose size is whole (or, when asked, deliberately not); None when none fits.

    Sensible layers only: a window no wider than the map (M ≤ J), windows that overlap or touch
    (s ≤ M), padding within half a window (P ≤ ⌊M/2⌋), and an output at least 2 wide.
    """
    kernels = [k for k in _KERNELS if k <= size]
    if not kernels:
        return None
    for _ in range(_TRIES):
        kernel = rng.choice(kernels)
        stride = rng.choice([s for s in _STRIDES if s <= kernel])
        padding = rng.choice([p for p in (0, 0, 1, 2, kernel // 2) if p <= kernel // 2])
        if _fits(size, kernel, stride, padding, fraction):
            return _conv_layer(rng, name, kernel, stride, padding)
    # Rare (a small map): draw among every sensible choice instead of giving up on luck.
    choices = [(k, s, p) for k in kernels for s in sorted(set(_STRIDES)) if s <= k
               for p in range(k // 2 + 1) if _fits(size, k, s, p, fraction)]
    return _conv_layer(rng, name, *rng.choice(choices)) if choices else None


def _fits(size: int, kernel: int, stride: int, padding: int, fraction: bool) -> bool:
    span = size + 2 * padding - kernel
    return span >= stride and (span % stride != 0) == fraction


def _conv_layer(rng: random.Random, name: str, kernel: int, stride: int, padding: int) -> dict[str, Any]:
    return {"type": "conv2d", "name": name, "out_channels": rng.choice(_FILTERS),
            "kernel_size": kernel, "stride": stride, "padding": padding}


def _pool(rng: random.Random, size: int, name: str) -> dict[str, Any] | None:
    """Max pooling, halving (2, 2) or overlapping (3, 2) as in AlexNet, always whole."""
    for kernel, stride in rng.sample([(2, 2), (3, 2), (2, 2), (3, 3)], 4):
        if size >= kernel and (size - kernel) % stride == 0:
            return {"type": "maxpool2d", "name": name, "kernel_size": kernel, "stride": stride}
    return None


def describe(layer: Any, row: Any, after: str | None = None) -> str:
    """The exercise's wording for one layer (its spec model and report row).

    Without ``after`` it states the size that reaches the layer, as the lecture does ("The
    previous layer is 55×55 with 96 channels"). A printed sheet names the layer it follows
    instead (``after``): that size is the answer to an earlier question.
    """
    channels, height, width = row.input_shape
    if row.type == "conv2d":
        (kernel, _), (stride, _), padding = layer.kernel_size, layer.stride, layer.padding[0]
        filters = layer.out_channels
        pad = "no padding" if padding == 0 else f"zero padding P = {padding}"
        what = (f"The convolution layer {row.name} applies {plural(filters, 'filter')} of "
                f"{kernel}×{kernel} with stride {stride} and {pad}")
        numbers = f"M = N = {kernel}, P = {padding}, s = {stride}"
        if after is not None:  # L is the earlier convolution's filter count, not an answer
            return f"{what} to the output of {after} (L = {channels}, {numbers})."
        return f"{_size(row, channels, height, width)}. {what} (J = K = {height}, L = {channels}, {numbers})."
    kernel, stride = layer.kernel_size[0], (layer.stride or layer.kernel_size)[0]
    window = f"with width F = {kernel} and stride s = {stride}"
    if after is not None:
        return f"Max pooling {row.name} is applied to the output of {after} {window}."
    return f"{_size(row, channels, height, width)}. Max pooling {row.name} is applied {window}."


def _size(row: Any, channels: int, height: int, width: int) -> str:
    what = "The input image" if row.index == 1 else "The previous layer"
    return f"{what} is {height}×{width} with {plural(channels, 'channel')}"



# --- networks that branch ---------------------------------------------------------------------

BRANCHING_BLOCKS: dict[str, Any] = {
    "residual": {  # He et al.'s basic block; a projection shortcut where the stride or width changes
        "params": {"c": 64, "stride": 1},
        "layers": [
            {"name": "conv1", "type": "conv2d", "out_channels": "$c", "kernel_size": 3, "stride": "$stride",
             "padding": 1, "bias": False},
            {"name": "bn1", "type": "batchnorm2d"},
            {"name": "relu1", "type": "relu"},
            {"name": "conv2", "type": "conv2d", "out_channels": "$c", "kernel_size": 3, "padding": 1,
             "bias": False},
            {"name": "bn2", "type": "batchnorm2d"},
            {"name": "shortcut.0", "type": "conv2d", "from": "input", "out_channels": "$c", "kernel_size": 1,
             "stride": "$stride", "bias": False, "when": "${stride != 1 or in_channels != c}"},
            {"name": "shortcut.1", "type": "batchnorm2d", "when": "${stride != 1 or in_channels != c}"},
            {"name": "add", "type": "add", "from": ["bn2", "shortcut.1"]},
            {"name": "relu2", "type": "relu"},
        ],
    },
    "se": {  # Hu et al.'s squeeze-and-excitation gate, reduction r
        "params": {"r": 4},
        "layers": [
            {"name": "squeeze", "type": "globalavgpool"},
            {"name": "fc1", "type": "conv2d", "out_channels": "${in_channels // r}", "kernel_size": 1},
            {"name": "relu", "type": "relu"},
            {"name": "fc2", "type": "conv2d", "out_channels": "${in_channels}", "kernel_size": 1},
            {"name": "gate", "type": "sigmoid"},
            {"name": "scale", "type": "mul", "from": ["input", "gate"]},
        ],
    },
    "inception": {  # Szegedy et al.'s module: four branches joined along channels
        "params": {"c1": 64, "c3r": 96, "c3": 128, "c5r": 16, "c5": 32, "cp": 32},
        "layers": [
            {"name": "branch1", "type": "conv2d", "out_channels": "$c1", "kernel_size": 1},
            {"name": "branch2.0", "type": "conv2d", "from": "input", "out_channels": "$c3r",
             "kernel_size": 1},
            {"name": "branch2.1", "type": "conv2d", "out_channels": "$c3", "kernel_size": 3, "padding": 1},
            {"name": "branch3.0", "type": "conv2d", "from": "input", "out_channels": "$c5r",
             "kernel_size": 1},
            {"name": "branch3.1", "type": "conv2d", "out_channels": "$c5", "kernel_size": 5, "padding": 2},
            {"name": "branch4.0", "type": "maxpool2d", "from": "input", "kernel_size": 3, "stride": 1,
             "padding": 1},
            {"name": "branch4.1", "type": "conv2d", "out_channels": "$cp", "kernel_size": 1},
            {"name": "cat", "type": "concat", "from": ["branch1", "branch2.1", "branch3.1", "branch4.1"]},
        ],
    },
    "dense_layer": {  # Huang et al.'s DenseNet layer: k new channels joined to what came in
        "params": {"k": 12},
        "layers": [
            {"name": "norm", "type": "batchnorm2d"},
            {"name": "relu", "type": "relu"},
            {"name": "conv", "type": "conv2d", "out_channels": "$k", "kernel_size": 3, "padding": 1,
             "bias": False},
            {"name": "cat", "type": "concat", "from": ["input", "conv"]},
        ],
    },
}

#: the questions of a branching quiz, in order: (call, metric, what it asks)
BRANCHING_QUESTIONS = (
    ("res1", "parameters", "How many independent parameters does residual block res1 have "
                           "(identity shortcut)?"),
    ("res2", "parameters", "How many independent parameters does residual block res2 have "
                           "(projection shortcut)?"),
    ("se", "parameters", "How many independent parameters does the squeeze-and-excitation gate se have?"),
    ("inception", "output_channels", "How many channels leave the Inception module?"),
    ("dense", "output_channels", "How many channels leave the dense block?"),
)


def make_branching_quiz(seed: int) -> Quiz:
    """A network that branches, from a seed: two residual blocks (one with an identity shortcut,
    one with a 1×1 projection), a squeeze-and-excitation gate, and an Inception module and a
    DenseNet block side by side on the gate's output. The questions: each residual block's
    parameters, the gate's parameters, the channels leaving the module and the dense block.

    The answers come from the analysis; each worked formula is written in the block's symbols
    and the tests evaluate it against that answer.
    """
    rng = random.Random(seed)
    size = rng.choice((8, 14, 16, 28, 32))
    width = rng.choice((16, 32, 48, 64))  # L: the input's channels, res1's width
    wider = rng.choice([w for w in (32, 64, 96, 128) if w != width])  # C: res2's width
    stride = rng.choice((1, 2))
    reduction = rng.choice([r for r in (2, 4, 8, 16) if wider % r == 0 and wider // r >= 2])
    c1, c3r, c3, c5r, c5, cp = (rng.choice((16, 32, 64)), rng.choice((16, 32, 48)), rng.choice((32, 64, 96)),
                                rng.choice((4, 8, 16)), rng.choice((8, 16, 32)), rng.choice((8, 16, 32)))
    repeats, growth = rng.choice((2, 3, 4, 6)), rng.choice((8, 12, 16, 32))
    command_text = command(seed, 0, False, branching=True)
    network = {
        "name": f"quiz {seed}", "description": command_text, "input": [width, size, size],
        "blocks": BRANCHING_BLOCKS,
        "layers": [
            {"name": "res1", "block": "residual", "c": width},
            {"name": "res2", "block": "residual", "c": wider, "stride": stride},
            {"name": "se", "block": "se", "r": reduction},
            {"name": "inception", "block": "inception", "from": "se", "c1": c1, "c3r": c3r, "c3": c3,
             "c5r": c5r, "c5": c5, "cp": cp},
            {"name": "dense", "block": "dense_layer", "from": "se", "repeat": repeats, "k": growth},
        ],
    }
    spec = load_spec(network)
    report = analyze(spec)
    squeezed = wider // reduction
    out = next(row for row in reversed(report.rows) if "res2" in row.calls).output_shape[1]
    words = {
        "res1": (f"Residual block res1 receives {width} channels of {size}×{size}: two 3×3 convolutions of "
                 f"{width} filters (stride 1, padding 1, no bias), each followed by batch normalisation "
                 "(2 parameters per channel); the shortcut is the identity; the two paths are added, "
                 "then ReLU."),
        "res2": (f"Residual block res2 is applied to the output of res1: two 3×3 convolutions of {wider} "
                 f"filters (the first with stride {stride}; padding 1, no bias), each followed by batch "
                 f"normalisation; the width changes from {width} to {wider} channels, so the shortcut "
                 f"is a projection: a 1×1 convolution of {wider} filters with stride {stride} (no bias) "
                 "and batch normalisation. Then add and ReLU."),
        "se": (f"The squeeze-and-excitation gate se, on res2's {wider} channels of {out}×{out}, with "
               f"reduction r = {reduction}: global average pooling, a 1×1 convolution to "
               f"{wider}/{reduction} = {squeezed} channels (with bias), ReLU, a 1×1 convolution back to "
               f"{wider} channels (with bias) and a sigmoid; the gate multiplies se's input channel by "
               "channel."),
        "inception": ("The Inception module inception reads se's output and joins four branches along "
                      f"channels: a 1×1 convolution of {c1} filters; a 1×1 convolution of {c3r} then "
                      f"a 3×3 of {c3} (padding 1); a 1×1 of {c5r} then a 5×5 of {c5} (padding 2); "
                      f"3×3 max pooling (stride 1, padding 1) then a 1×1 of {cp}."),
        "dense": (f"The dense block dense also reads se's output: {repeats} layers, each batch "
                  f"normalisation, ReLU and a 3×3 convolution of k = {growth} filters (growth rate k, "
                  "padding 1, no bias) whose output is joined to the layer's input along channels."),
    }
    bn = "2C"  # a batch norm's scale and shift per channel
    worked = {
        "res1": Worked("parameters", f"2 × 3×3×L×L + 2 × {bn}",
                       f"2 × 3×3×{width}×{width} + 2 × 2×{width} = {2 * 9 * width * width + 4 * width:,}", 0),
        "res2": Worked("parameters", f"3×3×L×C + 3×3×C×C + 1×1×L×C + 3 × {bn}",
                       f"3×3×{width}×{wider} + 3×3×{wider}×{wider} + 1×1×{width}×{wider} + 3 × 2×{wider} = "
                       f"{9 * width * wider + 9 * wider * wider + width * wider + 6 * wider:,}", 0,
                       "no biases in the convolutions; the projection is the third term"),
        "se": Worked("parameters", "C×(C/r) + C/r + (C/r)×C + C",
                     f"{wider}×{squeezed} + {squeezed} + {squeezed}×{wider} + {wider} = "
                     f"{2 * wider * squeezed + squeezed + wider:,}", 0,
                     "two 1×1 convolutions with biases; pooling, ReLU, sigmoid and the product have none"),
        "inception": Worked("output_channels", "C₁ + C₃ + C₅ + C_pool",
                            f"{c1} + {c3} + {c5} + {cp} = {c1 + c3 + c5 + cp}", 0,
                            "each branch keeps the size; only their last layers' filters reach the concat"),
        "dense": Worked("output_channels", "L + n×k",
                        f"{wider} + {repeats}×{growth} = {wider + repeats * growth}", 0,
                        "each layer adds k channels to all that came before it"),
    }
    key = {(target, metric) for target, metric, _ in BRANCHING_QUESTIONS}
    rows_in = {target: [row for row in report.rows if target in row.calls] for target, _ in key}
    questions = []
    for number, (target, metric, text) in enumerate(BRANCHING_QUESTIONS, 1):
        rows = rows_in[target]
        answer = (sum(row.parameters for row in rows) if metric == "parameters"
                  else rows[-1].output_shape[0])
        shown = worked[target]
        questions.append(Question(number, target, metric, answer, Worked(
            shown.metric, shown.formula, shown.worked, answer, shown.note), text))
    return Quiz(seed, 0, False, network, spec, report, words, words, questions, branching=True)
