"""Fit a linear softmax head exactly: weighted cross-entropy + an L2 pull toward a prior, by L-BFGS.

The loss is convex, so the fit is the same every run (no seeds, no epochs) and takes seconds. With
``prior`` the weights are pulled toward a given matrix instead of toward zero: the tag head starts
from the hand-made tag -> genre map and moves only as far as the data insists.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from genrelens.models.heads import LinearHead, log_softmax, softmax


def fit_linear(x: np.ndarray, y: np.ndarray, n_classes: int, sample_weight: np.ndarray | None = None,
               l2: float = 1e-2, prior: np.ndarray | None = None, standardize: bool = True,
               max_iter: int = 400, lower: np.ndarray | None = None, upper: np.ndarray | None = None,
               bias_l2: float = 0.0) -> LinearHead:
    """Minimise ``sum_i w_i CE_i / sum_i w_i + l2/2 * ||W - prior||^2 + bias_l2/2 * ||b||^2``.

    ``bias_l2`` = inf fixes the biases at 0.
    ``lower`` / ``upper`` (d, n_classes; -inf / inf where free) bound each weight: how a tag that names a
    genre is kept voting for it and only for it, and a tag that names none is kept silent.
    """
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=0) if standardize else np.zeros(x.shape[1])
    scale = np.maximum(x.std(axis=0), 1e-6) if standardize else np.ones(x.shape[1])
    z = (x - mean) / scale
    d = z.shape[1]
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    w = w / w.sum()
    onehot = np.eye(n_classes)[y]
    prior = np.zeros((d, n_classes)) if prior is None else np.asarray(prior, np.float64)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        weights, bias = theta[: d * n_classes].reshape(d, n_classes), theta[d * n_classes :]
        logits = z @ weights + bias
        ce = -(w * (log_softmax(logits) * onehot).sum(axis=1)).sum()
        delta = weights - prior
        residual = (softmax(logits) - onehot) * w[:, None]
        grad_w = z.T @ residual + l2 * delta
        bias_penalty = 0.0 if np.isinf(bias_l2) else bias_l2
        loss_value = ce + 0.5 * l2 * float((delta * delta).sum()) + 0.5 * bias_penalty * float((bias * bias).sum())
        return loss_value, np.concatenate([grad_w.ravel(), residual.sum(axis=0) + bias_penalty * bias])

    bounds = None
    if lower is not None or upper is not None or np.isinf(bias_l2):
        low = np.full((d, n_classes), -np.inf) if lower is None else np.asarray(lower, np.float64)
        high = np.full((d, n_classes), np.inf) if upper is None else np.asarray(upper, np.float64)
        prior = np.clip(prior, low, high)
        bounds = [(None if np.isinf(a) else a, None if np.isinf(b) else b) for a, b in zip(low.ravel(), high.ravel())]
        bounds += [(0.0, 0.0) if np.isinf(bias_l2) else (None, None)] * n_classes
    start = np.concatenate([prior.ravel(), np.zeros(n_classes)])
    result = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": max_iter})
    theta = result.x
    return LinearHead(mean, scale, theta[: d * n_classes].reshape(d, n_classes), theta[d * n_classes :])


def balanced_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-row weights that give every class the same total weight."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    return (len(y) / (n_classes * np.maximum(counts, 1)))[y]
