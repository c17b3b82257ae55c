"""Phase *select*: who generates and who ranks (:func:`select_participants`), a
reputation-weighted draw from a generator seeded by the query id and the ledger head
(:func:`seeded_generator`), so anyone can recompute it from the record and the leader cannot
hand-pick (DESIGN "One round", step 2)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

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
