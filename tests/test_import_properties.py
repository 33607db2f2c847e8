"""Import as the inverse of build, on random specs: a spec built in torch and imported again
gives a spec with the same parameters and output, whose own build loads the first build's
state_dict with strict=True and computes the same outputs (hypothesis, against real torch)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from strategies import branching_specs, specs

import cnncalc
from cnncalc.pytorch.importer import from_module

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]

# LeNet-5's own layers (a connection table, trainable subsampling, RBF units) are modules of
# cnncalc's own, which torch has no layer for: the importer names them and stops.
LENET_ONLY = {"subsampling", "rbf"}


def round_trip(data: dict[str, Any]) -> None:
    spec = cnncalc.load_spec(data)
    report = cnncalc.analyze(spec)
    assume(not any(row.type in LENET_ONLY for row in report.rows))
    assume(not any(getattr(layer, "connection_table", None) is not None for layer in report.layers))
    built = cnncalc.build(spec).eval()
    # An uneven 'same' padding of another mode than zeros is built as a pad module before the
    # convolution (reflect, replicate, circular), which no cnncalc type is on its own.
    assume(not any(type(m).__name__ in ("ReflectionPad2d", "ReplicationPad2d", "CircularPad2d")
                   for m in built.modules()))
    again = from_module(built, report.input_shape)
    second = cnncalc.analyze(again)
    assert second.totals.parameters == report.totals.parameters
    assert second.output_shape == report.output_shape
    rebuilt = cnncalc.build(again).eval()
    rebuilt.load_state_dict(built.state_dict(), strict=True)
    x = torch.randn(2, *report.input_shape)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x.clone()), built(x.clone()), equal_nan=True)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.filter_too_much])
@given(data=specs())
def test_import_undoes_build_on_chains(data: dict[str, Any]) -> None:
    round_trip(data)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(data=branching_specs())
def test_import_undoes_build_on_networks_that_branch(data: dict[str, Any]) -> None:
    round_trip(data)
