"""A short training loop: it learns, but it emits more than its budget allows.

This is the suite's deliberate failure: its assertions pass, yet pytest-carbon reports
it FAILED with "carbon budget exceeded" because its setup and call emitted more than
the marker's limit.
"""

from __future__ import annotations

import numpy as np
import pytest
from tiny_mlp import cross_entropy


@pytest.mark.carbon(max_mg=0.05)
def test_training_reduces_loss(model, dataset):
    features, labels = dataset
    trained = model.copy()
    rng = np.random.default_rng(5)
    before = cross_entropy(trained, features, labels)
    for _ in range(600):
        batch = rng.integers(0, len(labels), size=256)
        trained.sgd_step(features[batch], labels[batch], lr=0.05)
    after = cross_entropy(trained, features, labels)
    assert after < 0.5 * before
