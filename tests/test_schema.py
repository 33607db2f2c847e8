"""`cnncalc schema` and the loader agree, both ways, on every spelling and value form.

Every layer is tried with every spelling of its type (each alias, in other cases, with
``_``, ``-`` and spaces), every spelling of each field (``kernel_size``, ``kernel``,
``pool_size``), and values of each form a field takes or refuses. For each one the schema
and :func:`cnncalc.load_spec` must give the same answer: a spelling an editor flags is one
``analyze`` refuses, and one it accepts ``analyze`` accepts. Values are those YAML and JSON
can both carry (no infinities, no NaN).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from cnncalc import SpecError, load_spec
from cnncalc.cli import cli
from cnncalc.spec.models import (
    ACTIVATIONS,
    LAYER_MODELS,
    MAX_SIZE,
    TYPE_ALIASES,
    UNSUPPORTED_TYPES,
    json_schema,
)

# The least each type needs; conv2d gets a connection table of the right length where asked.
MINIMAL: dict[str, dict[str, Any]] = {
    "conv2d": {"out_channels": 2, "kernel_size": 1},
    "linear": {"out_features": 3},
    "rbf": {"out_features": 3},
    "maxpool2d": {"kernel_size": 2},
    "avgpool2d": {"kernel_size": 2},
    "adaptiveavgpool2d": {"output_size": 1},
    "adaptivemaxpool2d": {"output_size": 1},
    "localresponsenorm": {"size": 3},
    "zeropad2d": {"padding": 1},
    "convtranspose2d": {"out_channels": 2, "kernel_size": 2},
    "upsample": {"scale_factor": 2},
    "opaque": {"output_shape": [2, 3, 3]},
    "parameter": {"shape": [2, 1, 1]},
}

# Values each field takes and refuses, by what the field is. A value is refused only for a
# reason a schema can state (type, range, length, spelling); see VALUES_BY_FIELD.
POS = [1, 7, MAX_SIZE, 3.0]
NOT_POS = [0, -1, MAX_SIZE + 1, 2.5, "3", "1e9", True, None, [3]]
PAIR = [1, [2, 3], 4.0, [1.0, 2]]
NOT_PAIR = [0, -2, [1, 2, 3], [1], [0, 1], "2", True, [True, 1], 1.5, None]
NON_NEG_PAIR = [0, [0, 1], 2]
NOT_NON_NEG_PAIR = [-1, [1, -1], [1, 2, 3], "1", False, None]
FLAG = [True, False]
NOT_FLAG = [1, 0, "yes", "true", None]
NUMBER = [0.5, 2, -1.0, 1.0e-4]
NOT_NUMBER = ["0.5", "1e-4", True, None, [1.0]]
PROBABILITY = [0.0, 0.25, 1, 1.0]
NOT_PROBABILITY = [-0.1, 1.5, "0.5", True, None]

VALUES_BY_FIELD: dict[str, tuple[list[Any], list[Any]]] = {
    "out_channels": (POS, NOT_POS),
    "out_features": (POS, NOT_POS),
    "size": (POS, NOT_POS),
    "groups": ([1, 2, 2.0], [0, "1", True, 1.5]),
    "kernel_size": (PAIR, NOT_PAIR),
    "dilation": (PAIR, NOT_PAIR),
    "stride": (PAIR, [0, [1, 2, 3], "2", True, 1.5]),  # null is "the kernel" for pooling only
    "output_size": ([1, [2, 3], [None, 2], 2.0], [0, [1, 2, 3], "1", True, None, [0, 1]]),
    "divisor_override": ([1, 4, None], [0, "2", True, 1.5]),
    "bias": (FLAG, NOT_FLAG),
    "ceil_mode": (FLAG, NOT_FLAG),
    "count_include_pad": (FLAG, NOT_FLAG),
    "affine": (FLAG, NOT_FLAG),
    "track_running_stats": (FLAG, NOT_FLAG),
    "inplace": (FLAG, NOT_FLAG),
    "alpha": (NUMBER, NOT_NUMBER),
    "beta": (NUMBER, NOT_NUMBER),
    "k": (NUMBER, NOT_NUMBER),
    "negative_slope": (NUMBER, NOT_NUMBER),
    "eps": ([1.0e-5, 1, 0.1], [0, -1.0e-5, "1e-5", True, None]),
    "momentum": ([0.1, 0, 1, None], [1.5, -0.1, "0.1", True]),
    "p": (PROBABILITY, NOT_PROBABILITY),
    "start_dim": ([0, 1, -1, 1.0], ["1", True, 1.5, None]),
    "end_dim": ([-1, 2], ["-1", False, 0.5, None]),
    "dim": ([None, 0, -1], ["0", True, 0.5]),
    "padding_mode": (["zeros", "reflect", "replicate", "circular"], ["Zeros", "zero", 0, None]),
    "approximate": (["none", "tanh"], ["None", "sigmoid", None, 0]),
    "activation": ([None, *ACTIVATIONS, "ReLU", "Leaky_ReLU", "LOG-SOFTMAX"],
                   ["prelu", "foo", "conv", 1, True, "", "re lu x"]),
    "name": (["a", "conv 1", "x" * 200, 1], ["", "x" * 201, True, 1.5]),  # digits are a name, "1"
    "from_": ([None, "input", ["input", "a"], 3], [[], True, 1.5, [True], ""]),
    "when": ([None, True, False, "${1 == 1}"], [1, 1.5, [True]]),
    "output_padding": ([0, [0, 0]], [-1, [1, 2, 3], "1", True, None]),  # below the stride: cnncalc's
    "mode": (["nearest", "bilinear"], ["Nearest", "bicubic", None, 0]),
    "output_shape": ([[1], [3, 4], [2, 3, 3], [MAX_SIZE]],
                     [[], [1, 2, 3, 4], [0, 1], ["3"], 3, None, [True]]),
    "input_shape": ([None, [1, 8, 8], [5]], [[], [1, 2, 3, 4], [0], "1,8,8", [1.5]]),
    "input_shapes": ([None, [[1, 8, 8], [2, 4]], [[1]] * 16], [[[1, 8, 8]], [], [[1]] * 17, [[0], [1]],
                                                               [[1, 2, 3, 4], [1]], "x", [1, 2]]),
    "parameters": ([0, 12, 2**53, 4.0], [-1, 2**53 + 1, "12", True, None, 1.5]),
    "module": (["my_models.Block", "Block", None], ["", "x" * 201, 1, True]),
    # a four-dimensional shape starting with 2 is refused for a reason no schema states (the batch)
    "shape": ([[1], [3, 1, 1], [1, 3, 4, 4], [MAX_SIZE]], [[], [1, 2, 3, 4, 5], [0], ["3"], 3, None, [1.5]]),
    "connection_table": ([None, [[0], [0, 1]], [[1.0], [0]]],
                         [[[], [0]], [[0, 0], [1]], [[-1], [0]], [["0"], [1]], [0, 1], "x"]),
}
FIELD_VALUES_BY_MODEL = {  # where a field of the same name takes other values
    # a negative zeropad2d padding crops, as torch's does
    ("zeropad2d", "padding"): ([0, 2, -1, [1, 2, 3, 4], [0, 0, 0, 0], [-1, 0, 2, -1]],
                               [[1, 2], [1, 2, 3, 4, 5], "1", True, None, -(2**31)]),
    ("conv2d", "padding"): ([*NON_NEG_PAIR, "same", "valid"], [*NOT_NON_NEG_PAIR, "Same", "full"]),
    ("maxpool2d", "padding"): (NON_NEG_PAIR, [*NOT_NON_NEG_PAIR, "same"]),
    ("avgpool2d", "padding"): (NON_NEG_PAIR, [*NOT_NON_NEG_PAIR, "same"]),
    ("maxpool2d", "stride"): ([*PAIR, None], [0, [1, 2, 3], "2", True]),
    ("avgpool2d", "stride"): ([*PAIR, None], [0, [1, 2, 3], "2", True]),
    ("subsampling", "stride"): ([*PAIR, None], [0, [1, 2, 3], "2", True]),
    ("subsampling", "kernel_size"): (PAIR, [0, [1, 2, 3], "2", True, 1.5]),
    # exactly one of size and scale_factor, and align_corners with bilinear only: cnncalc's to check
    ("upsample", "size"): ([None], [0, [1, 2, 3], "2", True, 1.5]),
    ("convtranspose2d", "padding"): (NON_NEG_PAIR, NOT_NON_NEG_PAIR),
    ("upsample", "scale_factor"): ([2, 1.5, [2, 3], [0.5, 2.0]], [0, -1, "2", True, [1, 2, 3], 2.0**31]),
    ("upsample", "align_corners"): ([None], [1, "true"]),
}


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    printed = CliRunner().invoke(cli, ["schema"])
    assert printed.exit_code == 0
    schema = json.loads(printed.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=None)


def _spec(layer: dict[str, Any]) -> dict[str, Any]:
    return {"input": [1, 8, 8], "layers": [layer]}


def _verdicts(validator: jsonschema.Draft202012Validator, data: dict[str, Any]) -> tuple[bool, bool]:
    """(the schema accepts, cnncalc accepts)."""
    try:
        load_spec(data)
        loaded = True
    except SpecError:
        loaded = False
    return validator.is_valid(data), loaded


def _spellings(name: str) -> Iterator[str]:
    """A type name as people write it: as is, upper case, capitalised, split by _ - or a space."""
    yield from (name, name.upper(), name.capitalize(), name.title(), f"  {name} ")
    half = len(name) // 2
    for gap in ("_", "-", " ", "__"):
        yield name[:half] + gap + name[half:].upper()


def _type_spellings() -> Iterator[tuple[str, str]]:
    for kind in LAYER_MODELS:
        names = [kind, *(alias for alias, target in TYPE_ALIASES.items() if target == kind)]
        for name in names:
            for spelt in _spellings(name):
                yield kind, spelt


def test_every_type_spelling_agrees(validator: jsonschema.Draft202012Validator) -> None:
    disagree = [spelt for kind, spelt in _type_spellings()
                if _verdicts(validator, _spec({"type": spelt, **MINIMAL.get(kind, {})})) != (True, True)]
    assert disagree == []


@pytest.mark.parametrize("written", ["Keras_MaxPooling2D", "conv2", "conv_2_d_", "línear", "maxpool2d.",
                                     "dense!", "", "2d", *sorted(UNSUPPORTED_TYPES)])
def test_types_cnncalc_refuses_the_schema_refuses(validator: jsonschema.Draft202012Validator,
                                                  written: str) -> None:
    assert _verdicts(validator, _spec({"type": written})) == (False, False), written


def test_the_kelvin_sign_is_a_k_for_both(validator: jsonschema.Draft202012Validator) -> None:
    """str.lower() makes U+212A an ASCII k: cnncalc reads leaKyrelu, so the schema must."""
    assert _verdicts(validator, _spec({"type": "lea\u212ayrelu"})) == (True, True)


def _field_cases() -> Iterator[tuple[str, str, str, Any, bool]]:
    """(type, field, spelling of the field, value, accepted) for every field of every type."""
    for kind, model in LAYER_MODELS.items():
        for field, info in model.model_fields.items():
            if field == "type":
                continue
            good, bad = FIELD_VALUES_BY_MODEL.get((kind, field)) or VALUES_BY_FIELD[field]
            alias = info.validation_alias
            choices = [str(c) for c in getattr(alias, "choices", ())] or [alias if isinstance(alias, str)
                                                                          else field]
            for spelling in choices:
                for value in good:
                    yield kind, field, spelling, value, True
                for value in bad:
                    yield kind, field, spelling, value, False


def test_every_field_spelling_and_value_agrees(validator: jsonschema.Draft202012Validator) -> None:
    disagree = []
    for kind, field, spelling, value, accepted in _field_cases():
        layer = {"type": kind, **MINIMAL.get(kind, {})}
        if field == "connection_table" and isinstance(value, list) and value and isinstance(value[0], list):
            layer["out_channels"] = len(value)  # a table's length is not the schema's to check
        layer.pop(field, None)
        layer[spelling] = value
        verdicts = _verdicts(validator, _spec(layer))
        if verdicts != (accepted, accepted):
            disagree.append((kind, spelling, value, "schema accepts" if verdicts[0] else "schema refuses",
                             "cnncalc accepts" if verdicts[1] else "cnncalc refuses"))
    assert disagree == []


def _alias_pairs() -> Iterator[tuple[str, str, str]]:
    for kind, model in LAYER_MODELS.items():
        for info in model.model_fields.values():
            choices = [str(c) for c in getattr(info.validation_alias, "choices", ())]
            for i, first in enumerate(choices):
                for second in choices[i + 1:]:
                    yield kind, first, second


def test_two_spellings_of_one_field_are_refused_by_both(
        validator: jsonschema.Draft202012Validator) -> None:
    disagree = []
    for kind, first, second in _alias_pairs():
        layer = {"type": kind, **MINIMAL.get(kind, {})}
        field = next(f for f, i in LAYER_MODELS[kind].model_fields.items()
                     if first in getattr(i.validation_alias, "choices", ()))
        good = (FIELD_VALUES_BY_MODEL.get((kind, field)) or VALUES_BY_FIELD[field])[0][0]
        layer.pop(field, None)
        layer[first] = layer[second] = good
        if _verdicts(validator, _spec(layer)) != (False, False):
            disagree.append((kind, first, second))
    assert disagree == []


@pytest.mark.parametrize("kind", [k for k, m in LAYER_MODELS.items()
                                  if any(i.is_required() for f, i in m.model_fields.items() if f != "type")])
def test_a_missing_required_field_is_refused_by_both(validator: jsonschema.Draft202012Validator,
                                                     kind: str) -> None:
    assert _verdicts(validator, _spec({"type": kind})) == (False, False)


@pytest.mark.parametrize("kind", list(LAYER_MODELS))
def test_an_unknown_field_is_refused_by_both(validator: jsonschema.Draft202012Validator, kind: str) -> None:
    layer = {"type": kind, **MINIMAL.get(kind, {}), "filtres": 3}
    assert _verdicts(validator, _spec(layer)) == (False, False)


@pytest.mark.parametrize("shape, accepted", [
    ([3, 32, 32], True), ({"channels": 1, "height": 2, "width": 3}, True), ([3.0, 8, 8], True),
    ([3, 32], False), ([0, 8, 8], False), ([3, 8, MAX_SIZE + 1], False), (["3", 8, 8], False),
    ([True, 8, 8], False), ({"channels": 1, "height": 2}, False), ({"c": 1, "height": 2, "width": 3}, False),
])
def test_input_agrees(validator: jsonschema.Draft202012Validator, shape: Any, accepted: bool) -> None:
    data = {"input": shape, "layers": [{"type": "relu"}]}
    assert _verdicts(validator, data) == (accepted, accepted)


def test_the_schema_is_what_cnncalc_schema_prints() -> None:
    printed = CliRunner().invoke(cli, ["schema"]).stdout
    assert json.loads(printed) == json_schema()
