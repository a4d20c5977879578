"""Inference on a batch: cheap tests that stay well within their budgets."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_mlp import N_CLASSES, N_FEATURES


@pytest.mark.carbon("0.5 mg")  # a budget as a quantity string
def test_predict_proba_is_a_distribution(model):
    batch = np.random.default_rng(2).standard_normal((64, N_FEATURES))
    probabilities = model.predict_proba(batch)
    assert probabilities.shape == (64, N_CLASSES)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)


def test_predictions_are_deterministic(model):
    # No marker and no matching pattern: test_budget from pyproject.toml applies.
    batch = np.random.default_rng(3).standard_normal((256, N_FEATURES))
    assert (model.predict(batch) == model.predict(batch.copy())).all()


@pytest.mark.parametrize("batch_size", [1, 32, 256, 1024])
def test_batch_size(model, batch_size):
    # Budget from the [tool.pytest_carbon.budgets] pattern "test_inference.py::test_batch_size*".
    batch = np.random.default_rng(batch_size).standard_normal((batch_size, N_FEATURES))
    assert model.predict(batch).shape == (batch_size,)


def test_batching_saves_energy(model, carbon):
    """The `carbon` fixture measures a block inside a test."""
    batch = np.random.default_rng(4).standard_normal((256, N_FEATURES))
    model.predict(batch)  # warm-up, outside the measurements
    with carbon.measure() as one_by_one:
        for _ in range(40):
            for row in batch:
                model.predict(row[None, :])
    with carbon.measure() as batched:
        for _ in range(40):
            model.predict(batch)
    print(
        f"one by one: {one_by_one.energy_j:.3f} J in {one_by_one.duration_s:.3f} s, "
        f"batched: {batched.energy_j:.3f} J in {batched.duration_s:.3f} s"
    )
    assert batched.energy_j < one_by_one.energy_j
