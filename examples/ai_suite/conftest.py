"""Shared fixtures of the example AI suite.

Session-scoped fixtures are charged to themselves, not to the first test that needs
them: the summary lists `model (session)` as the costliest shared fixture.
"""

from __future__ import annotations

import os

# One BLAS thread, set before numpy is imported: small matrices gain nothing from more,
# and on a small, busy CI runner spinning BLAS threads would dominate the figures.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from tiny_mlp import MLP, load_model, make_dataset  # noqa: E402


@pytest.fixture(scope="session")
def model() -> MLP:
    return load_model()


@pytest.fixture(scope="session")
def dataset() -> tuple[np.ndarray, np.ndarray]:
    return make_dataset()
