"""Trust state of the ledger and the verification of the trust events records carry.

Owns :class:`LedgerState` (reputations, one :class:`ranking.trust.IdentityState` per node id,
the height, applied evidence keys and recent gold outcomes) and the pure checks of the
``LedgerEvent`` s a :class:`~protocol.v1.messages_pb2.ConsensusRecord` carries: genesis
(:func:`check_genesis`), calibration exams (:func:`draw_node_exam`, :func:`grade_exam_event`)
and equivocation evidence (:func:`equivocation_key`). :mod:`node.round.check` calls these
while it checks a record; :mod:`node.swarm.evidence` and :mod:`node.swarm.exams` call the
same functions to build events. The rules themselves live in :mod:`ranking.trust`; this module
only maps protocol messages onto them.

Ledger and trust model (issue 6)
--------------------------------
* **Trust state is a pure function of the ledger**, like reputation: :func:`node.ledger.state.
  apply_record` maps ``(LedgerState, record) -> LedgerState`` and ``swarmrank ledger verify``
  replays it. There is no second kind of ledger entry: trust events ride inside the next
  ``ConsensusRecord`` (``events``), and a record may carry events only (no round: ``query``
  unset), so an exam or a slash does not wait for user traffic.
* **Genesis.** The record at height 0 of a trust-enabled swarm carries a ``GenesisEvent``: the
  founding members are admitted at height 0 with a bonded allowance of ``min_stake`` and count as
  *established* at once (admission height 0 can only be genesis, because an exam needs a
  previous record). Everyone else starts on probation. The genesis also carries the digest of
  the swarm's :class:`~ranking.trust.TrustParams`, so a node configured with other trust rules
  refuses the ledger from its first record instead of applying different rules.
* **Exams.** An admitted examiner draws the items from the gold bank
  (:func:`sim.model.task_bank`) with a generator seeded by (candidate, attempt number, previous
  record hash): the examiner cannot pick them and the candidate cannot know them before the
  head is fixed. Generation items are examiner-signed Queries the candidate answers with signed
  Candidates; judging items are RankRequests with the gold answer and the popular distractor
  in a seeded order, answered with a signed Ballot. Every node re-grades the signed answers
  (:func:`grade_exam_event`), so the examiner cannot fake a pass; from rules 1
  (:mod:`node.round.rules`, issue 20 finding 8) the event must carry the candidate's answer to
  every item, so the examiner cannot fake a failure either by leaving answers out. A pass
  admits the identity and bonds ``min_stake`` (the operator allowance DESIGN.md allows for); a
  failure costs the doubling cooldown of :func:`ranking.trust.apply_exam`.
* **Slashing.** Evidence is self-contained: two different payloads signed for one (kind,
  query) (:func:`protocol.replay.verify_equivocation`, which refuses byte-identical
  retransmissions), or a leader-signed record that does not recompute *from its own contents*
  (:func:`node.round.check.verify_forged_record`). Each piece is applied once (its key is kept in
  :attr:`LedgerState.applied_evidence`); a record repeating applied evidence is refused.
* **Weights.** The selection pool is the eligible identities
  (:func:`ranking.trust.eligible_for_selection`); ballots weigh
  :func:`ranking.trust.trust_weights` of the pool (:func:`pool_weights`).

Residual risks: the gold bank is finite and public in the ``sim`` backend, so a candidate that
memorised it passes the exam (real deployments need a private, rotating bank); trust parameters
are swarm configuration every node must share (like the swarm id), not ledger content; bonding
beyond the allowance and unbonding are modelled in :mod:`ranking.trust` but have no ledger
event yet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from node.errors import Rejected
from node.round.rules import RULES_ISSUE_20
from node.round.selection import seeded_generator
from protocol.errors import InvalidEvidence, ProtocolError
from protocol.hashing import candidate_set_digest, content_hash, payload_hash
from protocol.replay import verify_equivocation
from protocol.signing import Envelope, Verified, Verifier
from protocol.v1 import envelope_pb2, messages_pb2
from ranking.consensus import GoldRound, JudgeTrust
from ranking.evidence import DEFAULT_OPTIONS, EvidenceModel, RoundEvidence, plain_vote
from ranking.trust import (
    Exam,
    ExamResult,
    IdentityState,
    TrustParams,
    draw_exam,
    eligible_for_selection,
    grade_exam,
    trust_weights,
)

#: gold rounds remembered for the alarm's agreement rate
GOLD_WINDOW = 50
#: one gold round in the evidence reading's window: (key, evidence as read, correct clusters)
GoldEvidence = tuple[int, RoundEvidence, NDArray[np.bool_]]


class EventRejected(Rejected):
    """A trust event that does not verify against the ledger."""


@dataclass(frozen=True)
class LedgerState:
    """Everything a ledger implies, after ``height`` records.

    Attributes
    ----------
    height : int
        Records applied.
    reputations : dict
        Reputation per node id (absent = :data:`node.round.aggregate.DEFAULT_REPUTATION`).
    identities : dict
        Trust state per node id (absent = a fresh identity on probation).
    applied_evidence : frozenset of bytes
        Keys of slash evidence already applied (each piece counts once).
    gold_hits : tuple of bool
        Whether each of the last :data:`GOLD_WINDOW` gold rounds' consensus matched the truth.
    rules : int
        The rules version of the last record (:mod:`node.round.rules`): no later record may
        follow older rules.
    absences : dict
        Per node id, the leaders that recorded it absent since its last recorded answer
        (:func:`node.round.rules.absence_penalties`; rules >= 1, trust on).
    gold_rounds : tuple of ranking.consensus.GoldRound
        The last :data:`ranking.consensus.DEFAULT_GOLD_WINDOW` recorded gold rounds with a
        right and a wrong cluster, as the calibrated consensus reads them
        (:func:`node.round.consensus.gold_round_of`).
    judge_trust : ranking.consensus.JudgeTrust
        :func:`ranking.fit_judge_trust` of :attr:`gold_rounds`: how far the next rounds trust
        their judges (:attr:`judge_weight`).
    generator_gold : dict
        Per node id, its decayed gold record as a generator, ``(hits, seen)``
        (:func:`ranking.update_generator_record`): what its votes weigh.
    generator_record, judge_record : dict
        Per node id, its whole gold record as a generator (rounds its candidate was right,
        gold rounds with a right answer it generated in) and as a judge (verdicts for the
        right side, verdicts between a right and a wrong cluster): exact counts the evidence
        reading (consensus 2) reads (:mod:`node.round.reading`).
    evidence_window : tuple
        The last :data:`ranking.consensus.DEFAULT_GOLD_WINDOW` consensus-2 gold rounds with
        a right and a wrong cluster, ``(key, RoundEvidence, correct)`` as the reading read
        them: what its fit scores models on.
    evidence_rounds : int
        Consensus-2 gold rounds the window has taken (:func:`ranking.evidence.refit_due`).
    evidence_model : ranking.evidence.EvidenceModel
        The reading's shared numbers: those the last gold record that refitted carried
        (before any, the plain vote: :func:`ranking.evidence.plain_vote`).
    """

    height: int = 0
    reputations: dict[str, float] = field(default_factory=dict)
    identities: dict[str, IdentityState] = field(default_factory=dict)
    applied_evidence: frozenset[bytes] = frozenset()
    gold_hits: tuple[bool, ...] = ()
    rules: int = 0
    absences: dict[str, frozenset[str]] = field(default_factory=dict)
    gold_rounds: tuple[GoldRound, ...] = ()
    judge_trust: JudgeTrust = field(default_factory=JudgeTrust)
    generator_gold: dict[str, tuple[float, float]] = field(default_factory=dict)
    generator_record: dict[str, tuple[int, int]] = field(default_factory=dict)
    judge_record: dict[str, tuple[int, int]] = field(default_factory=dict)
    evidence_window: tuple[GoldEvidence, ...] = ()
    evidence_rounds: int = 0
    evidence_model: EvidenceModel = field(default_factory=lambda: plain_vote(DEFAULT_OPTIONS))

    @property
    def judge_weight(self) -> float:
        """The calibrated consensus's judge weight for rounds opened on this state."""
        return self.judge_trust.judge_weight

    def identity(self, node_id: str) -> IdentityState:
        """The identity's trust state (a fresh probation state when unknown)."""
        return self.identities.get(node_id, IdentityState())

    def eligible(self, node_id: str, params: TrustParams) -> bool:
        """Whether ``node_id`` may be selected for the round recorded at :attr:`height`."""
        return eligible_for_selection(self.identity(node_id), self.height, params)

    def gold_agreement_rate(self) -> float:
        """Share of recent gold rounds whose winner was the gold answer (NaN without any)."""
        if not self.gold_hits:
            return float("nan")
        return sum(self.gold_hits) / len(self.gold_hits)


def admitted_height(state: IdentityState) -> int:
    """Admission height as records carry it (-1 when not admitted or jailed)."""
    if state.status != "admitted" or state.admitted_at is None:
        return -1
    return state.admitted_at


def pool_weights(
    reputations: Sequence[float],
    admitted_at: Sequence[int],
    height: int,
    params: TrustParams,
) -> list[float]:
    """Ranking weights of a selection pool under the trust caps.

    Admission height 0 is genesis and counts as established at once; any other admission
    counts as fresh for ``params.probation_rounds``. :func:`ranking.trust.trust_weights` has
    no notion of genesis, so heights are shifted by ``probation_rounds`` with genesis pinned
    at 0 (a pure re-indexing, identical on every node).
    """
    shift = params.probation_rounds
    adm = np.asarray(list(admitted_at), dtype=np.int64)
    shifted = np.where(adm < 0, -1, np.where(adm == 0, 0, adm + shift)).astype(np.int64)
    if not len(adm):
        return []
    weights = trust_weights(
        np.asarray(list(reputations), dtype=np.float64), shifted, height + shift, params
    )
    return [float(x) for x in weights]


# --------------------------------------------------------------------------------------------
# Genesis


def check_genesis(event: messages_pb2.GenesisEvent, height: int, params: TrustParams) -> None:
    """A genesis event is valid only in the first record, with sorted unique ids, the allowance
    the parameters name and the digest of this node's very parameters."""
    if height != 0:
        raise EventRejected("genesis outside the first record")
    ids = list(event.node_ids)
    if not ids or ids != sorted(set(ids)):
        raise EventRejected("genesis ids must be non-empty, sorted and unique")
    if event.stake != params.min_stake:
        raise EventRejected(f"genesis stake {event.stake!r}, parameters say {params.min_stake!r}")
    if event.params_digest != params.digest():
        raise EventRejected(
            "genesis trust parameters differ from this node's (digest "
            f"{bytes(event.params_digest).hex()[:16] or 'none'} vs {params.digest().hex()[:16]}): "
            "every member must run the same trust_* settings"
        )


# --------------------------------------------------------------------------------------------
# Exams


def _gold_bank() -> tuple[object, ...]:
    from sim.model import task_bank

    return task_bank()


def exam_seed(candidate_id: str, attempt: int, previous_record_hash: bytes) -> bytes:
    """Seed material of one exam attempt."""
    return hashlib.sha256(
        b"exam\x00"
        + candidate_id.encode()
        + b"\x00"
        + attempt.to_bytes(8, "big")
        + previous_record_hash
    ).digest()


def draw_node_exam(
    candidate_id: str, state: IdentityState, previous_record_hash: bytes, params: TrustParams
) -> Exam:
    """The exam a candidate takes in the record after ``previous_record_hash``."""
    seed = exam_seed(candidate_id, state.failed_attempts, previous_record_hash)
    rng = seeded_generator(b"exam-draw", seed)
    return draw_exam(len(_gold_bank()), params.n_judging, params.n_generation, rng)


def exam_query_id(seed: bytes, part: str, index: int) -> bytes:
    """Query id of one exam item (deterministic, so nobody can swap items)."""
    return hashlib.sha256(seed + part.encode() + index.to_bytes(4, "big")).digest()[:16]


def judging_texts(task: object, correct_first: bool) -> tuple[str, str]:
    """The two answers a judging item shows: the gold answer and the popular distractor."""
    right = task.render(task.normalise(task.answer))  # type: ignore[attr-defined]
    wrong = task.render(task.normalise(task.popular_distractor))  # type: ignore[attr-defined]
    return (right, wrong) if correct_first else (wrong, right)


def exam_rank_request_content(
    task: object, correct_first: bool, candidate_id: str
) -> tuple[list[messages_pb2.AnonymousCandidate], bytes, list[messages_pb2.Assignment]]:
    """Candidates, digest and assignment of one judging item."""
    texts = judging_texts(task, correct_first)
    candidates = [
        messages_pb2.AnonymousCandidate(content_hash=content_hash(t), answer=t) for t in texts
    ]
    digest = candidate_set_digest(c.content_hash for c in candidates)
    assignment = messages_pb2.Assignment(
        ranker_id=candidate_id, pairs=[messages_pb2.Pair(a=0, b=1)]
    )
    return candidates, digest, [assignment]


def _verify(verifier: Verifier, envelope: Envelope, kind: int, what: str) -> Verified:
    try:
        return verifier.verify(envelope, kind, check_time=False)
    except ProtocolError as exc:
        raise EventRejected(f"exam {what}: {exc}") from exc


def _check_exam_query(
    verified: Verified,
    examiner_id: str,
    query_id: bytes,
    task: object,
    generator_ids: Sequence[str],
    ranker_ids: Sequence[str],
    what: str,
) -> None:
    query: messages_pb2.Query = verified.message
    if verified.signer_id != examiner_id or verified.query_id != query_id:
        raise EventRejected(f"exam {what}: not the examiner's query for this item")
    if query.question != task.question:  # type: ignore[attr-defined]
        raise EventRejected(f"exam {what}: not the drawn gold question")
    if list(query.generator_ids) != list(generator_ids) or list(query.ranker_ids) != list(
        ranker_ids
    ):
        raise EventRejected(f"exam {what}: wrong participants")


def grade_exam_event(
    event: messages_pb2.ExamEvent,
    verifier: Verifier,
    examiner_id: str,
    previous_record_hash: bytes,
    state: IdentityState,
    params: TrustParams,
    *,
    rules: int = 0,
) -> ExamResult:
    """Verify every signed item of an exam and grade the candidate's answers.

    An item that is not the drawn one, or an answer not signed by the candidate, rejects the
    whole event. Under ``rules`` 0 (old records) a missing answer counts as wrong; from rules
    1 (issue 20, finding 8) every item must carry the candidate's own signed answer, or the
    event is rejected: the examiner relays the candidate's signatures and cannot fail a
    newcomer by leaving answers out, nor choose which of them count.
    """
    candidate_id = event.candidate_id
    seed = exam_seed(candidate_id, state.failed_attempts, previous_record_hash)
    exam = draw_node_exam(candidate_id, state, previous_record_hash, params)
    if len(event.queries) != params.n_generation or len(event.rank_requests) != params.n_judging:
        raise EventRejected("exam: wrong number of items")
    if rules >= RULES_ISSUE_20 and (
        len(event.candidates) != params.n_generation or len(event.ballots) != params.n_judging
    ):
        raise EventRejected(
            f"exam: {len(event.candidates)} of {params.n_generation} answers and "
            f"{len(event.ballots)} of {params.n_judging} ballots; from rules 1 an exam carries "
            "the candidate's answer to every item"
        )
    exam_item = _ExamItems(verifier, examiner_id, candidate_id, seed, exam)
    answers = exam_item.grade_generation(event)
    judged = exam_item.grade_judging(event)
    return grade_exam(np.asarray(answers, dtype=bool), np.asarray(judged, dtype=bool), params)


@dataclass(frozen=True)
class _ExamItems:
    """One exam's drawn items, against which :func:`grade_exam_event` checks and grades the
    event's signed parts."""

    verifier: Verifier
    examiner_id: str
    candidate_id: str
    seed: bytes
    exam: Exam

    def grade_generation(self, event: messages_pb2.ExamEvent) -> list[bool]:
        """Check the generation items' Queries and grade the candidate's Candidates (one per
        item at most; a missing one is wrong)."""
        bank, exam, candidate_id = _gold_bank(), self.exam, self.candidate_id
        query_hashes: dict[bytes, int] = {}
        for i, (item, envelope) in enumerate(
            zip(exam.generation_items, event.queries, strict=True)
        ):
            v = _verify(self.verifier, envelope, envelope_pb2.KIND_QUERY, f"query[{i}]")
            task = bank[int(item)]
            qid = exam_query_id(self.seed, "gen", i)
            _check_exam_query(v, self.examiner_id, qid, task, [candidate_id], [], f"query[{i}]")
            query_hashes[payload_hash(envelope)] = i
        answers = [False] * len(exam.generation_items)
        seen: set[int] = set()
        for j, envelope in enumerate(event.candidates):
            v = _verify(self.verifier, envelope, envelope_pb2.KIND_CANDIDATE, f"candidate[{j}]")
            index = query_hashes.get(bytes(v.message.query_hash))
            if v.signer_id != candidate_id or index is None or index in seen:
                raise EventRejected(f"exam candidate[{j}]: not the candidate's answer to an item")
            seen.add(index)
            task = bank[int(exam.generation_items[index])]
            answers[index] = bool(task.is_correct(v.message.answer))  # type: ignore[attr-defined]
        return answers

    def grade_judging(self, event: messages_pb2.ExamEvent) -> list[bool]:
        """Check the judging items' RankRequests and grade the candidate's Ballots (one per
        item at most; a missing one is wrong)."""
        bank, exam, candidate_id = _gold_bank(), self.exam, self.candidate_id
        by_query: dict[bytes, int] = {}
        for i, (item, envelope) in enumerate(
            zip(exam.judging_items, event.rank_requests, strict=True)
        ):
            what = f"rank_request[{i}]"
            v = _verify(self.verifier, envelope, envelope_pb2.KIND_RANK_REQUEST, what)
            request: messages_pb2.RankRequest = v.message
            qid = exam_query_id(self.seed, "judge", i)
            q = _verify(self.verifier, request.query, envelope_pb2.KIND_QUERY, what + ".query")
            task = bank[int(item)]
            _check_exam_query(q, self.examiner_id, qid, task, [], [candidate_id], what)
            if v.signer_id != self.examiner_id or v.query_id != qid:
                raise EventRejected(f"exam {what}: not the examiner's request for this item")
            candidates, digest, assignments = exam_rank_request_content(
                task, bool(exam.judging_correct_first[i]), candidate_id
            )
            if (
                list(request.candidates) != candidates
                or request.candidate_set_digest != digest
                or list(request.assignments) != assignments
            ):
                raise EventRejected(f"exam {what}: does not show the drawn pair")
            by_query[qid] = i
        judged = [False] * len(exam.judging_items)
        seen: set[int] = set()
        for j, envelope in enumerate(event.ballots):
            v = _verify(self.verifier, envelope, envelope_pb2.KIND_BALLOT, f"ballot[{j}]")
            index = by_query.get(v.query_id)
            if v.signer_id != candidate_id or index is None or index in seen:
                raise EventRejected(f"exam ballot[{j}]: not the candidate's ballot on an item")
            seen.add(index)
            verdicts = list(v.message.verdicts)
            if len(verdicts) != 1 or (verdicts[0].a, verdicts[0].b) != (0, 1):
                raise EventRejected(f"exam ballot[{j}]: verdicts do not match the assignment")
            right = (
                messages_pb2.OUTCOME_A
                if exam.judging_correct_first[index]
                else (messages_pb2.OUTCOME_B)
            )
            judged[index] = verdicts[0].outcome == right
        return judged


# --------------------------------------------------------------------------------------------
# Slashing


def equivocation_key(
    evidence: messages_pb2.EquivocationEvidence, swarm_id: str
) -> tuple[str, bytes]:
    """Verify equivocation evidence standalone; return (offender, dedup key).

    The key is (offender, kind, query id): two reports of the same equivocation, in either
    order or from different reporters, slash once.
    """
    try:
        proven = verify_equivocation(evidence.first, evidence.second, swarm_id)
    except InvalidEvidence as exc:
        raise EventRejected(f"equivocation evidence: {exc}") from exc
    key = hashlib.sha256(
        b"equivocation\x00"
        + proven.offender_id.encode()
        + proven.kind.to_bytes(4, "big")
        + proven.query_id
    ).digest()
    return proven.offender_id, key


def forged_record_key(record_id: bytes) -> bytes:
    """Dedup key of forged-record evidence."""
    return hashlib.sha256(b"forged-record\x00" + record_id).digest()


def alarm_weights(state: LedgerState, params: TrustParams) -> list[float]:
    """Weights the alarm watches: :func:`pool_weights` of the eligible identities."""
    ids = sorted(i for i in state.identities if state.eligible(i, params))
    return pool_weights(
        [state.reputations.get(i, 0.5) for i in ids],
        [admitted_height(state.identity(i)) for i in ids],
        state.height,
        params,
    )


def eligible_ids(
    state: LedgerState, candidates: Mapping[str, object] | Sequence[str], params: TrustParams
) -> list[str]:
    """The members of ``candidates`` eligible for the next round, sorted."""
    return sorted(i for i in candidates if state.eligible(i, params))
