"""Selection over the whole shot: the path follows the actor's pose with few switches, and beats
any single fixed library frame on pose error."""
from __future__ import annotations

import numpy as np

from faceplate.core.face import selection
from faceplate.core.face.expression import Expression


class _Lib:
    def __init__(self, exprs):
        self.frames = [type("F", (), {"expression": e, "embedding": None})() for e in exprs]


def _e(yaw, eye=0.3, mouth=0.05):
    return Expression(yaw, 0.0, 0.0, eye, eye, mouth)


def test_path_follows_pose_with_bounded_switching():
    lib = _Lib([_e(y) for y in range(-40, 41, 5)])            # 17 library poses
    rng = np.random.default_rng(0)
    true_yaw = 35 * np.sin(np.linspace(0, np.pi, 120))        # a head turn, measured with jitter
    targets = [_e(y) for y in true_yaw + rng.normal(0, 3, 120)]
    cost = selection.unary_costs(targets, [f.expression for f in lib.frames], selection.SelectionSettings())
    path = selection.viterbi(cost, selection.SelectionSettings().switch_cost)
    greedy = list(np.argmin(cost, axis=1))
    switches = lambda p: sum(a != b for a, b in zip(p, p[1:]))  # noqa: E731
    assert switches(path) <= 16 and switches(path) < 0.5 * switches(greedy)
    chosen = np.array([lib.frames[k].expression.yaw for k in path])
    err = np.abs(chosen - true_yaw).mean()
    fixed = min(np.abs(lib.frames[k].expression.yaw - true_yaw).mean() for k in range(len(lib.frames)))
    assert err < 4.0 and err < 0.4 * fixed


def test_eye_state_is_matched_and_outlier_identity_avoided():
    lib = _Lib([_e(0, eye=0.3), _e(0, eye=0.08), _e(0, eye=0.09)])
    lib.frames[1].embedding = np.array([0.0, 1.0, 0.0])       # a wrong face in the clip
    lib.frames[0].embedding = np.array([1.0, 0.0, 0.0])
    lib.frames[2].embedding = np.array([1.0, 0.05, 0.0])
    closed = [_e(0, eye=0.08)] * 5
    cost = selection.unary_costs(closed, [f.expression for f in lib.frames], selection.SelectionSettings(),
                                 [f.embedding for f in lib.frames])
    assert selection.viterbi(cost, 2.0) == [2] * 5
    assert selection.nearest(_e(0, eye=0.31), lib) == 0
