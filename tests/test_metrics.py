"""Metrics against scikit-learn on hand-made cases, including a class that is never predicted."""
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score

from microexpr.metrics import scores

CASES = [
    ([0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 2, 2]),
    ([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 0, 0]),        # class 2 never predicted
    ([0, 0, 0, 0, 1, 2], [0, 0, 0, 0, 0, 0]),        # only the majority predicted
    ([0, 1, 2, 3, 3, 3], [3, 2, 1, 0, 3, 3]),
]


@pytest.mark.parametrize("y,p", CASES)
def test_pooled_scores_match_sklearn_over_all_classes(y, p):
    k = 5  # one class (4) occurs nowhere: pooled scores still count it (F1 0)
    s = scores(y, p, k)
    labels = list(range(k))
    assert s["accuracy"] == pytest.approx(accuracy_score(y, p))
    assert s["uf1"] == pytest.approx(f1_score(y, p, labels=labels, average="macro", zero_division=0))
    assert s["uar"] == pytest.approx(recall_score(y, p, labels=labels, average="macro", zero_division=0))
    np.testing.assert_array_equal(s["confusion"], confusion_matrix(y, p, labels=labels))


@pytest.mark.parametrize("y,p", CASES)
def test_per_fold_scores_match_sklearn_defaults(y, p):
    s = scores(y, p, 5, all_classes=False)
    assert s["uf1"] == pytest.approx(f1_score(y, p, average="macro", zero_division=0))
    assert s["uar"] == pytest.approx(recall_score(y, p, labels=sorted(set(y)), average="macro", zero_division=0))


def test_a_class_never_predicted_counts_as_zero():
    s = scores([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 0, 0], 3)
    assert s["f1"][2] == 0.0
    # class 0: TP 1, FP 2, FN 1 -> 0.4; class 1: TP 2, FP 1 -> 0.8; class 2: 0
    assert s["uf1"] == pytest.approx((0.4 + 0.8 + 0.0) / 3)


def test_bootstrap_resamples_subjects_and_brackets_the_pooled_score():
    from microexpr.metrics import bootstrap_intervals, scores, scores_from_confusion

    rng = np.random.default_rng(1)
    groups = np.repeat([f"s{i}" for i in range(12)], 8)
    y = rng.integers(0, 3, len(groups))
    p = np.where(rng.random(len(groups)) < 0.6, y, rng.integers(0, 3, len(groups)))
    pooled = scores(y, p, 3)
    assert {k: float(v) for k, v in scores_from_confusion(pooled["confusion"]).items()} == pytest.approx(
        {k: pooled[k] for k in ("accuracy", "uf1", "uar")})
    ci = bootstrap_intervals(y, p, groups, 3, resamples=500)
    assert ci["unit"] == "subject" and ci["subjects"] == 12
    for k in ("accuracy", "uf1", "uar"):
        assert ci[k][0] < pooled[k] < ci[k][1]
    assert ci == bootstrap_intervals(y, p, groups, 3, resamples=500)  # seeded
    # one subject: every resample is that subject, so the interval is the point
    one = bootstrap_intervals(y[:8], p[:8], groups[:8], 3, resamples=50)
    assert one["uf1"][0] == one["uf1"][1] == pytest.approx(scores(y[:8], p[:8], 3)["uf1"])
    # subjects, not clips: subjects that differ widely give a wider interval than the same clips shuffled
    good = np.repeat(np.arange(12) % 2 == 0, 8)
    q = np.where(good, y, (y + 1) % 3)
    by_subject = bootstrap_intervals(y, q, groups, 3, resamples=500)["accuracy"]
    by_clip = bootstrap_intervals(y, q, np.arange(len(y)), 3, resamples=500)["accuracy"]
    assert by_subject[1] - by_subject[0] > 1.5 * (by_clip[1] - by_clip[0])


@pytest.mark.parametrize("y,p", CASES)
def test_per_class_figures_match_sklearn(y, p):
    from sklearn.metrics import precision_recall_fscore_support

    s = scores(y, p, 5)
    precision, recall, f1, support = precision_recall_fscore_support(y, p, labels=list(range(5)), zero_division=0)
    for ours, theirs in ((s["precision"], precision), (s["recall"], recall), (s["f1"], f1)):
        np.testing.assert_allclose(ours, theirs)
    np.testing.assert_array_equal(s["support"], support)


def test_a_class_index_outside_the_scheme_is_refused():
    with pytest.raises(ValueError, match=r"predicted class indices must lie in 0\.\.2"):
        scores([0, 1, 2], [0, 1, 3], 3)
    assert scores([], [], 3)["n"] == 0


def test_scoring_does_not_import_scikit_learn():
    """Training, report and predict jobs score without paying scikit-learn's import (about 1.8 s a job)."""
    import subprocess
    import sys

    code = ("import sys; from microexpr.metrics import scores; scores([0, 1], [1, 1], 2); "
            "assert 'sklearn' not in sys.modules, 'sklearn imported'")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
