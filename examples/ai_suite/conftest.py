"""Shared fixtures of the example AI suite.

Session-scoped fixtures are charged to themselves, not to the first test that needs
them: the summary lists `model (session)` as the costliest shared fixture.
"""

from __future__ import annotations

import numpy as np
import pytest

from tiny_mlp import MLP, load_model, make_dataset


@pytest.fixture(scope="session")
def model() -> MLP:
    return load_model()


@pytest.fixture(scope="session")
def dataset() -> tuple[np.ndarray, np.ndarray]:
    return make_dataset()
