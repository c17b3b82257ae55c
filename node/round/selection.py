"""Phase *select*: who generates and who ranks (:func:`select_participants`), a
reputation-weighted draw from a generator seeded by the query id and the ledger head
(:func:`seeded_generator`), so anyone can recompute it from the record and the leader cannot
hand-pick (DESIGN "One round", step 2)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from node.round.tolerance import CURRENT_NUMERICS
from ranking.selection import select_participants as select_indices


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


def select_participants(
    pool_ids: Sequence[str],
    reputations: Sequence[float],
    query_id: bytes,
    previous_record_hash: bytes,
    max_generators: int,
    max_rankers: int,
    numerics: int = CURRENT_NUMERICS,
) -> Selection:
    """Deterministic reputation-weighted selection of generators and rankers
    (:func:`ranking.selection.select_participants` on a generator seeded by the query id and
    the ledger head; the simulator runs the same core).

    Parameters
    ----------
    pool_ids
        Eligible node ids; sorted internally, so the caller's order does not matter.
    reputations
        Reputation of each pool id (same order as ``pool_ids``).
    query_id, previous_record_hash
        The seed: anyone with the record recomputes the same selection, and the leader cannot
        grind it without changing the query id, which is bound into every signed message.
    numerics
        The record's ``RoundParameters.numerics``: from 1 on, the draw is in integer arithmetic,
        the same on every machine (:mod:`node.round.tolerance`); 0 is the older float draw.
    """
    if len(pool_ids) != len(reputations):
        raise ValueError("pool_ids and reputations differ in length")
    order = sorted(range(len(pool_ids)), key=lambda i: pool_ids[i])
    ids = [pool_ids[i] for i in order]
    rng = seeded_generator(b"select", query_id, previous_record_hash)
    generators, rankers = select_indices(
        [reputations[i] for i in order], rng, max_generators, max_rankers, exact=numerics >= 1
    )
    return Selection(
        generator_ids=tuple(ids[i] for i in generators),
        ranker_ids=tuple(ids[i] for i in rankers),
    )
