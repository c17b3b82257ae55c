"""Pure round logic: selection, clustering, pair assignments, ballots to comparisons, and the
aggregation a record must recompute to.

Everything here is a deterministic function of its arguments (no clock, no I/O, randomness only
from generators seeded by protocol data), because every node recomputes a leader's record bit for
bit (DESIGN "One round", steps 2, 4, 5 and 6). The leader (:mod:`node.swarm`) calls these to
build a round; :mod:`node.ledger` calls the same functions to check one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from protocol.hashing import content_hash

#: floor under reputations used as selection weights, so a low-reputation member is still drawn
#: occasionally (it must be able to earn reputation back)
SELECTION_WEIGHT_FLOOR = 0.05


def seeded_generator(*parts: bytes) -> np.random.Generator:
    """A numpy Generator seeded from SHA-256 over length-prefixed ``parts``.

    PCG64 streams from ``random()``/``integers()`` are stable across numpy versions, which
    keeps recomputation exact between nodes.
    """
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(4, "big"))
        h.update(part)
    seed = int.from_bytes(h.digest()[:16], "big")
    return np.random.Generator(np.random.PCG64(seed))


@dataclass(frozen=True)
class Selection:
    """Who takes part in a round, in selection order."""

    generator_ids: tuple[str, ...]
    ranker_ids: tuple[str, ...]


def _weighted_sample(rng: np.random.Generator, weights: np.ndarray, k: int) -> np.ndarray:
    # Efraimidis-Spirakis: key_i = log(u_i) / w_i, take the k largest. Ties break on index via a
    # stable sort, so the result depends only on the PCG64 stream and the weights.
    u = rng.random(weights.shape[0])
    keys = np.log(np.maximum(u, np.finfo(float).tiny)) / weights
    order = np.argsort(-keys, kind="stable")
    return order[:k]


def select_participants(
    pool_ids: Sequence[str],
    reputations: Sequence[float],
    query_id: bytes,
    previous_record_hash: bytes,
    max_generators: int,
    max_rankers: int,
) -> Selection:
    """Deterministic reputation-weighted selection of generators and rankers.

    Parameters
    ----------
    pool_ids
        Eligible node ids; sorted internally, so the caller's order does not matter.
    reputations
        Reputation of each pool id (same order as ``pool_ids``).
    query_id, previous_record_hash
        The seed: anyone with the record recomputes the same selection, and the leader cannot
        grind it without changing the query id, which is bound into every signed message.
    """
    if len(pool_ids) != len(reputations):
        raise ValueError("pool_ids and reputations differ in length")
    order = sorted(range(len(pool_ids)), key=lambda i: pool_ids[i])
    ids = [pool_ids[i] for i in order]
    weights = np.maximum(np.asarray([reputations[i] for i in order], dtype=float), 0.0)
    weights = weights + SELECTION_WEIGHT_FLOOR
    rng = seeded_generator(b"select", query_id, previous_record_hash)
    n = len(ids)
    # At most half the pool (rounded up) generates, so some rankers have no candidate of their
    # own and can judge every pair; with clustered answers a generator-ranker must skip its own
    # cluster, which with two clusters would leave it nothing to judge.
    n_generators = min(max_generators, n - n // 2)
    generators = _weighted_sample(rng, weights, n_generators)
    ranking_order = _weighted_sample(rng, weights, n)
    chosen = set(generators.tolist())
    non_generators = [i for i in ranking_order.tolist() if i not in chosen]
    generator_rankers = [i for i in ranking_order.tolist() if i in chosen]
    rankers = (non_generators + generator_rankers)[:max_rankers]
    return Selection(
        generator_ids=tuple(ids[i] for i in generators),
        ranker_ids=tuple(ids[i] for i in rankers),
    )


@dataclass(frozen=True)
class Cluster:
    """Candidates merged because their normalised final answers are identical."""

    content_hash: bytes  # identity of the representative's answer text
    answer: str  # the representative's answer text, shown to rankers
    reasoning: str  # the representative's reasoning
    members: tuple[int, ...]  # indices into the round's candidate list, ascending
    key: str  # the normalised answer (or the exact text when not clustering)


def cluster_candidates(
    answers: Sequence[str],
    reasonings: Sequence[str],
    query_id: bytes,
    *,
    cluster: bool = True,
) -> list[Cluster]:
    """Group candidates and put the groups in a seeded order.

    With ``cluster=True`` candidates whose :func:`sim.model.normalise_answer` forms are equal
    and non-empty merge; otherwise (and for answers with no checkable final form) only exact
    duplicates merge. The representative is the member with the smallest content hash, and
    groups are ordered by a permutation seeded with the query id over representatives sorted by
    content hash, so the result does not depend on the order candidates arrived in.
    """
    from sim.model import normalise_answer

    groups: dict[str, list[int]] = {}
    for index, answer in enumerate(answers):
        key = normalise_answer(answer) if cluster else ""
        groups.setdefault(key or "\x00exact:" + answer, []).append(index)
    clusters = []
    for key, members in groups.items():
        rep = min(members, key=lambda i: (content_hash(answers[i]), i))
        clusters.append(
            Cluster(
                content_hash=content_hash(answers[rep]),
                answer=answers[rep],
                reasoning=reasonings[rep],
                members=tuple(sorted(members)),
                key=key,
            )
        )
    clusters.sort(key=lambda c: c.content_hash)
    permutation = seeded_generator(b"order", query_id).permutation(len(clusters))
    return [clusters[i] for i in permutation]


def own_cluster(clusters: Sequence[Cluster], candidate_index: int | None) -> int:
    """Index of the cluster holding ``candidate_index``, or -1."""
    if candidate_index is None:
        return -1
    for index, item in enumerate(clusters):
        if candidate_index in item.members:
            return index
    return -1


def assign_pairs(
    n_items: int,
    ranker_ids: Sequence[str],
    own_items: Mapping[str, int],
    query_id: bytes,
    schedule: str,
    k: int = 0,
) -> list[tuple[str, np.ndarray]]:
    """Each ranker's pairs: a seeded schedule that never includes the ranker's own item."""
    from ranking import schedule_pairs

    out = []
    for ranker_id in ranker_ids:
        own = own_items.get(ranker_id, -1)
        rng = seeded_generator(b"pairs", query_id, ranker_id.encode())
        if n_items < 2:
            pairs = np.zeros((0, 2), dtype=np.int64)
        else:
            pairs = schedule_pairs(
                n_items, schedule, rng, k=k or None, exclude=own if own >= 0 else None
            )
        out.append((ranker_id, np.asarray(pairs, dtype=np.int64).reshape(-1, 2)))
    return out
