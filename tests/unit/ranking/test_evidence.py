"""The evidence reading (ranking.evidence): votes and verdicts through one model."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest

from ranking import InvalidParameters
from ranking.evidence import (
    EARN_GAIN,
    EvidenceModel,
    RoundEvidence,
    estimate_judging,
    estimate_skills,
    fit_evidence_model,
    neighbours,
    plain_vote,
    posterior_items,
    round_log_likelihood,
    score_evidence_model,
    verdict_rows,
)
from ranking.types import OUTCOME_A, OUTCOME_B, OUTCOME_TIE, Comparisons

MODEL = EvidenceModel(options=4, judge_offset=1.0, use_verdicts=True, use_records=True)


def votes_only(items: list[int], hits: list[float], seen: list[float], n: int) -> RoundEvidence:
    return RoundEvidence(
        n_items=n,
        vote_item=np.array(items),
        vote_hits=np.array(hits, dtype=float),
        vote_seen=np.array(seen, dtype=float),
    )


def test_verdict_rows_count_a_pair_once_and_drop_ties_and_position_answers() -> None:
    comparisons = Comparisons(
        a=np.array([0, 1, 0, 2, 1, 2]),
        b=np.array([1, 0, 2, 0, 2, 1]),
        outcome=np.array([OUTCOME_B, OUTCOME_A, OUTCOME_A, OUTCOME_A, OUTCOME_TIE, OUTCOME_TIE]),
        ranker=np.array([0, 0, 1, 1, 2, 2]),
        confidence=np.full(6, np.nan),
    )
    ranker, lo, hi, lo_won = verdict_rows(comparisons)
    # ranker 0 named 1 in both orders: one verdict for 1; ranker 1 named the first position in
    # both orders (0 then 2): no direction; ranker 2 tied: none
    assert ranker.tolist() == [0]
    assert (lo.tolist(), hi.tolist(), lo_won.tolist()) == ([0], [1], [False])


def test_posterior_is_normalised_and_follows_a_relabelling_of_clusters() -> None:
    evidence = RoundEvidence(
        n_items=3,
        vote_item=np.array([0, 0, 1, 2, 1]),
        vote_hits=np.array([3.0, 1.0, 5.0, 0.0, 2.0]),
        vote_seen=np.array([5.0, 5.0, 6.0, 4.0, 3.0]),
        ranker_hits=np.array([1.0, 4.0]),
        ranker_seen=np.array([2.0, 5.0]),
        ranker_own=np.array([0, -1]),
        row_ranker=np.array([0, 1, 1]),
        row_lo=np.array([1, 0, 1]),
        row_hi=np.array([2, 1, 2]),
        row_lo_won=np.array([True, False, False]),
    )
    post = posterior_items(evidence, MODEL)
    assert np.exp(post).sum() == pytest.approx(1.0)
    perm = np.array([2, 0, 1])  # cluster i becomes perm[i]
    lo, hi = perm[evidence.row_lo], perm[evidence.row_hi]
    relabelled = replace(
        evidence,
        vote_item=perm[evidence.vote_item],
        ranker_own=np.where(evidence.ranker_own >= 0, perm[evidence.ranker_own], -1),
        row_lo=np.minimum(lo, hi),
        row_hi=np.maximum(lo, hi),
        row_lo_won=np.where(lo < hi, evidence.row_lo_won, ~evidence.row_lo_won),
    )
    assert posterior_items(relabelled, MODEL)[perm] == pytest.approx(post, abs=1e-9)


def test_equal_records_read_as_majority_and_a_strong_record_outweighs_a_larger_cluster() -> None:
    equal = votes_only([0, 0, 0, 1, 1], [0.0] * 5, [0.0] * 5, 2)
    assert int(np.argmax(posterior_items(equal, MODEL))) == 0
    # three voters right on 1 of 20 gold answers against two right on 19 of 20
    skewed = votes_only([0, 0, 0, 1, 1], [1, 1, 1, 19, 19], [20] * 5, 2)
    assert int(np.argmax(posterior_items(skewed, MODEL))) == 1
    # a model that does not read the records reads the same round as the plain vote
    unread = replace(MODEL, use_records=False)
    assert posterior_items(skewed, unread) == pytest.approx(posterior_items(equal, unread))
    assert int(np.argmax(posterior_items(skewed, unread))) == 0


def _splits(votes: int, parts: int, largest: int) -> Iterator[tuple[int, ...]]:
    """Every split of ``votes`` into ``parts`` non-increasing positive cluster sizes."""
    if parts == 0:
        if votes == 0:
            yield ()
        return
    for first in range(min(votes, largest), 0, -1):
        for rest in _splits(votes - first, parts - 1, first):
            yield (first, *rest)


@pytest.mark.parametrize("options", [2, 3, 4, 8])
def test_the_plain_vote_reads_every_larger_cluster_as_likelier(options: int) -> None:
    """What a swarm reads before (and unless) its gold rounds show more: every split of up to
    12 votes, whatever the gold records say, ranks the clusters by size."""
    model = plain_vote(options)
    assert not model.use_records and not model.use_verdicts
    rng = np.random.default_rng(options)
    for votes in range(1, 13):
        for parts in range(1, votes + 1):
            for sizes in _splits(votes, parts, votes):
                seen = rng.integers(0, 20, size=votes).astype(float)
                hits = np.floor(seen * rng.random(votes))
                evidence = votes_only(
                    np.repeat(np.arange(parts), sizes).tolist(), hits, seen, parts
                )
                post = posterior_items(evidence, model)
                for i in range(parts):
                    for j in range(parts):
                        if sizes[i] > sizes[j]:
                            assert post[i] > post[j], (sizes, post)
                        elif sizes[i] == sizes[j]:
                            assert post[i] == pytest.approx(post[j], abs=1e-12)


def test_verdicts_count_as_the_judges_edge_says_and_not_at_all_when_switched_off() -> None:
    votes = dict(
        n_items=2,
        vote_item=np.array([0, 0, 1]),
        vote_hits=np.zeros(3),
        vote_seen=np.zeros(3),
        ranker_hits=np.zeros(6),
        ranker_seen=np.zeros(6),
        ranker_own=np.full(6, -1),
    )
    judged = RoundEvidence(
        **votes,
        row_ranker=np.arange(6),
        row_lo=np.zeros(6, dtype=np.int64),
        row_hi=np.ones(6, dtype=np.int64),
        row_lo_won=np.zeros(6, dtype=bool),  # all six judges prefer cluster 1
    )
    keen = EvidenceModel(judge_offset=2.0, use_verdicts=True)
    assert int(np.argmax(posterior_items(judged, keen))) == 1
    blind = replace(keen, use_verdicts=False)
    assert posterior_items(judged, blind) == pytest.approx(
        posterior_items(RoundEvidence(**votes), blind)
    )
    assert int(np.argmax(posterior_items(judged, blind))) == 0


def test_skill_and_judging_estimates_rise_with_the_gold_record_and_start_at_the_prior() -> None:
    model = EvidenceModel(
        skill_mean=0.5, skill_sd=0.6, judge_offset=1.0, judge_sd=0.5, use_records=True
    )
    hits, seen = np.array([0.0, 2.0, 8.0, 10.0]), np.array([0, 10, 10, 10.0])
    skills = estimate_skills(hits, seen, model)
    assert skills[0] == pytest.approx(0.5, abs=1e-6)
    assert skills[1] < skills[0] < skills[2] < skills[3]
    # records unread: every generator at the prior mean
    assert estimate_skills(hits, seen, replace(model, use_records=False)).tolist() == [0.5] * 4
    edges = estimate_judging(np.array([0.0, 1.0, 9.0]), np.array([0.0, 10.0, 10.0]), model)
    assert edges[0] == pytest.approx(1.0, abs=1e-6)
    assert edges[1] < edges[0] < edges[2]
    flat = estimate_judging(np.array([9.0]), np.array([10.0]), replace(model, judge_sd=0.0))
    assert flat[0] == 1.0


def _synthetic_gold(
    rng: np.random.Generator, rounds: int, edge: float
) -> list[tuple[int, RoundEvidence, np.ndarray]]:
    """Gold rounds of 9 generators (cluster 0 right) judged by 6 outside rankers with
    ``edge`` on every pair (a coin between two wrong answers): a simple truth the fit should
    find."""
    out = []
    for key in range(rounds):
        d = rng.normal(0.0, 1.0)
        right = rng.random(9) < 1.0 / (1.0 + np.exp(d))
        items = np.where(right, 0, rng.integers(1, 3, size=9))
        labels, vote_item = np.unique(items, return_inverse=True)
        if labels.shape[0] < 2 or labels[0] != 0:
            continue
        n = labels.shape[0]
        ranker, lo, hi, won = [], [], [], []
        for r in range(6):
            for a in range(n):
                for b in range(a + 1, n):  # every pair: which pairs are judged tells nothing
                    p = 1.0 / (1.0 + np.exp(-(edge - d))) if a == 0 else 0.5
                    ranker.append(r)
                    lo.append(a)
                    hi.append(b)
                    won.append(rng.random() < p)
        evidence = RoundEvidence(
            n_items=n,
            vote_item=vote_item,
            vote_hits=np.zeros(9),
            vote_seen=np.zeros(9),
            ranker_hits=np.zeros(6),
            ranker_seen=np.zeros(6),
            ranker_own=np.full(6, -1),
            row_ranker=np.array(ranker),
            row_lo=np.array(lo),
            row_hi=np.array(hi),
            row_lo_won=np.array(won),
        )
        out.append((key, evidence, labels == 0))
    return out


def test_fit_finds_strong_judges_and_caches_its_scores() -> None:
    gold = _synthetic_gold(np.random.default_rng(3), 60, edge=2.5)
    start = EvidenceModel(options=3, judge_offset=-1.0)
    memo: dict[tuple[EvidenceModel, int], float] = {}
    model, score = fit_evidence_model(gold, start, memo)
    assert model.use_verdicts and model.judge_offset >= 1.5
    start_score = sum(round_log_likelihood(ev, c, start) for _, ev, c in gold)
    assert score > start_score + 1.0
    cached = len(memo)
    assert fit_evidence_model(gold, start, memo) == (model, score)
    assert len(memo) == cached  # the second fit read every score from the cache


def test_fit_stops_reading_judges_who_point_nowhere() -> None:
    gold = _synthetic_gold(np.random.default_rng(4), 60, edge=0.0)
    coin = np.random.default_rng(5)
    gold = [
        (key, replace(ev, row_lo_won=coin.random(ev.row_lo.size) < 0.5), correct)
        for key, ev, correct in gold
    ]
    model, _ = fit_evidence_model(gold, EvidenceModel(options=3, judge_offset=2.0))
    assert not model.use_verdicts or model.judge_offset <= 0.5


def _record_gold(
    rng: np.random.Generator, rounds: int, skills: list[float]
) -> list[tuple[int, RoundEvidence, np.ndarray]]:
    """Gold rounds of generators of ``skills`` (cluster of the right answer: label 0; a wrong
    generator takes the popular distractor, label 1, six times in ten, else 2 or 3), no
    verdicts, each read with the generators' gold records as they were before it."""
    n = len(skills)
    hits, seen = np.zeros(n), np.zeros(n)
    out = []
    for key in range(rounds):
        d = rng.normal(0.0, 1.0)
        right = rng.random(n) < 1.0 / (1.0 + np.exp(-(np.asarray(skills) - d)))
        wrong = np.where(rng.random(n) < 0.6, 1, rng.integers(2, 4, size=n))
        labels, vote_item = np.unique(np.where(right, 0, wrong), return_inverse=True)
        if labels.shape[0] >= 2 and labels[0] == 0:
            evidence = votes_only(vote_item.tolist(), hits.copy(), seen.copy(), labels.shape[0])
            out.append((key, evidence, labels == 0))
        hits += right
        seen += 1.0
    return out


def test_fit_reads_the_records_only_when_they_tell_generators_apart() -> None:
    """Generators of one skill: their records are noise and the fit keeps them unread (the
    plain vote's numbers or a climb of them); three strong generators among six weak ones:
    the records beat the votes alone and are read."""
    start = plain_vote(4)
    alike, _ = fit_evidence_model(_record_gold(np.random.default_rng(6), 60, [0.5] * 9), start)
    assert not alike.use_records and not alike.use_verdicts
    apart_gold = _record_gold(np.random.default_rng(7), 60, [2.5] * 3 + [-1.5] * 6)
    apart, apart_score = fit_evidence_model(apart_gold, start)
    assert apart.use_records
    unread = score_evidence_model(apart_gold, replace(apart, use_records=False))
    assert apart_score >= unread + EARN_GAIN
    # consensus 2's rule (earn_records=False) reads the records whatever they show
    assert fit_evidence_model(apart_gold, start, earn_records=False)[0].use_records
    assert fit_evidence_model([], start) == (start, 0.0)  # no gold: the plain vote


def test_neighbours_move_one_axis_one_step() -> None:
    model = EvidenceModel(use_verdicts=True, use_records=True)
    # the record axis moves only a model that reads the records
    assert all(m.skill_sd == model.skill_sd for m in neighbours(replace(model, use_records=False)))
    moved = neighbours(model)
    assert replace(model, judge_offset=0.5) in moved and replace(model, judge_offset=-0.5) in moved
    assert all(sum(getattr(m, f) != getattr(model, f) for f in vars(model)) == 1 for m in moved)
    votes = neighbours(replace(model, use_verdicts=False))
    assert all(m.judge_offset == model.judge_offset and not m.use_verdicts for m in votes)


@pytest.mark.parametrize(
    "change",
    [
        {"vote_item": np.array([0, 2])},
        {"vote_hits": np.array([2.0, 0.0])},
        {"ranker_own": np.array([3])},
        {"row_lo": np.array([1]), "row_hi": np.array([1])},
        {"row_ranker": np.array([1])},
    ],
)
def test_round_evidence_refuses_inconsistent_input(change: dict[str, np.ndarray]) -> None:
    fields = dict(
        n_items=2,
        vote_item=np.array([0, 1]),
        vote_hits=np.array([0.0, 0.0]),
        vote_seen=np.array([1.0, 1.0]),
        ranker_hits=np.zeros(1),
        ranker_seen=np.zeros(1),
        ranker_own=np.array([-1]),
        row_ranker=np.array([0]),
        row_lo=np.array([0]),
        row_hi=np.array([1]),
        row_lo_won=np.array([True]),
    )
    with pytest.raises(InvalidParameters):
        RoundEvidence(**(fields | change))


def test_model_refuses_bad_numbers() -> None:
    with pytest.raises(InvalidParameters):
        EvidenceModel(options=1)
    with pytest.raises(InvalidParameters):
        EvidenceModel(concentration=1.0)
    with pytest.raises(InvalidParameters):
        EvidenceModel(judge_sd=-0.1)
