"""top_k: the k most likely classes of each input, with ties broken by the lower class index."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bpnn_xp.errors import BpnnValueError
from bpnn_xp.ranking import top_k


def brute_force(row: np.ndarray, k: int) -> list[int]:
    """Oracle: classes sorted by (probability descending, index ascending) with Python's sort."""
    return sorted(range(len(row)), key=lambda c: (-row[c], c))[:k]


def test_matches_a_brute_force_ranking_on_random_tables():
    rng = np.random.default_rng(0)
    raw = rng.random((50, 10))
    table = raw / raw.sum(axis=1, keepdims=True)
    for k in (1, 3, 10):
        classes, probs = top_k(table, k)
        assert classes.shape == probs.shape == (50, k)
        for row, got, p in zip(table, classes, probs):
            assert list(got) == brute_force(row, k)
            assert np.array_equal(p, row[got])
            assert np.all(np.diff(p) <= 0)


def test_ties_go_to_the_lower_class_index():
    row = np.array([0.1, 0.3, 0.2, 0.3, 0.1])
    classes, probs = top_k(row, 4)
    assert classes.tolist() == [[1, 3, 2, 0]] and probs.tolist() == [[0.3, 0.3, 0.2, 0.1]]
    uniform = np.full((2, 6), 1 / 6)
    assert top_k(uniform, 6)[0].tolist() == [list(range(6))] * 2
    for perm in itertools.permutations([0.25, 0.25, 0.5]):
        assert top_k(np.array(perm), 3)[0][0].tolist() == brute_force(np.array(perm), 3)


def test_k_is_clipped_to_the_number_of_classes():
    classes, probs = top_k(np.array([[0.7, 0.3]]), 5)
    assert classes.tolist() == [[0, 1]] and probs.shape == (1, 2)


@pytest.mark.parametrize("k", [0, -1, 2.5, True, "3"])
def test_bad_k_is_one_clear_error(k):
    with pytest.raises(BpnnValueError, match="top-k must be a whole number of at least 1"):
        top_k(np.array([[0.5, 0.5]]), k)


def test_bad_tables_are_clear_errors():
    with pytest.raises(BpnnValueError, match="n x classes table"):
        top_k(np.zeros((2, 3, 4)), 1)
    with pytest.raises(BpnnValueError, match="NaN or infinite"):
        top_k(np.array([[np.nan, 1.0]]), 1)
