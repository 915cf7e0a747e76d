"""The timeline's smoothing (genrelens.analysis.timeline): steady music stays one genre, a real change stays put."""
from __future__ import annotations

import numpy as np

from genrelens.analysis.timeline import DEFAULT_SWITCH_COST, smooth


def answers(rows: list[list[float]]) -> np.ndarray:
    p = np.array(rows, dtype=np.float64)
    return p / p.sum(axis=1, keepdims=True)


def test_a_lone_wavering_segment_does_not_flicker():
    # genre 0 throughout, but segment 3 leans slightly to genre 1
    p = answers([[0.7, 0.3]] * 3 + [[0.45, 0.55]] + [[0.7, 0.3]] * 3)
    assert p.argmax(axis=1).tolist() == [0, 0, 0, 1, 0, 0, 0]
    assert smooth(p).tolist() == [0] * 7


def test_a_real_change_is_kept_where_it_happens():
    for change in (3, 5, 7):
        p = answers([[0.8, 0.2]] * change + [[0.2, 0.8]] * (10 - change))
        assert smooth(p).tolist() == [0] * change + [1] * (10 - change)


def test_a_change_with_one_unsure_segment_at_the_border_moves_by_at_most_one():
    p = answers([[0.9, 0.1]] * 5 + [[0.48, 0.52]] + [[0.1, 0.9]] * 5)
    path = smooth(p).tolist()
    assert path[:5] == [0] * 5 and path[6:] == [1] * 5


def test_a_sure_single_segment_survives():
    """A segment far surer of another genre than its neighbours' (more than exp(2 * cost)) is kept."""
    sure = np.exp(2 * DEFAULT_SWITCH_COST) * 2
    p = answers([[0.6, 0.4, 0.0001]] * 3 + [[1, 1, sure]] + [[0.6, 0.4, 0.0001]] * 3)
    assert smooth(p).tolist() == [0, 0, 0, 2, 0, 0, 0]


def test_no_cost_is_the_segments_own_answer_and_edge_cases():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(5), size=30)
    assert smooth(p, switch_cost=0.0).tolist() == p.argmax(axis=1).tolist()
    assert smooth(p[:1]).tolist() == [int(p[0].argmax())]
    assert smooth(np.zeros((0, 5))).tolist() == []
    assert len(set(smooth(p, switch_cost=1e6).tolist())) == 1
