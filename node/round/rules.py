"""Rules versions of records (``ConsensusRecord.rules``): which checks a record is held to.

A change to what a record must satisfy, or to what applying it computes, changes what replaying
an old ledger gives; so the rules a record follows are a number it carries, and a ledger
written under older rules replays under them (``tests/fixtures/ledger-v0``). The version is a
*ratchet*: a record's ``rules`` may not be below the ledger's (the last record's,
:attr:`node.ledger.trust.LedgerState.rules`) nor above :data:`CURRENT_RULES`, so once one
record of a ledger follows new rules a leader can no longer fall back to the old ones to
escape their checks. A leader always writes :data:`CURRENT_RULES`; every node of a swarm must
run software that knows them (an older node refuses such a record at ``rules``).

========  =================================================================================
rules     what a record is held to (issue 20)
========  =================================================================================
0         the rules before issue 20's findings 4 and 8 (old ledgers)
1         **Selection seed** (finding 4): the draw of generators and rankers is seeded by the
          ledger position the round was opened on (the head's hash and height) alone, not by
          the query id, which the leader picks for free and could grind for a selection it
          likes (:func:`node.round.selection.selection_seed`).
          **Pool** (finding 4, trust on): the selection pool is *exactly* the identities the
          ledger holds eligible at that position, not a subset the leader chose: leaving
          members out was another way to steer the draw.
          **Quorum** (finding 4, every version): a record carries at least the Query's
          ``quorum_generators`` candidates and ``quorum_rankers`` ballots.
          **Absence** (finding 4, trust on): a leader alone cannot tell "did not answer" from
          "I dropped its answer", so one leader's word never costs reputation. A selected node
          recorded absent is penalised only once :data:`ABSENCE_LEADERS` *distinct* leaders
          have recorded it absent with no recorded answer of its own in between
          (:func:`absence_penalties`, state in
          :attr:`node.ledger.trust.LedgerState.absences`).
          **Exams** (finding 8): an exam event must carry the candidate's own signed answer
          to every item; an examiner that leaves answers out (to fail a newcomer on
          "missing = wrong", or to choose which answers count) has its record refused, and a
          candidate that did not answer everything is simply not graded
          (:func:`node.ledger.trust.grade_exam_event`).
2         **Unanswered gold** (issue 12): a gold round in which no candidate was right
          teaches the generators' gold records nothing. Under rules 1 every generator of
          such a round was counted a miss, so on questions the whole swarm gets wrong (small
          real models) the generators' records sank together to the floor and the
          calibrated rule's vote shares were decided by the few rounds' noise
          (:func:`node.ledger.state.learn_from_gold`).
3         **Sharper votes** (issue 12): the generators' gold records decay at
          :data:`ranking.consensus.GENERATOR_DECAY` (0.9, about the last ten gold rounds)
          and a vote weighs the record's accuracy above chance cubed
          (:data:`ranking.consensus.GENERATOR_POWER`); before, 0.8 and the first power
          (:func:`generator_rule`). On the simulator the default gains 4-5 points on
          paper-like, reputation farmers and prompt injection (``ranking.consensus``).
4         **Signed judges** (issue 12): a gold round refits the judges' trust with
          ``signed=True`` (:func:`ranking.fit_judge_trust`): judges whose preference the
          gold record shows, beyond noise, to point *away* from the answer given the votes
          (they favour what fools the crowd) get a negative weight and count against the
          cluster they prefer; before, such judges weighed 0 (:func:`signed_judges`). On the
          simulator's paper-like swarm at judging parity the weight settles near -0.1 and the
          default gains several points (``docs/sim/evidence-bound``).
========  =================================================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

#: the rules a leader writes today
CURRENT_RULES = 4
#: the first rules version with issue 20's findings 4 and 8 closed
RULES_ISSUE_20 = 1
#: the first rules version in which a gold round nobody answered right teaches generators
#: nothing (issue 12)
RULES_UNANSWERED_GOLD = 2
#: the first rules version whose generator records decay and weigh votes as
#: :mod:`ranking.consensus` does today (issue 12)
RULES_SHARP_VOTES = 3
#: the first rules version whose gold rounds fit the judges' trust with a sign (issue 12)
RULES_SIGNED_JUDGES = 4
#: the generators' gold-record decay and vote power before :data:`RULES_SHARP_VOTES`
LEGACY_GENERATOR_DECAY = 0.8
LEGACY_GENERATOR_POWER = 1
#: distinct leaders that must record a node absent, with no answer of its own recorded in
#: between, before it loses reputation for absence (rules >= 1, trust on)
ABSENCE_LEADERS = 2


def generator_rule(rules: int) -> tuple[float, int]:
    """The generators' gold-record decay and vote power a record of ``rules`` follows."""
    from ranking.consensus import GENERATOR_DECAY, GENERATOR_POWER

    if rules >= RULES_SHARP_VOTES:
        return GENERATOR_DECAY, GENERATOR_POWER
    return LEGACY_GENERATOR_DECAY, LEGACY_GENERATOR_POWER


def absence_penalties(
    absences: Mapping[str, frozenset[str]],
    leader_id: str,
    absent_ids: Iterable[str],
    answered_ids: Iterable[str],
) -> tuple[list[str], dict[str, frozenset[str]]]:
    """Who pays the absence penalty for one record, and the absence streaks after it.

    ``absences`` maps a node id to the leaders that recorded it absent since its last recorded
    answer. A node that answered in this record starts afresh; a node recorded absent adds
    this record's leader, and pays once that makes :data:`ABSENCE_LEADERS` distinct leaders
    (its streak then starts afresh). A malicious leader that drops an honest node's replies,
    alone and however often, never gets it penalised: an honest leader's round in which it
    answers clears the streak.

    Returns the sorted penalised ids and the new streak map (nodes without a streak absent).
    """
    after = dict(absences)
    for node_id in answered_ids:
        after.pop(node_id, None)
    penalised = []
    for node_id in sorted(set(absent_ids)):
        leaders = after.get(node_id, frozenset()) | {leader_id}
        if len(leaders) >= ABSENCE_LEADERS:
            penalised.append(node_id)
            after.pop(node_id, None)
        else:
            after[node_id] = leaders
    return penalised, after


def signed_judges(rules: int) -> bool:
    """Whether a gold record of ``rules`` refits the judges' trust with a sign (rules 4)."""
    return rules >= RULES_SIGNED_JUDGES
