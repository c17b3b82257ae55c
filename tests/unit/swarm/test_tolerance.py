"""Records that verify on any float build (node.round.tolerance, issue 14): the recorded
outcome's numbers within a tolerance of a member's own, its decisions exactly what its own
numbers give; forged numbers or winners still refused."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from node.round.aggregate import aggregate_ballots, round_outcome
from node.round.clustering import Cluster
from node.round.numerics import distinct_clusters
from node.round.settings import RoundSettings
from node.round.tolerance import OUTCOME_TOLERANCE, outcome_discrepancy, within_tolerance
from node.testing import perturbed_floats
from protocol.v1 import messages_pb2

ITEMS, RANKERS = 6, 12


def _round(seed: int, numerics: int = 1) -> tuple[list[Cluster], list[messages_pb2.Ballot]]:
    rng = np.random.default_rng(seed)
    clusters = distinct_clusters(ITEMS)
    strengths = rng.normal(0.0, 1.0, ITEMS)
    ballots = []
    for r in range(RANKERS):
        verdicts = []
        for a in range(ITEMS):
            for b in range(a + 1, ITEMS):
                p_a = 1.0 / (1.0 + np.exp(strengths[b] - strengths[a]))
                outcome = messages_pb2.OUTCOME_A if rng.random() < p_a else messages_pb2.OUTCOME_B
                verdicts.append(messages_pb2.Verdict(a=a, b=b, outcome=outcome))
        ballots.append(messages_pb2.Ballot(ranker_id=f"r{r:02d}", verdicts=verdicts))
    return clusters, ballots


def _params(numerics: int = 1) -> messages_pb2.RoundParameters:
    # the robust BT winner (consensus 0): these tests are about the numerics rules alone
    return RoundSettings(schedule="full", numerics=numerics, consensus=0).to_proto()


def _outcome_and_check(
    seed: int, numerics: int = 1
) -> tuple[messages_pb2.AggregationOutcome, Callable[[messages_pb2.AggregationOutcome], object]]:
    clusters, ballots = _round(seed)
    weights = [0.5 + 0.04 * i for i in range(RANKERS)]
    own = [-1] * RANKERS
    params = _params(numerics)
    recorded = round_outcome(clusters, ballots, weights, own, params)

    def check(outcome: messages_pb2.AggregationOutcome) -> object:
        result = aggregate_ballots(clusters, ballots, weights, own, params)
        assert result is not None
        tie_break = [c.content_hash for c in clusters]
        return outcome_discrepancy(outcome, result, tie_break, params.confidence_level)

    return recorded, check


def test_within_tolerance_rules() -> None:
    assert within_tolerance([1.0, -np.inf, np.nan], [1.0 + 1e-9, -np.inf, np.nan])
    assert not within_tolerance([1.0], [1.0 + 1e-3])
    assert not within_tolerance([np.inf], [1e300])
    assert not within_tolerance([1.0, 2.0], [1.0])
    # relative to the magnitude above 1, absolute below
    assert within_tolerance([1e6 + 0.5], [1e6])
    assert not within_tolerance([2e-6], [0.0])


@pytest.mark.parametrize("seed", range(5))
def test_an_honest_outcome_passes_and_carries_tie_gaps(seed: int) -> None:
    recorded, check = _outcome_and_check(seed)
    assert len(recorded.tie_gap) == ITEMS and recorded.tie_gap[recorded.winner] == 0.0
    assert check(recorded) is None


@pytest.mark.parametrize("seed", range(5))
def test_another_float_build_recomputes_within_the_tolerance(seed: int) -> None:
    """A member whose every exp, log and expit is off by a relative 1e-12 (10^4 ulps) gets
    numbers that differ from the leader's, and still accepts the leader's record."""
    recorded, check = _outcome_and_check(seed)
    clusters, ballots = _round(seed)
    with perturbed_floats(1e-12):
        mine = round_outcome(
            clusters, ballots, [0.5 + 0.04 * i for i in range(RANKERS)], [-1] * RANKERS, _params()
        )
        verdict = check(recorded)
    assert list(mine.strengths) != list(recorded.strengths)  # the builds do disagree
    assert verdict is None


def test_bit_for_bit_rules_refuse_the_same_disagreement() -> None:
    """The undefended arm: under numerics 0 the same one-build difference is a mismatch."""
    clusters, ballots = _round(1)
    weights, own = [0.5 + 0.04 * i for i in range(RANKERS)], [-1] * RANKERS
    recorded = round_outcome(clusters, ballots, weights, own, _params(0))
    with perturbed_floats(1e-12):
        mine = round_outcome(clusters, ballots, weights, own, _params(0))
    assert list(recorded.tie_gap) == []
    assert list(mine.strengths) != list(recorded.strengths)


def test_forged_numbers_and_decisions_are_named() -> None:
    recorded, check = _outcome_and_check(3)

    def forged(mutate: Callable[[messages_pb2.AggregationOutcome], None]) -> object:
        copy = messages_pb2.AggregationOutcome()
        copy.CopyFrom(recorded)
        mutate(copy)
        return check(copy)

    def moved(field: str, by: float) -> Callable[[messages_pb2.AggregationOutcome], None]:
        def mutate(o: messages_pb2.AggregationOutcome) -> None:
            getattr(o, field)[1] += by

        return mutate

    def other_winner(o: messages_pb2.AggregationOutcome) -> None:
        o.winner = (o.winner + 1) % ITEMS

    def drop_tied(o: messages_pb2.AggregationOutcome) -> None:
        del o.tied_for_first[:]
        o.tied_for_first.append(o.winner)
        o.tied_for_first.append((o.winner + 1) % ITEMS)

    beyond = 100 * OUTCOME_TOLERANCE
    assert forged(moved("strengths", beyond))[0] == "outcome.strengths"  # type: ignore[index]
    assert forged(moved("lower", beyond))[0] == "outcome.lower"  # type: ignore[index]
    assert forged(moved("ranker_weights", beyond))[0] == "outcome.ranker_weights"  # type: ignore[index]
    assert forged(other_winner)[0] == "outcome.winner"  # type: ignore[index]
    assert forged(drop_tied)[0] == "outcome.tied_for_first"  # type: ignore[index]
    # within the tolerance a number may move (another build), a decision may not
    assert forged(moved("strengths", OUTCOME_TOLERANCE / 10)) is None


def test_a_winner_needs_the_top_recorded_strength() -> None:
    """A leader that lifts a loser to the top within the tolerance must also record it as the
    top strength; near-ties aside, that is beyond the tolerance."""
    recorded, check = _outcome_and_check(4)
    runner_up = int(np.argsort(recorded.strengths)[-2])
    gap = recorded.strengths[recorded.winner] - recorded.strengths[runner_up]
    assert gap > 10 * OUTCOME_TOLERANCE
    copy = messages_pb2.AggregationOutcome()
    copy.CopyFrom(recorded)
    copy.strengths[runner_up] = recorded.strengths[recorded.winner] + 1e-9
    copy.winner = runner_up
    assert check(copy)[0] == "outcome.strengths"  # type: ignore[index]
