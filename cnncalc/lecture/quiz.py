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

__all__ = ["CONV_QUESTIONS", "POOL_QUESTIONS", "Question", "Quiz", "describe", "make_quiz"]

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

    @property
    def text(self) -> str:
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

    @property
    def command(self) -> str:
        """The command that sets this quiz again."""
        return command(self.seed, self.layers, self.fractions)

    def answers(self) -> dict[str, dict[str, Any]]:
        """The answer key as an answers mapping for ``cnncalc check``."""
        key: dict[str, dict[str, Any]] = {}
        for question in self.questions:
            key.setdefault(question.layer, {})[question.metric] = question.answer
        return key


def command(seed: int, layers: int, fractions: bool) -> str:
    """``cnncalc quiz`` with every option that the quiz depends on."""
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

