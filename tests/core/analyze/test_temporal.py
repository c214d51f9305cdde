"""Per-frame estimates smoothed over a shot: flicker goes, steps stay sharp and in place, cuts reset."""
from __future__ import annotations

import numpy as np
import pytest

from faceplate.core.analyze.temporal import segment_starts, smooth_estimates

T = 100


def _mean_abs_change(x: np.ndarray) -> float:
    return float(np.abs(np.diff(x, axis=0)).mean())


@pytest.mark.parametrize("seed", range(5))
def test_flicker_is_removed(seed):
    rng = np.random.default_rng(seed)
    raw = 1.0 + rng.normal(0.0, 0.02, T)
    out = smooth_estimates(raw)
    assert _mean_abs_change(out) <= 0.3 * _mean_abs_change(raw)
    assert np.std(out - 1.0) <= 0.6 * np.std(raw - 1.0)


@pytest.mark.parametrize("seed", range(5))
def test_a_step_is_followed_without_lag(seed):
    rng = np.random.default_rng(seed)
    truth = np.where(np.arange(T) < 50, 0.8, 1.2)
    out = smooth_estimates(truth + rng.normal(0.0, 0.02, T))
    assert out[49] < 1.0 < out[50]                       # the change happens where it happened
    far = np.r_[0:47, 53:T]
    assert np.abs(out - truth)[far].max() < 0.05


def test_vectors_in_log_space_keep_their_scales():
    rng = np.random.default_rng(1)
    truth = np.array([0.5, 1.0, 20.0])                  # very different magnitudes in one estimate
    raw = truth * np.exp(rng.normal(0.0, 0.03, (T, 3)))
    out = smooth_estimates(raw, log=True)
    assert out.shape == raw.shape and np.all(out > 0)
    for k in range(3):
        assert _mean_abs_change(out[:, k]) <= 0.3 * _mean_abs_change(raw[:, k])
        assert abs(np.median(out[:, k]) / truth[k] - 1.0) < 0.02
    with pytest.raises(ValueError):
        smooth_estimates(-raw, log=True)


def test_cuts_and_gaps_split_the_shot_into_independent_pieces():
    rng = np.random.default_rng(2)
    frames = list(range(1001, 1051)) + list(range(1051, 1101))
    raw = 1.0 + rng.normal(0.0, 0.02, 100)
    other = raw.copy()
    other[50:] += 0.3 * rng.standard_normal(50)          # the second shot changes completely
    a = smooth_estimates(raw, frames, cuts=[1051])
    b = smooth_estimates(other, frames, cuts=[1051])
    assert np.array_equal(a[:50], b[:50])                 # nothing crosses the cut
    assert not np.array_equal(smooth_estimates(raw, frames)[:50], smooth_estimates(other, frames)[:50])
    gappy = list(range(1001, 1011)) + list(range(1014, 1030))
    assert segment_starts(gappy, max_gap=2).tolist() == [True] + [False] * 9 + [True] + [False] * 15
    assert segment_starts(gappy, max_gap=3).sum() == 1
    assert segment_starts(range(1001, 1011), cuts=[1005]).tolist() == [True] + [False] * 3 + [True] + [False] * 5


def test_untrusted_frames_are_filled_from_their_neighbours():
    rng = np.random.default_rng(3)
    raw = 1.0 + rng.normal(0.0, 0.02, T)
    raw[40:43] = 5.0                                       # e.g. an occluded face's colour estimate
    valid = np.ones(T, bool)
    valid[40:43] = False
    out = smooth_estimates(raw, valid=valid)
    assert np.abs(out[38:45] - 1.0).max() < 0.05
    assert smooth_estimates(raw[:2]).tolist() == raw[:2].tolist()   # too short to smooth: unchanged
