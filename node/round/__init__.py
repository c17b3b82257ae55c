"""The round: what the leader does and what every member recomputes.

A round is a pipeline of named phases (DESIGN "One round"); each phase's deterministic rules
live in their own module, and the leader and the member's record check call the same ones:

=================  ==========================================================================
module             owns
=================  ==========================================================================
``settings``       :class:`RoundSettings`, the parameters a leader records in each Query
``rules``          the rules versions records carry (:data:`CURRENT_RULES`, the ratchet) and
                   the absence streaks that keep one leader's word from costing reputation
``selection``      :func:`select_participants` (who generates and ranks), :func:`seeded_generator`
``clustering``     :func:`cluster_candidates` (answers with one final form merge),
                   :func:`own_cluster`
``schedule``       :func:`assign_pairs` (each ranker's pairs, never its own cluster);
                   adaptive waves: :func:`plan_wave`, :func:`replay_waves` (issue 17)
``waves``          schedule ``"adaptive"``: the waves' plan, the stop test's recorded looks
                   (checked within the numerics tolerance), a member's :func:`check_waves`
``aggregate``      :func:`round_outcome` (ballots -> weighted win matrix -> robust BT), the
                   record's parameter bounds, absences
``consensus``      the winner rule a record names (calibrated: vote shares weighed by gold
                   records plus the learned judge weight), :func:`apply_consensus` (leader),
                   :func:`consensus_discrepancy` (member), what a gold round teaches
``tolerance``      what a record commits to whatever the float build (the numerics rules)
``leader``         the leader's phases over one :class:`RoundContext` (select, generate,
                   cluster, rank, aggregate, record), each calling the functions above
``check``          :func:`check_record`: a member's check of a received record, the same phases
                   recomputed; trust events and forged-record proofs
``numerics``       the float fingerprint of these computations on this install
=================  ==========================================================================

Everything here is pure: no clock, no I/O, randomness only from generators seeded by protocol
data, because every node recomputes a leader's record. The exceptions are in ``leader``: its
``generate`` and ``rank`` phases call peers through the fan-out they are given, and its
messages carry the signer's clock.
"""
