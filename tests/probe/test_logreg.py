"""The batched ``logreg`` head against scikit-learn (``LogisticRegression``, ``GridSearchCV``), same problems."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.preprocessing import StandardScaler

from wearfm.probe.heads import C_GRID, DEFAULT_C, MIN_SHOTS_FOR_CV, fit_predict_many, make_head
from wearfm.probe.logreg import fit_heads, fit_logreg_batch, standardize


def _embeddings(n_classes=6, dim=64, per_class=60, seed=0, spread=1.0):
    """Float32 embeddings of classes in a low-dimensional subspace plus noise (like a frozen encoder's)."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(n_classes, 8)) @ rng.normal(size=(8, dim)) * 0.4 * spread
    y = np.repeat(np.arange(n_classes), per_class)
    x = np.tanh(means[y] + rng.normal(size=(len(y), dim)))
    return x.astype(np.float32), y


def _draw(y, k, rng):
    return np.concatenate([rng.choice(np.flatnonzero(y == c), k, replace=False) for c in np.unique(y)])


def _macro_f1(y, p):
    return f1_score(y, p, labels=np.unique(y), average="macro", zero_division=0)


def _sklearn(x, y, c):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LogisticRegression(C=c, max_iter=2000).fit(x, y)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("dim", [16, 64, 200])  # 200: more dimensions than rows (solved in the row span)
def test_coefficients_and_predictions_match_sklearn(dim, dtype):
    """All C values and shot counts in one batch; each problem equals its own scikit-learn fit.

    On float64 input both run the same L-BFGS-B steps (same iterations, weights equal to rounding). On float32
    input (what encoders give) scikit-learn evaluates its loss in float32 and may stop a few iterations
    earlier on a flat loss; the weights still agree closely and the predictions do.
    """
    x, y = _embeddings(dim=dim)
    x = x.astype(dtype)
    rng = np.random.default_rng(1)
    test = np.setdiff1d(np.arange(len(y)), _draw(y, 30, np.random.default_rng(9)))
    problems = []
    for k in (1, 2, 4, 10, 25):  # the probe's fits: C = 1 below 5 shots; the grid in folds of >= 4 shots
        idx = _draw(y, k, rng)
        scaler = StandardScaler().fit(x[idx])
        mean, scale = standardize(x[idx])
        np.testing.assert_allclose(mean, scaler.mean_, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(scale, scaler.scale_, rtol=1e-6)
        for c in C_GRID if k >= 4 else (DEFAULT_C,):
            problems.append((idx, scaler, c))
    xs = [p[1].transform(x[p[0]]).astype(np.float64) for p in problems]
    fit = fit_logreg_batch(xs, [y[p[0]] for p in problems], [p[2] for p in problems], 6)
    exact = dtype == np.float64
    for b, (idx, scaler, c) in enumerate(problems):
        ref = _sklearn(scaler.transform(x[idx]), y[idx], c)
        coef, icpt = ref.coef_.T, ref.intercept_ - ref.intercept_.mean()
        scale = max(1.0, float(np.abs(coef).max()))
        assert np.abs(fit.coef[b] - coef).max() <= (1e-5 if exact else 3e-3) * scale, (len(idx), c)
        if exact:
            assert np.abs(fit.intercept[b] - icpt).max() <= 1e-4 * scale, (len(idx), c)
            assert abs(int(fit.n_iter[b]) - int(ref.n_iter_[0])) <= 1, (len(idx), c)
        xt = scaler.transform(x[test])
        assert (fit.decision(xt.astype(np.float64), b).argmax(1) == ref.predict(xt)).mean() >= 0.99, (len(idx), c)


def test_absent_classes_get_no_logit():
    """A problem of the batch without some classes fits only its own, as scikit-learn's fit on those rows."""
    x, y = _embeddings()
    keep = y < 4
    xs = (x - x.mean(0)) / x.std(0)
    fit = fit_logreg_batch([xs, xs[keep]], [y, y[keep]], [1.0, 1.0], n_classes=6)
    assert np.isneginf(fit.intercept[1, 4:]).all() and (fit.coef[1][:, 4:] == 0).all()
    pred = fit.decision(xs.astype(np.float64), 1).argmax(1)
    assert pred.max() < 4
    ref = _sklearn(xs[keep], y[keep], 1.0)
    assert (pred == ref.predict(xs)).mean() >= 0.99


@pytest.mark.parametrize("k", [2, 4, 5, 8])  # below MIN_SHOTS_FOR_CV: C = 1; from it: inner CV over C_GRID
def test_head_matches_sklearn_gridsearch(k):
    """The whole head (C choice by inner CV with the same folds, refit) equals logreg-sklearn, draw by draw."""
    x, y = _embeddings(n_classes=5, dim=48, per_class=80, seed=3, spread=0.6)
    rng = np.random.default_rng(k)
    test = np.setdiff1d(np.arange(len(y)), _draw(y, 40, np.random.default_rng(7)))
    pool = np.setdiff1d(np.arange(len(y)), test)
    draws = []
    for t in range(4):
        idx = pool[_draw(y[pool], k, rng)]
        draws.append((x[idx], y[idx], 1000 + t))
    heads = fit_heads([(a, b, s) for a, b, s in draws], C_GRID, DEFAULT_C, MIN_SHOTS_FOR_CV)
    new = fit_predict_many("logreg", draws, x[test])
    ref = fit_predict_many("logreg-sklearn", draws, x[test])
    for (xd, yd, seed), head, p_new, p_ref in zip(draws, heads, new, ref, strict=True):
        est = make_head("logreg-sklearn", yd, seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(xd, yd)
        c_ref = est.best_params_["logisticregression__C"] if k >= MIN_SHOTS_FOR_CV else est[-1].C
        assert head.c == c_ref
        assert (p_new == p_ref).mean() >= 0.99
        assert abs(_macro_f1(y[test], p_new) - _macro_f1(y[test], p_ref)) <= 0.005


def test_single_class_draw_predicts_that_class():
    x, y = _embeddings()
    [pred] = fit_predict_many("logreg", [(x[y == 2][:3], np.full(3, 2), 0)], x[:10])
    assert (pred == 2).all()


def test_jobs_do_not_change_results():
    x, y = _embeddings(n_classes=4, dim=32, per_class=40)
    rng = np.random.default_rng(0)
    draws = [(x[i], y[i], t) for t, i in enumerate(_draw(y, 6, rng) for _ in range(3))]
    a = fit_predict_many("logreg", draws, x, jobs=1)
    b = fit_predict_many("logreg", draws, x, jobs=-1)
    assert all((p == q).all() for p, q in zip(a, b, strict=True))


@pytest.mark.realdata
def test_matches_sklearn_on_sp_sw_har_embeddings(real_data, tmp_path):
    """Features of real watch windows (sp-sw-har), the probe's own draws: both heads agree, k = 1, 5 and 10."""
    from wearfm.config import IngestConfig, ProbeConfig
    from wearfm.data.windows import load_windows
    from wearfm.io.ingest import ingest
    from wearfm.probe.encoders import resolve_encoder
    from wearfm.probe.targets import make_task

    files = sorted((real_data / "sp-sw-har" / "DATA").glob("s0[1-6]/*_sw.csv"))
    assert files, "sp-sw-har watch files not found"
    ingest(files, tmp_path / "watch", IngestConfig(format="sp-sw-har"))
    cfg = ProbeConfig(data=str(tmp_path / "watch"), encoders=("features",), out="", test_subjects=("s02", "s05"))
    channels = ("acc_x", "acc_y", "acc_z")
    ws = load_windows(tmp_path / "watch", rate_hz=30.0, window=30, channels=channels, stride=8)
    train_s = ["s01", "s03", "s04", "s06"]
    task = make_task(ws, train_s, ["s02", "s05"], cfg, source="sp-sw-har")
    enc = resolve_encoder("features", rate_hz=30.0, window=30, channels=channels, device="cpu")
    assert enc.embed is not None
    emb = enc.embed(ws.batch(np.arange(len(ws.label)))).astype(np.float32)
    e_test, y_test = emb[task.test_idx], task.y_test
    for k in (1, 5, 10):
        draws = [(emb[i], task.y[i], 1000 + t) for t, i in enumerate(task.draw(0, t, k) for t in range(3))]
        new = fit_predict_many("logreg", draws, e_test)
        ref = fit_predict_many("logreg-sklearn", draws, e_test)
        for p_new, p_ref in zip(new, ref, strict=True):
            assert (p_new == p_ref).mean() >= 0.99, k
            assert abs(_macro_f1(y_test, p_new) - _macro_f1(y_test, p_ref)) <= 0.005, k
