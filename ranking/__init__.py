"""swarmrank's ranking core: pure numeric code in the style of choix.

Turns many judges' pairwise verdicts into one choice. numpy in, numpy or frozen dataclasses
out; no I/O, clock, logging, environment or global random state (randomness only through a
passed :class:`numpy.random.Generator`).

Modules and what lives where:

* :mod:`ranking.types`: outcome codes, :class:`Comparisons`, :class:`AggregationParams`,
  :class:`AggregationResult`.
* :mod:`ranking.errors`: the error tree (:class:`RankingError` and subclasses).
* :mod:`ranking.pairwise`: :func:`build_win_matrix`, :func:`fit_pairwise` (Bradley-Terry by
  I-LSR, Maystre & Grossglauser 2015), :func:`judged_items`.
* :mod:`ranking.uncertainty`: :func:`fisher_covariance`, :func:`confidence_intervals`,
  :func:`tied_for_first` (from :func:`tie_gaps` by :func:`tied_from_gaps`),
  :func:`select_winner`.
* :mod:`ranking.exact`: :func:`exact_weighted_sample`, a weighted draw in integer arithmetic
  that every machine computes the same.
* :mod:`ranking.robust`: :func:`aggregate` (reputation-weighted, share-capped, CrowdBT /
  Dawid-Skene EM; Chen et al. 2013, Dawid & Skene 1979), :func:`cap_ranker_weights`.
* :mod:`ranking.reputation`: :func:`update_reputation`, :func:`ranker_agreement`,
  :class:`ReputationParams`.
* :mod:`ranking.schedule`: :func:`schedule_pairs`.
* :mod:`ranking.consensus`: the calibrated consensus (:func:`fit_judge_trust`,
  :func:`select_consensus`, :func:`generator_weights`, :class:`GoldRound`): generators' votes
  and judges' verdicts weighed by what each has earned on gold rounds.
* :mod:`ranking.evidence`: the evidence reading (:func:`posterior_items`,
  :func:`fit_evidence_model`, :class:`EvidenceModel`, :class:`RoundEvidence`): the posterior
  over a round's clusters from votes and verdicts through one model of answers and judging,
  its few shared numbers chosen on gold rounds (compared beside the default in the simulator;
  not yet the node's rule).
* :mod:`ranking.adaptive`: adaptive waves under a judge budget (:func:`schedule_wave`,
  :func:`run_waves`, :func:`robust_separation`, :class:`AdaptiveParams`, :class:`Wave`).
* :mod:`ranking.baselines`: :func:`majority_vote`, :func:`aggregate_plain`,
  :func:`aggregate_weighted`, :func:`borda_count`.
* :mod:`ranking.trust`: admission by calibration, stake and slashing (:class:`TrustParams`,
  :class:`IdentityState`, :func:`grade_exam`, :func:`apply_exam`, :func:`bond`,
  :func:`request_unbond`, :func:`release_unbonded`, :func:`slash`,
  :func:`eligible_for_selection`, :func:`draw_exam`), :func:`trust_weights` (weight caps) and
  :func:`adversary_alarm`.
* :mod:`ranking.testing`: synthetic Bradley-Terry data (:func:`simulate_comparisons`).
"""

from ranking.baselines import aggregate_plain, aggregate_weighted, borda_count, majority_vote
from ranking.consensus import (
    GoldRound,
    JudgeTrust,
    fit_judge_trust,
    follow_up_gold_chance,
    generator_weights,
    is_contested,
    select_consensus,
    update_generator_record,
    vote_shares,
)
from ranking.errors import (
    DisconnectedComparisons,
    InvalidComparisons,
    InvalidParameters,
    InvalidTransition,
    NoComparisons,
    NotConverged,
    RankingError,
)
from ranking.pairwise import UNJUDGED_GAP, build_win_matrix, fit_pairwise, judged_items
from ranking.reputation import ReputationParams, ranker_agreement, update_reputation
from ranking.robust import aggregate, cap_ranker_weights
from ranking.schedule import SCHEDULE_KINDS, schedule_pairs
from ranking.trust import (
    AlarmState,
    Exam,
    ExamResult,
    IdentityState,
    TrustParams,
    Unbonding,
    admission_heights,
    adversary_alarm,
    apply_exam,
    bond,
    can_take_exam,
    draw_exam,
    eligible_for_selection,
    grade_exam,
    release_unbonded,
    request_unbond,
    slash,
    trust_weights,
)
from ranking.types import (
    OUTCOME_A,
    OUTCOME_B,
    OUTCOME_TIE,
    AggregationParams,
    AggregationResult,
    Comparisons,
)
from ranking.uncertainty import (
    TIE_TOLERANCE,
    confidence_intervals,
    fisher_covariance,
    select_winner,
    tie_gaps,
    tied_for_first,
    tied_from_gaps,
)

__all__ = [
    "OUTCOME_A",
    "OUTCOME_B",
    "OUTCOME_TIE",
    "SCHEDULE_KINDS",
    "TIE_TOLERANCE",
    "UNJUDGED_GAP",
    "AggregationParams",
    "AggregationResult",
    "AlarmState",
    "Comparisons",
    "DisconnectedComparisons",
    "Exam",
    "ExamResult",
    "GoldRound",
    "IdentityState",
    "InvalidComparisons",
    "InvalidParameters",
    "InvalidTransition",
    "JudgeTrust",
    "NoComparisons",
    "NotConverged",
    "RankingError",
    "ReputationParams",
    "TrustParams",
    "Unbonding",
    "admission_heights",
    "adversary_alarm",
    "aggregate",
    "aggregate_plain",
    "aggregate_weighted",
    "apply_exam",
    "bond",
    "borda_count",
    "build_win_matrix",
    "can_take_exam",
    "cap_ranker_weights",
    "confidence_intervals",
    "draw_exam",
    "eligible_for_selection",
    "fisher_covariance",
    "fit_judge_trust",
    "fit_pairwise",
    "follow_up_gold_chance",
    "generator_weights",
    "grade_exam",
    "is_contested",
    "judged_items",
    "majority_vote",
    "ranker_agreement",
    "release_unbonded",
    "request_unbond",
    "schedule_pairs",
    "select_consensus",
    "select_winner",
    "slash",
    "tie_gaps",
    "tied_for_first",
    "tied_from_gaps",
    "trust_weights",
    "update_generator_record",
    "update_reputation",
    "vote_shares",
]
