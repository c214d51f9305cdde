"""Seeded fuzz over the track-file loader and the render geometry (issue 12).

Each case mutates one value of a real track file (numbers scaled by 1e3..1e300, huge integers,
NaN/Infinity, wrong types, deleted or shuffled keys, swapped points). The loader must either
accept it or raise TrackFileError (never another exception), and a file it accepts must render:
no exception, no hang (a per-case alarm), and every pixel outside the matte bit-identical.
A longer run: ``python bench/bench_track_fuzz.py --cases 5000``.
"""
from __future__ import annotations

import pytest

from tests.core.small_shot import make_small_shot
from tests.core.track_fuzz import run_cases


N_CASES = 320


@pytest.fixture(scope="module")
def shot(tmp_path_factory, package_faces):
    return make_small_shot(tmp_path_factory.mktemp("fuzz"), package_faces.person(2),
                           package_faces.astronaut, frames=(1001,))


def test_fuzzed_track_files_load_or_refuse_and_render_only_inside_the_matte(shot, tmp_path):
    summary = run_cases(shot, tmp_path, N_CASES, seed=12, timeout_s=20)
    assert summary["cases"] == N_CASES
    assert not summary["failures"], summary["failures"][:5]
    # the mutations exercise both paths: refusals and renders of odd but valid geometry
    assert summary["refused"] > 50 and summary["rendered"] > 50, summary
