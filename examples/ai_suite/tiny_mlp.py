"""A small multilayer perceptron in numpy, and a deterministic stand-in for loading one.

Everything is built from seeded random generators, so the suite needs no download and
computes the same numbers on every run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_FEATURES = 64
N_HIDDEN = 256
N_CLASSES = 10


@dataclass
class MLP:
    """x -> relu(x W1 + b1) -> softmax(h W2 + b2)."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray

    def logits(self, x: np.ndarray) -> np.ndarray:
        hidden = np.maximum(x @ self.w1 + self.b1, 0.0)
        return hidden @ self.w2 + self.b2

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        z = self.logits(x)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.logits(x).argmax(axis=1)

    def copy(self) -> MLP:
        return MLP(self.w1.copy(), self.b1.copy(), self.w2.copy(), self.b2.copy())

    def sgd_step(self, x: np.ndarray, y: np.ndarray, lr: float) -> None:
        """One step of stochastic gradient descent on the cross-entropy loss."""
        hidden_in = x @ self.w1 + self.b1
        hidden = np.maximum(hidden_in, 0.0)
        grad_out = self.predict_proba(x)
        grad_out[np.arange(len(y)), y] -= 1.0
        grad_out /= len(y)
        grad_hidden = (grad_out @ self.w2.T) * (hidden_in > 0)
        self.w2 -= lr * hidden.T @ grad_out
        self.b2 -= lr * grad_out.sum(axis=0)
        self.w1 -= lr * x.T @ grad_hidden
        self.b1 -= lr * grad_hidden.sum(axis=0)


def cross_entropy(model: MLP, x: np.ndarray, y: np.ndarray) -> float:
    p = model.predict_proba(x)
    return float(-np.log(p[np.arange(len(y)), y] + 1e-12).mean())


def _orthogonal(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
    q = q * np.sign(np.diag(r))
    return q if rows >= cols else q.T


def load_model(seed: int = 0, calibration_rounds: int = 40) -> MLP:
    """Stands in for reading a checkpoint: deterministic weights, then a calibration pass
    over a large random sample (the costly part, as decompressing and checking a real
    checkpoint would be)."""
    rng = np.random.default_rng(seed)
    model = MLP(
        _orthogonal(rng, N_FEATURES, N_HIDDEN),
        np.zeros(N_HIDDEN),
        _orthogonal(rng, N_HIDDEN, N_CLASSES),
        np.zeros(N_CLASSES),
    )
    calibration = rng.standard_normal((8192, N_FEATURES))
    for _ in range(calibration_rounds):
        # Nudge the output bias until the classes are equally likely on random input.
        model.b2 -= 0.5 * (model.predict_proba(calibration).mean(axis=0) - 1.0 / N_CLASSES)
    return model


def make_dataset(seed: int = 1, size: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic classification problem: one Gaussian blob per class."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((N_CLASSES, N_FEATURES)) * 3.0
    labels = rng.integers(0, N_CLASSES, size=size)
    features = centres[labels] + rng.standard_normal((size, N_FEATURES))
    return features, labels
