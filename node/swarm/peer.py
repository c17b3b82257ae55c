"""The node's request handlers, free of gRPC: :class:`Node`.

Owns what a node does with each NodeService request (``handle_*`` methods, one per RPC) and the
rules they enforce. :mod:`node.transport.server` only adapts gRPC calls to these methods and maps
errors to status codes; the swarm layer extends :class:`Node` (subclass and override
``handle_submit_record``) rather than touching the transport.

Security rules, in order, for every signed request:

1. :class:`~protocol.signing.Verifier` checks size, signature (over the exact received payload
   bytes, before parsing), swarm id, signer binding, membership (``is_active`` hook) and the
   timestamp window.
2. The per-identity rate limit (:class:`~node.transport.ratelimit.RateLimiter`, when configured):
   the signer is known only now, and nothing below has touched the model yet, so a caller over its
   limit gets :class:`~node.errors.Overloaded` (RESOURCE_EXHAUSTED) at no model cost.
3. Request-specific checks (this node selected, candidate digest recomputed, pair indices),
   and the membership hook :meth:`Node.is_eligible_leader`: only a leader the node's view holds
   eligible gets an answer (the swarm layer consults the ledger; refused with
   :class:`~node.errors.Rejected`, reason ``not_eligible_leader``).
4. :class:`~protocol.replay.ReplayGuard` on the durable store admits each (leader, kind, query
   id) once. A byte-identical retransmission gets the *cached signed reply* again (idempotent:
   no second backend call, no second signature); a different payload under the same key is
   equivocation, kept in the store as evidence and refused.
5. **One output per query id, whoever asks** (issue 20, finding 1). The replay guard is keyed by
   the *requester*; an outsider resending a recorded round's query id under its own key would
   otherwise get a second, different Candidate or Ballot signed by this node: valid
   equivocation evidence against an honest node. So every output is kept per (own key, output
   kind, query id) with a digest of the round content it answers (:func:`request_content`: the
   question; for a Ballot also the candidate set and the pairs asked). A later request for that
   id with the same content gets the *same signed bytes* (two examiners at one head draw the
   same exam items, so this is also what they get); with other content it is refused with
   :class:`~node.errors.Rejected`, reason ``already_answered``. The output is stored (synced)
   before it is returned, so no crash or race releases two.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from node.backends.base import Answer, Judgement, ModelBackend
from node.errors import (
    BackendError,
    BackendTimeout,
    NotSelected,
    NotSupported,
    Overloaded,
    Rejected,
)
from node.ledger.store import SignedOutput, Store
from node.logging import get_logger
from node.metrics import NodeMetrics
from node.round.numerics import numerics_capability
from node.round.schedule import ADAPTIVE
from node.transport.ratelimit import RateLimiter
from protocol.errors import Equivocation, Malformed, Oversize
from protocol.hashing import candidate_set_digest, content_hash, payload_hash
from protocol.identity import Identity
from protocol.replay import ReplayGuard, round_slot, verify_evidence
from protocol.signing import Clock, Envelope, SystemClock, Verified, Verifier, kind_name, seal
from protocol.v1 import envelope_pb2, messages_pb2, services_pb2

VERSION = "0.1.0"
MAX_CHALLENGE_BYTES = 64
MAX_RATIONALE_CHARS = 500
DEFAULT_RECORDS_LIMIT = 100
MAX_RECORDS_LIMIT = 1000

_OUTCOMES: dict[str, int] = {
    "A": messages_pb2.OUTCOME_A,
    "B": messages_pb2.OUTCOME_B,
    "tie": messages_pb2.OUTCOME_TIE,
    "abstain": messages_pb2.OUTCOME_ABSTAIN,
}


def node_capabilities() -> tuple[str, ...]:
    """What a node advertises in its NodeInfo: its roles and its numerics fingerprint
    (:mod:`node.round.numerics`)."""
    return ("generate", "rank", numerics_capability())


T = TypeVar("T")
log = get_logger("node")


def request_key(envelope: Envelope) -> bytes:
    """Key of a request in the reply cache: SHA-256 over its kind and exact payload bytes."""
    return hashlib.sha256(envelope.kind.to_bytes(4, "big") + envelope.payload).digest()


def request_content(
    output_kind: int,
    question: str,
    candidate_set_digest: bytes = b"",
    pairs: Sequence[tuple[int, int]] = (),
) -> bytes:
    """Digest of the round content an output answers (rule 5 in the module docstring).

    Two requests for one query id with equal content are the same round asked again (a retry,
    a second examiner): they may share one signed output. Who signed the request, when, and
    the rest of its fields do not count: they are not what the output vouches for.
    """
    h = hashlib.sha256(b"swarmrank/output-content\x00")
    h.update(output_kind.to_bytes(4, "big"))
    data = question.encode("utf-8")
    h.update(len(data).to_bytes(8, "big") + data)
    h.update(len(candidate_set_digest).to_bytes(4, "big") + candidate_set_digest)
    h.update(len(pairs).to_bytes(8, "big"))
    for a, b in pairs:
        h.update(a.to_bytes(4, "big") + b.to_bytes(4, "big"))
    return h.digest()


@dataclass(frozen=True)
class NodeLimits:
    """Per-request budgets of a :class:`Node`."""

    generate_timeout_s: float = 120.0  # one backend generate call
    judge_timeout_s: float = 60.0  # one backend judge call
    judge_concurrency: int = 4  # pairs of one ballot judged at once
    max_rank_pairs: int = 2048  # pairs one RankRequest may ask this node to judge (model calls)


class Node:
    """One node's protocol logic; see the module docstring.

    Parameters
    ----------
    identity
        The node's signing identity.
    verifier
        Verifies every received envelope (carries swarm id, clock, window, limits and the
        ``is_active`` membership hook).
    backend
        The model.
    store
        Durable state; also the replay guard's storage.
    metrics
        Where counters go.
    address
        The address advertised in NodeInfo (set by the server once bound).
    rate_limiter
        Per-identity token buckets for signed requests; ``None`` = no limit.
    """

    def __init__(
        self,
        identity: Identity,
        verifier: Verifier,
        backend: ModelBackend,
        store: Store,
        metrics: NodeMetrics | None = None,
        *,
        limits: NodeLimits | None = None,
        clock: Clock | None = None,
        address: str = "",
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self.identity = identity
        self.verifier = verifier
        self.backend = backend
        self.store = store
        self.metrics = metrics or NodeMetrics()
        self.limits = limits or NodeLimits()
        self.clock: Clock = clock or verifier.clock or SystemClock()
        self.address = address
        self.guard = ReplayGuard(store)
        self.rate_limiter = rate_limiter

    @property
    def node_id(self) -> str:
        """This node's id."""
        return self.identity.node_id

    @property
    def swarm_id(self) -> str:
        """The swarm this node serves."""
        return self.verifier.swarm_id

    def _context(self, query_id: bytes = b"") -> messages_pb2.MessageContext:
        return messages_pb2.MessageContext(
            swarm_id=self.swarm_id, query_id=query_id, timestamp_ms=self.clock.time_ms()
        )

    def check_rate(self, signer_id: str, method: str) -> None:
        """Charge one request to a *verified* signer; raise Overloaded when over its limit.

        Called right after signature verification and before any backend work (security rule
        2 in the module docstring); the swarm layer calls it for its own signed endpoints.
        """
        if self.rate_limiter is not None and not self.rate_limiter.allow(signer_id):
            raise Overloaded(
                f"identity {signer_id} is over its rate limit for {method} "
                f"({self.rate_limiter.rate_per_s:g}/s, burst {self.rate_limiter.burst})",
                reason="rate_limited",
            )

    def is_eligible_leader(self, node_id: str) -> bool:
        """Membership hook: whether ``node_id`` may lead a round this node answers.

        ``True`` here (a bare node answers any verified signer); the swarm layer overrides it
        with its ledger's view (security rule 3 in the module docstring).
        """
        return True

    def check_leader(self, signer_id: str, query_id: bytes, method: str) -> None:
        """Refuse a Generate or Rank request from a signer that is not an eligible leader."""
        if not self.is_eligible_leader(signer_id):
            raise Rejected(
                f"{method} for query {query_id.hex()}: {signer_id} is not an eligible member "
                "of this swarm, so this node does not answer it",
                reason="not_eligible_leader",
            )

    # --- GetInfo ---

    async def handle_get_info(self, request: messages_pb2.InfoRequest) -> Envelope:
        """A signed NodeInfo echoing the caller's challenge (a freshness proof)."""
        if len(request.challenge) > MAX_CHALLENGE_BYTES:
            raise Malformed(
                f"challenge of {len(request.challenge)} bytes; at most {MAX_CHALLENGE_BYTES}"
            )
        return self.signed_info(request.challenge)

    def signed_info(self, challenge: bytes = b"") -> Envelope:
        """This node's signed NodeInfo (GetInfo replies and registry registration)."""
        info = messages_pb2.NodeInfo(
            context=self._context(),
            node_id=self.node_id,
            public_key=self.identity.public_key,
            address=self.address,
            model=self.backend.model_name,
            capabilities=node_capabilities(),
            version=VERSION,
            challenge=challenge,
        )
        return seal(self.identity, envelope_pb2.KIND_NODE_INFO, info, self.swarm_id)

    # --- replay handling shared by Generate and Rank ---

    def _admit(self, verified: Verified) -> bool:
        """Admit through the replay guard; keep equivocation as evidence. True when new."""
        try:
            return self.guard.admit(verified).new
        except Equivocation as exc:
            self.store.put_evidence(
                exc.reason, str(exc), exc.first.SerializeToString(), exc.second.SerializeToString()
            )
            log.warning(
                "equivocation kept as evidence",
                extra={"query_id": verified.query_id.hex(), "signer": verified.signer_id},
            )
            raise

    def _signed_before(self, output_kind: int, query_id: bytes, content: bytes) -> Envelope | None:
        """The output this node already signed for (``output_kind``, ``query_id``) when it
        answered the same content; ``None`` when it signed none; :class:`Rejected` when it
        answered other content (rule 5 in the module docstring)."""
        known = self.store.get_output(self.node_id, output_kind, query_id)
        if known is None:
            return None
        return self._same_round(known, content)

    def _same_round(self, known: SignedOutput, content: bytes) -> Envelope:
        if known.envelope is None or known.content != content:
            raise Rejected(
                f"this node already signed its {kind_name(known.kind)} for query "
                f"{known.query_id.hex()} answering other content; it signs one per query id",
                reason="already_answered",
            )
        return _envelope(known.envelope)

    async def _answer_once(
        self,
        method: str,
        request: Verified,
        output_kind: int,
        content: bytes,
        compute: Callable[[], Coroutine[Any, Any, Envelope]],
    ) -> Envelope:
        """Return the cached reply to a retransmission, or the output already signed for this
        query id and content, else compute, keep and return (rules 4 and 5)."""
        key = request_key(request.envelope)
        if not self._admit(request):
            cached = self.store.get_reply(key)
            if cached is not None:
                self.metrics.replies_replayed.labels(method).inc()
                log.info(
                    "retransmission answered from the reply cache",
                    extra={"query_id": request.query_id.hex(), "method": method},
                )
                return _envelope(cached)
            # Admitted before but no reply cached: the first attempt crashed or is still
            # running. Its reply was never sent (replies are cached before sending), so
            # computing now cannot produce a second *released* answer; the output insert below
            # keeps the first one if both finish.
        slot = round_slot(request.kind, request.message)  # one output per query id and wave
        signed = self._signed_before(output_kind, slot, content)
        if signed is None:
            reply = await compute()
            known = self.store.put_output_if_absent(
                self.node_id, output_kind, slot, content, reply.SerializeToString()
            )
            signed = reply if known is None else self._same_round(known, content)
        else:
            self.metrics.replies_replayed.labels(method).inc()
        stored = self.store.put_reply_if_absent(key, request.kind, signed.SerializeToString())
        return _envelope(stored)

    async def _backend_call(self, op: str, coro: Coroutine[Any, Any, T], timeout_s: float) -> T:
        start = time.perf_counter()
        outcome = "ok"
        try:
            result = await asyncio.wait_for(coro, timeout_s)
            if isinstance(result, Judgement) and result.outcome == "abstain":
                outcome = "abstain"  # an unparseable model verdict: counted, not an error
            return result
        except TimeoutError as exc:
            outcome = "timeout"
            self.metrics.backend_errors.labels(op).inc()
            raise BackendTimeout(f"backend {op} took longer than {timeout_s:g} s") from exc
        except BackendError:
            outcome = "error"
            self.metrics.backend_errors.labels(op).inc()
            raise
        finally:
            self.metrics.backend_calls.labels(op, outcome).inc()
            self.metrics.backend_latency.labels(op).observe(time.perf_counter() - start)

    # --- Generate ---

    async def handle_generate(self, envelope: Envelope) -> Envelope:
        """Signed Query in, signed Candidate out (see the module docstring for the checks)."""
        verified = self.verifier.verify(envelope, envelope_pb2.KIND_QUERY)
        self.check_rate(verified.signer_id, "Generate")
        query: messages_pb2.Query = verified.message
        if not verified.query_id:
            raise Malformed("Query carries no query id")
        if self.node_id not in query.generator_ids:
            raise NotSelected(
                f"node {self.node_id} is not a generator of query {verified.query_id.hex()}"
            )
        self.check_leader(verified.signer_id, verified.query_id, "Generate")

        async def compute() -> Envelope:
            answer: Answer = await self._backend_call(
                "generate",
                self.backend.generate(query.question, query_id=verified.query_id),
                self.limits.generate_timeout_s,
            )
            candidate = messages_pb2.Candidate(
                context=self._context(verified.query_id),
                generator_id=self.node_id,
                query_hash=payload_hash(verified.envelope),
                answer=answer.text,
                reasoning=answer.reasoning,
                model=answer.model or self.backend.model_name,
            )
            log.info("candidate signed", extra={"query_id": verified.query_id.hex()})
            return seal(self.identity, envelope_pb2.KIND_CANDIDATE, candidate, self.swarm_id)

        content = request_content(envelope_pb2.KIND_CANDIDATE, query.question)
        return await self._answer_once(
            "Generate", verified, envelope_pb2.KIND_CANDIDATE, content, compute
        )

    # --- Rank ---

    def _check_rank_request(
        self, verified: Verified
    ) -> tuple[Verified, messages_pb2.Query, list[tuple[int, int]]]:
        request: messages_pb2.RankRequest = verified.message
        if not verified.query_id:
            raise Malformed("RankRequest carries no query id")
        if not request.HasField("query"):
            raise Malformed("RankRequest carries no Query")
        # The nested Query's own timestamp is older than the request's; the request's timestamp
        # already bounds freshness, so the window is not applied twice.
        query_verified = self.verifier.verify(
            request.query, envelope_pb2.KIND_QUERY, check_time=False
        )
        if query_verified.signer_id != verified.signer_id:
            raise Malformed("the nested Query is signed by another leader than the RankRequest")
        if query_verified.query_id != verified.query_id:
            raise Malformed("the nested Query is for another query id than the RankRequest")
        check_wave(request, query_verified.message)
        hashes = []
        for i, candidate in enumerate(request.candidates):
            expected = content_hash(candidate.answer)
            if candidate.content_hash != expected:
                raise Malformed(f"candidate {i}: content_hash does not match its answer")
            hashes.append(expected)
        if candidate_set_digest(hashes) != request.candidate_set_digest:
            raise Malformed("candidate_set_digest does not match the candidates")
        mine = [a for a in request.assignments if a.ranker_id == self.node_id]
        if not mine:
            raise NotSelected(
                f"node {self.node_id} has no assignment in query {verified.query_id.hex()}"
            )
        if len(mine) > 1:
            raise Malformed(f"RankRequest holds {len(mine)} assignments for node {self.node_id}")
        count = len(request.candidates)
        # Every pair is a model call: a leader must not be able to make a ranker judge without
        # bound. A schedule asks each ordered pair at most once, so duplicates are malformed.
        if len(mine[0].pairs) > self.limits.max_rank_pairs:
            raise Oversize(
                f"the assignment asks for {len(mine[0].pairs)} judgements; this node judges at "
                f"most {self.limits.max_rank_pairs} per request (rank_max_pairs)"
            )
        pairs = []
        seen: set[tuple[int, int]] = set()
        for pair in mine[0].pairs:
            if pair.a >= count or pair.b >= count or pair.a == pair.b:
                raise Malformed(f"pair ({pair.a}, {pair.b}) is not two of the {count} candidates")
            if (pair.a, pair.b) in seen:
                raise Malformed(f"pair ({pair.a}, {pair.b}) is asked twice")
            seen.add((pair.a, pair.b))
            pairs.append((pair.a, pair.b))
        return query_verified, query_verified.message, pairs

    async def handle_rank(self, envelope: Envelope) -> Envelope:
        """Signed RankRequest in, signed Ballot out (see the module docstring for the checks)."""
        verified = self.verifier.verify(envelope, envelope_pb2.KIND_RANK_REQUEST)
        self.check_rate(verified.signer_id, "Rank")
        query_verified, query, pairs = self._check_rank_request(verified)
        self.check_leader(verified.signer_id, verified.query_id, "Rank")
        request: messages_pb2.RankRequest = verified.message
        # Admitting the nested Query catches a leader that showed rankers a different Query
        # than the one it sent generators.
        self._admit(query_verified)

        async def compute() -> Envelope:
            judgements = await self._judge_all(query.question, request, pairs, verified.query_id)
            verdicts = [
                _verdict(a, b, judgement)
                for (a, b), judgement in zip(pairs, judgements, strict=True)
            ]
            ballot = messages_pb2.Ballot(
                context=self._context(verified.query_id),
                ranker_id=self.node_id,
                candidate_set_digest=request.candidate_set_digest,
                verdicts=verdicts,
                wave=request.wave,
            )
            log.info(
                "ballot signed",
                extra={"query_id": verified.query_id.hex(), "pairs": len(pairs)},
            )
            return seal(self.identity, envelope_pb2.KIND_BALLOT, ballot, self.swarm_id)

        content = request_content(
            envelope_pb2.KIND_BALLOT, query.question, bytes(request.candidate_set_digest), pairs
        )
        return await self._answer_once("Rank", verified, envelope_pb2.KIND_BALLOT, content, compute)

    async def _judge_all(
        self,
        question: str,
        request: messages_pb2.RankRequest,
        pairs: list[tuple[int, int]],
        query_id: bytes,
    ) -> list[Judgement]:
        semaphore = asyncio.Semaphore(self.limits.judge_concurrency)
        failures: list[BackendError] = []

        async def judge(a: int, b: int) -> Judgement:
            async with semaphore:
                try:
                    return await self._backend_call(
                        "judge",
                        self.backend.judge(
                            question,
                            request.candidates[a].answer,
                            request.candidates[b].answer,
                            query_id=query_id,
                        ),
                        self.limits.judge_timeout_s,
                    )
                except BackendError as exc:
                    # One failed pair is an abstention; the rest of the ballot still counts.
                    failures.append(exc)
                    return Judgement(outcome="abstain", rationale="backend error")

        judgements = await asyncio.gather(*(judge(a, b) for a, b in pairs))
        if pairs and len(failures) == len(pairs):
            raise failures[0]
        return list(judgements)

    # --- ledger endpoints (the swarm layer overrides these) ---

    async def handle_submit_record(self, envelope: Envelope) -> services_pb2.RecordAck:
        """Verify and append a ConsensusRecord; served by the swarm layer's subclass."""
        raise NotSupported("this node does not accept consensus records yet")

    async def handle_submit_evidence(self, envelope: Envelope) -> services_pb2.RecordAck:
        """Verify an equivocation report and keep it; the pair must prove equivocation."""
        verified = self.verifier.verify(envelope, envelope_pb2.KIND_EQUIVOCATION_EVIDENCE)
        self.check_rate(verified.signer_id, "SubmitEvidence")
        proven = verify_evidence(verified.message, self.swarm_id)
        report: messages_pb2.EquivocationEvidence = verified.message
        self.store.put_evidence(
            "equivocation_report",
            f"{proven.offender_id} equivocated on query {proven.query_id.hex()} "
            f"(reported by {verified.signer_id})",
            report.first.SerializeToString(),
            report.second.SerializeToString(),
        )
        log.warning(
            "equivocation report kept",
            extra={"query_id": proven.query_id.hex(), "offender": proven.offender_id},
        )
        height, _ = self.store.head()
        return services_pb2.RecordAck(accepted=True, height=height)

    async def handle_get_records(
        self, request: services_pb2.GetRecordsRequest
    ) -> AsyncIterator[Envelope]:
        """Stream ledger records from ``from_height`` (at most ``limit``, capped)."""
        limit = request.limit or DEFAULT_RECORDS_LIMIT
        limit = min(limit, MAX_RECORDS_LIMIT)
        for entry in self.store.records_from(request.from_height, limit):
            yield Envelope.FromString(entry.envelope)


def check_wave(request: messages_pb2.RankRequest, query: messages_pb2.Query) -> None:
    """A RankRequest's wave must be one its Query's parameters allow: 0 outside schedule
    ``"adaptive"``, below ``max_waves`` in it. Each wave is one more ballot this node signs (a
    model call per pair), so a leader cannot make it judge without bound by inventing waves."""
    params = query.parameters
    limit = params.max_waves if params.schedule == ADAPTIVE else 1
    if request.wave >= max(1, limit):
        raise Malformed(f"wave {request.wave} of a {params.schedule!r} round (at most {limit})")


def _envelope(data: bytes) -> Envelope:
    envelope = Envelope()
    envelope.ParseFromString(data)
    return envelope


def _verdict(a: int, b: int, judgement: Judgement) -> messages_pb2.Verdict:
    outcome = _OUTCOMES.get(judgement.outcome, messages_pb2.OUTCOME_ABSTAIN)
    verdict = messages_pb2.Verdict(a=a, b=b, rationale=judgement.rationale[:MAX_RATIONALE_CHARS])
    verdict.outcome = outcome  # type: ignore[assignment]
    confidence = judgement.confidence
    if (
        confidence is not None
        and outcome in (messages_pb2.OUTCOME_A, messages_pb2.OUTCOME_B)
        and 0.5 <= confidence <= 1.0
    ):
        verdict.confidence = confidence
    return verdict
