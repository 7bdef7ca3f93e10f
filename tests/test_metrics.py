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
