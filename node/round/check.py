"""What a member checks in a received record: :func:`check_record` recomputes the round's
phases from the record's own contents and raises
:class:`~node.errors.RecordRejected` naming the first mismatch.

It verifies every signature in a record, the chain link, the selection
(:mod:`node.round.selection`), the clustering and pair assignments
(:mod:`node.round.clustering`, :mod:`node.round.schedule`), every ballot, and the aggregation
(:mod:`node.round.aggregate`), the same functions the leader used to build it. Under schedule
``"adaptive"`` the assignments are the waves': every wave's request and ballots, every wave,
the stop test's looks and the stop are recomputed (:func:`node.round.waves.check_waves`); a
record of a fixed schedule carries no waves, so old records check exactly as before.

* :class:`CheckedRecord` — what a record that passed holds, for :mod:`node.ledger.state`.
* :func:`check_events` — verifies a record's trust events (genesis, exams, slashes) in order.
* :func:`verify_forged_record` — standalone proof that a leader-signed record is forged.

With trust on (``record.trust``, see :mod:`node.ledger.trust` for the model) a record's
selection pool must be identities the ledger holds eligible (from rules 1, exactly those),
ballots weigh :func:`node.ledger.trust.pool_weights`, the leader must be admitted (except at
genesis), and a record may carry trust events only (no ``query``).

A record follows the rules version it names (:mod:`node.round.rules`), never one below the
ledger's. What a leader alone decides and could use to steer or blame (issue 20, finding 4) is
checked here: the selection seed (the opened position, not the grindable query id), the pool
(all eligible identities, none invented, none left out), and the quorum the Query declares.
Dropping a reply that arrived cannot be seen in a record; :func:`node.round.rules.
absence_penalties` makes it cost the victim nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from node.errors import RecordRejected
from node.ledger.trust import (
    EventRejected,
    LedgerState,
    admitted_height,
    check_genesis,
    eligible_ids,
    equivocation_key,
    forged_record_key,
    grade_exam_event,
)
from node.round.aggregate import (
    DEFAULT_REPUTATION,
    absent_ids,
    aggregate_ballots,
    apply_reading,
    ballot_weights,
    check_parameters,
    gold_cluster,
    gold_clusters,
    outcome_from,
    own_items_by_ranker,
    vote_factors,
)
from node.round.clustering import Cluster, cluster_candidates
from node.round.consensus import apply_consensus, cluster_shares, consensus_discrepancy
from node.round.gold import GoldTask, draw_gold_task, private_bank
from node.round.reading import (
    READING_CONSENSUS,
    check_fit,
    read_round,
    reading_discrepancy,
    round_evidence,
    window_entry,
)
from node.round.rules import CURRENT_RULES, RULES_ISSUE_20
from node.round.schedule import ADAPTIVE, assign_pairs
from node.round.selection import select_participants
from node.round.tolerance import outcome_discrepancy
from node.round.waves import WavePlan, check_waves, verify_part
from protocol.hashing import candidate_set_digest, payload_hash
from protocol.signing import Envelope, Verifier
from protocol.v1 import envelope_pb2, messages_pb2
from ranking.errors import RankingError
from ranking.evidence import RoundEvidence
from ranking.trust import IdentityState, TrustParams, apply_exam, slash


@dataclass(frozen=True)
class CheckedRecord:
    """A record that verified and recomputed."""

    record: messages_pb2.ConsensusRecord
    record_id: bytes
    leader_id: str
    query_id: bytes
    candidates: tuple[messages_pb2.Candidate, ...]
    ballots: tuple[messages_pb2.Ballot, ...]
    clusters: tuple[Cluster, ...]
    #: identity states after the record's trust events (``None``: no events, unchanged)
    identities: dict[str, IdentityState] | None = None
    #: dedup keys of the slash evidence the record applied
    evidence_keys: tuple[bytes, ...] = ()
    #: cluster holding the gold answer on a gold round (-1: none, or a live round)
    gold_item: int = -1
    #: whether the record is a gold round
    gold: bool = False
    #: on a gold round, which clusters hold the gold answer (the calibrated rule learns from it)
    gold_correct: tuple[bool, ...] = ()
    #: consensus 2: the round as the evidence reading read it (:mod:`node.round.reading`)
    reading: RoundEvidence | None = None


def gold_task_for(previous_record_hash: bytes, query_id: bytes) -> GoldTask:
    """The gold task of a gold round (:func:`node.round.gold.draw_gold_task`): from the
    generated bank (or the operator's private one), seeded by the ledger head alone; the query
    id, which the leader picks for free, is deliberately not an input (issue 20, finding 10)."""
    del query_id  # kept in the signature for the callers; see node.round.gold
    return draw_gold_task(previous_record_hash, private_bank())


def check_events(
    events: Sequence[messages_pb2.LedgerEvent],
    verifier: Verifier,
    leader_id: str,
    height: int,
    previous: bytes,
    state: LedgerState,
    trust: TrustParams,
    rules: int = CURRENT_RULES,
) -> tuple[dict[str, IdentityState], tuple[bytes, ...]]:
    """Verify a record's trust events in order and return the identity states after them and
    the evidence keys applied; ``rules`` is the record's rules version (exams are graded by
    it). Raises :class:`RecordRejected` naming the first bad event."""
    identities = dict(state.identities)
    applied = set(state.applied_evidence)
    keys: list[bytes] = []
    for index, event in enumerate(events):
        field = f"events[{index}]"
        which = event.WhichOneof("event")
        try:
            if which == "genesis":
                check_genesis(event.genesis, height, trust)
                for node_id in event.genesis.node_ids:
                    identities[node_id] = IdentityState(
                        status="admitted", stake=event.genesis.stake, admitted_at=0
                    )
            elif which == "exam":
                if height == 0:
                    raise EventRejected("an exam needs a previous record")
                candidate = event.exam.candidate_id
                before = identities.get(candidate, IdentityState())
                result = grade_exam_event(
                    event.exam, verifier, leader_id, previous, before, trust, rules=rules
                )
                after = apply_exam(before, result, height, trust)
                if result.passed:
                    # The operator allowance: an admitted identity is bonded min_stake.
                    after = IdentityState(
                        status=after.status,
                        stake=max(after.stake, trust.min_stake),
                        unbonding=after.unbonding,
                        failed_attempts=after.failed_attempts,
                        cooldown_until=after.cooldown_until,
                        admitted_at=after.admitted_at,
                    )
                identities[candidate] = after
            elif which == "slash":
                offender, key = slash_offender(event.slash, verifier.swarm_id, trust)
                if key in applied:
                    raise EventRejected("this evidence was applied before")
                applied.add(key)
                keys.append(key)
                identities[offender] = slash(
                    identities.get(offender, IdentityState()), height, trust
                )
            else:
                raise EventRejected("empty event")
        except (EventRejected, RankingError) as exc:
            raise RecordRejected(field, str(exc)) from exc
    return identities, tuple(keys)


def slash_offender(
    event: messages_pb2.SlashEvent, swarm_id: str, trust: TrustParams | None
) -> tuple[str, bytes]:
    """Verify slash evidence standalone; return (offender id, dedup key)."""
    if event.HasField("equivocation"):
        return equivocation_key(event.equivocation, swarm_id)
    if event.HasField("forged_record"):
        try:
            leader = verify_forged_record(event.forged_record, swarm_id, trust)
        except RecordRejected as exc:
            raise EventRejected(str(exc)) from exc
        return leader, forged_record_key(payload_hash(event.forged_record))
    raise EventRejected("slash event carries no evidence")


def verify_forged_record(envelope: Envelope, swarm_id: str, trust: TrustParams | None) -> str:
    """Prove that a leader-signed record is forged, with nothing but the swarm id (and the
    swarm's trust parameters): it is recomputed from its *own* contents (its height, link,
    pool and reputations), so a record that is merely stale or on another fork does not count;
    only one whose selection, assignments, ballots or aggregation do not follow from what it
    carries. Returns the leader's id; raises :class:`RecordRejected` when nothing is proven."""
    verifier = Verifier(swarm_id)
    verified = verify_part(verifier, envelope, envelope_pb2.KIND_CONSENSUS_RECORD, "record")
    record: messages_pb2.ConsensusRecord = verified.message
    try:
        check_record(
            envelope,
            verifier,
            int(record.height),
            bytes(record.previous_record_hash),
            dict(zip(record.reputation_ids, record.reputations, strict=False)),
            trust=trust if record.trust else None,
            standalone=True,
        )
    except RecordRejected as exc:
        if exc.field in (
            "reputations",
            "reputation_ids",
            "trust",
            "rules",
            "signature",
            "record",
        ):
            raise RecordRejected("forged_record", f"not proven: {exc}") from exc
        return verified.signer_id
    raise RecordRejected("forged_record", "the record recomputes: nothing is forged")


#: ``checkpoint(height)``: the ledger head's hash when it held ``height`` records and the
#: state after them, or ``None`` when this node cannot tell (:meth:`RecordBook.checkpoint`)
Checkpoints = Callable[[int], "tuple[bytes, LedgerState] | None"]
#: how many records may land between the ledger position a round opened on (its Query's
#: ``height``) and its own record: the rounds that run at once (issue 18)
CHECKPOINT_WINDOW = 128


@dataclass
class _RecordCheck:
    """What :func:`check_record`'s phases share: the record under check and what the earlier
    phases recomputed (each phase reads the fields before it and fills its own)."""

    verifier: Verifier
    envelope: Envelope
    record: messages_pb2.ConsensusRecord
    leader: str
    reputations: Mapping[str, float]
    state: LedgerState
    trust: TrustParams | None
    standalone: bool
    #: ``checkpoint(h)``: (hash of the ledger head when it held ``h`` records, the state then)
    checkpoint: Checkpoints | None = None
    # filled by the phases, in order
    #: the ledger state the round was opened on (its selection, weights and gold seed)
    opened_on: LedgerState | None = None
    query: messages_pb2.Query = field(default_factory=messages_pb2.Query)
    query_id: bytes = b""
    candidates: list[messages_pb2.Candidate] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)
    request: messages_pb2.RankRequest = field(default_factory=messages_pb2.RankRequest)
    digest: bytes = b""
    own: dict[str, int] = field(default_factory=dict)
    ballots: list[messages_pb2.Ballot] = field(default_factory=list)
    #: on a gold round, which clusters hold the known answer
    gold_correct: tuple[bool, ...] = ()
    #: consensus 2: the round as the evidence reading read it
    reading: RoundEvidence | None = None

    @property
    def opened_state(self) -> LedgerState:
        """The ledger state at the position the round was opened on (this node's state until
        :func:`check_query` has found it)."""
        return self.opened_on if self.opened_on is not None else self.state

    @property
    def opened_reputations(self) -> Mapping[str, float]:
        """The reputations the round's selection and weights came from."""
        opened = self.opened_state
        return self.reputations if opened is self.state else opened.reputations

    def checked(
        self,
        identities: dict[str, IdentityState] | None,
        evidence_keys: tuple[bytes, ...],
        gold_item: int = -1,
    ) -> CheckedRecord:
        return CheckedRecord(
            record=self.record,
            record_id=payload_hash(self.envelope),
            leader_id=self.leader,
            query_id=self.query_id,
            candidates=tuple(self.candidates),
            ballots=tuple(self.ballots),
            clusters=tuple(self.clusters),
            identities=identities,
            evidence_keys=evidence_keys,
            gold_item=gold_item,
            gold=self.record.HasField("gold"),
            gold_correct=self.gold_correct,
            reading=self.reading,
        )


def check_record(
    envelope: Envelope,
    verifier: Verifier,
    expected_height: int,
    expected_previous: bytes,
    reputations: Mapping[str, float],
    *,
    state: LedgerState | None = None,
    trust: TrustParams | None = None,
    standalone: bool = False,
    checkpoint: Checkpoints | None = None,
) -> CheckedRecord:
    """Verify a ConsensusRecord envelope against the local ledger and recompute it.

    ``reputations`` is the local, ledger-derived reputation table before this record; ``state``
    the full ledger state (needed with ``trust``: eligibility, events). ``trust`` is the swarm's
    trust parameters (``None`` = trust off; the record's ``trust`` flag must agree).
    ``standalone`` skips what needs the ledger (pool eligibility, events, the leader's status):
    :func:`verify_forged_record` uses it. ``checkpoint`` looks up earlier ledger positions:
    a round may be opened on a position up to :data:`CHECKPOINT_WINDOW` records before the one
    its record takes (rounds run concurrently; see :func:`check_query`); without it, only
    rounds opened on the head itself are accepted. Raises :class:`RecordRejected` naming the
    first field that fails.

    The phases mirror the leader's round (:mod:`node.round.leader`): the record's place in the
    chain and its trust events, then the query, *select*, *generate* (candidates), *cluster*
    and *rank* (the rank request, then the ballots), *aggregate*, and the gold truth.
    """
    verified = verify_part(verifier, envelope, envelope_pb2.KIND_CONSENSUS_RECORD, "record")
    record: messages_pb2.ConsensusRecord = verified.message
    ctx = _RecordCheck(
        verifier=verifier,
        envelope=envelope,
        record=record,
        leader=verified.signer_id,
        reputations=reputations,
        state=state
        if state is not None
        else LedgerState(height=int(expected_height), reputations=dict(reputations)),
        trust=trust,
        standalone=standalone,
        checkpoint=checkpoint,
        query_id=verified.query_id,
    )
    identities, evidence_keys = check_position(ctx, expected_height, expected_previous)
    if not record.HasField("query"):
        check_events_only(record)
        return ctx.checked(identities, evidence_keys)
    check_query(ctx, verified.query_id)
    check_selection(ctx)
    check_candidates(ctx)
    check_rank_request(ctx)
    if ctx.query.parameters.schedule == ADAPTIVE:
        check_adaptive_ballots(ctx)
    else:
        check_fixed_schedule(ctx)
        check_ballots(ctx)
    check_outcome(ctx)
    gold_item = check_gold(ctx)
    check_reading_fit(ctx)
    return ctx.checked(identities, evidence_keys, gold_item)


def check_position(
    ctx: _RecordCheck, expected_height: int, expected_previous: bytes
) -> tuple[dict[str, IdentityState] | None, tuple[bytes, ...]]:
    """The record's place in the chain, its trust flag, the leader's standing and the trust
    events it carries; returns the identity states after the events and the evidence keys."""
    record, trust = ctx.record, ctx.trust
    if record.height != expected_height:
        raise RecordRejected("height", f"{record.height}, expected {expected_height}")
    if record.previous_record_hash != expected_previous:
        raise RecordRejected("previous_record_hash", "does not link to the ledger head")
    if bool(record.trust) != (trust is not None):
        raise RecordRejected("trust", f"record says trust={record.trust}, this node differs")
    if not ctx.state.rules <= record.rules <= CURRENT_RULES:
        raise RecordRejected(
            "rules",
            f"record follows rules {record.rules}; this ledger is at rules {ctx.state.rules} "
            f"and this node knows up to {CURRENT_RULES}",
        )
    if trust is not None and not ctx.standalone:
        if expected_height > 0 and ctx.state.identity(ctx.leader).status != "admitted":
            raise RecordRejected("leader_id", f"leader {ctx.leader} is not an admitted identity")
        if record.events:
            return check_events(
                list(record.events),
                ctx.verifier,
                ctx.leader,
                int(expected_height),
                bytes(expected_previous),
                ctx.state,
                trust,
                int(record.rules),
            )
    elif record.events and trust is None:
        raise RecordRejected("events", "trust events in a swarm without trust rules")
    return None, ()


def check_events_only(record: messages_pb2.ConsensusRecord) -> None:
    """A record without a round carries trust events and nothing else."""
    if not record.events or record.candidates or record.ballots or record.reputation_ids:
        raise RecordRejected("query", "a record without a round must carry events only")
    if record.HasField("rank_request") or record.HasField("gold") or record.answer:
        raise RecordRejected("query", "a record without a round must carry events only")


def check_query(ctx: _RecordCheck, record_query_id: bytes) -> None:
    """The leader's signed Query: same leader, same round, parameters in range, opened on a
    ledger position this node holds.

    A round is opened on the ledger as it stood (the Query's ``height`` and
    ``previous_record_hash``: its selection seed and the state its pool, weights and gold
    task come from) and recorded wherever the ledger stands when it ends, at most
    :data:`CHECKPOINT_WINDOW` records later, so that rounds run concurrently (issue 18). The
    position must be one of this node's own ledger: a leader cannot invent the state it
    selected from. Records made one at a time have both positions equal.
    """
    record = ctx.record
    q = verify_part(ctx.verifier, record.query, envelope_pb2.KIND_QUERY, "query")
    ctx.query, ctx.query_id = q.message, q.query_id
    if q.signer_id != ctx.leader:
        raise RecordRejected("query", "not signed by the record's leader")
    if record_query_id != ctx.query_id:
        raise RecordRejected("query", "record and query name different rounds")
    opened, seed = int(ctx.query.height), bytes(ctx.query.previous_record_hash)
    if not record.height - CHECKPOINT_WINDOW <= opened <= record.height:
        raise RecordRejected(
            "query", f"opened at height {opened}, not within {CHECKPOINT_WINDOW} of the record"
        )
    if opened == record.height:
        if seed != record.previous_record_hash:
            raise RecordRejected("query", "query was issued for another ledger position")
        ctx.opened_on = ctx.state
    elif ctx.standalone:
        # A standalone proof recomputes from the record's own contents (its pool).
        ctx.opened_on = ctx.state
    else:
        found = ctx.checkpoint(opened) if ctx.checkpoint is not None else None
        if found is None or found[0] != seed:
            raise RecordRejected("query", "query was issued for another ledger position")
        ctx.opened_on = found[1]
    check_parameters(ctx.query.parameters)


def check_selection(ctx: _RecordCheck) -> None:
    """Phase *select*: the recorded pool must carry this node's own ledger reputations at the
    position the round was opened on (and, with trust, only identities eligible there, at
    their admission heights; from rules 1 every one of them), and the generators and rankers
    must follow from it (:func:`~node.round.selection.select_participants`, seeded by the
    record's rules)."""
    record, trust = ctx.record, ctx.trust
    pool = list(record.reputation_ids)
    if pool != sorted(set(pool)):
        raise RecordRejected("reputation_ids", "not sorted and unique")
    if len(record.reputations) != len(pool):
        raise RecordRejected("reputations", "length differs from reputation_ids")
    opened_on, reputations = ctx.opened_state, ctx.opened_reputations
    for node_id, value in zip(pool, record.reputations, strict=True):
        local = reputations.get(node_id, DEFAULT_REPUTATION)
        if value != local:
            raise RecordRejected("reputations", f"{node_id}: {value!r}, ledger says {local!r}")
    if trust is None:
        if record.admitted_at:
            raise RecordRejected("admitted_at", "admission heights in a swarm without trust")
    else:
        if len(record.admitted_at) != len(pool):
            raise RecordRejected("reputation_ids", "admitted_at length differs")
        if not ctx.standalone:
            for node_id, adm in zip(pool, record.admitted_at, strict=True):
                if not opened_on.eligible(node_id, trust):
                    raise RecordRejected("reputation_ids", f"{node_id} is not eligible")
                if adm != admitted_height(opened_on.identity(node_id)):
                    raise RecordRejected("admitted_at", f"{node_id}: does not match the ledger")
            if record.rules >= RULES_ISSUE_20:
                left_out = set(eligible_ids(opened_on, opened_on.identities, trust)) - set(pool)
                if left_out:
                    raise RecordRejected(
                        "reputation_ids",
                        f"leaves out {len(left_out)} eligible identities "
                        f"(first {sorted(left_out)[0]})",
                    )
    params = ctx.query.parameters
    selection = select_participants(
        pool,
        list(record.reputations),
        ctx.query_id,
        bytes(ctx.query.previous_record_hash),
        params.max_generators,
        params.max_rankers,
        params.numerics,
        height=int(ctx.query.height),
        rules=int(record.rules),
    )
    if tuple(ctx.query.generator_ids) != selection.generator_ids:
        raise RecordRejected("generator_ids", "selection does not recompute")
    if tuple(ctx.query.ranker_ids) != selection.ranker_ids:
        raise RecordRejected("ranker_ids", "selection does not recompute")


def check_candidates(ctx: _RecordCheck) -> None:
    """Phase *generate*: every candidate signed by a distinct selected generator, answering
    this Query."""
    query_hash = payload_hash(ctx.record.query)
    seen: set[str] = set()
    for index, item in enumerate(ctx.record.candidates):
        c = verify_part(ctx.verifier, item, envelope_pb2.KIND_CANDIDATE, f"candidate[{index}]")
        if c.signer_id not in ctx.query.generator_ids or c.signer_id in seen:
            raise RecordRejected(f"candidate[{index}]", "signer not selected, or duplicate")
        if c.message.query_hash != query_hash or c.query_id != ctx.query_id:
            raise RecordRejected(f"candidate[{index}]", "answers another query")
        seen.add(c.signer_id)
        ctx.candidates.append(c.message)


def check_rank_request(ctx: _RecordCheck) -> None:
    """Phases *cluster* and *rank* (the request): the leader's RankRequest shows exactly the
    recomputed clusters (:func:`~node.round.clustering.cluster_candidates`) under their digest
    and gives each ranker the recomputed pairs (:func:`~node.round.schedule.assign_pairs`)."""
    record, params = ctx.record, ctx.query.parameters
    ctx.clusters = cluster_candidates(
        [c.answer for c in ctx.candidates],
        [c.reasoning for c in ctx.candidates],
        ctx.query_id,
        cluster=params.cluster_answers,
    )
    kind = envelope_pb2.KIND_RANK_REQUEST
    r = verify_part(ctx.verifier, record.rank_request, kind, "rank_request")
    ctx.request = r.message
    if r.signer_id != ctx.leader or r.query_id != ctx.query_id:
        raise RecordRejected("rank_request", "not the leader's request for this round")
    if ctx.request.query.SerializeToString() != record.query.SerializeToString():
        raise RecordRejected("rank_request", "carries another query")
    expected_candidates = [(c.content_hash, c.answer, c.reasoning) for c in ctx.clusters]
    shown = [(x.content_hash, x.answer, x.reasoning) for x in ctx.request.candidates]
    if shown != expected_candidates:
        raise RecordRejected("rank_request.candidates", "do not recompute from the candidates")
    ctx.digest = candidate_set_digest(c.content_hash for c in ctx.clusters)
    if ctx.request.candidate_set_digest != ctx.digest:
        raise RecordRejected("rank_request.candidate_set_digest", "does not recompute")
    ctx.own = own_items_by_ranker(ctx.clusters, ctx.candidates, ctx.query.ranker_ids)
    if params.schedule == ADAPTIVE:
        return  # the waves' assignments are recomputed by check_adaptive_ballots
    expected_assignments = assign_pairs(
        len(ctx.clusters),
        list(ctx.query.ranker_ids),
        ctx.own,
        ctx.query_id,
        params.schedule,
        params.schedule_k,
    )
    if len(ctx.request.assignments) != len(expected_assignments):
        raise RecordRejected("rank_request.assignments", "wrong number of assignments")
    for got, (ranker_id, pairs) in zip(ctx.request.assignments, expected_assignments, strict=True):
        if got.ranker_id != ranker_id or [(p.a, p.b) for p in got.pairs] != [
            (int(x), int(y)) for x, y in pairs
        ]:
            raise RecordRejected("rank_request.assignments", f"{ranker_id}: does not recompute")


def check_ballots(ctx: _RecordCheck) -> None:
    """Phase *rank* (the replies): every ballot signed by a distinct assigned ranker, over this
    candidate set, judging exactly its assigned pairs; the absent list recomputes."""
    assigned = {a.ranker_id: [(p.a, p.b) for p in a.pairs] for a in ctx.request.assignments}
    voters: set[str] = set()
    for index, item in enumerate(ctx.record.ballots):
        name = f"ballot[{index}]"
        v = verify_part(ctx.verifier, item, envelope_pb2.KIND_BALLOT, name)
        ballot: messages_pb2.Ballot = v.message
        if v.signer_id not in assigned or v.signer_id in voters or v.query_id != ctx.query_id:
            raise RecordRejected(name, "signer not selected, duplicate, or another round")
        if ballot.wave != 0:
            raise RecordRejected(
                name, f"names wave {ballot.wave} of a {ctx.query.parameters.schedule!r} round"
            )
        if ballot.candidate_set_digest != ctx.digest:
            raise RecordRejected(name, "judged another candidate set")
        if [(x.a, x.b) for x in ballot.verdicts] != assigned[v.signer_id]:
            raise RecordRejected(name, "verdicts do not match the assignment")
        voters.add(v.signer_id)
        ctx.ballots.append(ballot)
    expected_absent = absent_ids(ctx.query, ctx.candidates, ctx.request.assignments, ctx.ballots)
    if list(ctx.record.absent_ids) != expected_absent:
        raise RecordRejected("absent_ids", "does not recompute")
    check_quorum(ctx)


def check_fixed_schedule(ctx: _RecordCheck) -> None:
    """A round of a fixed schedule (``3n``, ``full``, ``random-k``) carries no waves."""
    record = ctx.record
    if record.wave_requests or record.stop_reason or record.looks or ctx.request.wave:
        raise RecordRejected("wave_requests", "waves in a round of a fixed schedule")


def check_adaptive_ballots(ctx: _RecordCheck) -> None:
    """Phase *rank* under ``"adaptive"``: every wave's request and ballots, every wave, look
    and the stop recomputed (:func:`node.round.waves.check_waves`, the stop test's weights as
    :func:`check_outcome`'s); each ranker's ballots then count as one; the absent list and
    the quorum recompute over all waves."""
    record = ctx.record
    weights = ballot_weights(
        record.reputation_ids,
        record.reputations,
        record.admitted_at,
        ctx.query.height,
        list(ctx.query.ranker_ids),
        ctx.opened_reputations,
        ctx.trust,
    )
    plan = WavePlan.of(
        ctx.clusters, ctx.query.ranker_ids, ctx.own, ctx.query_id, ctx.query.parameters, weights
    )
    checked = check_waves(record, ctx.request, plan, ctx.verifier, ctx.leader, ctx.digest)
    ctx.ballots = checked.ballots
    expected_absent = absent_ids(ctx.query, ctx.candidates, checked.assignments, ctx.ballots)
    if list(record.absent_ids) != expected_absent:
        raise RecordRejected("absent_ids", "does not recompute")
    check_quorum(ctx, checked.assignments)


def check_quorum(
    ctx: _RecordCheck, assignments: Sequence[messages_pb2.Assignment] | None = None
) -> None:
    """The quorum the Query declares holds (issue 20, finding 4): at least
    ``quorum_generators`` candidates, and at least ``quorum_rankers`` ballots when any ranker
    had pairs to judge (``assignments``: default the RankRequest's), the very test the
    leader's phases apply (at least one of each)."""
    params = ctx.query.parameters
    if len(ctx.candidates) < max(1, params.quorum_generators):
        raise RecordRejected(
            "candidates",
            f"{len(ctx.candidates)} candidates, below the quorum of {params.quorum_generators}",
        )
    called = any(a.pairs for a in (ctx.request.assignments if assignments is None else assignments))
    if called and len(ctx.ballots) < max(1, params.quorum_rankers):
        raise RecordRejected(
            "ballots", f"{len(ctx.ballots)} ballots, below the quorum of {params.quorum_rankers}"
        )


def check_outcome(ctx: _RecordCheck) -> None:
    """Phase *aggregate*: the recorded outcome follows from this node's own aggregate of the
    ballots (:func:`~node.round.aggregate.aggregate_ballots`), under the record's numerics
    rules (:mod:`node.round.tolerance`): bit for bit under ``numerics = 0``; under ``1`` its
    floats within the tolerance and its winner and tied-for-first set exactly what its own
    numbers give. The answer is the winner's."""
    record, params = ctx.record, ctx.query.parameters
    # Weights as the leader computed them: from the position the round was opened on.
    weights = ballot_weights(
        record.reputation_ids,
        record.reputations,
        record.admitted_at,
        ctx.query.height,
        [b.ranker_id for b in ctx.ballots],
        ctx.opened_reputations,
        ctx.trust,
    )
    own_items = [ctx.own.get(b.ranker_id, -1) for b in ctx.ballots]
    try:
        result = aggregate_ballots(ctx.clusters, ctx.ballots, weights, own_items, params)
    except RankingError as exc:  # e.g. alpha = 0 and an answer that never lost: no MLE
        raise RecordRejected("outcome", f"does not recompute: {exc}") from exc
    expected_winner: int | None = None
    if params.consensus >= READING_CONSENSUS:
        ctx.reading = round_evidence(
            ctx.clusters, ctx.candidates, ctx.ballots, ctx.own, ctx.opened_state
        )
        posterior = read_round(ctx.reading, ctx.opened_state.evidence_model, params.consensus)
        problem = reading_discrepancy(record.outcome, posterior)
        if problem is not None:
            raise RecordRejected(*problem)
        expected_winner = int(record.outcome.winner)
    elif params.consensus >= 1:
        opened = ctx.opened_state
        factors = vote_factors(
            ctx.candidates,
            record.reputation_ids,
            record.reputations,
            record.admitted_at,
            ctx.query.height,
            ctx.trust,
        )
        shares = cluster_shares(
            ctx.clusters, ctx.candidates, opened.generator_gold, factors, rules=int(record.rules)
        )
        problem = consensus_discrepancy(record.outcome, shares, opened.judge_weight)
        if problem is not None:
            raise RecordRejected(*problem)
        expected_winner = int(record.outcome.winner)
    if result is not None and params.numerics >= 1:
        tie_break = [c.content_hash for c in ctx.clusters]
        problem = outcome_discrepancy(
            record.outcome, result, tie_break, params.confidence_level, expected_winner
        )
        if problem is not None:
            raise RecordRejected(*problem)
    else:
        outcome = outcome_from(result, ctx.clusters, len(ctx.ballots), params)
        if params.consensus >= READING_CONSENSUS:
            posterior = list(record.outcome.posterior)  # within tolerance: checked above
            outcome = apply_reading(outcome, None, posterior, params.confidence_level)
        elif params.consensus >= 1:
            weight = float(record.outcome.judge_weight)  # within tolerance: checked above
            outcome = apply_consensus(outcome, None, shares, weight, params.confidence_level)
        for name in _OUTCOME_FIELDS:
            if list(getattr(record.outcome, name)) != list(getattr(outcome, name)):
                raise RecordRejected(f"outcome.{name}", "does not recompute")
        if record.outcome.winner != outcome.winner:
            raise RecordRejected(
                "outcome.winner", f"{record.outcome.winner}, recomputed {outcome.winner}"
            )
    if ctx.clusters and record.answer != ctx.clusters[record.outcome.winner].answer:
        raise RecordRejected("answer", "is not the winner's answer")


#: the outcome's fields compared bit for bit under ``numerics = 0`` (and on a fallback)
_OUTCOME_FIELDS = (
    "strengths",
    "lower",
    "upper",
    "tied_for_first",
    "unjudged",
    "ranker_weights",
    "tie_gap",
)


def check_gold(ctx: _RecordCheck) -> int:
    """A gold round's truth is the task drawn for this round; returns the cluster holding its
    answer (-1: a live round, or no candidate has it)."""
    record = ctx.record
    if not record.HasField("gold"):
        return -1
    task = gold_task_for(bytes(ctx.query.previous_record_hash), ctx.query_id)
    if (
        record.gold.task_id != task.task_id
        or record.gold.answer != task.answer
        or ctx.query.question != task.question
    ):
        raise RecordRejected("gold", "is not the gold task drawn for this round")
    ctx.gold_correct = tuple(gold_clusters(ctx.clusters, task))
    return gold_cluster(ctx.clusters, task)


def check_reading_fit(ctx: _RecordCheck) -> None:
    """The reading (consensus 2 and 3): the model a gold record carries is the one the
    reading's fit chooses on the ledger's window with this round
    (:func:`node.round.reading.check_fit`; ledger state before the record, i.e. where it is
    appended); any other record carries none."""
    record = ctx.record
    entry = None
    if record.HasField("gold"):
        entry = window_entry(ctx.reading, ctx.gold_correct)
    check_fit(record, ctx.state, entry, ctx.query.parameters.consensus)
