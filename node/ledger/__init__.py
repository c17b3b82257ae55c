"""The ledger: durable state, the state a record moves, and replay from the start.

=============  ==============================================================================
module         owns
=============  ==============================================================================
``store``      :class:`Store`, the SQLite file (hash-chained records, reputations, replay
               guard, signed replies, rejected records and evidence)
``trust``      :class:`LedgerState` and the trust rules' protocol side (genesis, calibration
               exams, equivocation keys, pool weights)
``state``      :func:`apply_record` / :func:`apply_state`: the transition a checked record causes
``replay``     :func:`replay_ledger` (``swarmrank ledger verify``)
=============  ==============================================================================
"""
