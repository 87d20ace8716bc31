"""Spec §8 item 15: the J / F / J&F conventions the ISVOS evaluation relies on (DAVIS definitions)."""
import numpy as np
import pytest

from vidseg.evaluation.vos_metrics import boundary_radius, f_measure, jaccard


def _square(h, w, y, x, s):
    m = np.zeros((h, w), bool)
    m[y: y + s, x: x + s] = True
    return m


def test_jaccard_known_and_empty():
    a, b = _square(10, 10, 0, 0, 4), _square(10, 10, 2, 0, 4)  # overlap 2x4 = 8, union 24
    assert jaccard(a, b) == pytest.approx(8 / 24)
    empty = np.zeros((10, 10), bool)
    assert jaccard(empty, empty) == 1.0
    assert f_measure(empty, empty, radius=3) == 1.0


def test_f_tolerance_at_480p():
    h, w = 480, 854
    r = boundary_radius(h, w)
    assert r == 8
    gt = _square(h, w, 100, 100, 120)
    assert f_measure(gt, _square(h, w, 100, 100 + r, 120), radius=r) == pytest.approx(1.0)
    assert f_measure(gt, _square(h, w, 100, 100 + 2 * r + 2, 120), radius=r) < 1.0
