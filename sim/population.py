"""The simulated population: per-node traits as flat numpy arrays (structure of arrays).

This module owns :class:`Population` and :func:`build_population`, which draws every node's
latent skills from its ``[[nodes]]`` group and sets starting reputations, :func:`trust_params`
(the scenario's admission settings as :class:`ranking.TrustParams`) and :func:`sit_exams`, which
has fresh identities sit the calibration exam drawn and graded by :func:`ranking.draw_exam` and
:func:`ranking.grade_exam`, the node's admission rules. Behaviour codes (``HONEST`` ... ``SLOW``)
index :data:`sim.scenario.BEHAVIOURS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ranking.trust import ExamResult, TrustParams, draw_exam, grade_exam
from sim.model import JUDGED_A, JUDGED_B, draw_answers, draw_judgements, judge_probabilities
from sim.scenario import BEHAVIOURS, Scenario

__all__ = [
    "BEHAVIOUR_CODE",
    "ESTABLISHED_REPUTATION",
    "Population",
    "build_population",
    "sit_exams",
    "trust_params",
]

BEHAVIOUR_CODE = {name: code for code, name in enumerate(BEHAVIOURS)}
HONEST = BEHAVIOUR_CODE["honest"]
LAZY = BEHAVIOUR_CODE["lazy"]
INVERTED = BEHAVIOUR_CODE["inverted"]
SELF_PROMOTING = BEHAVIOUR_CODE["self-promoting"]
CLIQUE = BEHAVIOUR_CODE["clique"]
SYBIL = BEHAVIOUR_CODE["sybil"]
FARMER = BEHAVIOUR_CODE["farmer"]
INJECTOR = BEHAVIOUR_CODE["injector"]
DEAD = BEHAVIOUR_CODE["dead"]
SLOW = BEHAVIOUR_CODE["slow"]
#: Behaviours that attack as a team, pushing one agreed wrong answer.
COLLUDING = (CLIQUE, SYBIL, FARMER, INJECTOR)

#: Starting reputation of an established node: the node ledger's ``DEFAULT_REPUTATION``, the
#: value every member has before its first record.
ESTABLISHED_REPUTATION = 0.5
#: Gold tasks in the simulated calibration bank (exams draw distinct items from it).
EXAM_BANK_SIZE = 200

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Population:
    """Every node's traits, one entry per node (arrays of length ``n``).

    Attributes
    ----------
    generation_skill, judging_skill, position_bias, error_correlation : ndarray of float
        The behaviour model's traits (:class:`sim.model.NodeProfile`, vectorised).
    behaviour : ndarray of int
        Behaviour code.
    group : ndarray of int
        Index of the node's ``[[nodes]]`` group.
    team : ndarray of int
        Colluding team (its group index) for clique, Sybil, farmer and injector nodes; -1
        otherwise. A team pushes one agreed wrong answer.
    adversary : ndarray of bool
        Counts as an adversary in the reputation share and the capture rate.
    stealth, always_a, susceptible : ndarray of bool
        Stealth colluder; lazy judge that always says A; judge that prompt injection can sway.
    start_round : ndarray of int
        First attacking round (farmers; 0 for everyone else).
    success_probability, miss_probability : ndarray of float
        Injection success for an injector's candidates; deadline misses for slow nodes.
    fresh : ndarray of bool
        A new identity: on probation until it passes the calibration exam; established nodes
        are genesis members, admitted before the run.
    initial_reputation : ndarray of float
        Reputation at round 0 (:data:`ESTABLISHED_REPUTATION`, or the probation value for fresh
        identities).
    exam_difficulty : ndarray of float, shape (EXAM_BANK_SIZE,)
        Difficulties of the calibration bank's gold tasks (drawn like the scenario's tasks).
    gold_aware, opportunistic, inflate_confidence, abstain_when_losing : ndarray of bool
        Adaptive adversary options (:data:`sim.scenario.ADAPTIVE_OPTIONS`).
    exploit_sign : ndarray of bool
        Adaptive option: colluders that judge against their team's answer while the swarm's
        judge weight is negative.
    min_ranker_share : ndarray of float
        The share of a round's rankers an opportunistic team needs before it attacks.
    patience, grind : ndarray of int
        Honest rounds after admission before attacking; query ids a leader tries.
    """

    generation_skill: FloatArray
    judging_skill: FloatArray
    position_bias: FloatArray
    error_correlation: FloatArray
    behaviour: IntArray
    group: IntArray
    team: IntArray
    adversary: BoolArray
    stealth: BoolArray
    always_a: BoolArray
    susceptible: BoolArray
    start_round: IntArray
    success_probability: FloatArray
    miss_probability: FloatArray
    fresh: BoolArray
    initial_reputation: FloatArray
    exam_difficulty: FloatArray
    gold_aware: BoolArray
    opportunistic: BoolArray
    min_ranker_share: FloatArray
    inflate_confidence: BoolArray
    abstain_when_losing: BoolArray
    exploit_sign: BoolArray
    patience: IntArray
    grind: IntArray

    @property
    def size(self) -> int:
        """Number of nodes."""
        return int(self.behaviour.shape[0])


def build_population(scenario: Scenario, rng: np.random.Generator) -> Population:
    """Draw the population of ``scenario``.

    Fresh identities (``fresh = true``; Sybils by default) start on probation at
    ``swarm.probation_reputation``; the engine has them sit :func:`sit_exams` before they can be
    selected. Established nodes start admitted at :data:`ESTABLISHED_REPUTATION`.
    """
    n = scenario.swarm.nodes
    sizes = np.asarray(scenario.group_sizes, dtype=np.int64)
    group = np.repeat(np.arange(len(scenario.groups), dtype=np.int64), sizes)

    def per_group(values: list[float] | list[int] | list[bool], dtype: type) -> np.ndarray:
        return np.repeat(np.asarray(values, dtype=dtype), sizes)

    groups = scenario.groups
    gen_mean = per_group([g.generation_skill.mean for g in groups], np.float64)
    gen_sd = per_group([g.generation_skill.sd for g in groups], np.float64)
    judge_mean = per_group([g.judging_skill.mean for g in groups], np.float64)
    judge_sd = per_group([g.judging_skill.sd for g in groups], np.float64)
    generation_skill = gen_mean + gen_sd * rng.standard_normal(n)
    judging_skill = judge_mean + judge_sd * rng.standard_normal(n)
    concentration = scenario.tasks.distractor_concentration
    error_correlation = per_group(
        [concentration if g.error_correlation is None else g.error_correlation for g in groups],
        np.float64,
    )
    behaviour = per_group([BEHAVIOUR_CODE[g.behaviour] for g in groups], np.int64)
    team = np.where(np.isin(behaviour, COLLUDING), group, -1)
    adversary = per_group([g.adversarial for g in groups], np.bool_)
    injector_groups = [g for g in groups if g.behaviour == "injector"]
    susceptible_share = max((g.susceptible_fraction for g in injector_groups), default=0.0)
    susceptible = (rng.random(n) < susceptible_share) & ~np.isin(behaviour, COLLUDING)

    fresh = per_group([g.is_fresh for g in groups], np.bool_)
    lazy = behaviour == LAZY
    initial_reputation = np.where(
        fresh, scenario.swarm.probation_reputation, ESTABLISHED_REPUTATION
    )
    difficulty = scenario.tasks.difficulty
    exam_difficulty = difficulty.mean + difficulty.sd * rng.standard_normal(EXAM_BANK_SIZE)

    return Population(
        generation_skill=generation_skill,
        judging_skill=judging_skill,
        position_bias=per_group([g.position_bias for g in groups], np.float64),
        error_correlation=error_correlation,
        behaviour=behaviour,
        group=group,
        team=team.astype(np.int64),
        adversary=adversary,
        stealth=per_group([g.stealth for g in groups], np.bool_),
        always_a=lazy & per_group([g.mode == "always-a" for g in groups], np.bool_),
        susceptible=susceptible,
        start_round=per_group([g.start_round for g in groups], np.int64),
        success_probability=per_group([g.success_probability for g in groups], np.float64),
        miss_probability=np.where(
            behaviour == SLOW, per_group([g.miss_probability for g in groups], np.float64), 0.0
        ),
        fresh=fresh,
        initial_reputation=initial_reputation.astype(np.float64),
        exam_difficulty=exam_difficulty.astype(np.float64),
        gold_aware=per_group([g.gold_aware for g in groups], np.bool_),
        opportunistic=per_group([g.opportunistic for g in groups], np.bool_),
        min_ranker_share=per_group([g.min_ranker_share for g in groups], np.float64),
        inflate_confidence=per_group([g.inflate_confidence for g in groups], np.bool_),
        abstain_when_losing=per_group([g.abstain_when_losing for g in groups], np.bool_),
        exploit_sign=per_group([g.exploit_sign for g in groups], np.bool_),
        patience=per_group([g.patience for g in groups], np.int64),
        grind=per_group([g.grind for g in groups], np.int64),
    )


def trust_params(scenario: Scenario) -> TrustParams:
    """The scenario's admission settings as the node's :class:`ranking.TrustParams`: the
    judging part of the exam is ``swarm.calibration_size`` items with pass mark
    ``swarm.calibration_pass``; everything else (generation part, cooldowns, weight caps) keeps
    the node's defaults."""
    return TrustParams(
        n_judging=scenario.swarm.calibration_size,
        judging_pass=scenario.swarm.calibration_pass,
        probation_rounds=scenario.swarm.probation_rounds,
    )


def sit_exams(
    pop: Population,
    nodes: IntArray,
    params: TrustParams,
    n_options: int,
    rng: np.random.Generator,
    ease: float = 0.0,
) -> list[ExamResult]:
    """Calibration exams of ``nodes``, drawn by :func:`ranking.draw_exam` from the population's
    gold bank and graded by :func:`ranking.grade_exam`.

    Judging items show a (correct, wrong) pair in a fair random order and are judged with the
    behaviour model; generation items are answered with it. Adversaries sit the exam honestly
    (they want in); lazy nodes guess (or always say A), inverted nodes flip their verdicts, dead
    nodes answer nothing and fail. ``ease`` is the scenario's ``tasks.judging_ease``.
    """
    results = []
    n_wrong = n_options - 1
    for node in nodes.tolist():
        exam = draw_exam(EXAM_BANK_SIZE, params.n_judging, params.n_generation, rng)
        behaviour = int(pop.behaviour[node])
        d_judge = pop.exam_difficulty[exam.judging_items]
        first = exam.judging_correct_first
        p_a, p_b, _ = judge_probabilities(
            pop.judging_skill[node], d_judge, first, ~first, pop.position_bias[node], ease=ease
        )
        verdict = draw_judgements(p_a, p_b, rng)
        coin: IntArray = np.where(rng.random(first.shape[0]) < 0.5, JUDGED_A, JUDGED_B)
        if behaviour == LAZY:
            verdict = np.full_like(verdict, JUDGED_A) if pop.always_a[node] else coin
        elif behaviour == INVERTED:
            verdict = np.where(
                verdict == JUDGED_A, JUDGED_B, np.where(verdict == JUDGED_B, JUDGED_A, verdict)
            )
        judged_right = np.where(first, verdict == JUDGED_A, verdict == JUDGED_B)
        labels = draw_answers(
            pop.generation_skill[node],
            pop.exam_difficulty[exam.generation_items],
            pop.error_correlation[node],
            n_wrong,
            rng,
        )
        if behaviour == LAZY:
            labels = np.asarray(rng.integers(0, n_wrong + 1, size=labels.shape), dtype=np.int64)
        answered_right = labels == 0
        if behaviour == DEAD:
            judged_right = np.zeros_like(judged_right)
            answered_right = np.zeros_like(answered_right)
        results.append(grade_exam(answered_right, judged_right, params))
    return results
