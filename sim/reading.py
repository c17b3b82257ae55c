"""The evidence reading's state in a simulated run: what :mod:`ranking.evidence` learns from
the run's gold rounds, as a node's ledger would keep it.

This module owns :class:`EvidenceReading`: every node's gold record as a generator and as a
judge (undecayed counts), the window of gold rounds the fit reads, the fitted model and the
fit's cache of scores. The engine reads every round through it (:meth:`EvidenceReading.read`,
scored as ``evidence``) and teaches it every gold round (:meth:`EvidenceReading.learn`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ranking.consensus import DEFAULT_GOLD_WINDOW
from ranking.evidence import (
    EvidenceModel,
    RoundEvidence,
    fit_evidence_model,
    plain_vote,
    posterior_items,
    refit_due,
    verdict_rows,
)
from ranking.types import Comparisons

__all__ = ["EvidenceReading"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class EvidenceReading:
    """One run's evidence reading (module docstring).

    Parameters
    ----------
    nodes : int
        Population size.
    options : int
        The tasks' plausible answers.
    """

    def __init__(self, nodes: int, options: int) -> None:
        self.gen_hits = np.zeros(nodes, dtype=np.float64)
        self.gen_seen = np.zeros(nodes, dtype=np.float64)
        self.judge_hits = np.zeros(nodes, dtype=np.float64)
        self.judge_seen = np.zeros(nodes, dtype=np.float64)
        self.model = plain_vote(max(options, 2))
        self.gold: list[tuple[int, RoundEvidence, BoolArray]] = []
        self.memo: dict[tuple[EvidenceModel, int], float] = {}
        self.rounds = 0  # gold rounds the reading has learned from

    def read(
        self,
        n_items: int,
        cand_nodes: IntArray,
        cand_item: IntArray,
        rankers: IntArray,
        own_item: IntArray,
        comparisons: Comparisons,
    ) -> tuple[int, RoundEvidence]:
        """The round's winner under the current model (the lowest of equal posteriors), and the
        round's evidence as read (what :meth:`learn` keeps if the round is gold)."""
        ranker, lo, hi, lo_won = verdict_rows(comparisons)
        evidence = RoundEvidence(
            n_items=n_items,
            vote_item=cand_item,
            vote_hits=self.gen_hits[cand_nodes],
            vote_seen=self.gen_seen[cand_nodes],
            ranker_hits=self.gen_hits[rankers],
            ranker_seen=self.gen_seen[rankers],
            ranker_own=own_item,
            judge_hits=self.judge_hits[rankers],
            judge_seen=self.judge_seen[rankers],
            row_ranker=ranker,
            row_lo=lo,
            row_hi=hi,
            row_lo_won=lo_won,
        )
        return int(np.argmax(posterior_items(evidence, self.model))), evidence

    def learn(
        self,
        key: int,
        evidence: RoundEvidence,
        cand_nodes: IntArray,
        rankers: IntArray,
        correct: BoolArray,
    ) -> None:
        """What a gold round with a right answer among its clusters (``correct``) teaches:
        each generator's and each judge's gold record (a judge's verdicts between a right and
        a wrong cluster), and, with a wrong cluster too, the fit's window (``key`` names the
        round in the cache) and a refit when :func:`ranking.evidence.refit_due`."""
        self.gen_hits[cand_nodes] += correct[evidence.vote_item]
        self.gen_seen[cand_nodes] += 1.0
        lo_ok, hi_ok = correct[evidence.row_lo], correct[evidence.row_hi]
        judged = lo_ok != hi_ok
        judge = rankers[evidence.row_ranker[judged]]
        np.add.at(self.judge_hits, judge, (evidence.row_lo_won == lo_ok)[judged])
        np.add.at(self.judge_seen, judge, 1.0)
        if correct.all():
            return
        self.gold.append((key, evidence, correct.copy()))
        dropped = {k for k, _, _ in self.gold[:-DEFAULT_GOLD_WINDOW]}
        if dropped:
            self.memo = {mk: v for mk, v in self.memo.items() if mk[1] not in dropped}
            del self.gold[:-DEFAULT_GOLD_WINDOW]
        self.rounds += 1
        if refit_due(self.rounds):
            self.model, _ = fit_evidence_model(self.gold, self.model, self.memo)
