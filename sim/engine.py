"""The fast engine: a whole swarm simulated round by round with numpy.

This module owns :func:`simulate` (scenario -> :class:`RunRecord`, the per-round outcomes of
every aggregator on the same draws) and :func:`select_round` (the node's participant draw over
the admitted pool). The behaviour model is :mod:`sim.model`'s and :mod:`sim.judging`'s; the
selection, aggregation, pair schedules and reputation arithmetic are :mod:`ranking`'s (through
:mod:`sim.aggregators`), the same pure functions the node runs.

One round (the node's round, DESIGN "One round"; ``tests/sim/test_parity.py`` feeds the engine
and ``node.round`` the same inputs)
-------------------------------------------------------------------------------------------
0. Admission (``swarm.trust = true`` only; the node's default is off): fresh identities whose
   cooldown is over sit the calibration exam (:func:`sim.population.sit_exams`) and move through
   :func:`ranking.apply_exam`. With trust off every identity is a member from round 0, at the
   ledger's ``DEFAULT_REPUTATION`` 0.5.
1. A task: difficulty ``~ N(mean, sd)``, a persuasiveness ``z`` shared by generators and judges
   (:mod:`sim.judging`), a gold flag with probability ``gold_fraction`` (default the node's, 0),
   recognisable as gold with probability ``gold_detection``.
2. Selection: :func:`ranking.selection.select_participants`, the node's draw (at most half the
   pool generates; non-generators rank first). A grinding leader (option ``grind``) redraws it
   that many times, as a leader grinding query ids would, and keeps the draw with most of its
   team among the rankers.
3. Generation: :func:`sim.model.draw_answers` with the task's concentration, then behaviour
   overrides (dead and slow nodes miss the deadline, lazy nodes guess, attacking colluders
   submit their team's wrong answer: the popular distractor). Every ranker also has its own
   answer (its candidate, or the one it would have given), which its judging leans on.
4. Clustering: identical answers merge into one item; the items' order is a seeded permutation.
   With ``tasks.answer_split`` a correct candidate is, with that probability, phrased so that
   the node's normaliser does not merge it (free text): it forms a correct cluster of its own.
5. Judging: every selected ranker's pairs (:func:`ranking.schedule_pairs`, own item excluded)
   are stacked and judged in one vectorised draw (:func:`sim.judging.draw_pair_verdicts`: one
   latent draw per pair for both orders, stated confidences), then behaviour overrides (lazy,
   inverted, self-promoting, colluding open/stealth, abstentions, inflated confidence, prompt
   injection of susceptible judges). Rankers that missed the deadline judged nothing.
   With ``schedule = "adaptive"`` the waves of :mod:`ranking.adaptive` (up to ``judge_budget``
   calls) ask a subset of those calls, one order per (ranker, pair), and read each verdict from
   the 3n draw (:meth:`_State.rank_adaptive`), so a seed's adaptive and 3n runs are paired.
6. Aggregation: majority vote, plain BT, reputation-weighted BT, robust BT, Borda, the
   calibrated consensus (:mod:`ranking.consensus`: cluster shares of generator weight plus the
   learned judge weight times robust BT's strengths) and the node's default, the evidence
   reading (:mod:`ranking.evidence`, :class:`sim.reading.EvidenceReading`: consensus 2,
   ``node.round.reading``), on the same comparisons; the oracle and the best single node
   alongside. The default's winner is the round's (reputation follows it). On a gold round
   the generators' gold records move, the judges' trust is refitted, as
   ``node.ledger.state.learn_from_gold`` does, and the reading learns as
   ``node.ledger.state.learn_reading`` does.
   Ranker weights are reputations (trust off, as the node's ``ballot_weights``) or
   :func:`ranking.trust_weights` (trust on).
7. Reputation: :func:`ranking.update_reputation` as ``node.ledger.state.apply_record`` applies
   it: rankers move towards their agreement with the winner (with the gold answer's cluster on
   gold rounds that have one), the winner's generators gain, and the selected nodes that owed a
   reply and sent none (generators without a candidate, rankers with a non-empty assignment)
   lose a little. A round without any candidate fails and records nothing.

Adaptive adversaries (``[[nodes]]`` options, :data:`sim.scenario.ADAPTIVE_OPTIONS`) decide per
round whether to attack: ``gold_aware`` teams play honest on gold rounds they recognise,
``opportunistic`` teams attack only when they hold ``min_ranker_share`` of the round's rankers,
``patience`` waits that many rounds after admission.

Per round the cost is O(nodes) numpy work (selection and, with trust on, weights) plus
O(G + R) for the selected nodes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ranking.adaptive import AdaptiveParams, Wave, robust_separation, run_waves
from ranking.consensus import (
    DEFAULT_GOLD_WINDOW,
    GoldRound,
    JudgeTrust,
    fit_judge_trust,
    follow_up_gold_chance,
    generator_weights,
    select_consensus,
    update_generator_record,
    vote_shares,
)
from ranking.evidence import RoundEvidence
from ranking.reputation import ReputationParams
from ranking.selection import select_participants
from ranking.trust import IdentityState, apply_exam, trust_weights
from ranking.types import Comparisons
from sim import aggregators
from sim.judging import JudgeModel, draw_pair_verdicts, task_concentration
from sim.model import JUDGED_A, JUDGED_B, JUDGED_TIE, draw_answers, p_generate_correct
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
from sim.reading import EvidenceReading
from sim.scenario import Scenario

__all__ = [
    "AGGREGATORS",
    "DEFAULT_AGGREGATOR",
    "RunRecord",
    "absent_nodes",
    "next_reputation",
    "select_round",
    "simulate",
]

#: Aggregators compared on the same draws, in report order.
AGGREGATORS = (
    "majority",
    "plain-bt",
    "weighted-bt",
    "robust-bt",
    "borda",
    "calibrated",
    "evidence",
    "best-single",
    "oracle",
)
#: The aggregator the node uses (consensus 2, ``node.round.reading``).
DEFAULT_AGGREGATOR = "evidence"
#: Aggregators that consume pairwise judgements (the others cost no judge calls).
JUDGED = ("plain-bt", "weighted-bt", "robust-bt", "borda", "calibrated", "evidence")
#: The label colluding teams push: the popular distractor, which honest errors reinforce.
TARGET_LABEL = 1
#: Stream tags of the adaptive schedule's per-round generators (schedule, verdicts).
_ADAPTIVE_STREAM = 0xADA
#: Verdict code of an abstention (dropped before aggregation, as the node drops them).
ABSTAINED = -1

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
        Whether a wrong candidate that an adversary submitted while attacking won although a
        correct one was present (honest co-errors on the same answer count too).
    decisive : ndarray of bool, shape (rounds,)
        Captures of the default that were the attackers' doing: without the attacking nodes'
        candidates and verdicts the default would have answered correctly
        (:meth:`_State._decisive`).
    judge_calls : ndarray of int, shape (rounds,)
        Pairwise judgements asked in the round (shared by the judged aggregators).
    correct_present : ndarray of bool
        Some candidate was correct (the oracle).
    gold : ndarray of bool
        Gold rounds.
    attacked : ndarray of bool
        Rounds in which some adversary attacked.
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
    decisive: BoolArray
    judge_calls: IntArray
    correct_present: BoolArray
    gold: BoolArray
    attacked: BoolArray
    candidates: IntArray
    items: IntArray
    adversary_share: FloatArray
    adversary_fraction: float
    admitted: int
    final_reputation: FloatArray
    behaviour: IntArray


def select_round(
    reputation: FloatArray,
    pool: IntArray,
    max_generators: int,
    max_rankers: int,
    rng: np.random.Generator,
) -> tuple[IntArray, IntArray]:
    """Generators and rankers (node indices) drawn from ``pool`` as the node draws them.

    ``pool`` lists the eligible nodes in the node's canonical order (ascending id; the
    simulator's node index plays the id). :func:`ranking.selection.select_participants` is the
    node's own draw, so the same reputations and the same generator give the same selection.
    """
    generators, rankers = select_participants(reputation[pool], rng, max_generators, max_rankers)
    return pool[generators], pool[rankers]


def absent_nodes(
    missed_generators: IntArray,
    rankers: IntArray,
    ranker_arrived: BoolArray,
    pair_ranker: IntArray,
) -> IntArray:
    """Selected nodes that owed a reply and sent none, as ``node.round.aggregate.absent_ids``
    rules: generators without a candidate, and rankers with a non-empty assignment (rows of
    ``pair_ranker``, indexing ``rankers``) that sent no ballot."""
    assigned = np.bincount(pair_ranker, minlength=rankers.shape[0]) > 0
    return np.concatenate([missed_generators, rankers[~ranker_arrived & assigned]]).astype(np.int64)


def next_reputation(
    reputation: FloatArray,
    rankers: IntArray,
    cand_nodes: IntArray,
    cand_item: IntArray,
    absent: IntArray,
    comparisons: Comparisons,
    winner: int,
    item_correct: BoolArray,
    gold: bool,
    params: ReputationParams,
) -> FloatArray:
    """Every node's reputation after a recorded round, as ``node.ledger.state.apply_record``
    computes it: :func:`ranking.update_reputation` with the winner's generators rewarded, the
    absent penalised, and on a gold round truth (the first correct cluster) as the reference;
    a gold round without a correct cluster falls back to the consensus winner, as the node's
    ``gold_item = -1`` does. ``comparisons.ranker`` indexes ``rankers``."""
    gold_item = int(np.flatnonzero(item_correct)[0]) if gold and item_correct.any() else None
    return aggregators.reputation_step(
        reputation,
        comparisons,
        rankers,
        winner,
        cand_nodes[cand_item == winner].astype(np.int64),
        absent,
        gold_item,
        params,
    )


def seed_run(scenario: Scenario) -> tuple[Population, np.random.Generator]:
    """A run's population and its rounds' generator: the population from the scenario seed's
    first child, the rounds from the second (the engine and live mode alike)."""
    pop_seed, round_seed = np.random.SeedSequence(scenario.seed).spawn(2)
    population = build_population(scenario, np.random.default_rng(pop_seed))
    return population, np.random.default_rng(round_seed)


def start_run(
    scenario: Scenario, state_type: type[_State] | None = None
) -> tuple[_State, np.random.Generator]:
    """A run's state (``state_type``, a subclass of the engine's state for instrumented runs
    such as ``docs/sim/evidence-bound``) and its rounds' generator, seeded as :func:`simulate`
    seeds them (:func:`seed_run`)."""
    population, rng = seed_run(scenario)
    return (state_type or _State)(scenario, population), rng


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
    state, rng = start_run(scenario)
    for round_index in range(scenario.rounds):
        state.play_round(round_index, rng)
        if progress is not None:
            progress(round_index + 1)
    return state.record()


@dataclass(frozen=True)
class _Task:
    """One round's task as the engine sees it."""

    difficulty: float
    persuasiveness: float
    gold: bool
    gold_detected: bool


@dataclass(frozen=True)
class _Generation:
    """A round's candidates and rankers after the *generate* step."""

    rankers: IntArray  # selected rankers (node indices), in selection order
    share: FloatArray  # each team's share of the selected rankers
    cand_nodes: IntArray  # generators whose candidate arrived
    cand_labels: IntArray  # their answers' labels (behaviours applied)
    cand_attacking: BoolArray  # whether each candidate's generator attacks this round
    missed_generators: IntArray  # generators without a candidate
    own_label: IntArray  # each ranker's own answer label
    ranker_arrived: BoolArray  # whether each ranker's ballot arrives
    ranker_attacking: BoolArray  # whether each ranker attacks this round


@dataclass(frozen=True)
class _Items:
    """A round's clusters after the *cluster* step, in presentation order."""

    labels: IntArray  # each item's answer label
    correct: BoolArray  # each item is a correct answer
    adversarial: BoolArray  # an adversary attacking this round submitted the item
    team_items: BoolArray  # [team, item]: an attacking member of the team submitted it
    injected: FloatArray  # each item's prompt-injection success probability (0: none)
    cand_item: IntArray  # each candidate's item

    @property
    def n(self) -> int:
        """Number of items."""
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class _Verdicts:
    """Judged rows of a round's schedule: who judged which pair in which order, the verdict
    (``JUDGED_*`` or :data:`ABSTAINED`) and stated confidence, and the absences implied."""

    ranker: IntArray
    a: IntArray
    b: IntArray
    verdict: IntArray
    confidence: FloatArray
    absent: IntArray

    def comparisons(self) -> Comparisons:
        """The verdicts as :class:`ranking.Comparisons`, abstentions dropped."""
        kept = self.verdict != ABSTAINED
        return aggregators.make_comparisons(
            self.a[kept], self.b[kept], self.verdict[kept], self.ranker[kept], self.confidence[kept]
        )


def _reversed(verdict: IntArray) -> IntArray:
    """A for B and B for A; ties, abstentions and "no side" (-1) stay as they are."""
    return np.where(verdict == JUDGED_A, JUDGED_B, np.where(verdict == JUDGED_B, JUDGED_A, verdict))


def _unjudged(rows: BoolArray) -> tuple[IntArray, FloatArray, IntArray]:
    """Verdict and confidence placeholders for ``rows`` calls, and no absences."""
    n = int(np.count_nonzero(rows))
    return np.full(n, ABSTAINED, dtype=np.int64), np.full(n, np.nan), np.zeros(0, np.int64)


class _State:
    """Mutable state of one run (reputation and the per-round log); private to the engine."""

    def __init__(self, scenario: Scenario, population: Population) -> None:
        self.scenario = scenario
        self.pop = population
        self.reputation = population.initial_reputation.copy()
        self.trust = trust_params(scenario)
        self.trust_on = scenario.swarm.trust
        self.reputation_params = ReputationParams()
        self.judge_model = JudgeModel(
            ease=scenario.tasks.judging_ease, correlation=scenario.tasks.judge_correlation
        )
        # genesis members were admitted at height 0; the run starts once they are established
        self.height0 = self.trust.probation_rounds if self.trust_on else 0
        fresh = population.fresh if self.trust_on else np.zeros(population.size, dtype=bool)
        self.admitted_at = np.where(fresh, -1, 0).astype(np.int64)
        self.identities = {int(i): IdentityState() for i in np.flatnonzero(fresh)}
        self.next_exam = np.where(fresh, 0, np.iinfo(np.int64).max).astype(np.int64)
        rounds = scenario.rounds
        self.correct = {name: np.zeros(rounds, dtype=bool) for name in AGGREGATORS}
        self.captured = {name: np.zeros(rounds, dtype=bool) for name in AGGREGATORS}
        self.decisive = np.zeros(rounds, dtype=bool)
        # the chance the next round is gold (the node's coin after each live round: higher
        # after a contested one, ranking.follow_up_gold_chance)
        self.gold_chance = scenario.swarm.gold_fraction
        self.judge_calls = np.zeros(rounds, dtype=np.int64)
        self.correct_present = np.zeros(rounds, dtype=bool)
        self.gold = np.zeros(rounds, dtype=bool)
        self.attacked = np.zeros(rounds, dtype=bool)
        self.candidates = np.zeros(rounds, dtype=np.int64)
        self.items = np.zeros(rounds, dtype=np.int64)
        self.adversary_share = np.zeros(rounds, dtype=np.float64)
        self.n_wrong = scenario.tasks.options - 1
        self.n_teams = int(population.team.max()) + 1 if population.size else 0
        self.grinders = bool(np.any(population.grind > 1))
        # the calibrated consensus learns from gold rounds, as the node's ledger state does
        self.gold_rounds: list[GoldRound] = []
        self.judge_trust = JudgeTrust()
        # each node's decayed gold record as a generator (ranking.update_generator_record)
        self.gold_hits = np.zeros(population.size, dtype=np.float64)
        self.gold_seen = np.zeros(population.size, dtype=np.float64)
        self._node_weights: tuple[int, FloatArray] | None = None  # (round, weights) cache
        # the evidence reading (ranking.evidence), scored beside the default
        self.reading = EvidenceReading(population.size, scenario.tasks.options)

    def record(self) -> RunRecord:
        pop = self.pop
        return RunRecord(
            correct=self.correct,
            captured=self.captured,
            decisive=self.decisive,
            judge_calls=self.judge_calls,
            correct_present=self.correct_present,
            gold=self.gold,
            attacked=self.attacked,
            candidates=self.candidates,
            items=self.items,
            adversary_share=self.adversary_share,
            adversary_fraction=float(np.mean(pop.adversary)),
            admitted=int(np.count_nonzero(self.admitted_at >= 0)),
            final_reputation=self.reputation.copy(),
            behaviour=pop.behaviour,
        )

    # ---------------------------------------------------------------------------------------
    # Steps of a round

    def draw_task(self, rng: np.random.Generator) -> _Task:
        swarm, tasks = self.scenario.swarm, self.scenario.tasks
        difficulty = float(tasks.difficulty.mean + tasks.difficulty.sd * rng.standard_normal())
        persuasion = tasks.persuasiveness
        z = float(persuasion.mean + persuasion.sd * rng.standard_normal())
        gold = bool(rng.random() < self.gold_chance)
        detected = gold and bool(rng.random() < swarm.gold_detection)
        return _Task(difficulty, z, gold, detected)

    def is_correct(self, labels: IntArray) -> BoolArray:
        """Correct answers: label 0, and correct answers split off by the normaliser."""
        return np.asarray((labels == 0) | (labels > self.n_wrong), dtype=bool)

    def team_share(self, rankers: IntArray) -> FloatArray:
        """Each team's share of the round's selected rankers."""
        teams = self.pop.team[rankers]
        counts = np.bincount(teams[teams >= 0], minlength=max(self.n_teams, 1))
        return np.asarray(counts / max(rankers.shape[0], 1), dtype=np.float64)

    def select(self, rng: np.random.Generator) -> tuple[IntArray, IntArray]:
        """The node's draw over admitted nodes; a grinding leader keeps its best of ``grind``."""
        swarm = self.scenario.swarm
        pool = np.flatnonzero(self.admitted_at >= 0).astype(np.int64)
        if pool.shape[0] == 0:  # nobody admitted yet (trust on): nobody to select
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        leader = int(pool[rng.integers(pool.shape[0])]) if self.grinders else -1
        generators, rankers = select_round(
            self.reputation, pool, swarm.generators, swarm.rankers, rng
        )
        if leader < 0 or self.pop.grind[leader] <= 1 or self.pop.team[leader] < 0:
            return generators, rankers
        team = int(self.pop.team[leader])
        best = int(np.count_nonzero(self.pop.team[rankers] == team))
        for _ in range(int(self.pop.grind[leader]) - 1):
            g, r = select_round(self.reputation, pool, swarm.generators, swarm.rankers, rng)
            held = int(np.count_nonzero(self.pop.team[r] == team))
            if held > best:
                generators, rankers, best = g, r, held
        return generators, rankers

    def attacking(self, nodes: IntArray, t: int, task: _Task, share: FloatArray) -> BoolArray:
        """Colluders that attack this round: farmers from their start round, patient members
        once their patience is over, gold-aware members not on gold they recognise,
        opportunistic members only when their team holds enough of the round's rankers."""
        pop = self.pop
        behaviour = pop.behaviour[nodes]
        colluding = np.isin(behaviour, COLLUDING)
        started = (behaviour != FARMER) | (t >= pop.start_round[nodes])
        admitted_round = np.maximum(self.admitted_at[nodes] - self.height0, 0)
        patient = t >= admitted_round + pop.patience[nodes]
        gold_ok = ~(pop.gold_aware[nodes] & task.gold_detected)
        team = np.maximum(pop.team[nodes], 0)
        opportune = ~pop.opportunistic[nodes] | (share[team] >= pop.min_ranker_share[nodes])
        return np.asarray(colluding & started & patient & gold_ok & opportune, dtype=bool)

    def play_round(self, t: int, rng: np.random.Generator) -> None:
        """One round, as named steps (the module docstring's 1-7); draws in a fixed order."""
        task = self.draw_task(rng)
        self.gold[t] = task.gold
        if self.trust_on:
            self._admit(t, rng)
        generators, rankers = self.select(rng)
        gen = self.generate(t, task, generators, rankers, rng)
        self.candidates[t] = gen.cand_nodes.shape[0]
        if gen.cand_nodes.shape[0] == 0:  # the round fails (no quorum): no record, no update
            self._log_share(t)
            return
        items = self.cluster(t, task, gen, rng)
        majority = self.score_baselines(t, gen, items)
        comparisons, own_item, absent = self.rank(t, task, gen, items, rng)
        winner = self.aggregate(t, gen, items, comparisons, own_item, majority)
        self.reputation = next_reputation(
            self.reputation,
            gen.rankers,
            gen.cand_nodes,
            items.cand_item,
            absent,
            comparisons,
            winner,
            items.correct,
            task.gold,
            self.reputation_params,
        )
        self._log_share(t)

    def generate(
        self,
        t: int,
        task: _Task,
        generators: IntArray,
        rankers: IntArray,
        rng: np.random.Generator,
    ) -> _Generation:
        """Candidates (behaviours applied), every ranker's own answer, who arrived."""
        pop, tasks = self.pop, self.scenario.tasks
        share = self.team_share(rankers)
        gen_behaviour = pop.behaviour[generators]
        arrived = (gen_behaviour != DEAD) & (
            rng.random(generators.shape[0]) >= pop.miss_probability[generators]
        )
        concentration = task_concentration(pop.error_correlation, task.persuasiveness)
        honest_labels = draw_answers(
            pop.generation_skill[generators],
            task.difficulty,
            concentration[generators],
            self.n_wrong,
            rng,
        )
        guesses = rng.integers(0, self.n_wrong + 1, size=generators.shape[0])
        labels = np.where(gen_behaviour == LAZY, guesses, honest_labels)
        gen_attacking = self.attacking(generators, t, task, share)
        labels = np.where(gen_attacking, TARGET_LABEL, labels)
        cand_labels = labels[arrived]
        if tasks.answer_split > 0.0:
            # a correct answer phrased so that the node's normaliser does not merge it: a
            # cluster of its own (label n_options + i: correct, distinct from every other)
            split = (cand_labels == 0) & (rng.random(cand_labels.shape[0]) < tasks.answer_split)
            variants = self.n_wrong + 1 + np.arange(cand_labels.shape[0])
            cand_labels = np.where(split, variants, cand_labels)
        # every ranker's own answer: its honest candidate, or the answer it would have given
        own_label = draw_answers(
            pop.generation_skill[rankers],
            task.difficulty,
            concentration[rankers],
            self.n_wrong,
            rng,
        )
        gen_position = {int(node): i for i, node in enumerate(generators.tolist())}
        for r, node in enumerate(rankers.tolist()):
            if node in gen_position:
                own_label[r] = honest_labels[gen_position[node]]
        ranker_arrived = (pop.behaviour[rankers] != DEAD) & (
            rng.random(rankers.shape[0]) >= pop.miss_probability[rankers]
        )
        return _Generation(
            rankers=rankers,
            share=share,
            cand_nodes=generators[arrived],
            cand_labels=np.asarray(cand_labels, dtype=np.int64),
            cand_attacking=gen_attacking[arrived],
            missed_generators=generators[~arrived],
            own_label=own_label,
            ranker_arrived=ranker_arrived,
            ranker_attacking=self.attacking(rankers, t, task, share),
        )

    def cluster(self, t: int, task: _Task, gen: _Generation, rng: np.random.Generator) -> _Items:
        """Identical answers merge into items in a seeded order; which items the attacking
        teams submitted and which carry an injection."""
        pop = self.pop
        correct_present = bool(np.any(self.is_correct(gen.cand_labels)))
        self.correct_present[t] = correct_present
        self.correct["oracle"][t] = correct_present
        if self.scenario.swarm.cluster:
            item_labels, cand_item = np.unique(gen.cand_labels, return_inverse=True)
        else:
            item_labels, cand_item = gen.cand_labels, np.arange(gen.cand_labels.shape[0])
        order = rng.permutation(item_labels.shape[0])  # seeded presentation order
        inverse_order = np.empty_like(order)
        inverse_order[order] = np.arange(order.shape[0])
        item_labels = item_labels[order]
        cand_item = inverse_order[cand_item.reshape(-1)].astype(np.int64)
        n_items = int(item_labels.shape[0])
        self.items[t] = n_items
        cand_nodes = gen.cand_nodes
        # an adversary attacking this round submitted the item (a dormant farmer's honest
        # answer, or an adaptive team playing honest, is not an attack: winning with it is no
        # capture)
        adversarial = np.zeros(n_items, dtype=bool)
        np.logical_or.at(adversarial, cand_item, gen.cand_attacking & pop.adversary[cand_nodes])
        # team_items[team, item]: a member of ``team`` (attacking now) submitted this item
        team_items = np.zeros((max(self.n_teams, 1), n_items), dtype=bool)
        attacking_cands = np.flatnonzero(gen.cand_attacking)
        team_items[pop.team[cand_nodes[attacking_cands]], cand_item[attacking_cands]] = True
        self.attacked[t] = bool(attacking_cands.size) or bool(np.any(gen.ranker_attacking))
        injected = np.zeros(n_items, dtype=np.float64)
        injector = np.flatnonzero(gen.cand_attacking & (pop.behaviour[cand_nodes] == INJECTOR))
        np.maximum.at(injected, cand_item[injector], pop.success_probability[cand_nodes[injector]])
        return _Items(
            labels=np.asarray(item_labels, dtype=np.int64),
            correct=self.is_correct(item_labels),
            adversarial=adversarial,
            team_items=team_items,
            injected=injected,
            cand_item=cand_item,
        )

    def score_baselines(self, t: int, gen: _Generation, items: _Items) -> int:
        """Majority vote and the best single node; returns the majority item."""
        pop = self.pop
        majority = aggregators.majority_item(items.cand_item, items.n)
        # the best single node: the most skilled candidate that answers in good faith
        in_good_faith = (pop.behaviour[gen.cand_nodes] != LAZY) & ~gen.cand_attacking
        skill = np.where(in_good_faith, pop.generation_skill[gen.cand_nodes], -np.inf)
        best = int(items.cand_item[int(np.argmax(skill))])
        self._score(t, "majority", majority, items)
        self._score(t, "best-single", best, items)
        return majority

    def rank(
        self, t: int, task: _Task, gen: _Generation, items: _Items, rng: np.random.Generator
    ) -> tuple[Comparisons, IntArray, IntArray]:
        """Every ranker's schedule, the absences it implies, and the verdicts of the rankers
        that answered (abstentions dropped): ``(comparisons, own_item, absent)``."""
        swarm, rankers = self.scenario.swarm, gen.rankers
        own_item = np.full(rankers.shape[0], -1, dtype=np.int64)
        position = {int(node): i for i, node in enumerate(gen.cand_nodes.tolist())}
        for r, node in enumerate(rankers.tolist()):
            if node in position:
                own_item[r] = items.cand_item[position[node]]
        if swarm.schedule == "adaptive":
            # The 3n schedule is judged first, on the round's generator as a 3n run judges it,
            # and the waves read their verdicts from it (common random numbers): the adaptive
            # round sees exactly the verdicts the 3n round would have seen, and the following
            # rounds draw the same tasks, so adaptive and 3n compare round by round on a seed.
            table = self.judge_fixed(t, task, gen, items, own_item, "3n", None, rng)
            return self.rank_adaptive(t, task, gen, items, own_item, table)
        table = self.judge_fixed(t, task, gen, items, own_item, swarm.schedule, swarm.k, rng)
        self.judge_calls[t] = table.ranker.shape[0]
        return table.comparisons(), own_item, table.absent

    def judge_fixed(
        self,
        t: int,
        task: _Task,
        gen: _Generation,
        items: _Items,
        own_item: IntArray,
        schedule: str,
        k: int | None,
        rng: np.random.Generator,
    ) -> _Verdicts:
        """A fixed schedule (:func:`ranking.schedule_pairs` per ranker), judged at once: the
        answered rows (abstentions included) and the absences the schedule implies."""
        rankers = gen.rankers
        pair_ranker, pair_a, pair_b = aggregators.ranker_pairs(items.n, own_item, schedule, k, rng)
        absent = absent_nodes(gen.missed_generators, rankers, gen.ranker_arrived, pair_ranker)
        answered = gen.ranker_arrived[pair_ranker]
        pair_ranker, pair_a, pair_b = pair_ranker[answered], pair_a[answered], pair_b[answered]
        if pair_ranker.shape[0] == 0:
            empty = np.zeros(0, dtype=np.int64)
            return _Verdicts(empty, empty, empty, empty, np.zeros(0), absent)
        verdict, confidence = self._judge(t, task, gen, items, pair_ranker, pair_a, pair_b, rng)
        return _Verdicts(pair_ranker, pair_a, pair_b, verdict, confidence, absent)

    def rank_adaptive(
        self,
        t: int,
        task: _Task,
        gen: _Generation,
        items: _Items,
        own_item: IntArray,
        table: _Verdicts,
    ) -> tuple[Comparisons, IntArray, IntArray]:
        """The adaptive schedule (:func:`ranking.adaptive.run_waves`): waves of pairs until the
        default aggregator separates the winner or ``judge_budget`` calls were asked. A call
        the 3n ``table`` holds (same ranker, pair and order) gets that verdict; any other is
        judged by :meth:`_judge` on the round's own stream (seed, round). Rankers that missed
        the deadline answer no wave; judge calls count the calls of those that did
        (abstentions included), as for fixed schedules."""
        rankers = gen.rankers
        fresh_rng = np.random.default_rng([self.scenario.seed, t, _ADAPTIVE_STREAM])
        schedule_rng = np.random.default_rng([self.scenario.seed, t, _ADAPTIVE_STREAM + 1])
        budget = self.scenario.swarm.judge_budget
        params = AdaptiveParams(judge_budget=1 if budget is None else budget)
        separation = robust_separation(
            items.n, self.ranker_weights(t, gen), own_item, looks=params.max_waves
        )
        n = items.n
        known = {
            key: row
            for row, key in enumerate(((table.ranker * n + table.a) * n + table.b).tolist())
        }

        def judge(wave: Wave) -> Comparisons:
            answered = gen.ranker_arrived[wave.ranker]
            rows = _Verdicts(
                wave.ranker[answered], wave.a[answered], wave.b[answered], *_unjudged(answered)
            )
            self.judge_calls[t] += rows.ranker.shape[0]
            keys = ((rows.ranker * n + rows.a) * n + rows.b).tolist()
            found = np.asarray([known.get(key, -1) for key in keys], dtype=np.int64)
            hit = found >= 0
            rows.verdict[hit] = table.verdict[found[hit]]
            rows.confidence[hit] = table.confidence[found[hit]]
            if not hit.all():
                miss = ~hit
                verdict, confidence = self._judge(
                    t, task, gen, items, rows.ranker[miss], rows.a[miss], rows.b[miss], fresh_rng
                )
                rows.verdict[miss] = verdict
                rows.confidence[miss] = confidence
            return rows.comparisons()

        self.judge_calls[t] = 0
        # pairs between the biggest clusters first (ranking.adaptive's item_prior)
        sizes = np.bincount(items.cand_item, minlength=n)
        round_ = run_waves(n, own_item, judge, params, schedule_rng, separation, item_prior=sizes)
        asked = np.concatenate([w.ranker for w in round_.waves] or [np.zeros(0, np.int64)])
        absent = absent_nodes(gen.missed_generators, rankers, gen.ranker_arrived, asked)
        return round_.comparisons, own_item, absent

    def node_weights(self, t: int) -> FloatArray:
        """Every node's ballot weight in round ``t``: trust weights with trust on, reputations
        as they are with trust off (the node's ``ballot_weights``). Computed once per round
        (an O(nodes) pass), for the rank and aggregate steps alike."""
        if self._node_weights is None or self._node_weights[0] != t:
            weights = (
                trust_weights(self.reputation, self.admitted_at, self.height0 + t, self.trust)
                if self.trust_on
                else self.reputation
            )
            self._node_weights = (t, np.asarray(weights, dtype=np.float64))
        return self._node_weights[1]

    def ranker_weights(self, t: int, gen: _Generation) -> FloatArray:
        """The round's rankers' weights as the aggregation step uses them."""
        return np.asarray(self.node_weights(t)[gen.rankers], dtype=np.float64)

    def aggregate(
        self,
        t: int,
        gen: _Generation,
        items: _Items,
        comparisons: Comparisons,
        own_item: IntArray,
        majority: int,
    ) -> int:
        """Every judged aggregator on the same comparisons; returns the default's winner (the
        majority item when nothing was judged, as a node falls back to the largest cluster)."""
        nodes = gen.cand_nodes
        weights = generator_weights(self.gold_hits[nodes], self.gold_seen[nodes])
        # what a gold round teaches is read without trust's caps (node.ledger.state has no
        # trust parameters); the round's own decision weighs each vote by its trust weight too
        learn_shares = shares = vote_shares(items.cand_item, items.n, weights)
        factors = weights * self.node_weights(t)[nodes] if self.trust_on else weights
        if self.trust_on:
            shares = vote_shares(items.cand_item, items.n, factors)
        swarm = self.scenario.swarm
        self.gold_chance = follow_up_gold_chance(
            shares, swarm.gold_fraction, swarm.contested_gold, swarm.contested_margin
        )
        winner, evidence = self._read_evidence(t, gen, items, comparisons, own_item)
        if self.captured[DEFAULT_AGGREGATOR][t]:
            self.decisive[t] = self._decisive(t, gen, items, comparisons, own_item)
        if len(comparisons) == 0:  # nobody judged: the node's fallback (node.round.consensus)
            calibrated = select_consensus(shares, np.zeros(items.n), self.judge_trust.judge_weight)
            self._score(t, "calibrated", calibrated, items)
            for name in aggregators.PAIRWISE_RULES:
                self._score(t, name, majority, items)
            self._learn(t, gen, items, learn_shares, np.zeros(items.n), evidence)
            return winner
        results = aggregators.aggregate_all(
            comparisons, items.n, self.ranker_weights(t, gen), own_item, majority
        )
        for name, item in results.winners.items():
            self._score(t, name, item, items)
        strengths = (
            np.zeros(items.n) if results.default is None else np.array(results.default.strengths)
        )
        calibrated = select_consensus(shares, strengths, self.judge_trust.judge_weight)
        self._score(t, "calibrated", calibrated, items)
        self._learn(t, gen, items, learn_shares, strengths, evidence)
        return winner

    def _read_evidence(
        self, t: int, gen: _Generation, items: _Items, comparisons: Comparisons, own_item: IntArray
    ) -> tuple[int, RoundEvidence]:
        """The evidence reading's winner (:class:`sim.reading.EvidenceReading`), scored as
        ``evidence``, and the round's evidence as it read it (taught to it if gold)."""
        winner, evidence = self.reading.read(
            items.n, gen.cand_nodes, items.cand_item, gen.rankers, own_item, comparisons
        )
        self._score(t, "evidence", winner, items)
        return winner, evidence

    def _decisive(
        self,
        t: int,
        gen: _Generation,
        items: _Items,
        comparisons: Comparisons,
        own_item: IntArray,
    ) -> bool:
        """Whether a captured round's capture was the attackers' doing: the default (the
        evidence reading, with the records and model it has), reading the round again without
        the attacking nodes' candidates and verdicts (and without the clusters only they
        submitted), picks a correct answer. Honest generators' own errors on the attackers'
        answer are then no capture. Verdicts of honest judges swayed by an injection stay in
        (the injected text is part of a cluster honest nodes also submitted), so this bounds
        the attack's effect from below."""
        honest = ~gen.cand_attacking
        supported = np.bincount(items.cand_item[honest], minlength=items.n) > 0
        if not supported.any():
            return False
        index = np.flatnonzero(supported)
        renumber = np.full(items.n, -1, dtype=np.int64)
        renumber[index] = np.arange(index.shape[0])
        honest_rankers = np.flatnonzero(~gen.ranker_attacking)
        ranker_renumber = np.full(gen.rankers.shape[0], -1, dtype=np.int64)
        ranker_renumber[honest_rankers] = np.arange(honest_rankers.shape[0])
        keep = (
            ~gen.ranker_attacking[comparisons.ranker]
            & supported[comparisons.a]
            & supported[comparisons.b]
        )
        clean = Comparisons(
            a=renumber[comparisons.a[keep]],
            b=renumber[comparisons.b[keep]],
            outcome=comparisons.outcome[keep],
            ranker=ranker_renumber[comparisons.ranker[keep]],
            confidence=comparisons.confidence[keep],
        )
        own = own_item[honest_rankers]
        pick, _ = self.reading.read(
            index.shape[0],
            gen.cand_nodes[honest],
            renumber[items.cand_item[honest]],
            gen.rankers[honest_rankers],
            np.where(own >= 0, renumber[np.maximum(own, 0)], -1),
            clean,
        )
        return bool(items.correct[index[pick]])

    def _learn(
        self,
        t: int,
        gen: _Generation,
        items: _Items,
        shares: FloatArray,
        strengths: FloatArray,
        evidence: RoundEvidence,
    ) -> None:
        """On a gold round, as ``node.ledger.state.learn_from_gold``: the generators' gold
        records move (unless no candidate was right: rules 2), and a round with a right and a
        wrong cluster joins the calibrated rule's record and the judges' trust is refitted. The
        evidence reading learns from the same rounds, as it read them (``evidence``,
        :meth:`EvidenceReading.learn`)."""
        if not self.gold[t] or not items.correct.any():
            return
        nodes = gen.cand_nodes
        self.reading.learn(t, evidence, nodes, gen.rankers, items.correct)
        self.gold_hits[nodes], self.gold_seen[nodes] = update_generator_record(
            self.gold_hits[nodes], self.gold_seen[nodes], items.correct[items.cand_item]
        )
        if items.correct.all():
            return
        self.gold_rounds.append(GoldRound(shares, strengths, items.correct.copy()))
        del self.gold_rounds[:-DEFAULT_GOLD_WINDOW]
        self.judge_trust = fit_judge_trust(self.gold_rounds)

    def _judge(
        self,
        t: int,
        task: _Task,
        gen: _Generation,
        items: _Items,
        pair_ranker: IntArray,
        pair_a: IntArray,
        pair_b: IntArray,
        rng: np.random.Generator,
    ) -> tuple[IntArray, FloatArray]:
        """Verdicts (``JUDGED_*`` or :data:`ABSTAINED`) and stated confidences of every stacked
        comparison, behaviours applied."""
        pop = self.pop
        rankers, own_label = gen.rankers, gen.own_label
        item_labels, team_items, injected = items.labels, items.team_items, items.injected
        judge = rankers[pair_ranker]
        honest = draw_pair_verdicts(
            self.judge_model,
            pair_ranker,
            pair_a,
            pair_b,
            item_labels,
            items.correct,
            pop.judging_skill[judge],
            pop.position_bias[judge],
            own_label[pair_ranker],
            p_generate_correct(pop.generation_skill[judge], task.difficulty),
            task.difficulty,
            task.persuasiveness,
            rng,
        )
        verdict = honest.verdict.copy()
        n = verdict.shape[0]
        a_ok = items.correct[pair_a]
        b_ok = items.correct[pair_b]
        coin = np.where(rng.random(n) < 0.5, JUDGED_A, JUDGED_B)
        behaviour = pop.behaviour[judge]

        # lazy: a coin flip, or always A
        lazy = behaviour == LAZY
        verdict = np.where(lazy, np.where(pop.always_a[judge], JUDGED_A, coin), verdict)
        # inverted: the honest verdict reversed
        verdict = np.where(behaviour == INVERTED, _reversed(verdict), verdict)
        # self-promoting: backs its own answer wherever it is in the pair
        promoting = behaviour == SELF_PROMOTING
        own = own_label[pair_ranker]
        la, lb = item_labels[pair_a], item_labels[pair_b]
        verdict = np.where(
            promoting & (la == own), JUDGED_A, np.where(promoting & (lb == own), JUDGED_B, verdict)
        )
        # colluders: back the team's item (vote against it while the judge weight is negative,
        # exploit_sign); open cliques also sabotage outsiders' pairs;
        # members that abstain when losing stay silent where their own judgement goes against
        # the team's item instead of voting for it
        attacking = gen.ranker_attacking[pair_ranker]
        if np.any(attacking):
            team = np.where(attacking, pop.team[judge], 0)
            team_a = team_items[team, pair_a] & attacking
            team_b = team_items[team, pair_b] & attacking
            backs = np.where(team_a & ~team_b, JUDGED_A, np.where(team_b & ~team_a, JUDGED_B, -1))
            if self.judge_trust.judge_weight < 0.0:  # exploit_sign: verdicts count against
                backs = np.where(pop.exploit_sign[judge], _reversed(backs), backs)
            wrong_side = np.where(a_ok & ~b_ok, JUDGED_B, np.where(b_ok & ~a_ok, JUDGED_A, coin))
            open_attack = attacking & ~pop.stealth[judge] & (backs < 0)
            losing = (backs >= 0) & (honest.verdict != backs) & pop.abstain_when_losing[judge]
            verdict = np.where(backs >= 0, backs, np.where(open_attack, wrong_side, verdict))
            verdict = np.where(losing, ABSTAINED, verdict)
        # prompt injection: a susceptible judge is swayed towards an injected item
        if np.any(injected > 0):
            swayable = pop.susceptible[judge]
            inj_a, inj_b = injected[pair_a], injected[pair_b]
            roll = rng.random(n)
            sway_a = swayable & (inj_a > inj_b) & (roll < inj_a)
            sway_b = swayable & (inj_b > inj_a) & (roll < inj_b)
            verdict = np.where(sway_a, JUDGED_A, np.where(sway_b, JUDGED_B, verdict))

        # stated confidence: the honest one where the verdict is the honest verdict, the
        # confidence an honest judge states for its favourite where it is not (a dishonest
        # judge that wants to look honest), 1.0 for judges that inflate
        confidence = np.where(verdict == honest.verdict, honest.confidence, honest.decisive)
        confidence = np.where(pop.inflate_confidence[judge], 1.0, confidence)
        confidence = np.where((verdict == JUDGED_TIE) | (verdict == ABSTAINED), np.nan, confidence)
        return np.asarray(verdict, dtype=np.int64), np.asarray(confidence, dtype=np.float64)

    def _score(self, t: int, name: str, winner: int, items: _Items) -> None:
        right = bool(items.correct[winner])
        self.correct[name][t] = right
        self.captured[name][t] = (
            not right and bool(items.adversarial[winner]) and bool(items.correct.any())
        )

    def _admit(self, t: int, rng: np.random.Generator) -> None:
        """Fresh identities out of their cooldown sit the exam; the trust rules decide."""
        due = np.flatnonzero(self.next_exam <= t)
        if due.size == 0:
            return
        height = self.height0 + t
        results = sit_exams(
            self.pop,
            due,
            self.trust,
            self.scenario.tasks.options,
            rng,
            ease=self.scenario.tasks.judging_ease,
        )
        for node, result in zip(due.tolist(), results, strict=True):
            state = apply_exam(self.identities[node], result, height, self.trust)
            self.identities[node] = state
            if state.status == "admitted":
                self.admitted_at[node] = height
                self.next_exam[node] = np.iinfo(np.int64).max
            else:
                self.next_exam[node] = state.cooldown_until - self.height0

    def _log_share(self, t: int) -> None:
        pop = self.pop
        rep = np.where(self.admitted_at >= 0, self.reputation, 0.0)
        total = float(rep.sum())
        self.adversary_share[t] = float(rep[pop.adversary].sum()) / total if total > 0 else 0.0
