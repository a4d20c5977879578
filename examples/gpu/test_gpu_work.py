"""GPU tests of known work, to validate per-test GPU energy on a real machine.

Run (on a machine with an NVIDIA GPU and torch):
    python -m pytest examples/gpu --carbon-json=gpu.json -v
"""

from __future__ import annotations

import time

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")


def matmuls(size: int, seconds: float) -> int:
    """Square fp32 matrix products of `size` for about `seconds`; returns how many ran."""
    a = torch.randn(size, size, device="cuda")
    b = torch.randn(size, size, device="cuda")
    torch.cuda.synchronize()
    done = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(10):
            a @ b
        torch.cuda.synchronize()
        done += 10
    return done


@pytest.mark.parametrize("size", [1024, 4096, 8192])
def test_matmul_2s(size):
    assert matmuls(size, 2.0) > 0


def test_matmul_8192_5s():
    assert matmuls(8192, 5.0) > 0


def test_idle_2s():
    torch.cuda.synchronize()
    time.sleep(2.0)


@pytest.mark.parametrize("i", range(10))
def test_short_matmul_under_100ms(i):
    assert matmuls(4096, 0.05) > 0
