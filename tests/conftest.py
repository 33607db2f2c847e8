"""Shared test fixtures and options.

``pytest --regen-golden`` rewrites the golden files under tests/golden/ from the
current output, and ``pytest --regen-bad-specs`` (or CNNCALC_REGEN_BAD_SPECS=1)
the ``.expected`` messages under tests/bad_specs/; review the diff before
committing it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--regen-golden", action="store_true",
                     help="rewrite tests/golden/* from the current output")
    parser.addoption("--regen-bad-specs", action="store_true",
                     help="rewrite tests/bad_specs/*.expected from the current messages")


@pytest.fixture
def regen_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--regen-golden"))


@pytest.fixture
def regen_bad_specs(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--regen-bad-specs")
                or os.environ.get("CNNCALC_REGEN_BAD_SPECS", "") not in ("", "0"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Under CI (CI=true), a skipped torch test is a failure: the oracle must really run there.
    Tests marked ``cuda`` or ``torchvision`` are the exceptions: they skip where no GPU exists,
    or where torchvision cannot be imported (its index wheel is built for CUDA torch)."""
    outcome = yield
    report = outcome.get_result()
    in_ci = os.environ.get("CI", "") not in ("", "0", "false")
    optional = item.get_closest_marker("cuda") or item.get_closest_marker("torchvision")
    if report.skipped and in_ci and item.get_closest_marker("torch") and not optional:
        report.outcome = "failed"
        report.longrepr = f"torch test skipped under CI: {report.longrepr}"


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Tiny tensors run several times faster on one intra-op thread than on a pool, which spends
    its time on hand-offs (and CI has two cores). torch is imported here, not at the top, so
    tests that do not use it never load it."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
