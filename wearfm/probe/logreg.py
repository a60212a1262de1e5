"""Batched multinomial logistic regression: many small standardised few-shot problems solved at once.

The loss is scikit-learn's (``LogisticRegression(solver="lbfgs")``, multinomial, L2 penalty, intercept not
penalised): ``C * sum_i CE(x_i, y_i) + 0.5 * ||W||^2``, minimised here in its scaled form
``mean_i CE + ||W||^2 / (2 C n)`` (the form scikit-learn hands to L-BFGS, so gradient tolerances mean the
same). Features are standardised per problem as ``StandardScaler`` does.

Every problem of a batch (each value of ``C`` x each inner fold x each trial) is solved by one vectorised
L-BFGS over a stack of zero-padded arrays, in float64 with NumPy: a problem's cost is a few small matrix
products per iteration, so one batched loop replaces hundreds of separate SciPy calls and their Python
overhead. Rows beyond a problem's size carry zero weight; classes absent from a problem get no logit.

When a problem has fewer rows than dimensions, its weights lie in the span of its rows (the gradient of the
loss is ``X^T (P - Y)`` plus a multiple of ``W``), so it is solved in that ``n``-dimensional span (a QR
factorisation of ``X^T``) and mapped back: the same optimum, with fewer unknowns.

:func:`fit_heads` runs the whole head protocol of :mod:`wearfm.probe.heads` (inner CV over
``C_GRID`` by macro-F1 with ``StratifiedKFold``, then a refit on all shots) for many draws at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

__all__ = ["LogRegFit", "LogRegHead", "standardize", "fit_logreg_batch", "fit_heads"]

log = logging.getLogger(__name__)

_MEMORY = 10  # L-BFGS curvature pairs kept (SciPy's default ``maxcor``)
_MAX_LINE_SEARCH = 40
_ARMIJO = 1e-4


@dataclass
class LogRegFit:
    """Fitted weights of a batch of problems, in each problem's standardised feature space.

    Attributes:
        coef: (B, D, K) weights; columns of classes absent from a problem are zero.
        intercept: (B, K) intercepts, centred over each problem's classes; absent classes hold ``-inf``.
        n_iter: (B,) L-BFGS iterations each problem took.
        converged: (B,) whether the gradient tolerance was met (else stopped by ``max_iter`` or stagnation).
    """

    coef: np.ndarray
    intercept: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray

    def decision(self, x: np.ndarray, b: int) -> np.ndarray:
        """(M, K) logits of problem ``b`` for standardised rows ``x`` (absent classes: ``-inf``)."""
        out: np.ndarray = x @ self.coef[b] + self.intercept[b]
        return out


def standardize(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and scale of ``StandardScaler().fit(x)``: population std, constant features scaled by 1.

    Examples:
        >>> mean, scale = standardize(np.array([[1.0, 5.0], [3.0, 5.0]]))
        >>> mean.tolist(), scale.tolist()
        ([2.0, 5.0], [1.0, 1.0])
    """
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=0)
    var = x.var(axis=0)
    n = x.shape[0]
    eps = np.finfo(np.float64).eps
    constant = var <= n * eps * var + (n * mean * eps) ** 2  # scikit-learn's test for a constant feature
    scale = np.sqrt(var)
    scale[constant | (scale < 10 * eps)] = 1.0
    return mean, scale


def fit_logreg_batch(
    xs: Sequence[np.ndarray],
    ys: Sequence[np.ndarray],
    cs: Sequence[float],
    n_classes: int,
    tol: float = 1e-6,
    max_iter: int = 2000,
) -> LogRegFit:
    """Fit one multinomial L2 logistic regression per problem, all in one batched L-BFGS.

    Args:
        xs: B arrays (n_b, D) of already standardised features (same D for all).
        ys: B arrays (n_b,) of class indices in ``[0, n_classes)``; each problem fits the classes it has.
        cs: B inverse regularisation strengths (scikit-learn's ``C``).
        n_classes: K, the size of the shared class index space.
        tol: stop a problem when the largest absolute gradient entry of the scaled loss is below this
            (scikit-learn's ``tol`` for lbfgs is 1e-4; a smaller value lands closer to the exact optimum).
        max_iter: L-BFGS iterations at most per problem.

    Returns:
        The fitted :class:`LogRegFit`.

    Examples:
        >>> x = np.array([[-1.0], [-0.5], [0.5], [1.0]])
        >>> fit = fit_logreg_batch([x], [np.array([0, 0, 1, 1])], [1.0], n_classes=2)
        >>> fit.decision(x, 0).argmax(1).tolist()
        [0, 0, 1, 1]
    """
    n_prob = len(xs)
    if not (len(ys) == len(cs) == n_prob) or n_prob == 0:
        raise ValueError("xs, ys and cs must be non-empty and of equal length")
    dim = int(xs[0].shape[1])
    n_max = max(int(x.shape[0]) for x in xs)
    reduce = n_max < dim  # solve in the span of the rows: n_max unknowns per class instead of dim
    r = n_max if reduce else dim
    k = n_classes
    xa = np.zeros((n_prob, n_max, r + 1))  # features (or their row-span coordinates) and a ones column
    onehot = np.zeros((n_prob, n_max, k))
    rw = np.zeros((n_prob, n_max))  # row weight: 1/n_b for real rows, 0 for padding
    absent = np.ones((n_prob, k), dtype=bool)
    basis = np.zeros((n_prob, dim, r)) if reduce else None
    for b, (x, y) in enumerate(zip(xs, ys, strict=True)):
        n = x.shape[0]
        y = np.asarray(y, dtype=np.int64)
        xb = np.asarray(x, dtype=np.float64)
        if basis is not None:
            q, rr = np.linalg.qr(xb.T)  # x = rr.T @ q.T; q: (dim, n)
            basis[b, :, :n] = q
            xa[b, :n, :n] = rr.T
        else:
            xa[b, :n, :dim] = xb
        xa[b, :n, r] = 1.0
        onehot[b, np.arange(n), y] = 1.0
        rw[b, :n] = 1.0 / n
        absent[b, np.unique(y)] = False
    pen = np.array([1.0 / (float(c) * x.shape[0]) for c, x in zip(cs, xs, strict=True)])  # scaled L2 strength 1/(C n)
    theta, n_iter, conv = _lbfgs(xa, onehot, rw, absent, pen, tol, max_iter)
    w = theta[:, :r, :]
    if basis is not None:
        w = np.matmul(basis, w)
    icpt = theta[:, r, :].copy()
    icpt[absent] = np.nan
    icpt -= np.nanmean(icpt, axis=1, keepdims=True)  # the softmax is unchanged by a common shift
    icpt[absent] = -np.inf
    return LogRegFit(coef=w, intercept=icpt, n_iter=n_iter, converged=conv)


def _loss_grad(
    theta: np.ndarray, xa: np.ndarray, onehot: np.ndarray, rw: np.ndarray, absent: np.ndarray, pen: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Scaled loss (B,) and its gradient (B, r+1, K) of each problem at ``theta``."""
    z = np.matmul(xa, theta)  # (B, N, K)
    z = np.where(absent[:, None, :], -np.inf, z)
    zmax = z.max(axis=2, keepdims=True)
    ez = np.exp(z - zmax)
    se = ez.sum(axis=2, keepdims=True)
    lse = np.log(se) + zmax  # (B, N, 1)
    ce = lse[..., 0] - np.einsum("bnk,bnk->bn", np.where(absent[:, None, :], 0.0, z), onehot)
    w = theta[:, :-1, :]
    f = np.einsum("bn,bn->b", ce, rw) + 0.5 * pen * np.einsum("brk,brk->b", w, w)
    resid = (ez / se - onehot) * rw[..., None]  # (B, N, K)
    g = np.matmul(xa.transpose(0, 2, 1), resid)
    g[:, :-1, :] += pen[:, None, None] * w
    return f, g


def _lbfgs(
    xa: np.ndarray,
    onehot: np.ndarray,
    rw: np.ndarray,
    absent: np.ndarray,
    pen: np.ndarray,
    tol: float,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batched L-BFGS with Armijo backtracking; converged problems leave the batch as it goes."""
    n_prob, _, k = onehot.shape
    p_shape = (xa.shape[2], k)
    theta_out = np.zeros((n_prob, *p_shape))
    iters_out = np.zeros(n_prob, dtype=np.int64)
    conv_out = np.zeros(n_prob, dtype=bool)
    act = np.arange(n_prob)  # original index of each row of the working arrays
    theta = np.zeros((n_prob, *p_shape))
    f, g = _loss_grad(theta, xa, onehot, rw, absent, pen)
    s_hist = np.zeros((n_prob, _MEMORY, *p_shape))
    y_hist = np.zeros((n_prob, _MEMORY, *p_shape))
    rho = np.zeros((n_prob, _MEMORY))
    done = np.zeros(n_prob, dtype=bool)
    conv = np.abs(g).max(axis=(1, 2)) <= tol
    done |= conv
    for it in range(max_iter):
        if done.all():
            break
        # two-loop recursion over the stored pairs, newest first (empty slots have rho = 0)
        q = -g
        alpha = np.zeros((len(act), _MEMORY))
        order = [(it - 1 - j) % _MEMORY for j in range(min(it, _MEMORY))]
        for j in order:
            alpha[:, j] = rho[:, j] * np.einsum("bpk,bpk->b", s_hist[:, j], q)
            q -= alpha[:, j, None, None] * y_hist[:, j]
        if order:
            j = order[0]
            yy = np.einsum("bpk,bpk->b", y_hist[:, j], y_hist[:, j])
            sy = np.einsum("bpk,bpk->b", s_hist[:, j], y_hist[:, j])
            q *= np.where(yy > 0, sy / np.where(yy > 0, yy, 1.0), 1.0)[:, None, None]
        else:  # first step: a steepest-descent step of unit length, as L-BFGS-B takes
            q /= np.maximum(np.sqrt(np.einsum("bpk,bpk->b", g, g)), 1.0)[:, None, None]
        for j in reversed(order):
            beta = rho[:, j] * np.einsum("bpk,bpk->b", y_hist[:, j], q)
            q += (alpha[:, j] - beta)[:, None, None] * s_hist[:, j]
        d = q
        gd = np.einsum("bpk,bpk->b", g, d)
        bad = gd >= 0  # not a descent direction (rounding): fall back to steepest descent
        if bad.any():
            d[bad] = -g[bad]
            gd[bad] = -np.einsum("bpk,bpk->b", g[bad], g[bad])
        # Armijo backtracking, batched over the problems still searching
        step = np.ones(len(act))
        f_new, g_new = f.copy(), g.copy()
        accepted = done.copy()
        todo = np.flatnonzero(~done)
        for _ in range(_MAX_LINE_SEARCH):
            if len(todo) == 0:
                break
            th = theta[todo] + step[todo, None, None] * d[todo]
            ft, gt = _loss_grad(th, xa[todo], onehot[todo], rw[todo], absent[todo], pen[todo])
            ok = ft <= f[todo] + _ARMIJO * step[todo] * gd[todo]
            f_new[todo[ok]], g_new[todo[ok]] = ft[ok], gt[ok]
            accepted[todo[ok]] = True
            todo = todo[~ok]
            step[todo] *= 0.5
        stalled = ~accepted  # no decrease found: as close as float64 gets
        moving = accepted & ~done
        s = step[:, None, None] * d
        yv = g_new - g
        slot = it % _MEMORY
        sy = np.einsum("bpk,bpk->b", s, yv)
        keep = moving & (sy > 1e-12 * np.sqrt(np.einsum("bpk,bpk->b", yv, yv) * np.einsum("bpk,bpk->b", s, s)))
        s_hist[:, slot] = np.where(keep[:, None, None], s, 0.0)
        y_hist[:, slot] = np.where(keep[:, None, None], yv, 0.0)
        rho[:, slot] = np.where(keep, 1.0 / np.where(keep, sy, 1.0), 0.0)
        theta[moving] += s[moving]
        tiny = moving & (f - f_new <= 64 * np.finfo(np.float64).eps * np.maximum(np.maximum(abs(f), abs(f_new)), 1.0))
        f = np.where(moving, f_new, f)
        g[moving] = g_new[moving]
        iters_out[act[moving]] += 1
        newly_conv = moving & (np.abs(g).max(axis=(1, 2)) <= tol)
        conv |= newly_conv
        done |= newly_conv | stalled | tiny
        if done.sum() >= max(1, len(act) // 4) and not done.all():  # drop finished problems from the batch
            _store(theta_out, conv_out, act, theta, conv, done)
            keep_rows = ~done
            act, theta, f, g, conv = act[keep_rows], theta[keep_rows], f[keep_rows], g[keep_rows], conv[keep_rows]
            xa, onehot, rw, absent = xa[keep_rows], onehot[keep_rows], rw[keep_rows], absent[keep_rows]
            pen, s_hist, y_hist, rho = pen[keep_rows], s_hist[keep_rows], y_hist[keep_rows], rho[keep_rows]
            done = np.zeros(len(act), dtype=bool)
    _store(theta_out, conv_out, act, theta, conv, np.ones(len(act), dtype=bool))
    return theta_out, iters_out, conv_out


def _store(
    theta_out: np.ndarray, conv_out: np.ndarray, act: np.ndarray, theta: np.ndarray, conv: np.ndarray, sel: np.ndarray
) -> None:
    theta_out[act[sel]] = theta[sel]
    conv_out[act[sel]] = conv[sel]


@dataclass
class LogRegHead:
    """One fitted standardised logistic-regression head: ``argmax(((x - mean) / scale) @ coef + intercept)``.

    Attributes:
        mean / scale: (D,) the standardisation fitted on the shots.
        coef: (D, K) weights; intercept: (K,) with ``-inf`` for classes the shots lack.
        c: the ``C`` used (chosen by inner CV, or the default); nan when the shots hold a single class.
    """

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    c: float

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """(M, K) logits of rows ``x`` (absent classes: ``-inf``)."""
        out: np.ndarray = ((np.asarray(x, dtype=np.float64) - self.mean) / self.scale) @ self.coef + self.intercept
        return out

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(M,) class indices: the largest logit, the smallest index among ties (as scikit-learn)."""
        out: np.ndarray = self.decision_function(x).argmax(axis=1)
        return out


def fit_heads(
    draws: Sequence[tuple[np.ndarray, np.ndarray, int]],
    c_grid: Sequence[float],
    default_c: float,
    min_shots_for_cv: int,
    tol: float = 1e-6,
    max_iter: int = 2000,
    max_batch_bytes: int = 1 << 26,
) -> list[LogRegHead]:
    """Fit the ``logreg`` head on many draws of shots at once, choosing ``C`` as ``GridSearchCV`` would.

    For a draw whose every class has at least ``min_shots_for_cv`` shots, ``C`` is chosen from ``c_grid`` by
    ``StratifiedKFold(n_splits=min(5, smallest class count), shuffle=True, random_state=seed)``, each fold
    standardised on its own training part, scored by macro-F1 over the labels in the fold's truth or
    predictions (scikit-learn's ``f1_macro``) and averaged over folds; ties go to the first ``C`` of the grid.
    Other draws use ``default_c``. Each draw is then refitted on all its shots. All fits of a stage (every
    fold x every ``C`` x every draw, then every refit) run as batched L-BFGS problems.

    Args:
        draws: (x_train (N, D), y_train (N,) class indices, seed) per draw; the seed shuffles the folds.
        c_grid: candidate ``C`` values, in the order ties are broken.
        default_c: ``C`` when there are too few shots for cross-validation.
        min_shots_for_cv: shots per class needed for cross-validation.
        tol: gradient tolerance of the solver (see :func:`fit_logreg_batch`).
        max_iter: solver iterations at most.
        max_batch_bytes: memory for one batch of stacked problems; larger stages are solved in chunks.

    Returns:
        One :class:`LogRegHead` per draw, in order.
    """
    if not draws:
        return []
    n_classes = int(max(int(np.max(y)) for _, y, _ in draws)) + 1
    dim = int(draws[0][0].shape[1])
    heads: list[LogRegHead | None] = [None] * len(draws)
    chosen = [float(default_c)] * len(draws)
    # stage 1: inner cross-validation over the grid
    cv_xs: list[np.ndarray] = []
    cv_ys: list[np.ndarray] = []
    cv_cs: list[float] = []
    cv_val: list[tuple[int, int, int, np.ndarray, np.ndarray]] = []  # (draw, fold, grid index, x_val, y_val)
    n_folds: dict[int, int] = {}
    for d, (x, y, seed) in enumerate(draws):
        classes, counts = np.unique(y, return_counts=True)
        if len(classes) < 2:
            icpt = np.full(n_classes, -np.inf)
            icpt[int(classes[0])] = 0.0
            heads[d] = LogRegHead(np.zeros(dim), np.ones(dim), np.zeros((dim, n_classes)), icpt, float("nan"))
            continue
        if counts.min() < min_shots_for_cv:
            continue
        n_splits = min(5, int(counts.min()))
        n_folds[d] = n_splits
        folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
        for f, (tr, va) in enumerate(folds):
            mean, scale = standardize(x[tr])
            xs_tr = (np.asarray(x[tr], dtype=np.float64) - mean) / scale
            xs_va = (np.asarray(x[va], dtype=np.float64) - mean) / scale
            for j, c in enumerate(c_grid):
                cv_xs.append(xs_tr)
                cv_ys.append(y[tr])
                cv_cs.append(float(c))
                cv_val.append((d, f, j, xs_va, y[va]))
    if cv_xs:
        scores = {d: np.zeros((len(c_grid), n)) for d, n in n_folds.items()}
        for lo, hi, fit in _solve_chunks(cv_xs, cv_ys, cv_cs, n_classes, tol, max_iter, max_batch_bytes):
            for b in range(hi - lo):
                d, f, j, xs_va, y_va = cv_val[lo + b]
                pred = fit.decision(xs_va, b).argmax(axis=1)
                scores[d][j, f] = f1_score(y_va, pred, average="macro", zero_division=0)
        for d, s in scores.items():
            means = np.average(s, axis=1)  # GridSearchCV's mean test score; argmax keeps the first of ties
            chosen[d] = float(c_grid[int(np.argmax(means))])
            log.debug("draw %d: inner-CV macro-F1 %s -> C=%g", d, np.round(means, 4).tolist(), chosen[d])
    # stage 2: refit every draw on all its shots
    todo = [d for d in range(len(draws)) if heads[d] is None]
    stats = [standardize(draws[d][0]) for d in todo]
    xs = [(np.asarray(draws[d][0], dtype=np.float64) - m) / s for d, (m, s) in zip(todo, stats, strict=True)]
    ys = [draws[d][1] for d in todo]
    cs = [chosen[d] for d in todo]
    if todo:
        for lo, hi, fit in _solve_chunks(xs, ys, cs, n_classes, tol, max_iter, max_batch_bytes):
            for b in range(hi - lo):
                d = todo[lo + b]
                m, s = stats[lo + b]
                heads[d] = LogRegHead(m, s, fit.coef[b], fit.intercept[b], chosen[d])
    return [h for h in heads if h is not None]


def _solve_chunks(
    xs: list[np.ndarray],
    ys: list[np.ndarray],
    cs: list[float],
    n_classes: int,
    tol: float,
    max_iter: int,
    max_bytes: int,
) -> list[tuple[int, int, LogRegFit]]:
    """Solve consecutive chunks of problems whose stacked arrays fit in ``max_bytes``: (start, stop, fit)."""
    out = []
    lo = 0
    while lo < len(xs):
        hi = lo + 1
        while hi < len(xs):
            n = max(x.shape[0] for x in xs[lo : hi + 1])
            r = min(n, xs[lo].shape[1]) + 1
            if 8 * (hi + 1 - lo) * n * (r + 2 * n_classes + 2 * _MEMORY * n_classes) > max_bytes:
                break
            hi += 1
        out.append((lo, hi, fit_logreg_batch(xs[lo:hi], ys[lo:hi], cs[lo:hi], n_classes, tol, max_iter)))
        lo = hi
    return out
