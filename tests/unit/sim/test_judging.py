"""The correlated judge model: one latent draw per pair for both orders, the explicit
advantage, the tie to the ranker's own answer, the task's persuasiveness, stated confidences."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from sim.judging import JudgeModel, draw_pair_verdicts, task_concentration
from sim.model import JUDGED_A, JUDGED_B, JUDGED_TIE

N = 4000
LABELS = np.asarray([0, 1, 2], dtype=np.int64)  # item 0 correct, 1 popular, 2 other


def judge(
    model: JudgeModel,
    own: int = -1,
    z: float = 0.0,
    wrong_item: int = 1,
    both_orders: bool = False,
    bias: float = 0.0,
    seed: int = 0,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """N rankers judging (correct, wrong) once, or in both orders; returns verdict, confidence
    and whether side A was the correct item."""
    ranker = np.arange(N, dtype=np.int64)
    a = np.zeros(N, dtype=np.int64)
    b = np.full(N, wrong_item, dtype=np.int64)
    if both_orders:
        ranker, a, b = (
            np.concatenate([ranker, ranker]),
            np.concatenate([a, b]),
            np.concatenate([b, a]),
        )
    out = draw_pair_verdicts(
        model,
        ranker,
        a,
        b,
        LABELS,
        LABELS == 0,
        np.zeros(ranker.shape[0]),
        np.full(ranker.shape[0], bias),
        np.full(ranker.shape[0], own, dtype=np.int64),
        np.full(ranker.shape[0], 0.5),
        0.0,
        z,
        np.random.default_rng(seed),
    )
    return out.verdict, out.confidence, (a == 0).astype(np.int64)


def right_rate(verdict: npt.NDArray[np.int64], a_correct: npt.NDArray[np.int64]) -> float:
    return float(np.mean(np.where(a_correct == 1, verdict == JUDGED_A, verdict == JUDGED_B)))


def test_both_orders_share_one_latent_draw() -> None:
    verdict, _, _ = judge(JudgeModel(ease=0.0, correlation=0.0), both_orders=True)
    first, second = verdict[:N], verdict[N:]
    # the same side wins in both orders: A then B (or B then A), never A and A
    assert np.all((first == JUDGED_A) == (second == JUDGED_B))
    assert 0.4 < float(np.mean(first == JUDGED_A)) < 0.6  # a coin on merit at parity


def test_position_bias_acts_per_order() -> None:
    verdict, _, _ = judge(JudgeModel(), both_orders=True, bias=1.0)
    assert np.all(verdict == JUDGED_A)


def test_judging_ease_is_the_advantage() -> None:
    parity = right_rate(*judge(JudgeModel(ease=0.0, correlation=0.0))[::2])
    easy = right_rate(*judge(JudgeModel(ease=1.0, correlation=0.0))[::2])
    assert abs(parity - 0.5) < 0.03
    assert abs(easy - 1 / (1 + np.exp(-1.0))) < 0.03


def test_judging_is_tied_to_the_rankers_own_answer() -> None:
    model = JudgeModel(ease=0.0, correlation=2.0)
    wrong_own = right_rate(*judge(model, own=1)[::2])
    right_own = right_rate(*judge(model, own=0)[::2])
    # q = 0.5: a wrong own answer costs 1 logit, a right one earns 1 (centred)
    assert abs(wrong_own - 1 / (1 + np.e)) < 0.03
    assert abs(right_own - 1 / (1 + np.exp(-1.0))) < 0.03


def test_persuasive_distractors_fool_judges_and_generators() -> None:
    model = JudgeModel(ease=0.0, correlation=0.0)
    persuasive = right_rate(*judge(model, z=1.5)[::2])
    other = right_rate(*judge(model, z=1.5, wrong_item=2)[::2])
    assert persuasive < 0.25 and abs(other - 0.5) < 0.03  # only the popular one persuades
    low, high = (
        task_concentration(np.asarray([0.5, 0.5]), -1.0),
        task_concentration(np.asarray([0.5]), 1.0),
    )
    assert float(low[0]) < 0.5 < float(high[0])
    assert task_concentration(np.asarray([0.0, 1.0]), 3.0).tolist() == [0.0, 1.0]


def test_confidences_are_stated_like_the_node_backend() -> None:
    verdict, confidence, _ = judge(JudgeModel(ease=2.0, correlation=0.0))
    decided = verdict != JUDGED_TIE
    assert np.all((confidence[decided] >= 0.5) & (confidence[decided] <= 1.0))
    assert np.all(np.isnan(confidence[~decided]))
    # the favourite is stated at sigmoid(2); the underdog at the floor
    assert np.isclose(confidence[decided].max(), 1 / (1 + np.exp(-2.0)))
    assert np.isclose(confidence[decided].min(), 0.5)
