"""Adaptive adversaries: each option does better, against the aggregator whose defence it
games, than its non-adaptive twin on the same seeds.

The swarm is sim/scenarios/adaptive.toml: 40 nodes, 15 generators and 20 rankers per round,
20% gold rounds, judges one logit better than generators (so the honest swarm works and there
is something to attack), a 30% team pushing the popular distractor. Each comparison is averaged
over two seeds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sim.engine import DEFAULT_AGGREGATOR, simulate
from sim.scenario import load_scenario

SCENARIO = Path(__file__).resolve().parents[2] / "sim" / "scenarios" / "adaptive.toml"
SEEDS = (1, 2)


def outcome(team: dict[str, Any], swarm: dict[str, Any] | None = None) -> dict[str, float]:
    """Mean over SEEDS of accuracies, the weighted aggregator's capture rate and the team's
    final reputation share (``team``: options of the shipped scenario's team group)."""
    rows = []
    for seed in SEEDS:
        overrides: dict[str, Any] = {"seed": seed}
        overrides.update({f"nodes.team.{key}": value for key, value in team.items()})
        overrides.update({f"swarm.{key}": value for key, value in (swarm or {}).items()})
        record = simulate(load_scenario(SCENARIO, overrides))
        rows.append(
            {
                "plain-bt": float(record.correct["plain-bt"].mean()),
                "weighted-bt": float(record.correct["weighted-bt"].mean()),
                "capture": float(record.captured["weighted-bt"].mean()),
                "share": float(record.adversary_share[-1]),
                "attacked": float(record.attacked.mean()),
            }
        )
    return {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}


@pytest.mark.slow
def test_gold_aware_keeps_its_reputation_and_beats_reputation_weighting() -> None:
    """Gold rounds are the reputation anchor; a team that recognises them (gold_detection 1:
    the node's public bank) plays honest there and keeps the weight it would have lost."""
    twin, adaptive = outcome({}), outcome({"gold_aware": True})
    assert adaptive["share"] > twin["share"] + 0.1
    assert adaptive["weighted-bt"] < twin["weighted-bt"] - 0.03
    # with gold that cannot be told apart, the option buys nothing
    blind = outcome({"gold_aware": True}, {"gold_detection": 0.0})
    assert blind["share"] < adaptive["share"] - 0.1


@pytest.mark.slow
def test_opportunistic_attacks_less_and_captures_more_where_it_attacks() -> None:
    """A team that attacks only when it holds 30% of the round's rankers attacks in fewer
    rounds, wins more of the rounds it attacks (weighted BT: 16.2% against 13.5%, 3 seeds) and
    keeps more reputation. Over the whole run it captures fewer rounds (11.0% against 13.5%):
    a capture counts only in a round the team attacked."""
    twin = outcome({})
    adaptive = outcome({"opportunistic": True, "min_ranker_share": 0.3})
    assert adaptive["attacked"] < twin["attacked"]
    assert adaptive["capture"] / adaptive["attacked"] > twin["capture"] / twin["attacked"]
    assert adaptive["share"] > twin["share"]


@pytest.mark.slow
def test_inflated_confidence_outweighs_calibrated_honest_judges() -> None:
    """Honest judges state calibrated confidences (soft votes); the team states 1.0. The
    unweighted aggregator counts them as stated."""
    twin, adaptive = outcome({}), outcome({"inflate_confidence": True})
    assert adaptive["plain-bt"] < twin["plain-bt"] - 0.1


@pytest.mark.slow
def test_abstaining_when_losing_keeps_reputation() -> None:
    """A stealth member that abstains where its own judgement goes against its team's answer,
    instead of voting for it, never disagrees with the truth on record."""
    twin = outcome({"stealth": True})
    adaptive = outcome({"stealth": True, "abstain_when_losing": True})
    assert adaptive["share"] > twin["share"] + 0.1
    # Before the calibrated default (issue 12) the kept reputation also bought weighted BT
    # more captures; with the calibrated winners driving reputation it no longer does
    # (weighted-BT capture 17.0% -> 15.3%, measured), so only the reputation is asserted.


@pytest.mark.slow
def test_patient_sybils_wait_out_probation() -> None:
    """With trust on, fresh identities are weight-capped for probation_rounds after admission;
    Sybils that play honest until then keep their reputation for the attack (17.2% of it at
    the end of probation against 0.6% for Sybils that attack at once, 6 seeds). Under the
    node's defaults that no longer buys captures in the window after probation (weighted BT
    8.1% against 7.8%, 6 seeds; before contested-round gold and the attacking-only capture
    count it measured 2 points more): gold drains the kept reputation as soon as they attack."""
    probation = 60
    shares = {}
    for patience in (0, probation):
        kept = []
        for seed in (1, 2, 3):
            overrides = {
                "seed": seed,
                "nodes.team.behaviour": "sybil",
                "nodes.team.fraction": 0.5,
                "nodes.team.patience": patience,
                "swarm.trust": True,
                "swarm.probation_rounds": probation,
            }
            record = simulate(load_scenario(SCENARIO, overrides))
            kept.append(float(record.adversary_share[probation - 1]))
        shares[patience] = float(np.mean(kept))
    assert shares[probation] > shares[0] + 0.1, shares


@pytest.mark.slow
def test_grinding_leader_packs_the_rankers() -> None:
    """A team member leading a round tries 32 query ids and keeps the selection with most of
    its team among the rankers; the unweighted aggregator has no defence against that. Without
    gold: with the scenario's 20% gold the calibrated default's winners drain the team's
    reputation (2% at the end), the reputation-weighted draw then seldom selects its members,
    and grinding buys little (plain BT 67.3% -> 66.0%, measured)."""
    no_gold = {"gold_fraction": 0.0}
    twin, adaptive = outcome({}, no_gold), outcome({"grind": 32}, no_gold)
    assert adaptive["plain-bt"] < twin["plain-bt"] - 0.05


@pytest.mark.slow
def test_judging_against_its_own_answer_games_a_negative_judge_weight_only_in_close_votes() -> None:
    """At judging parity the calibrated rule learns a negative judge weight (rules 4: the
    judges' favourite is the persuasive distractor). A clique that judges *against* its own
    answer then looks like a good judge and pushes its answer up (calibrated, this seed: 73.7%
    -> 67.0%; 5 seeds in docs/sim/adaptive/exploit-sign). The default, the evidence reading,
    reads each judge's own answer and gold record: the option still does better than its twin
    against it (measured on this seed: accuracy 93.3% -> 90.3%, decisive captures 0.3% -> 2.0%
    of the rounds), but it stays far above the calibrated rule without the exploit and its own
    evidence decides few rounds (sim/scenarios/sign-exploit.toml: the paper-like swarm with a
    30% stealth clique; one seed, 300 rounds)."""
    path = SCENARIO.parent / "sign-exploit.toml"
    rows = {}
    for exploit in (False, True):
        record = simulate(
            load_scenario(path, {"rounds": 300, "nodes.clique.exploit_sign": exploit})
        )
        rows[exploit] = (
            float(record.correct[DEFAULT_AGGREGATOR].mean()),
            float(record.decisive.mean()),
            float(record.correct["calibrated"].mean()),
        )
    (twin_accuracy, twin_decisive, twin_calibrated), (accuracy, decisive, calibrated) = (
        rows[False],
        rows[True],
    )
    assert decisive > twin_decisive  # the option does better than its twin...
    assert accuracy < twin_accuracy
    assert calibrated < twin_calibrated  # (the calibrated rule falls for it too)
    assert accuracy > twin_calibrated + 0.1
    assert decisive < 0.03  # ...but its own evidence decides few rounds
