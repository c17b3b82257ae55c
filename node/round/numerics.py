"""A fingerprint of this node's floating-point results on the round computations.

The robust aggregation and the evidence reading go through ``exp``, ``log`` and LAPACK's LU
(choix, scipy). numpy picks SIMD kernels by CPU (AVX2, AVX-512 ...) and BLAS/LAPACK builds
differ, so two honest nodes on different hardware or wheels can disagree in the last bits.
Records made under ``numerics = 1`` (:mod:`node.round.tolerance`) verify across such builds;
records made before (``numerics = 0``) recompute bit for bit and so replay only on a matching
build.

:func:`numerics_fingerprint` runs those code paths on a fixed, generated input and hashes the
exact outputs. Nodes publish it in their signed ``NodeInfo`` as the capability
``numerics:<hex>`` (:func:`numerics_capability`); ``swarmrank doctor`` and ``swarmrank status``
report a mix as information: it tells an operator which old ledgers replay where, and which
members run which build.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import numpy as np

from node.round.clustering import Cluster

CAPABILITY_PREFIX = "numerics:"

#: shape of the canary round: enough candidates and rankers that the EM, the intervals and the
#: "3n" schedules all do real work
_ITEMS = 12
_RANKERS = 24


def distinct_clusters(n: int) -> list[Cluster]:
    """``n`` one-member clusters with distinct answers ``"answer i"`` (the canary's items)."""
    return [
        Cluster(
            content_hash=hashlib.sha256(b"%d" % i).digest(),
            answer=f"answer {i}",
            reasoning="",
            members=(i,),
            key=f"answer {i}",
        )
        for i in range(n)
    ]


@lru_cache(maxsize=1)
def numerics_fingerprint() -> str:
    """16 hex digits: SHA-256 over the canary round's selection, schedules and outcome."""
    from node.round.aggregate import round_outcome
    from node.round.schedule import assign_pairs
    from node.round.selection import seeded_generator, select_participants
    from node.round.settings import RoundSettings
    from protocol.v1 import messages_pb2

    rng = seeded_generator(b"swarmrank numerics canary v1")
    ids = [f"node{i:02d}" for i in range(_RANKERS)]
    reputations = [float(x) for x in 0.05 + 0.9 * rng.random(_RANKERS)]
    selection = select_participants(ids, reputations, b"q" * 16, b"h" * 32, _ITEMS, _RANKERS)
    clusters = distinct_clusters(_ITEMS)
    own = {rid: index for index, rid in enumerate(selection.generator_ids)}
    assignments = assign_pairs(_ITEMS, list(selection.ranker_ids), own, b"q" * 16, "3n")
    strengths = rng.normal(0.0, 1.5, _ITEMS)
    ballots = []
    for ranker_id, pairs in assignments:
        verdicts = []
        for a, b in pairs.tolist():
            p_a = 1.0 / (1.0 + np.exp(strengths[b] - strengths[a]))
            draw = rng.random()
            outcome = messages_pb2.OUTCOME_A if draw < p_a else messages_pb2.OUTCOME_B
            verdicts.append(messages_pb2.Verdict(a=a, b=b, outcome=outcome))
        ballots.append(messages_pb2.Ballot(ranker_id=ranker_id, verdicts=verdicts))
    weights = [reputations[ids.index(r)] for r, _ in assignments]
    own_items = [own.get(r, -1) for r, _ in assignments]
    params = RoundSettings(schedule="3n").to_proto()  # the default aggregation parameters
    outcome = round_outcome(
        clusters, ballots, weights, own_items, params, posterior=_canary_posterior(rng, ballots)
    )
    digest = hashlib.sha256()
    digest.update("|".join(selection.generator_ids + selection.ranker_ids).encode())
    for ranker_id, pairs in assignments:
        digest.update(ranker_id.encode() + pairs.astype("<i8").tobytes())
    digest.update(outcome.SerializeToString(deterministic=True))
    return digest.hexdigest()[:16]


def _canary_posterior(rng: np.random.Generator, ballots: list[Any]) -> list[float]:
    """The evidence reading (consensus 2) of the canary round: one vote per cluster, gold
    records drawn from ``rng``, the verdicts read (so its ``exp``/``log`` work is fingerprinted
    too)."""
    from node.ledger.trust import LedgerState
    from node.round.reading import EARNED_RECORDS_CONSENSUS, read_round, round_evidence
    from protocol.v1 import messages_pb2
    from ranking.evidence import EvidenceModel

    voters = [f"voter{i:02d}" for i in range(_ITEMS)]
    candidates = [messages_pb2.Candidate(generator_id=v) for v in voters]
    seen = 20
    hits = rng.integers(0, seen + 1, size=_ITEMS + len(ballots)).tolist()
    state = LedgerState(
        generator_record={v: (int(h), seen) for v, h in zip(voters, hits, strict=False)},
        judge_record={
            b.ranker_id: (int(h), seen) for b, h in zip(ballots, hits[_ITEMS:], strict=True)
        },
    )
    evidence = round_evidence(distinct_clusters(_ITEMS), candidates, ballots, {}, state)
    model = EvidenceModel(judge_offset=1.0, judge_sd=0.6, use_verdicts=True, use_records=True)
    return read_round(evidence, model, EARNED_RECORDS_CONSENSUS)


def numerics_capability() -> str:
    """The ``NodeInfo`` capability that publishes :func:`numerics_fingerprint`."""
    return CAPABILITY_PREFIX + numerics_fingerprint()


def fingerprint_of(capabilities: Iterable[str]) -> str | None:
    """The numerics fingerprint a member advertises, or ``None`` (an older node)."""
    for capability in capabilities:
        if capability.startswith(CAPABILITY_PREFIX):
            return capability[len(CAPABILITY_PREFIX) :]
    return None
