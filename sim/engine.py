"""The fast engine: a whole swarm simulated round by round with numpy.

This module owns :func:`simulate` (scenario -> :class:`RunRecord`, the per-round outcomes of
every aggregator on the same draws). The behaviour model is :mod:`sim.model`'s; the
aggregation, pair schedules and reputation arithmetic are :mod:`ranking`'s (through
:mod:`sim.aggregators`), the same pure functions the node runs.

One round
---------
0. Admission: fresh identities whose cooldown is over sit the calibration exam
   (:func:`sim.population.sit_exams`: :func:`ranking.draw_exam`, :func:`ranking.grade_exam`)
   and move through :func:`ranking.apply_exam` (admitted, or a doubling cooldown).
1. A task: difficulty ``~ N(mean, sd)``, ``options`` answers (label 0 correct, 1 the popular
   distractor), a gold flag with probability ``gold_fraction``.
2. Selection: ``G`` generators and ``R`` rankers among admitted nodes, sampled without
   replacement with probability proportional to reputation plus the node's selection floor
   (Gumbel top-k: O(nodes), no per-node Python).
3. Generation: one vectorised :func:`sim.model.draw_answers` over the generators, then
   behaviour overrides (dead and slow nodes miss the deadline, lazy nodes guess, attacking
   colluders submit their team's agreed wrong answer: the popular distractor).
4. Clustering: identical answers merge into one item (DESIGN "Clustering"), so rankers judge a
   handful of items, not copies; the items' order is a seeded permutation.
5. Judging: every ranker's pairs (the ``ranking`` schedule, own item excluded) are stacked and
   judged in one vectorised draw (:func:`sim.model.judge_probabilities`), then behaviour
   overrides per comparison (lazy, inverted, self-promoting, colluding open/stealth, prompt
   injection of susceptible judges).
6. Aggregation: majority vote, plain BT, reputation-weighted BT, robust BT (the node's
   default) and Borda on the same comparisons; the oracle and the best single node alongside.
   Rankers weigh what :func:`ranking.trust_weights` gives their reputations (fresh identities
   capped at a fraction of the median established weight, a budget for all of them, a share
   cap per identity). Genesis members are admitted at height 0 and the run starts at height
   ``probation_rounds``, so they count as established.
7. Reputation: :func:`ranking.update_reputation` with the node's default
   :class:`ranking.ReputationParams` (the ledger's rule): rankers move towards their agreement
   with the default's winner (with the gold answer on gold rounds), the winning (on gold rounds:
   the correct) generators gain, selected nodes that missed the deadline lose a little.

Per round the cost is O(nodes) numpy work plus O(G + R) for the selected nodes, which is
what makes 10,000 nodes x 1,000 rounds a matter of seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ranking.reputation import ReputationParams
from ranking.trust import IdentityState, apply_exam, trust_weights
from ranking.types import Comparisons
from sim import aggregators
from sim.model import (
    JUDGED_A,
    JUDGED_B,
    draw_answers,
    draw_judgements,
    judge_probabilities,
)
from sim.population import (
    COLLUDING,
    DEAD,
    FARMER,
    INJECTOR,
    INVERTED,
    LAZY,
    SELF_PROMOTING,
    Population,
    build_population,
    sit_exams,
    trust_params,
)
from sim.scenario import Scenario

__all__ = ["AGGREGATORS", "DEFAULT_AGGREGATOR", "RunRecord", "simulate"]

#: Aggregators compared on the same draws, in report order.
AGGREGATORS = (
    "majority",
    "plain-bt",
    "weighted-bt",
    "robust-bt",
    "borda",
    "best-single",
    "oracle",
)
#: The aggregator the node uses.
DEFAULT_AGGREGATOR = "robust-bt"
#: Aggregators that consume pairwise judgements (the others cost no judge calls).
JUDGED = ("plain-bt", "weighted-bt", "robust-bt", "borda")
#: The label colluding teams push: the popular distractor, which honest errors reinforce.
TARGET_LABEL = 1
#: Added to every eligible node's selection weight, as the node's ``SELECTION_WEIGHT_FLOOR``
#: (node/round.py): a node at zero reputation is still drawn now and then and can recover.
SELECTION_WEIGHT_FLOOR = 0.05

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RunRecord:
    """Per-round outcomes of one simulation.

    Attributes
    ----------
    correct : dict of str to ndarray of bool, shape (rounds,)
        Whether each aggregator's answer was correct.
    captured : dict of str to ndarray of bool, shape (rounds,)
        Whether an adversary's wrong candidate won although a correct one was present.
    judge_calls : ndarray of int, shape (rounds,)
        Pairwise judgements made in the round (shared by the judged aggregators).
    correct_present : ndarray of bool
        Some candidate was correct (the oracle).
    gold : ndarray of bool
        Gold rounds.
    candidates, items : ndarray of int
        Candidates that arrived, and items (clusters) judged.
    adversary_share : ndarray of float
        Adversaries' share of total reputation after each round.
    adversary_fraction : float
        Adversaries' share of the population.
    admitted : int
        Nodes admitted by the end (established plus fresh nodes that passed calibration).
    final_reputation : ndarray of float, shape (nodes,)
        Every node's reputation after the last round.
    behaviour : ndarray of int, shape (nodes,)
        Every node's behaviour code (:data:`sim.population.BEHAVIOUR_CODE`).
    """

    correct: dict[str, BoolArray]
    captured: dict[str, BoolArray]
    judge_calls: IntArray
    correct_present: BoolArray
    gold: BoolArray
    candidates: IntArray
    items: IntArray
    adversary_share: FloatArray
    adversary_fraction: float
    admitted: int
    final_reputation: FloatArray
    behaviour: IntArray


def select_top_k(weights: FloatArray, k: int, rng: np.random.Generator) -> IntArray:
    """``k`` distinct indices drawn with probability proportional to ``weights``.

    Gumbel top-k (Vieira 2014): the ``k`` largest ``log w + Gumbel`` keys are a sample without
    replacement, successively proportional to weight. Zero-weight entries are never drawn.
    """
    with np.errstate(divide="ignore"):
        keys = np.log(weights) + rng.gumbel(size=weights.shape[0])
    eligible = int(np.count_nonzero(weights > 0))
    k = min(k, eligible)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    top = np.argpartition(-keys, k - 1)[:k]
    return np.sort(top).astype(np.int64)


def simulate(scenario: Scenario, progress: Callable[[int], None] | None = None) -> RunRecord:
    """Run ``scenario`` with the fast engine.

    Parameters
    ----------
    scenario : Scenario
        What to simulate; ``scenario.seed`` fixes every draw.
    progress : callable, optional
        Called with the number of rounds completed (every round).

    Returns
    -------
    RunRecord
        Identical for identical scenarios (same seed, same numpy).
    """
    root = np.random.SeedSequence(scenario.seed)
    pop_seed, round_seed = root.spawn(2)
    population = build_population(scenario, np.random.default_rng(pop_seed))
    rng = np.random.default_rng(round_seed)
    state = _State(scenario, population)
    for round_index in range(scenario.rounds):
        state.play_round(round_index, rng)
        if progress is not None:
            progress(round_index + 1)
    return state.record()


class _State:
    """Mutable state of one run (reputation and the per-round log); private to the engine."""

    def __init__(self, scenario: Scenario, population: Population) -> None:
        self.scenario = scenario
        self.pop = population
        self.reputation = population.initial_reputation.copy()
        self.trust = trust_params(scenario)
        self.reputation_params = ReputationParams()
        # genesis members were admitted at height 0; the run starts once they are established
        self.height0 = self.trust.probation_rounds
        self.admitted_at = np.where(population.fresh, -1, 0).astype(np.int64)
        self.identities = {int(i): IdentityState() for i in np.flatnonzero(population.fresh)}
        self.next_exam = np.where(population.fresh, 0, np.iinfo(np.int64).max).astype(np.int64)
        rounds = scenario.rounds
        self.correct = {name: np.zeros(rounds, dtype=bool) for name in AGGREGATORS}
        self.captured = {name: np.zeros(rounds, dtype=bool) for name in AGGREGATORS}
        self.judge_calls = np.zeros(rounds, dtype=np.int64)
        self.correct_present = np.zeros(rounds, dtype=bool)
        self.gold = np.zeros(rounds, dtype=bool)
        self.candidates = np.zeros(rounds, dtype=np.int64)
        self.items = np.zeros(rounds, dtype=np.int64)
        self.adversary_share = np.zeros(rounds, dtype=np.float64)
        self.n_wrong = scenario.tasks.options - 1
        self.n_teams = int(population.team.max()) + 1 if population.size else 0

    def record(self) -> RunRecord:
        pop = self.pop
        return RunRecord(
            correct=self.correct,
            captured=self.captured,
            judge_calls=self.judge_calls,
            correct_present=self.correct_present,
            gold=self.gold,
            candidates=self.candidates,
            items=self.items,
            adversary_share=self.adversary_share,
            adversary_fraction=float(np.mean(pop.adversary)),
            admitted=int(np.count_nonzero(self.admitted_at >= 0)),
            final_reputation=self.reputation.copy(),
            behaviour=pop.behaviour,
        )

    # ---------------------------------------------------------------------------------------

    def attacking(self, nodes: IntArray, round_index: int) -> BoolArray:
        """Colluders that attack this round (farmers only from their start round)."""
        pop = self.pop
        behaviour = pop.behaviour[nodes]
        colluding = np.isin(behaviour, COLLUDING)
        started = (behaviour != FARMER) | (round_index >= pop.start_round[nodes])
        return np.asarray(colluding & started, dtype=bool)

    def play_round(self, t: int, rng: np.random.Generator) -> None:
        scenario, pop = self.scenario, self.pop
        swarm, tasks = scenario.swarm, scenario.tasks
        difficulty = float(tasks.difficulty.mean + tasks.difficulty.sd * rng.standard_normal())
        gold = bool(rng.random() < swarm.gold_fraction)
        self.gold[t] = gold
        self._admit(t, rng)

        admitted = self.admitted_at >= 0
        weights = np.where(admitted, np.maximum(self.reputation, 0.0) + SELECTION_WEIGHT_FLOOR, 0.0)
        generators = select_top_k(weights, swarm.generators, rng)
        rankers = select_top_k(weights, swarm.rankers, rng)

        # --- generation -------------------------------------------------------------------
        gen_behaviour = pop.behaviour[generators]
        arrived = (gen_behaviour != DEAD) & (
            rng.random(generators.shape[0]) >= pop.miss_probability[generators]
        )
        labels = draw_answers(
            pop.generation_skill[generators],
            difficulty,
            pop.error_correlation[generators],
            self.n_wrong,
            rng,
        )
        guesses = rng.integers(0, self.n_wrong + 1, size=generators.shape[0])
        labels = np.where(gen_behaviour == LAZY, guesses, labels)
        gen_attacking = self.attacking(generators, t)
        labels = np.where(gen_attacking, TARGET_LABEL, labels)
        cand_nodes = generators[arrived]
        cand_labels = labels[arrived]
        cand_attacking = gen_attacking[arrived]
        self.candidates[t] = cand_nodes.shape[0]
        missed = generators[~arrived]

        ranker_arrived = (pop.behaviour[rankers] != DEAD) & (
            rng.random(rankers.shape[0]) >= pop.miss_probability[rankers]
        )
        missed = np.concatenate([missed, rankers[~ranker_arrived]])
        rankers = rankers[ranker_arrived]

        if cand_nodes.shape[0] == 0:
            self._penalise_missed(missed)
            self._log_share(t)
            return
        correct_present = bool(np.any(cand_labels == 0))
        self.correct_present[t] = correct_present
        self.correct["oracle"][t] = correct_present

        # --- items: clusters of identical answers (or single candidates) ------------------
        if swarm.cluster:
            item_labels, cand_item = np.unique(cand_labels, return_inverse=True)
        else:
            item_labels, cand_item = cand_labels, np.arange(cand_labels.shape[0])
        order = rng.permutation(item_labels.shape[0])  # seeded presentation order
        inverse_order = np.empty_like(order)
        inverse_order[order] = np.arange(order.shape[0])
        item_labels = item_labels[order]
        cand_item = inverse_order[cand_item].astype(np.int64)
        n_items = int(item_labels.shape[0])
        self.items[t] = n_items
        item_correct = item_labels == 0
        item_adversarial = np.zeros(n_items, dtype=bool)
        np.logical_or.at(item_adversarial, cand_item, pop.adversary[cand_nodes])
        # team_items[team, item]: a member of ``team`` (attacking now) submitted this item
        team_items = np.zeros((max(self.n_teams, 1), n_items), dtype=bool)
        attacking_cands = np.flatnonzero(cand_attacking)
        team_items[pop.team[cand_nodes[attacking_cands]], cand_item[attacking_cands]] = True
        injected = np.zeros(n_items, dtype=np.float64)
        injector_cands = np.flatnonzero(cand_attacking & (pop.behaviour[cand_nodes] == INJECTOR))
        np.maximum.at(
            injected,
            cand_item[injector_cands],
            pop.success_probability[cand_nodes[injector_cands]],
        )

        # --- majority vote and the best single node ---------------------------------------
        majority_item = aggregators.majority_item(cand_item, n_items, rng)
        # the best single node: the most skilled candidate that answers in good faith
        in_good_faith = (pop.behaviour[cand_nodes] != LAZY) & ~cand_attacking
        skill = np.where(in_good_faith, pop.generation_skill[cand_nodes], -np.inf)
        best = int(np.argmax(skill))
        self._score(t, "majority", majority_item, item_correct, item_adversarial)
        self._score(t, "best-single", int(cand_item[best]), item_correct, item_adversarial)

        # --- judging ----------------------------------------------------------------------
        own_item = np.full(rankers.shape[0], -1, dtype=np.int64)
        position = {int(node): i for i, node in enumerate(cand_nodes.tolist())}
        for r, node in enumerate(rankers.tolist()):
            if node in position:
                own_item[r] = cand_item[position[node]]
        pair_ranker, pair_a, pair_b = aggregators.ranker_pairs(
            n_items, own_item, swarm.schedule, swarm.k, rng
        )
        self.judge_calls[t] = pair_ranker.shape[0]
        if pair_ranker.shape[0] == 0:
            for name in JUDGED:
                self._score(t, name, majority_item, item_correct, item_adversarial)
            self._penalise_missed(missed)
            self._log_share(t)
            return
        outcomes = self._judge(
            t,
            rankers,
            pair_ranker,
            pair_a,
            pair_b,
            item_labels,
            team_items,
            injected,
            difficulty,
            rng,
        )
        comparisons = aggregators.make_comparisons(pair_a, pair_b, outcomes, pair_ranker)
        ranker_weights = trust_weights(
            self.reputation, self.admitted_at, self.height0 + t, self.trust
        )[rankers]
        results = aggregators.aggregate_all(
            comparisons, n_items, ranker_weights, own_item, majority_item
        )
        for name, winner in results.winners.items():
            self._score(t, name, winner, item_correct, item_adversarial)
        winner = majority_item if results.default is None else int(results.default.winner)
        self._update_reputation(
            rankers, cand_nodes, cand_item, missed, comparisons, winner, item_correct, gold
        )
        self._log_share(t)

    def _judge(
        self,
        t: int,
        rankers: IntArray,
        pair_ranker: IntArray,
        pair_a: IntArray,
        pair_b: IntArray,
        item_labels: IntArray,
        team_items: BoolArray,
        injected: FloatArray,
        difficulty: float,
        rng: np.random.Generator,
    ) -> IntArray:
        """Verdicts (``JUDGED_*``) of every stacked comparison, behaviours applied."""
        pop = self.pop
        judge = rankers[pair_ranker]
        a_ok = item_labels[pair_a] == 0
        b_ok = item_labels[pair_b] == 0
        p_a, p_b, _ = judge_probabilities(
            pop.judging_skill[judge], difficulty, a_ok, b_ok, pop.position_bias[judge]
        )
        verdict = draw_judgements(p_a, p_b, rng)
        n = verdict.shape[0]
        coin = np.where(rng.random(n) < 0.5, JUDGED_A, JUDGED_B)
        behaviour = pop.behaviour[judge]

        # lazy: a coin flip, or always A
        lazy = behaviour == LAZY
        verdict = np.where(lazy, np.where(pop.always_a[judge], JUDGED_A, coin), verdict)
        # inverted: the honest verdict reversed
        flipped = np.where(
            verdict == JUDGED_A, JUDGED_B, np.where(verdict == JUDGED_B, JUDGED_A, verdict)
        )
        verdict = np.where(behaviour == INVERTED, flipped, verdict)
        # self-promoting: backs the answer it would have given itself
        promoting = np.flatnonzero(behaviour == SELF_PROMOTING)
        if promoting.size:
            own = draw_answers(
                pop.generation_skill[judge[promoting]],
                difficulty,
                pop.error_correlation[judge[promoting]],
                self.n_wrong,
                rng,
            )
            la, lb = item_labels[pair_a[promoting]], item_labels[pair_b[promoting]]
            pick = np.where(la == own, JUDGED_A, np.where(lb == own, JUDGED_B, verdict[promoting]))
            verdict[promoting] = pick
        # colluders: back the team's item; open cliques also sabotage outsiders' pairs
        attacking = self.attacking(judge, t)
        if np.any(attacking):
            team = np.where(attacking, pop.team[judge], 0)
            team_a = team_items[team, pair_a] & attacking
            team_b = team_items[team, pair_b] & attacking
            backs = np.where(team_a & ~team_b, JUDGED_A, np.where(team_b & ~team_a, JUDGED_B, -1))
            wrong_side = np.where(a_ok & ~b_ok, JUDGED_B, np.where(b_ok & ~a_ok, JUDGED_A, coin))
            open_attack = attacking & ~pop.stealth[judge] & (backs < 0)
            verdict = np.where(backs >= 0, backs, np.where(open_attack, wrong_side, verdict))
        # prompt injection: a susceptible judge is swayed towards an injected item
        if np.any(injected > 0):
            swayable = pop.susceptible[judge]
            inj_a, inj_b = injected[pair_a], injected[pair_b]
            roll = rng.random(n)
            sway_a = swayable & (inj_a > inj_b) & (roll < inj_a)
            sway_b = swayable & (inj_b > inj_a) & (roll < inj_b)
            verdict = np.where(sway_a, JUDGED_A, np.where(sway_b, JUDGED_B, verdict))
        return np.asarray(verdict, dtype=np.int64)

    def _score(
        self,
        t: int,
        name: str,
        winner: int,
        item_correct: BoolArray,
        item_adversarial: BoolArray,
    ) -> None:
        right = bool(item_correct[winner])
        self.correct[name][t] = right
        self.captured[name][t] = (
            not right and bool(item_adversarial[winner]) and bool(item_correct.any())
        )

    def _admit(self, t: int, rng: np.random.Generator) -> None:
        """Fresh identities out of their cooldown sit the exam; the trust rules decide."""
        due = np.flatnonzero(self.next_exam <= t)
        if due.size == 0:
            return
        height = self.height0 + t
        for node, result in zip(
            due.tolist(),
            sit_exams(self.pop, due, self.trust, self.scenario.tasks.options, rng),
            strict=True,
        ):
            state = apply_exam(self.identities[node], result, height, self.trust)
            self.identities[node] = state
            if state.status == "admitted":
                self.admitted_at[node] = height
                self.next_exam[node] = np.iinfo(np.int64).max
            else:
                self.next_exam[node] = state.cooldown_until - self.height0

    def _penalise_missed(self, missed: IntArray) -> None:
        empty = np.zeros(0, dtype=np.int64)
        self.reputation = aggregators.reputation_step(
            self.reputation, None, empty, 0, empty, missed, None, self.reputation_params
        )

    def _update_reputation(
        self,
        rankers: IntArray,
        cand_nodes: IntArray,
        cand_item: IntArray,
        missed: IntArray,
        comparisons: Comparisons,
        winner: int,
        item_correct: BoolArray,
        gold: bool,
    ) -> None:
        """:func:`ranking.update_reputation` on the round, as the ledger applies a record."""
        if not gold:
            reference: Comparisons | None = comparisons
            gold_item = None
            rewarded = cand_nodes[cand_item == winner]
        elif item_correct.any():
            reference = comparisons
            gold_item = int(np.flatnonzero(item_correct)[0])
            rewarded = cand_nodes[item_correct[cand_item]]
        else:  # a gold task nobody answered right: nothing to agree with, nobody to reward
            reference, gold_item = None, None
            rewarded = np.zeros(0, dtype=np.int64)
        self.reputation = aggregators.reputation_step(
            self.reputation,
            reference,
            rankers,
            winner,
            rewarded.astype(np.int64),
            missed,
            gold_item,
            self.reputation_params,
        )

    def _log_share(self, t: int) -> None:
        pop = self.pop
        rep = np.where(self.admitted_at >= 0, self.reputation, 0.0)
        total = float(rep.sum())
        self.adversary_share[t] = float(rep[pop.adversary].sum()) / total if total > 0 else 0.0
