"""torchvision's own classifiers through `cnncalc import`, where torchvision can be imported.

The torchvision wheel on the package index is built for CUDA torch; beside the CPU torch wheel
its compiled operators fail to load, so these tests skip cleanly there (marker ``torchvision``).
The hand-written models of tests/test_import.py and tests/torchvision_reference.py carry the
proof everywhere; these check the real thing where it is installed: each classifier imported
at a small input, its parameters counted as torch counts them, cnncalc's build loading its
state_dict with strict=True and computing the same outputs. The classifiers cnncalc has no
types for are refused by name (exit 2 at the CLI), never approximated.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.torch, pytest.mark.torchvision, pytest.mark.usefixtures("one_torch_thread")]


def _models() -> Any:
    try:
        import torchvision.models as models
    except (ImportError, RuntimeError, OSError) as err:  # the CUDA wheel beside CPU torch: RuntimeError
        pytest.skip(f"torchvision cannot be imported here ({type(err).__name__}: {str(err)[:80]})")
    return models


# name, keyword arguments, input [C, H, W]: one or two of each family.
ROUND_TRIPS = [
    ("alexnet", {}, (3, 64, 64)),
    ("vgg11_bn", {}, (3, 32, 32)),
    ("resnet18", {}, (3, 64, 64)),
    ("resnet50", {}, (3, 64, 64)),
    ("resnext50_32x4d", {}, (3, 64, 64)),
    ("wide_resnet50_2", {}, (3, 64, 64)),
    ("googlenet", {"aux_logits": False, "init_weights": False}, (3, 64, 64)),
    ("inception_v3", {"aux_logits": False, "init_weights": False}, (3, 96, 96)),
    ("densenet121", {}, (3, 64, 64)),
    ("squeezenet1_1", {}, (3, 64, 64)),
    ("mobilenet_v2", {}, (3, 64, 64)),
    ("mobilenet_v3_small", {}, (3, 64, 64)),
    ("mnasnet0_5", {}, (3, 64, 64)),
    ("efficientnet_b0", {}, (3, 64, 64)),
    ("efficientnet_v2_s", {}, (3, 64, 64)),
    ("regnet_y_400mf", {}, (3, 64, 64)),
]
# What no spec can say: LayerNorm and permutes (ConvNeXt), a channel shuffle (ShuffleNet),
# attention (ViT, Swin, MaxViT).
REFUSED = ["convnext_tiny", "shufflenet_v2_x0_5", "vit_b_16", "swin_t", "maxvit_t"]


@pytest.mark.parametrize("name, kwargs, shape", ROUND_TRIPS, ids=[r[0] for r in ROUND_TRIPS])
def test_torchvision_classifier_round_trips(name: str, kwargs: dict[str, Any],
                                            shape: tuple[int, ...]) -> None:
    models = _models()
    import torch

    import cnncalc

    torch.manual_seed(0)
    model = models.get_model(name, weights=None, **kwargs).eval()
    spec = cnncalc.from_module(model, shape)
    report = cnncalc.analyze(spec)
    assert report.totals.parameters == sum(p.numel() for p in model.parameters())
    built = cnncalc.build(spec).eval()
    built.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, *shape)
    with torch.no_grad():
        expected = model(x)
        torch.testing.assert_close(built(x), expected, atol=1e-4, rtol=1e-4)
    assert report.output_shape == tuple(expected.shape[1:])


@pytest.mark.parametrize("name", REFUSED)
def test_torchvision_classifiers_without_cnncalc_types_are_refused_by_name(name: str) -> None:
    models = _models()
    import cnncalc
    from cnncalc.pytorch.importer import ImportProblem

    model = models.get_model(name, weights=None).eval()
    with pytest.raises(ImportProblem) as caught:
        cnncalc.from_module(model, (3, 224, 224))
    # where: the module path or the source line of what has no type
    assert "module " in str(caught.value) or ".py:" in str(caught.value), str(caught.value)
