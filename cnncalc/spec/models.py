"""The architecture spec: pydantic models, one per layer type.

Field names and defaults are those of the matching ``torch.nn`` module; the
input sizes torch asks for (``in_channels``, ``in_features``,
``num_features``) are inferred by the analysis and never written. The
lecture's (and Keras') words are accepted as aliases. Layers are a union
discriminated on ``type``, so a composite block (a residual path, parallel
branches, a repeat) is one more model in that union holding its own
``layers``.
"""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    Strict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from cnncalc.spec.expressions import refers

__all__ = [
    "ACTIVATIONS",
    "KIND_OF_TYPE",
    "LAYER_TYPES",
    "TYPE_ALIASES",
    "UNSUPPORTED_TYPES",
    "Block",
    "Call",
    "Entry",
    "EntryInvalid",
    "InputShape",
    "Layer",
    "Spec",
    "Template",
    "activation_of",
    "canonical_type",
    "image_shape",
    "json_schema",
    "kind_of",
    "show",
    "spelling_pattern",
    "validate_entry",
]

MAX_SIZE = 2**31 - 1  # torch indexes with int64, but no real network comes near this
MAX_LAYERS = 20_000  # ResNet-1001 has about 3,000; this bounds the work a hostile file can ask for



def _integral(value: Any) -> Any:
    """A decimal with no fraction is whole (6.0 is 6), as JSON Schema's ``integer`` says."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Values are taken as YAML gives them, never converted from text ('16', or 1e-5, which YAML 1.1
# reads as text) or from true/false, so that `cnncalc schema` can say exactly what is accepted.
Whole = Annotated[int, Strict(), BeforeValidator(_integral)]
PosInt = Annotated[int, Strict(), Field(ge=1, le=MAX_SIZE), BeforeValidator(_integral)]
NonNegInt = Annotated[int, Strict(), Field(ge=0, le=MAX_SIZE), BeforeValidator(_integral)]
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Probability = Annotated[float, Strict(), Field(ge=0.0, le=1.0)]
Positive = Annotated[float, Strict(), Field(gt=0, allow_inf_nan=False)]
Flag = Annotated[bool, Strict()]


def show(value: Any) -> str:
    """A value as the YAML author wrote it: true, null, 'text', [1, 2] (shortened when long)."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(show(v) for v in value) + "]"
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _whole(value: Any, minimum: int) -> int:
    value = _integral(value)
    if isinstance(value, bool) or not isinstance(value, int):
        # the loader says why a number arrived as text (quotes, YAML 1.1's 1e9) from ``value``
        raise PydanticCustomError("not_whole", "must be a whole number; got {got}",
                                  {"got": show(value), "value": value})
    if value < minimum:
        raise PydanticCustomError("too_small", "must be at least {lo}; got {got}",
                                  {"lo": minimum, "got": value})
    if value > MAX_SIZE:
        raise PydanticCustomError("too_large", "must be at most {hi}; got {got}",
                                  {"hi": MAX_SIZE, "got": value})
    return value


def _numeric(value: Any) -> bool:
    """A number that arrived as text ('3', or 1e9 which YAML 1.1 reads as text)."""
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return isinstance(value, str)


def _pair_of(minimum: int, words: tuple[str, ...] = (), optional: bool = False) -> Any:
    """A validator taking an int or a two-item list, giving one clear error either way."""

    def check(value: Any) -> tuple[int, int] | str | None:
        if (isinstance(value, str) and value in words) or (value is None and optional):
            return value
        if value is None:
            raise PydanticCustomError("no_value", "has no value; write a number or [height, width]")
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise PydanticCustomError(
                    "pair_length", "must be one number or a pair [height, width]; got {n} values",
                    {"n": len(value)})
            return (_whole(value[0], minimum), _whole(value[1], minimum))
        if (isinstance(value, (int, float)) and not isinstance(value, bool)) or _numeric(value):
            size = _whole(value, minimum)
            return (size, size)
        choices = ["a whole number", "a pair [height, width]", *(repr(w) for w in words)]
        raise PydanticCustomError(
            "pair_type", "must be {choices}; got {got}",
            {"got": show(value), "choices": ", ".join(choices[:-1]) + " or " + choices[-1]})

    return check


# What the validators above take, for the JSON Schema: a number, or a list of exactly two.
_Pos = Annotated[int, Field(ge=1, le=MAX_SIZE)]
_NonNeg = Annotated[int, Field(ge=0, le=MAX_SIZE)]
_Signed = Annotated[int, Field(ge=-MAX_SIZE, le=MAX_SIZE)]  # zeropad2d: a negative value crops
_PosPairInput = _Pos | Annotated[list[_Pos], Field(min_length=2, max_length=2)]
_NonNegPairInput = _NonNeg | Annotated[list[_NonNeg], Field(min_length=2, max_length=2)]

Pair = tuple[int, int]
PosPair = Annotated[Pair, PlainValidator(_pair_of(1), json_schema_input_type=_PosPairInput)]
NonNegPair = Annotated[Pair, PlainValidator(_pair_of(0), json_schema_input_type=_NonNegPairInput)]
OptionalStride = Annotated[
    Pair | None,
    PlainValidator(_pair_of(1, optional=True), json_schema_input_type=_PosPairInput | None),
]
ConvPadding = Annotated[
    Pair | Literal["same", "valid"],
    PlainValidator(_pair_of(0, ("same", "valid")),
                   json_schema_input_type=_NonNegPairInput | Literal["same", "valid"]),
]

ACTIVATIONS = ("relu", "leakyrelu", "tanh", "sigmoid", "gelu", "elu", "softmax", "logsoftmax", "relu6",
               "silu", "hardswish", "hardsigmoid")

# The lecture's and Keras' names for layer types, after normalisation
# (lower case, no '_', '-' or spaces). Canonical names always work.
TYPE_ALIASES = {
    "conv": "conv2d",
    "convolution": "conv2d",
    "dense": "linear",
    "fc": "linear",
    "fullyconnected": "linear",
    "maxpool": "maxpool2d",
    "maxpooling": "maxpool2d",
    "maxpooling2d": "maxpool2d",
    "avgpool": "avgpool2d",
    "averagepooling2d": "avgpool2d",
    "adaptiveavgpool": "adaptiveavgpool2d",
    "adaptivemaxpool": "adaptivemaxpool2d",
    "lrn": "localresponsenorm",
    "zeropadding2d": "zeropad2d",
    "batchnormalization": "batchnorm2d",
    "spatialdropout2d": "dropout2d",
    "swish": "silu",
    "conv2dtranspose": "convtranspose2d",
    "deconv": "convtranspose2d",
    "deconv2d": "convtranspose2d",
    "deconvolution": "convtranspose2d",
    "transposedconv2d": "convtranspose2d",
    "upsampling": "upsample",
    "upsampling2d": "upsample",
    "globalaveragepooling2d": "globalavgpool",
    "globalavgpool2d": "globalavgpool",
    "concatenate": "concat",
    "cat": "concat",
    "multiply": "mul",
}


# What each layer type is. A misspelt type is matched only against types of its own kind (so
# upsample is never taken for subsampling), and the types below that cnncalc knows of but cannot
# analyse are named as such. Keys are normalised as canonical_type does.
KIND_OF_TYPE: dict[str, str] = {
    "conv2d": "convolution",
    "linear": "fully connected", "rbf": "fully connected",
    "maxpool2d": "pooling", "avgpool2d": "pooling", "adaptiveavgpool2d": "pooling",
    "adaptivemaxpool2d": "pooling", "subsampling": "pooling",
    "flatten": "reshaping",
    "batchnorm2d": "normalisation", "batchnorm1d": "normalisation", "localresponsenorm": "normalisation",
    "dropout": "dropout", "dropout2d": "dropout",
    "zeropad2d": "padding",
    "convtranspose2d": "convolution",
    "upsample": "upsampling",
    "globalavgpool": "pooling",
    "add": "merge", "mul": "merge", "concat": "merge", "centercrop": "merge",
    "identity": "reshaping",
    "opaque": "custom", "parameter": "custom",
    **dict.fromkeys(ACTIVATIONS, "activation"),
}

UNSUPPORTED_TYPES: dict[str, str] = {
    **dict.fromkeys(("conv1d", "conv3d", "separableconv2d", "depthwiseconv2d", "lazyconv2d",
                     "convlstm2d"), "convolution"),
    **dict.fromkeys(("convtranspose1d", "convtranspose3d"), "convolution"),
    **dict.fromkeys(("upsamplingnearest2d", "upsamplingbilinear2d", "interpolate", "pixelshuffle",
                     "pixelunshuffle", "maxunpool2d", "unpool"), "upsampling"),
    **dict.fromkeys(("maxpool1d", "maxpool3d", "avgpool1d", "avgpool3d", "adaptiveavgpool1d",
                     "adaptiveavgpool3d", "adaptivemaxpool1d", "adaptivemaxpool3d", "lppool2d",
                     "fractionalmaxpool2d", "globalmaxpool", "globalmaxpooling2d", "maxpooling1d",
                     "averagepooling1d"), "pooling"),
    **dict.fromkeys(("sum", "residual", "shortcut", "cropping2d"), "merge"),
    **dict.fromkeys(("batchnorm3d", "groupnorm", "layernorm", "layernormalization", "instancenorm1d",
                     "instancenorm2d", "instancenorm3d", "rmsnorm"), "normalisation"),
    **dict.fromkeys(("dropout1d", "dropout3d", "alphadropout", "featurealphadropout", "gaussiandropout",
                     "spatialdropout1d", "spatialdropout3d"), "dropout"),
    **dict.fromkeys(("prelu", "rrelu", "selu", "celu", "mish", "hardtanh", "softplus", "softsign",
                     "softmin", "softmax2d", "logsigmoid", "tanhshrink", "hardshrink", "softshrink",
                     "threshold", "glu"),
                    "activation"),
    **dict.fromkeys(("reflectionpad2d", "replicationpad2d", "constantpad2d", "circularpad2d",
                     "zeropad1d", "zeropad3d", "zeropadding1d", "zeropadding3d"), "padding"),
    **dict.fromkeys(("reshape", "view", "unflatten", "permute"), "reshaping"),
    **dict.fromkeys(("lstm", "gru", "rnn", "embedding", "multiheadattention", "attention",
                     "transformer", "bilinear"), "sequence or attention"),
}

# Words that give away the kind of a type cnncalc does not know at all, checked in this order
# (a "deconv" is no convolution for this purpose, a "groupnorm" no pooling).
_KIND_MARKS = (("transpose", "convolution"), ("deconv", "convolution"),
               ("upsam", "upsampling"), ("unpool", "upsampling"), ("pool", "pooling"),
               ("conv", "convolution"), ("norm", "normalisation"), ("drop", "dropout"),
               ("pad", "padding"), ("lu", "activation"), ("softm", "activation"),
               ("sigmoid", "activation"), ("tanh", "activation"), ("dense", "fully connected"),
               ("linear", "fully connected"))


def kind_of(key: str) -> str | None:
    """The kind of a normalised layer type: known, known to be unsupported, or given away by a word."""
    key = TYPE_ALIASES.get(key, key)
    if key in KIND_OF_TYPE:
        return KIND_OF_TYPE[key]
    if key in UNSUPPORTED_TYPES:
        return UNSUPPORTED_TYPES[key]
    return next((kind for mark, kind in _KIND_MARKS if mark in key), None)


def canonical_type(value: str) -> str:
    """Normalise a layer type as written (``MaxPool2d``, ``max_pool``) to its canonical name."""
    key = re.sub(r"[\s_\-]", "", value).lower()
    return TYPE_ALIASES.get(key, key)


def _name_text(value: Any) -> Any:
    """A name written as digits (``name: 0``) is that text, as a quoted "0" would be."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


Name = Annotated[str, Strict(), Field(min_length=1, max_length=200),
                 BeforeValidator(_name_text, json_schema_input_type=Annotated[str, Field(
                     min_length=1, max_length=200)] | int)]
# `from`: one earlier entry's name, or a list of them for a merge (contract §1b)
Source = Annotated[Name | Annotated[list[Name], Field(min_length=1)], Field(union_mode="left_to_right")]
# `when`: true, false, or "${expr}" giving one
Condition = Annotated[bool, Strict()] | str


class _Entry(BaseModel):
    """What every entry of a ``layers:`` list has: where it is written."""

    model_config = ConfigDict(defer_build=True)  # a base class, never validated on its own

    _line: int | None = PrivateAttr(default=None)
    _node: Any = PrivateAttr(default=None)

    @property
    def line(self) -> int | None:
        """The 1-based line of this entry in its YAML file, when loaded from one."""
        return self._line

    @property
    def node(self) -> Any:
        """The entry's YAML node (for the lines of its fields), when loaded from a file."""
        return self._node


class _Layer(_Entry):
    """Fields every layer has."""

    model_config = ConfigDict(extra="forbid", defer_build=True, populate_by_name=False)

    name: Name | None = None
    from_: Source | None = Field(None, validation_alias="from", serialization_alias="from")
    when: Condition | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_spelling(cls, value: Any) -> Any:
        """``filters: 6`` and ``out_channels: 6`` together would silently keep one of them."""
        if isinstance(value, dict):
            for info in cls.model_fields.values():
                written = [c for c in getattr(info.validation_alias, "choices", ()) if c in value]
                if len(written) > 1:
                    raise PydanticCustomError(
                        "alias_conflict", "{names} name the same field; keep one",
                        {"names": " and ".join(str(w) for w in written)})
        return value


class _Activated(_Layer):
    """A layer that may carry the lecture's g() as ``activation:``."""

    activation: str | None = None

    @field_validator("activation")
    @classmethod
    def _known_activation(cls, value: str | None) -> str | None:
        if value is None:
            return None
        name = canonical_type(value)
        if UNSUPPORTED_TYPES.get(name) == "activation":
            raise PydanticCustomError("unknown_activation",
                                      "cnncalc does not support activation {given} yet; use one of: {known}",
                                      {"given": show(value), "known": ", ".join(ACTIVATIONS)})
        if name not in ACTIVATIONS:
            close = difflib.get_close_matches(name, ACTIVATIONS, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else "use one of: " + ", ".join(ACTIVATIONS)
            raise PydanticCustomError("unknown_activation", "unknown activation {given}; {hint}",
                                      {"given": show(value), "hint": hint})
        return name


def activation_of(layer: Any) -> str | None:
    """The lecture's g() a layer carries as ``activation:``, or None for a type that takes none.

    Asking a layer model for a field it lacks (``getattr(layer, "activation", None)``) goes
    through pydantic's slow path for missing attributes: about 20 µs a layer, a fifth of the
    walk's time on a long chain of pooling and activation layers.
    """
    return layer.activation if isinstance(layer, _Activated) else None


def _table_entry(value: Any) -> tuple[int, ...]:
    """One output map's entry of a connection table: the input maps it reads, 0-based, each once."""
    if not isinstance(value, (list, tuple)):
        raise PydanticCustomError(
            "table_entry", "must be a list of input-map indices such as [0, 1, 2]; got {got}",
            {"got": show(value)})
    if not value:
        raise PydanticCustomError("table_entry_empty",
                                  "has no input maps; every output map must read at least one")
    value = [_integral(item) for item in value]
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item <= MAX_SIZE:
            raise PydanticCustomError(
                "table_index", "must hold input-map indices, whole numbers from 0; got {got}",
                {"got": show(item)})
    seen: set[int] = set()
    for item in value:
        if item in seen:
            raise PydanticCustomError("table_duplicate",
                                      "has input map {index} twice; list each input map once",
                                      {"index": item})
        seen.add(item)
    return tuple(value)


TableEntry = Annotated[
    tuple[int, ...],
    PlainValidator(_table_entry,
                   json_schema_input_type=Annotated[list[_NonNeg], Field(
                       min_length=1, json_schema_extra={"uniqueItems": True})]),
]


class Conv2d(_Activated):
    """A convolution: torch's ``Conv2d``, and LeNet-5's partial connection table.

    ``connection_table`` (LeCun et al. 1998, §II.B, Table I) lists, for each output
    map j in order, the 0-based input maps it reads; map j then has its own
    M × N filter over just those L_j inputs, plus a bias. The analysis counts

    - parameters  = Σ_j (L_j·M·N + bias)         (C3: 6·76 + 9·101 + 151 = 1,516)
    - connections = H_out·W_out · parameters     (C3: 10·10·1,516 = 151,600)
    - neurons     = C_out·H_out·W_out, as for any convolution
    - weights per neuron = max_j (L_j·M·N + bias), the largest map's (a note says so)

    A table cannot be combined with ``groups`` (it is the general form of groups).
    """

    type: Literal["conv2d"]
    out_channels: PosInt = Field(validation_alias=AliasChoices("out_channels", "filters"))
    kernel_size: PosPair = Field(validation_alias=AliasChoices("kernel_size", "kernel"))
    stride: PosPair = Field((1, 1), validation_alias=AliasChoices("stride", "strides"))
    padding: ConvPadding = (0, 0)
    dilation: PosPair = Field((1, 1), validation_alias=AliasChoices("dilation", "dilation_rate"))
    groups: PosInt = 1
    bias: Flag = Field(True, validation_alias=AliasChoices("bias", "use_bias"))
    padding_mode: Literal["zeros", "reflect", "replicate", "circular"] = "zeros"
    connection_table: list[TableEntry] | None = None

    @field_validator("connection_table")
    @classmethod
    def _one_entry_per_map(cls, table: list[tuple[int, ...]] | None,
                           info: ValidationInfo) -> list[tuple[int, ...]] | None:
        """The table's length and groups are checked here; its indices against the input by the
        analysis, which knows how many maps reach the layer."""
        if table is None:
            return None
        out_channels = info.data.get("out_channels")
        if out_channels is not None and len(table) != out_channels:
            raise PydanticCustomError(
                "table_length",
                "must have one entry per output map: out_channels is {out}, but it has {n} "
                "entr{ies}", {"out": out_channels, "n": len(table), "ies": "y" if len(table) == 1 else "ies"})
        groups = info.data.get("groups", 1)
        if groups != 1:
            raise PydanticCustomError(
                "table_groups",
                "must not be combined with groups: {groups}; the table already says which input maps "
                "each output map reads, so leave groups at 1", {"groups": groups})
        return table


class Linear(_Activated):
    type: Literal["linear"]
    out_features: PosInt = Field(validation_alias=AliasChoices("out_features", "units"))
    bias: Flag = Field(True, validation_alias=AliasChoices("bias", "use_bias"))


class Subsampling(_Activated):
    """LeNet-5's trainable subsampling (LeCun et al. 1998, §II.B, layers S2 and S4).

    Each unit adds up an F × F window of one map, multiplies the sum by a trainable
    coefficient of that map and adds a trainable bias of that map, then applies
    ``activation`` (the paper's sigmoidal squashing). Windows do not overlap by
    default (stride = kernel). Per layer of C maps:

    - output size = 1 + (J − F)/s, rounded down as pooling does
    - weights per neuron = 1 + bias (the map's coefficient, shared by the F·F inputs, and its bias)
    - neurons = C·H_out·W_out
    - connections = neurons · (F·F + bias)   (S2: 14·14·6·(4 + 1) = 5,880)
    - parameters = C · (1 + bias)            (S2: 2·6 = 12)
    - MACs = neurons: one multiply-add per unit (coefficient × sum + bias); the sum is additions
      only, counted as 0 as for average pooling
    """

    type: Literal["subsampling"]
    kernel_size: PosPair = Field((2, 2), validation_alias=AliasChoices("kernel_size", "kernel", "pool_size"))
    stride: OptionalStride = Field(None, validation_alias=AliasChoices("stride", "strides"))
    bias: Flag = Field(True, validation_alias=AliasChoices("bias", "use_bias"))


class RBF(_Layer):
    """LeNet-5's output layer of Euclidean radial basis function units (LeCun et al. 1998, §II.B).

    Output unit i computes y_i = Σ_j (x_j − w_ij)², the squared distance of the input
    to its prototype vector w_i; there is no bias. On F inputs and O outputs:
    weights per neuron = F, neurons = O, connections = parameters = O·F (the paper's
    84·10 = 840), MACs = connections (a subtraction and a multiply-add per input).
    """

    type: Literal["rbf"]
    out_features: PosInt = Field(validation_alias=AliasChoices("out_features", "units"))


class MaxPool2d(_Layer):
    type: Literal["maxpool2d"]
    kernel_size: PosPair = Field(validation_alias=AliasChoices("kernel_size", "kernel", "pool_size"))
    stride: OptionalStride = Field(None, validation_alias=AliasChoices("stride", "strides"))
    padding: NonNegPair = (0, 0)
    dilation: PosPair = (1, 1)
    ceil_mode: Flag = False


class AvgPool2d(_Layer):
    type: Literal["avgpool2d"]
    kernel_size: PosPair = Field(validation_alias=AliasChoices("kernel_size", "kernel", "pool_size"))
    stride: OptionalStride = Field(None, validation_alias=AliasChoices("stride", "strides"))
    padding: NonNegPair = (0, 0)
    ceil_mode: Flag = False
    count_include_pad: Flag = True
    divisor_override: PosInt | None = None




def _output_size(value: Any) -> tuple[int | None, int | None]:
    """``output_size`` of adaptive pooling: an int, or [h, w] where null keeps the input's size."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise PydanticCustomError(
                "pair_length", "must be one number or a pair [height, width]; got {n} values",
                {"n": len(value)})
        return (None if value[0] is None else _whole(value[0], 1),
                None if value[1] is None else _whole(value[1], 1))
    size = _whole(value, 1)
    return (size, size)


def _zero_padding(value: Any) -> tuple[int, int, int, int]:
    """``padding`` of ZeroPad2d: an int or torch's (left, right, top, bottom). A negative value
    crops, as in torch; whether enough input is left is the analysis's to say."""
    if isinstance(value, (list, tuple)):
        if len(value) != 4:
            raise PydanticCustomError(
                "quad_length", "must be one number or [left, right, top, bottom]; got {n} values",
                {"n": len(value)})
        left, right, top, bottom = (_whole(v, -MAX_SIZE) for v in value)
        return (left, right, top, bottom)
    size = _whole(value, -MAX_SIZE)
    return (size, size, size, size)


OutputSize = Annotated[
    tuple[int | None, int | None],
    PlainValidator(_output_size, json_schema_input_type=(
        _Pos | Annotated[list[_Pos | None], Field(min_length=2, max_length=2)])),
]
PadQuad = Annotated[
    tuple[int, int, int, int],
    PlainValidator(_zero_padding, json_schema_input_type=(
        _Signed | Annotated[list[_Signed], Field(min_length=4, max_length=4)])),
]


class _Adaptive(_Layer):
    output_size: OutputSize


class AdaptiveAvgPool2d(_Adaptive):
    type: Literal["adaptiveavgpool2d"]


class AdaptiveMaxPool2d(_Adaptive):
    type: Literal["adaptivemaxpool2d"]


class Flatten(_Layer):
    type: Literal["flatten"]
    start_dim: Whole = 1
    end_dim: Whole = -1


class _BatchNorm(_Layer):
    eps: Positive = 1e-5
    momentum: Probability | None = 0.1
    affine: Flag = True
    track_running_stats: Flag = True


class BatchNorm2d(_BatchNorm):
    type: Literal["batchnorm2d"]


class BatchNorm1d(_BatchNorm):
    type: Literal["batchnorm1d"]


class LocalResponseNorm(_Layer):
    type: Literal["localresponsenorm"]
    size: PosInt
    alpha: Number = 1e-4
    beta: Number = 0.75
    k: Number = 1.0


class _Dropout(_Layer):
    p: Probability = Field(0.5, validation_alias=AliasChoices("p", "rate"))
    inplace: Flag = False


class Dropout(_Dropout):
    type: Literal["dropout"]


class Dropout2d(_Dropout):
    type: Literal["dropout2d"]


class ZeroPad2d(_Layer):
    type: Literal["zeropad2d"]
    # torch's order for four values: (left, right, top, bottom)
    padding: PadQuad


class ReLU(_Layer):
    type: Literal["relu"]
    inplace: Flag = False


class LeakyReLU(_Layer):
    type: Literal["leakyrelu"]
    negative_slope: Number = 0.01
    inplace: Flag = False


class Tanh(_Layer):
    type: Literal["tanh"]


class Sigmoid(_Layer):
    type: Literal["sigmoid"]


class GELU(_Layer):
    type: Literal["gelu"]
    approximate: Literal["none", "tanh"] = "none"


class ELU(_Layer):
    type: Literal["elu"]
    alpha: Number = 1.0
    inplace: Flag = False


class _Softmax(_Layer):
    dim: Whole | None = None


class Softmax(_Softmax):
    type: Literal["softmax"]


class LogSoftmax(_Softmax):
    type: Literal["logsoftmax"]


class ReLU6(_Layer):
    type: Literal["relu6"]
    inplace: Flag = False


class SiLU(_Layer):
    type: Literal["silu"]
    inplace: Flag = False


class Hardswish(_Layer):
    type: Literal["hardswish"]
    inplace: Flag = False


class Hardsigmoid(_Layer):
    type: Literal["hardsigmoid"]
    inplace: Flag = False


class Identity(_Layer):
    type: Literal["identity"]


class ConvTranspose2d(_Activated):
    """A transposed convolution: torch's ``ConvTranspose2d`` (U-Net's up-convolution).

    Output size (J − 1)·s − 2P + d·(M − 1) + output_padding + 1; ``output_padding`` must be
    smaller than the stride or the dilation, as torch requires.
    """

    type: Literal["convtranspose2d"]
    out_channels: PosInt = Field(validation_alias=AliasChoices("out_channels", "filters"))
    kernel_size: PosPair = Field(validation_alias=AliasChoices("kernel_size", "kernel"))
    stride: PosPair = Field((1, 1), validation_alias=AliasChoices("stride", "strides"))
    padding: NonNegPair = (0, 0)
    output_padding: NonNegPair = (0, 0)
    groups: PosInt = 1
    bias: Flag = Field(True, validation_alias=AliasChoices("bias", "use_bias"))
    dilation: PosPair = Field((1, 1), validation_alias=AliasChoices("dilation", "dilation_rate"))

    @model_validator(mode="after")
    def _output_padding_below_stride(self) -> ConvTranspose2d:
        for pad, stride, dilation in zip(self.output_padding, self.stride, self.dilation, strict=True):
            if pad >= max(stride, dilation):
                raise PydanticCustomError(
                    "output_padding", "output_padding {pad} must be smaller than the stride or the "
                    "dilation (here at most {most})", {"pad": pad, "most": max(stride, dilation) - 1})
        return self


def _scale(value: Any) -> tuple[float, float]:
    """``scale_factor`` of Upsample: one positive number or [height, width]."""
    items = list(value) if isinstance(value, (list, tuple)) else [value, value]
    if len(items) != 2:
        raise PydanticCustomError("pair_length", "must be one number or a pair [height, width]; got {n} "
                                  "values", {"n": len(items)})
    out = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, float)) or not 0 < item < 2**31 \
                or item != item:
            raise PydanticCustomError("scale_factor", "must be a positive number; got {got}",
                                      {"got": show(item)})
        out.append(float(item))
    return (out[0], out[1])


ScaleFactor = Annotated[
    tuple[float, float],
    PlainValidator(_scale, json_schema_input_type=(
        Annotated[float, Field(gt=0, lt=2**31)] | Annotated[list[Annotated[float, Field(gt=0, lt=2**31)]],
                                                            Field(min_length=2, max_length=2)])),
]


class Upsample(_Layer):
    """torch's ``Upsample``: to ``size``, or by ``scale_factor`` (output ⌊J·scale⌋), nearest or
    bilinear."""

    type: Literal["upsample"]
    size: PosPair | None = None
    scale_factor: ScaleFactor | None = None
    mode: Literal["nearest", "bilinear"] = "nearest"
    align_corners: Flag | None = None

    @model_validator(mode="after")
    def _size_or_scale(self) -> Upsample:
        if (self.size is None) == (self.scale_factor is None):
            raise PydanticCustomError("size_or_scale", "give exactly one of size and scale_factor")
        if self.align_corners is not None and self.mode == "nearest":
            raise PydanticCustomError("align_corners", "align_corners applies to mode: bilinear only; "
                                      "leave it out for nearest")
        return self


class GlobalAvgPool(_Layer):
    """Average over the whole map: ``adaptiveavgpool2d`` with ``output_size: 1``."""

    type: Literal["globalavgpool"]


class _Merge(_Layer):
    """A layer reading two or more entries (``from: [a, b]``); it adds no units."""


class Add(_Merge):
    type: Literal["add"]


class Mul(_Merge):
    type: Literal["mul"]


class Concat(_Merge):
    type: Literal["concat"]


class CenterCrop(_Merge):
    """The original U-Net's crop: its first input cut to the height and width of its second,
    top = (H − h) // 2, left = (W − w) // 2."""

    type: Literal["centercrop"]


Sizes = Annotated[list[PosInt], Field(min_length=1, max_length=3)]
Count = Annotated[int, Strict(), Field(ge=0, le=2**53), BeforeValidator(_integral)]


class Opaque(_Layer):
    """A module cnncalc cannot look inside, kept whole by ``cnncalc import --leaf``: its
    parameters are counted and its output shape is the one a shape-only trace found.

    ``input_shape``, when given, is the shape the trace saw (``input_shapes``, one per input, for
    a module called with several tensors, read with ``from: [a, b]``): at any other input the
    output shape could differ, so the analysis refuses it rather than guess. The lecture's counts
    (neurons, connections, MACs) and the receptive field past it are unknown, and warned.
    """

    type: Literal["opaque"]
    output_shape: Sizes
    parameters: Count = 0
    input_shape: Sizes | None = None
    input_shapes: Annotated[list[Sizes], Field(min_length=2, max_length=16)] | None = None  # several
    module: Annotated[str, Field(min_length=1, max_length=200)] | None = None

    @model_validator(mode="after")
    def _one_way_of_inputs(self) -> Opaque:
        if self.input_shape is not None and self.input_shapes is not None:
            raise PydanticCustomError("input_shapes", "give input_shape for one input or input_shapes for "
                                      "several, not both")
        return self


def image_shape(shape: Any) -> tuple[int, ...]:
    """A parameter tensor's shape as one image meets it (torch broadcasting): a four-dimensional
    [1, C, H, W] is [C, H, W]; fewer dimensions are as they are."""
    sizes = tuple(int(s) for s in shape)
    return sizes[1:] if len(sizes) == 4 else sizes


class Parameter(_Layer):
    """A learned tensor that the network reads directly rather than through a layer: a
    layer scale (``x * self.gamma``), a learned bias or position map (``x + self.pos``).

    ``shape`` is the tensor's own, as torch holds it. It reads nothing (no ``from``): the layers
    that use it name it in theirs, and torch broadcasting applies. A four-dimensional shape
    [1, C, H, W] is one image's [C, H, W] with the batch's 1 in front.
    """

    type: Literal["parameter"]
    shape: Annotated[list[PosInt], Field(min_length=1, max_length=4)]

    @property
    def image_shape(self) -> tuple[int, ...]:
        """The shape one image meets: ``shape``, without the batch's 1 of a [1, C, H, W]."""
        return image_shape(self.shape)

    @model_validator(mode="after")
    def _batch_of_one(self) -> Parameter:
        if len(self.shape) == 4 and self.shape[0] != 1:
            raise PydanticCustomError("parameter_batch", "a four-dimensional parameter is [1, C, H, W], "
                                      "its first size the batch's 1; got {first}", {"first": self.shape[0]})
        return self


Layer = Annotated[
    (
        Conv2d | Linear | MaxPool2d | AvgPool2d | AdaptiveAvgPool2d | AdaptiveMaxPool2d | Flatten
        | BatchNorm2d | BatchNorm1d | LocalResponseNorm | Dropout | Dropout2d | ZeroPad2d
        | ReLU | LeakyReLU | Tanh | Sigmoid | GELU | ELU | Softmax | LogSoftmax
        | Subsampling | RBF | ReLU6 | SiLU | Hardswish | Hardsigmoid | Identity | ConvTranspose2d
        | Upsample | GlobalAvgPool | Add | Mul | Concat | CenterCrop | Opaque | Parameter
    ),
    Field(discriminator="type"),
]

LAYER_MODELS: dict[str, type[_Layer]] = {
    model.model_fields["type"].annotation.__args__[0]: model
    for model in Layer.__origin__.__args__  # type: ignore[attr-defined]
}
LAYER_TYPES = tuple(LAYER_MODELS)


class InputShape(BaseModel):
    """The input image: channels × height × width (the lecture's L, J, K)."""

    model_config = ConfigDict(extra="forbid")

    channels: PosInt
    height: PosInt
    width: PosInt

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            if len(value) != 3:
                raise PydanticCustomError(
                    "input_list", "must be [channels, height, width] when written as a list; got {got}",
                    {"got": show(value)})
            return dict(zip(("channels", "height", "width"), value, strict=True))
        return value

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)


MAX_REPEAT = MAX_LAYERS
# the names an expression reads besides a block's parameters (contract §1b)
SHAPE_NAMES = ("in_channels", "in_height", "in_width")
_CALL_KEYS = ("block", "name", "from", "when", "repeat", "first")


class Call(_Entry):
    """An entry that calls a block: ``{block: NAME, name?, from?, when?, repeat?, first?, ...}``;
    its other keys set the block's parameters."""

    model_config = ConfigDict(extra="allow")

    block: Name
    name: Name | None = None
    from_: Source | None = Field(None, validation_alias="from", serialization_alias="from")
    when: Condition | None = None
    repeat: Annotated[int, Strict(), Field(ge=1, le=MAX_REPEAT), BeforeValidator(_integral)] | str | None = (
        None)
    first: dict[str, Any] | None = None

    @property
    def arguments(self) -> dict[str, Any]:
        """The parameters the call sets, as written."""
        return dict(self.model_extra or {})

    @property
    def written(self) -> dict[str, Any]:
        """The entry as written: the call's own keys and its arguments."""
        own = {"block": self.block, "name": self.name, "from": self.from_, "when": self.when,
               "repeat": self.repeat, "first": self.first}
        return {**{k: v for k, v in own.items() if v is not None}, **self.arguments}


class Template(_Entry):
    """A layer whose fields hold ``$p`` or ``"${...}"`` values: validated once they are resolved,
    when the spec is expanded."""

    model_config = ConfigDict(extra="allow")

    @property
    def written(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def _entry_tag(value: Any) -> str:
    """Which model an entry is: a call, a layer with values to resolve, or a plain layer."""
    if isinstance(value, dict):
        if "block" in value:
            return "call"
        if any(refers(v) for k, v in value.items() if k not in ("name", "from", "when")):
            return "template"
    return "layer"


#: An entry of a ``layers:`` list, once validated (:func:`validate_entry`).
Entry = Layer | Call | Template


class EntryInvalid(ValueError):
    """An entry that does not validate; ``errors`` are pydantic's error dicts, each ``loc`` starting
    with the entry's kind (``layer`` and its type, or ``call``) as a discriminated union's would."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} validation errors")
        self.errors = errors


def validate_entry(item: Any) -> Any:
    """Validate one entry as written: a layer (by its type's model), a call, or a layer whose
    values are still to be resolved. Raises :class:`EntryInvalid`.

    Only the models of the types a spec uses are ever built (they are deferred), which keeps a
    cold start short.
    """
    tag = _entry_tag(item)
    model: type[BaseModel]
    prefix: tuple[str, ...]
    if tag == "call":
        model, prefix = Call, ("call",)
    elif tag == "template":
        model, prefix = Template, ("template",)
    elif not isinstance(item, dict):
        raise EntryInvalid([{"type": "model_attributes_type", "loc": (), "msg": "must be a mapping",
                             "input": item}])
    elif item.get("type") is None:
        raise EntryInvalid([{"type": "union_tag_not_found", "loc": (), "msg": "has no type", "input": item}])
    else:
        written = item["type"]
        kind = canonical_type(written) if isinstance(written, str) else ""
        if kind not in LAYER_MODELS:
            raise EntryInvalid([{"type": "union_tag_invalid", "loc": (), "msg": "unknown type",
                                 "input": item, "ctx": {"tag": str(written)}}])
        if written != kind:
            item = {**item, "type": kind}
        model, prefix = LAYER_MODELS[kind], ("layer", kind)
    try:
        return model.model_validate(item)
    except ValidationError as err:
        raise EntryInvalid([{**e, "loc": (*prefix, *e["loc"])}
                            for e in err.errors(include_url=False)]) from None


def _canonical_entries(value: Any) -> Any:
    """Map type aliases (``conv``, ``Dense``, ``MaxPool2d``) to canonical names; bound the count."""
    if not isinstance(value, list):
        return value
    if len(value) > MAX_LAYERS:
        raise PydanticCustomError(
            "too_many_layers", "must hold at most {most} layers; got {got}",
            {"most": f"{MAX_LAYERS:,}", "got": f"{len(value):,}"})
    return value


def _unique_names(entries: list[Any]) -> list[Any]:
    """Names written in one ``layers:`` list are unique, whatever ``when`` says."""
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries, 1):
        name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, int) and not isinstance(name, bool):
            name = str(name)
        if not isinstance(name, str):
            continue
        if name in seen:
            raise PydanticCustomError(
                "duplicate_name",
                "name {name} is already used by layer #{first}; names must be unique",
                {"name": repr(name), "first": seen[name], "index": index},
            )
        seen[name] = index
    return entries


# Entries as written: each is validated on its own by validate_entry (the loader does it, with
# every error located), so that only the layer models a spec uses are built.
Entries = Annotated[list[Any], BeforeValidator(_canonical_entries), AfterValidator(_unique_names),
                    Field(min_length=1)]
ParamName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=100)]


class Block(BaseModel):
    """A reusable sub-network: ``params`` (each with its default) and ``layers``."""

    # built as part of Spec's schema: built on its own too, the layer union would be built twice
    # (0.1 s of every start)
    model_config = ConfigDict(extra="forbid", defer_build=True)

    params: dict[ParamName, Any] = Field(default_factory=dict)
    layers: Entries
    _line: int | None = PrivateAttr(default=None)

    @field_validator("params")
    @classmethod
    def _not_shape_names(cls, params: dict[str, Any]) -> dict[str, Any]:
        for name in params:
            if name in SHAPE_NAMES or name in ("true", "false", "True", "False"):
                raise PydanticCustomError(
                    "reserved_param", "parameter {name} is reserved: expressions read it as the block "
                    "input's shape (or a truth value); choose another name", {"name": repr(name)})
        return params

    @property
    def line(self) -> int | None:
        return self._line


class Spec(BaseModel):
    """A whole network as written: its input, its blocks, and its entries in order.

    ``layers`` holds what was written: plain layers, calls of blocks, and layers whose values
    are still to be resolved. :func:`cnncalc.graph.expand_spec` turns it into the network.
    """

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    description: str | None = None
    input: InputShape
    blocks: dict[Name, Block] = Field(default_factory=dict)
    layers: Entries
    _source: str | None = PrivateAttr(default=None)
    _text: str | None = PrivateAttr(default=None)

    @property
    def source(self) -> str | None:
        """The file this spec was loaded from, when it was."""
        return self._source

    @property
    def text(self) -> str | None:
        """The YAML as it was read, when the spec came from a file or standard input."""
        return self._text


def spelling_pattern(names: Any) -> str:
    """A regular expression matching every spelling of ``names`` that :func:`canonical_type` maps
    to one of them: any case, with ``_``, ``-`` or spaces anywhere (``Max_Pool_2D``)."""

    def letter(char: str) -> str:
        if not char.isalpha():
            return re.escape(char)
        # every character whose lower case is this letter: A for a, and the Kelvin sign for k
        # (the one character outside ASCII whose str.lower() is an ASCII letter)
        cased = {char, char.upper()} | ({"\u212a"} if char == "k" else set())
        return "[" + "".join(sorted(cased)) + "]"

    gap = r"[\s_\-]*"
    spelt = ["".join(gap + letter(char) for char in name) for name in sorted(names)]
    return "^(?:" + "|".join(spelt) + ")" + gap + "$"


def _documented_spec() -> dict[str, Any]:
    """pydantic's schema of a spec with its entries typed: a layer (by type) or a call. (The
    models validate entries one by one instead, so that a spec builds only the models it uses.)"""
    import json

    class DocumentedBlock(Block):
        layers: list[Layer | Call] = Field(min_length=1)

    class DocumentedSpec(Spec):
        blocks: dict[Name, DocumentedBlock] = Field(default_factory=dict)  # type: ignore[assignment]
        layers: list[Layer | Call] = Field(min_length=1)

    text = json.dumps(DocumentedSpec.model_json_schema())
    text = text.replace("DocumentedBlock", "Block").replace('"title": "DocumentedSpec"', '"title": "Spec"')
    schema: dict[str, Any] = json.loads(text)
    return schema


_VALUE_SCHEMA = {"type": "string", "pattern": r"^\$([A-Za-z_][A-Za-z0-9_]*|\{.*\})$",
                 "description": "a block parameter ($p) or an expression (${...})"}


def json_schema() -> dict[str, Any]:
    """The spec's JSON Schema, for editors: exactly what cnncalc accepts, aliases included.

    pydantic's schema describes the canonical spelling only; this adds what the
    validators accept besides: each field's aliases (``filters``, ``kernel``, …,
    one spelling at most, and one exactly for a required field), every spelling of
    a layer type or an activation that cnncalc reads (any case, with ``_``, ``-`` or
    spaces: ``MaxPooling2D``, ``max_pool``), and ``input`` as a ``[C, H, W]`` list.
    What no schema can say is checked by cnncalc alone: unique layer names, a
    connection table's length, and whether each layer fits its input.
    """
    schema = _documented_spec()
    defs = schema["$defs"]
    for kind, model in LAYER_MODELS.items():
        definition = defs[model.__name__]
        properties = definition["properties"]
        required = set(definition.get("required", []))
        rules: list[dict[str, Any]] = []
        for info in model.model_fields.values():
            choices = [str(c) for c in getattr(info.validation_alias, "choices", ())]
            if not choices:
                continue
            shown = next(c for c in choices if c in properties)
            for choice in choices:
                properties.setdefault(choice, properties[shown])
            if shown in required:
                required.discard(shown)
                rules.append({"oneOf": [{"required": [c]} for c in choices]})
            else:  # at most one spelling, as _Layer._one_spelling insists
                rules.extend({"not": {"required": [a, b]}}
                             for i, a in enumerate(choices) for b in choices[i + 1:])
        if rules:
            definition["allOf"] = rules
        definition["required"] = sorted(required)
        names = [kind, *sorted(alias for alias, target in TYPE_ALIASES.items() if target == kind)]
        # the enum offers completion; the pattern accepts every spelling canonical_type reads
        properties["type"] = {"title": "Type", "anyOf": [
            {"enum": names}, {"type": "string", "pattern": spelling_pattern(names)}]}
        if "activation" in properties:
            properties["activation"] = {"title": "Activation", "default": None, "anyOf": [
                {"enum": list(ACTIVATIONS)},
                {"type": "string", "pattern": spelling_pattern(ACTIVATIONS)},
                {"type": "null"}]}
        # inside a block any field may be $p or "${...}", resolved when the spec is expanded
        for key, value in list(properties.items()):
            if key not in ("name", "from", "when"):
                properties[key] = {"anyOf": [value, _VALUE_SCHEMA]}
    # An entry is a layer or a call. The discriminator's mapping knows only canonical names;
    # oneOf over the layer models with their type patterns selects the same model for every
    # spelling. (A layer with values to resolve is a layer here: its fields accept them.)
    for entries in (schema["properties"]["layers"], defs["Block"]["properties"]["layers"]):
        layer_union = next(choice for choice in entries["items"]["anyOf"] if "oneOf" in choice)
        layer_union.pop("discriminator", None)
        entries["items"] = {"anyOf": [layer_union, {"$ref": "#/$defs/Call"}]}
        entries["maxItems"] = MAX_LAYERS
    schema["properties"]["input"] = {"anyOf": [
        {"$ref": "#/$defs/InputShape"},
        {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": MAX_SIZE},
         "minItems": 3, "maxItems": 3, "description": "[channels, height, width]"},
    ]}
    return schema
