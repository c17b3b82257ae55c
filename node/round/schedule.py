"""Phase *rank*, first half: which pairs each ranker judges (:func:`assign_pairs`): the seeded
schedule of :mod:`ranking.schedule` over the clusters, never a ranker's own cluster, both
orders. Deterministic, because every member recomputes it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from node.round.selection import seeded_generator


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
