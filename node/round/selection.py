"""Phase *select*: who generates and who ranks (:func:`select_participants`), a
reputation-weighted draw from a generator seeded by the ledger position the round was opened on
(:func:`selection_seed`, :func:`seeded_generator`), so anyone can recompute it from the record
and the leader cannot hand-pick (DESIGN "One round", step 2).

Why not the query id (issue 20, finding 4)
------------------------------------------
Records before rules 1 (:mod:`node.round.rules`) seeded the draw with the query id too. The
leader picks the query id freely, one hash per try, so it could grind ids until the draw gave
the generators and rankers it wanted. From rules 1 the seed is the head's hash and height only,
which every round opened on that position shares. What a leader can still influence: which of
the last :data:`~node.round.check.CHECKPOINT_WINDOW` positions it opens a round on (at most
that many draws, and only positions the ledger has), the head itself when it led the previous
record (one signature per try), the prefix lengths ``max_generators`` and ``max_rankers`` (the
draw is an order of the pool cut at those lengths, so they choose how many, not whom), and not
leading at all until a draw suits it, which no seed can forbid. Rounds opened on one position
share their participants until the head moves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from node.round.rules import RULES_ISSUE_20
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


def selection_seed(
    query_id: bytes, previous_record_hash: bytes, height: int, rules: int
) -> tuple[bytes, ...]:
    """The parts :func:`seeded_generator` seeds the draw with: under ``rules`` >= 1 the ledger
    position the round was opened on (head hash and height), which the leader cannot grind;
    under rules 0 (old records) the query id and the head."""
    if rules >= RULES_ISSUE_20:
        return (b"select/v2", previous_record_hash, height.to_bytes(8, "big"))
    return (b"select", query_id, previous_record_hash)


def select_participants(
    pool_ids: Sequence[str],
    reputations: Sequence[float],
    query_id: bytes,
    previous_record_hash: bytes,
    max_generators: int,
    max_rankers: int,
    numerics: int = CURRENT_NUMERICS,
    *,
    height: int = 0,
    rules: int = 0,
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
    query_id, previous_record_hash, height, rules
        The seed (:func:`selection_seed`): the opened position (``previous_record_hash`` and
        ``height``) under ``rules`` >= 1; the query id and the head under rules 0 (old
        records, whose query id a leader could grind). Anyone with the record recomputes it.
    numerics
        The record's ``RoundParameters.numerics``: from 1 on, the draw is in integer arithmetic,
        the same on every machine (:mod:`node.round.tolerance`); 0 is the older float draw.
    """
    if len(pool_ids) != len(reputations):
        raise ValueError("pool_ids and reputations differ in length")
    order = sorted(range(len(pool_ids)), key=lambda i: pool_ids[i])
    ids = [pool_ids[i] for i in order]
    rng = seeded_generator(*selection_seed(query_id, previous_record_hash, height, rules))
    generators, rankers = select_indices(
        [reputations[i] for i in order], rng, max_generators, max_rankers, exact=numerics >= 1
    )
    return Selection(
        generator_ids=tuple(ids[i] for i in generators),
        ranker_ids=tuple(ids[i] for i in rankers),
    )
