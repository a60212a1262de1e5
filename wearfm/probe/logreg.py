"""Batched multinomial logistic regression: many small standardised few-shot problems solved at once.

The loss is scikit-learn's (``LogisticRegression(solver="lbfgs")``, multinomial, L2 penalty, intercept not
penalised): ``C * sum_i CE(x_i, y_i) + 0.5 * ||W||^2``, minimised here in its scaled form
``mean_i CE + ||W||^2 / (2 C n)`` (the form scikit-learn hands to L-BFGS, so gradient tolerances mean the
same). Features are standardised per problem as ``StandardScaler`` does, in float64 throughout.

Every problem of a batch (each value of ``C`` x each inner fold x each trial) is solved by one vectorised
L-BFGS over a stack of zero-padded arrays, in float64 with NumPy, that takes the same steps as SciPy's
L-BFGS-B does for scikit-learn (same line search, same stopping tests), so the weights agree with
scikit-learn's to rounding. One loop in one process replaces hundreds of separate fits, each with its own
Python, process-pool and thread start-up costs; the problems of one fold (every ``C``) share one matrix
product per step. Rows beyond a problem's size carry zero weight; classes absent from a problem get no
logit.

A problem's weights lie in the span of its rows (the gradient of the loss is ``X^T (P - Y)`` plus a
multiple of ``W``), so when it has at most 0.8 times as many rows as dimensions it is solved in that
``n``-dimensional span (a QR factorisation of ``X^T``) and mapped back: the same steps, fewer unknowns.

:func:`fit_heads` runs the whole head protocol of :mod:`wearfm.probe.heads` (inner CV over
``C_GRID`` by macro-F1 with ``StratifiedKFold``, then a refit on all shots) for many draws at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

__all__ = ["LogRegFit", "LogRegHead", "standardize", "fit_logreg_batch", "fit_heads"]

log = logging.getLogger(__name__)

_MEMORY = 10  # L-BFGS curvature pairs kept (SciPy's default ``maxcor``)
_MAX_LINE_SEARCH = 50  # function evaluations per line search (scikit-learn's maxls)


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


def _scaled(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``(x - mean) / scale`` in float64 (``StandardScaler().transform`` of float64 input)."""
    out: np.ndarray = (np.asarray(x, dtype=np.float64) - mean) / scale
    return out


def fit_logreg_batch(
    xs: Sequence[np.ndarray],
    ys: Sequence[np.ndarray],
    cs: Sequence[float],
    n_classes: int,
    tol: float = 1e-4,
    max_iter: int = 2000,
) -> LogRegFit:
    """Fit one multinomial L2 logistic regression per problem, all in one batched L-BFGS.

    Problems given the same feature array (the same object in ``xs``, e.g. one inner fold at every ``C``)
    share it: one matrix product serves all of them.

    Args:
        xs: B arrays (n_b, D) of already standardised features (same D for all).
        ys: B arrays (n_b,) of class indices in ``[0, n_classes)``; each problem fits the classes it has.
        cs: B inverse regularisation strengths (scikit-learn's ``C``).
        n_classes: K, the size of the shared class index space.
        tol: stop a problem when the largest absolute gradient entry of the scaled loss is below this
            (scikit-learn's ``tol``; 1e-4 is its default).
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
    # group problems by their feature array: (design, slot) per problem
    designs: dict[int, list[int]] = {}
    for b, x in enumerate(xs):
        designs.setdefault(id(x), []).append(b)
    groups = list(designs.values())
    for members in groups:
        if any(not np.array_equal(ys[b], ys[members[0]]) for b in members):
            raise ValueError("problems that share a feature array must share its labels")
    n_grp, width = len(groups), max(len(m) for m in groups)
    dim = int(xs[0].shape[1])
    n_max = max(int(x.shape[0]) for x in xs)
    reduce = 5 * n_max <= 4 * dim  # solve in the span of the rows: n_max unknowns per class instead of dim
    r = n_max if reduce else dim
    k = n_classes
    xa = np.zeros((n_grp, n_max, r + 1))  # features (or their row-span coordinates) and a ones column
    onehot = np.zeros((n_grp, n_max, k))
    rw = np.zeros((n_grp, n_max))  # row weight: 1/n for real rows, 0 for padding
    absent = np.ones((n_grp, k), dtype=bool)
    basis = np.zeros((n_grp, dim, r)) if reduce else None
    pen = np.ones((n_grp, width))  # scaled L2 strength 1/(C n); unused slots keep 1 and are never stepped
    used = np.zeros((n_grp, width), dtype=bool)
    for g, members in enumerate(groups):
        x, y = np.asarray(xs[members[0]], dtype=np.float64), np.asarray(ys[members[0]], dtype=np.int64)
        n = x.shape[0]
        if basis is not None:
            q, rr = np.linalg.qr(x.T)  # x = rr.T @ q.T; q: (dim, n)
            basis[g, :, :n] = q
            xa[g, :n, :n] = rr.T
        else:
            xa[g, :n, :dim] = x
        xa[g, :n, r] = 1.0
        onehot[g, np.arange(n), y] = 1.0
        rw[g, :n] = 1.0 / n
        absent[g, np.unique(y)] = False
        for j, b in enumerate(members):
            pen[g, j] = 1.0 / (float(cs[b]) * n)
            used[g, j] = True
    theta, n_iter, conv = _lbfgs(xa, onehot, rw, absent, pen, used, tol, max_iter, basis)
    # back to the caller's order: problem b is (group, slot)
    where = {b: (g, j) for g, members in enumerate(groups) for j, b in enumerate(members)}
    gi = np.array([where[b][0] for b in range(n_prob)])
    ji = np.array([where[b][1] for b in range(n_prob)])
    w = theta[gi * width + ji, :r, :]
    if basis is not None:
        w = np.matmul(basis[gi], w)
    icpt = theta[gi * width + ji, r, :].copy()
    ab = absent[gi]
    icpt[ab] = np.nan
    icpt -= np.nanmean(icpt, axis=1, keepdims=True)  # the softmax is unchanged by a common shift
    icpt[ab] = -np.inf
    return LogRegFit(coef=w, intercept=icpt, n_iter=n_iter[gi * width + ji], converged=conv[gi * width + ji])


def _loss_grad(
    theta: np.ndarray, xa: np.ndarray, onehot: np.ndarray, rw: np.ndarray, absent: np.ndarray, pen: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Scaled losses (G, c) and gradients (G, c, r+1, K) of the c problems of each of G designs.

    ``theta`` is (G, c, r+1, K); one product with each design's features serves its c problems.
    """
    n_grp, width, rp, k = theta.shape
    n = xa.shape[1]
    th = np.ascontiguousarray(theta.transpose(0, 2, 1, 3)).reshape(n_grp, rp, width * k)
    z = np.matmul(xa, th).reshape(n_grp, n, width, k)
    zy = np.einsum("gnck,gnk->gnc", z, onehot)
    z += np.where(absent, -np.inf, 0.0)[:, None, None, :]  # classes a problem lacks get no probability
    zmax = z.max(axis=3, keepdims=True)
    ez = np.exp(z - zmax)
    se = ez.sum(axis=3, keepdims=True)
    lse = np.log(se)[..., 0] + zmax[..., 0]  # (G, N, c)
    w = theta[:, :, :-1, :]
    f = np.einsum("gnc,gn->gc", lse - zy, rw) + 0.5 * pen * np.einsum("gcrk,gcrk->gc", w, w)
    resid = (ez / se - onehot[:, :, None, :]) * rw[:, :, None, None]
    grad = np.matmul(xa.transpose(0, 2, 1), resid.reshape(n_grp, n, width * k)).reshape(n_grp, rp, width, k)
    g = np.ascontiguousarray(grad.transpose(0, 2, 1, 3))
    g[:, :, :-1, :] += pen[:, :, None, None] * w
    return f, g


def _lbfgs(
    xa: np.ndarray,
    onehot: np.ndarray,
    rw: np.ndarray,
    absent: np.ndarray,
    pen: np.ndarray,
    used: np.ndarray,
    tol: float,
    max_iter: int,
    basis: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batched L-BFGS, step for step as SciPy's L-BFGS-B without bounds (as scikit-learn calls it).

    Per problem: the two-loop direction from the pairs of the last :data:`_MEMORY` iterations (a pair is
    skipped when ``s.y <= eps * (-g.s)``, which strictly convex losses all but never meet), a first step
    of length 1 along ``-g`` then unit steps, MINPACK-2's ``dcsrch`` line search (``ftol=1e-3``,
    ``gtol=0.9``, ``xtol=0.1``, :data:`_MAX_LINE_SEARCH` evaluations), and L-BFGS-B's stopping tests:
    largest absolute gradient entry ``<= tol``, or a relative decrease of the loss ``<= 64 eps``
    (scikit-learn's ``ftol``). Function evaluations of all problems run batched.

    Problems are indexed ``p = group * c + slot``; the state arrays are (P, r+1, K). With ``basis``
    (G, D, r) the unknowns are row-span coordinates: every step is the same as in the full space (L-BFGS
    only uses inner products, which the orthonormal basis keeps), but the largest gradient entry is measured
    in the full space, where the tolerance is defined.
    """
    # MINPACK-2's line search as L-BFGS-B runs it; private to SciPy since 1.12 (the probe tests catch a move)
    from scipy.optimize._dcsrch import DCSRCH

    n_grp, width = pen.shape
    n_prob = n_grp * width
    _, _, rp = xa.shape
    k = onehot.shape[2]
    eps = np.finfo(np.float64).eps

    def evaluate(th: np.ndarray, grp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Losses and gradients of every problem of groups ``grp`` at ``th`` (len(grp) * c, r+1, K)."""
        t4 = th.reshape(len(grp), width, rp, k)
        if len(grp) == n_grp:
            f, g = _loss_grad(t4, xa, onehot, rw, absent, pen)
        else:
            f, g = _loss_grad(t4, xa[grp], onehot[grp], rw[grp], absent[grp], pen[grp])
        return f.reshape(-1), g.reshape(-1, rp, k)

    def members(grp: np.ndarray) -> np.ndarray:
        out: np.ndarray = (grp[:, None] * width + np.arange(width)[None, :]).reshape(-1)
        return out

    def gmax(sel: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """Largest absolute entry of the full-space gradient of problems ``sel``."""
        out: np.ndarray = np.abs(grad).max(axis=(1, 2))
        if basis is None:
            return out
        # |v|_max >= |v|_2 / sqrt(size): only problems that may be within tol need the full-space gradient
        maybe = np.sqrt(np.einsum("prk,prk->p", grad, grad)) <= tol * np.sqrt(basis.shape[1] * k + k)
        for i in np.flatnonzero(maybe):
            full = basis[sel[i] // width] @ grad[i, :-1, :]
            out[i] = max(float(np.abs(full).max()), float(np.abs(grad[i, -1, :]).max()))
        out[~maybe] = np.inf
        return out

    all_grp = np.arange(n_grp)
    theta = np.zeros((n_prob, rp, k))
    theta_out, n_iter_out, conv_out = np.zeros_like(theta), np.zeros(n_prob, np.int64), np.zeros(n_prob, bool)
    orig = np.arange(n_prob)  # each working row's problem
    f, g = evaluate(theta, all_grp)
    # pairs sit in a ring shared by all problems (slot = iteration mod memory): views, no gathers; a pair a
    # problem skips or drops is stored as zeros with rho = 0, which the two-loop recursion passes over
    s_hist = np.zeros((n_prob, _MEMORY, rp, k))
    y_hist = np.zeros((n_prob, _MEMORY, rp, k))
    rho = np.zeros((n_prob, _MEMORY))
    gamma = np.ones(n_prob)  # s.y / y.y of each problem's newest stored pair (1 before any)
    n_iter = np.zeros(n_prob, dtype=np.int64)
    every = np.arange(n_prob)
    conv = gmax(every, g) <= tol
    done = conv | ~used.reshape(-1)
    it = 0
    while not done.all():
        act = np.flatnonzero(~done)
        # two-loop recursion, newest pair first
        q = -g
        alpha = np.zeros((n_prob, _MEMORY))
        slots = [(it - 1 - j) % _MEMORY for j in range(min(it, _MEMORY))]
        for slot in slots:
            alpha[:, slot] = rho[:, slot] * np.einsum("bpk,bpk->b", s_hist[:, slot], q)
            q -= alpha[:, slot, None, None] * y_hist[:, slot]
        q *= gamma[:, None, None]
        for slot in reversed(slots):
            beta = rho[:, slot] * np.einsum("bpk,bpk->b", y_hist[:, slot], q)
            q += (alpha[:, slot] - beta)[:, None, None] * s_hist[:, slot]
        d = q
        d[done] = 0.0
        gd0 = np.einsum("bpk,bpk->b", g, d)
        uphill = act[gd0[act] >= 0]  # rounding made the direction useless: drop the pairs, go down the gradient
        if len(uphill):
            rho[uphill] = 0.0
            gamma[uphill] = 1.0
            d[uphill] = -g[uphill]
            gd0[uphill] = -np.einsum("bpk,bpk->b", g[uphill], g[uphill])
        stp = np.zeros(n_prob)
        first = n_iter[act] == 0
        stp[act] = np.where(first, 1.0 / np.sqrt(np.einsum("bpk,bpk->b", d[act], d[act])), 1.0)
        searches: dict[int, DCSRCH] = {}
        tasks: dict[int, bytes] = {}
        for p in act.tolist():
            searches[p] = DCSRCH(None, None, 1e-3, 0.9, 0.1, 0.0, 1e10)
            stp[p], _, _, tasks[p] = searches[p]._iterate(stp[p], f[p], gd0[p], b"START")
        f_new, g_new = f.copy(), g.copy()
        pending = np.zeros(n_prob, dtype=bool)
        pending[act] = [tasks[p][:2] == b"FG" for p in act.tolist()]
        failed = np.zeros(n_prob, dtype=bool)
        for _ in range(_MAX_LINE_SEARCH):
            if not pending.any():
                break
            grp = np.unique(np.flatnonzero(pending) // width)
            if len(grp) >= 0.75 * n_grp:  # cheaper to evaluate every group than to copy most of them
                grp = all_grp
                ft, gt = evaluate(theta + stp[:, None, None] * d, grp)
                mem = every
            else:
                mem = members(grp)
                ft, gt = evaluate(theta[mem] + stp[mem, None, None] * d[mem], grp)
            sel = np.flatnonzero(pending[mem])
            gdt = np.einsum("bpk,bpk->b", gt[sel], d[mem[sel]])
            for i, gdi in zip(sel.tolist(), gdt.tolist(), strict=True):
                p = int(mem[i])
                f_new[p], g_new[p] = ft[i], gt[i]
                stp[p], _, _, tasks[p] = searches[p]._iterate(stp[p], ft[i], gdi, tasks[p])
                if tasks[p][:2] == b"FG":
                    if not np.isfinite(stp[p]):
                        failed[p], pending[p] = True, False
                else:
                    pending[p] = False
                    failed[p] = tasks[p][:5] == b"ERROR"
        failed |= pending  # no acceptable step within the evaluation budget
        ok = act[~failed[act]]
        # accept: stp is the last evaluated step when dcsrch reports convergence or a warning
        s = stp[ok, None, None] * d[ok]
        yv = g_new[ok] - g[ok]
        gd_new = np.einsum("bpk,bpk->b", g_new[ok], d[ok])
        f_old = f[ok]
        theta[ok] += s
        f[ok], g[ok] = f_new[ok], g_new[ok]
        n_iter[ok] += 1
        newly = gmax(ok, g[ok]) <= tol
        conv[ok] |= newly
        flat = (f_old - f[ok]) <= 64 * eps * np.maximum(np.maximum(np.abs(f_old), np.abs(f[ok])), 1.0)
        done[ok] |= newly | flat | (n_iter[ok] >= max_iter)
        done[act[failed[act]]] = True
        # store the pair unless its curvature is negligible (L-BFGS-B's test)
        sy = (gd_new - gd0[ok]) * stp[ok]
        keep = sy > eps * (-gd0[ok] * stp[ok])
        kb = ok[keep]
        slot = it % _MEMORY
        s_hist[:, slot] = 0.0
        y_hist[:, slot] = 0.0
        rho[:, slot] = 0.0
        s_hist[kb, slot] = s[keep]
        y_hist[kb, slot] = yv[keep]
        rho[kb, slot] = 1.0 / sy[keep]
        gamma[kb] = sy[keep] / np.einsum("bpk,bpk->b", yv[keep], yv[keep])
        it += 1
        # drop designs whose problems are all done, so that a slow problem does not carry finished ones
        gdone = done.reshape(n_grp, width).all(axis=1)
        if gdone.sum() >= max(1, n_grp // 4) and not gdone.all():
            out = members(np.flatnonzero(gdone))
            theta_out[orig[out]], n_iter_out[orig[out]], conv_out[orig[out]] = theta[out], n_iter[out], conv[out]
            kg = np.flatnonzero(~gdone)
            kp = members(kg)
            xa, onehot, rw, absent, pen = xa[kg], onehot[kg], rw[kg], absent[kg], pen[kg]
            if basis is not None:
                basis = basis[kg]
            theta, f, g, s_hist, y_hist = theta[kp], f[kp], g[kp], s_hist[kp], y_hist[kp]
            rho, gamma, n_iter, conv, done, orig = rho[kp], gamma[kp], n_iter[kp], conv[kp], done[kp], orig[kp]
            n_grp, n_prob = len(kg), len(kp)
            all_grp, every = np.arange(n_grp), np.arange(n_prob)
    theta_out[orig], n_iter_out[orig], conv_out[orig] = theta, n_iter, conv
    return theta_out, n_iter_out, conv_out


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
        out: np.ndarray = _scaled(x, self.mean, self.scale) @ self.coef + self.intercept
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
    tol: float = 1e-4,
    max_iter: int = 2000,
    max_batch_bytes: int = 1 << 27,
    workers: int = 1,
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
        workers: threads solving chunks of a stage in parallel (the results do not depend on it).

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
            xs_tr = _scaled(x[tr], mean, scale)
            xs_va = _scaled(x[va], mean, scale)
            for j, c in enumerate(c_grid):
                cv_xs.append(xs_tr)
                cv_ys.append(y[tr])
                cv_cs.append(float(c))
                cv_val.append((d, f, j, xs_va, y[va]))
    if cv_xs:
        scores = {d: np.zeros((len(c_grid), n)) for d, n in n_folds.items()}
        for lo, hi, fit in _solve_chunks(cv_xs, cv_ys, cv_cs, n_classes, tol, max_iter, max_batch_bytes, workers):
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
    xs = [_scaled(draws[d][0], m, s) for d, (m, s) in zip(todo, stats, strict=True)]
    ys = [draws[d][1] for d in todo]
    cs = [chosen[d] for d in todo]
    if todo:
        for lo, hi, fit in _solve_chunks(xs, ys, cs, n_classes, tol, max_iter, max_batch_bytes, workers):
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
    workers: int,
) -> list[tuple[int, int, LogRegFit]]:
    """Solve consecutive chunks of problems, ``(start, stop, fit)`` each, on ``workers`` threads.

    A chunk holds about ``len(xs) / workers`` problems and at most ``max_bytes`` of working arrays; it
    never splits problems that share a feature array. NumPy's matrix products and array arithmetic release
    the GIL, so chunks run in parallel.
    """
    bounds: list[tuple[int, int]] = []
    lo, size, target = 0, 0.0, -(-len(xs) // max(1, workers))
    for i, x in enumerate(xs):
        n = x.shape[0]
        rp = min(n, x.shape[1]) + 1
        need = 8.0 * (rp * (n + (2 * _MEMORY + 6) * n_classes) + 6 * n * n_classes)
        if i > lo and x is not xs[i - 1] and (size + need > max_bytes or i - lo >= target):
            bounds.append((lo, i))
            lo, size = i, 0.0
        size += need
    bounds.append((lo, len(xs)))

    def solve(b: tuple[int, int]) -> LogRegFit:
        return fit_logreg_batch(xs[b[0] : b[1]], ys[b[0] : b[1]], cs[b[0] : b[1]], n_classes, tol, max_iter)

    if workers <= 1 or len(bounds) == 1:
        fits = [solve(b) for b in bounds]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            fits = list(pool.map(solve, bounds))
    return [(lo, hi, fit) for (lo, hi), fit in zip(bounds, fits, strict=True)]
