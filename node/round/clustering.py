"""Phase *cluster*: candidates whose normalised final answers are identical merge into one
:class:`Cluster` with a deterministic representative (:func:`cluster_candidates`), so judges
compare answers, not copies (DESIGN "One round", step 4)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from node.round.selection import seeded_generator
from protocol.hashing import content_hash


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
