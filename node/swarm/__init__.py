"""A node in the swarm: serving peers, leading rounds, keeping the ledger.

:class:`~node.swarm.node.SwarmNode` is a thin composition: each concern is a part in its own
module, and the leader's round itself is :mod:`node.round.leader`'s phases.

=============  ==============================================================================
module         owns
=============  ==============================================================================
``peer``       :class:`Node`: what a node does with each ``NodeService`` request (generate,
               rank, records, evidence), free of gRPC
``node``       :class:`SwarmNode`: the composition of the parts below, the handlers of the
               swarm's requests, and :meth:`SwarmNode.ask` (the round's phases in order under
               the height lease); :class:`RoundResult`
``records``    :class:`RecordBook`: the ledger lock and state, checking, appending and
               accepting records, the adversary alarm
``evidence``   :class:`EvidenceDesk`: pending slash evidence (queue once, broadcast, record by
               the designated node) and records of trust events only
``exams``      :class:`Examiner`: calibration exams (:func:`write_exam`, :func:`sit_exam`)
``catchup``    :func:`catch_up`: fetching missed records from peers, each checked as submitted
``queries``    :class:`IssuedQueries`: one Query per query id for the rounds this node
               leads (a retried Ask gets the recorded round back)
``lease``      :func:`fresh_members`, :func:`reserve_next_height`: before leading, the view
               and the swarm-wide lease on the next ledger height
``links``      :class:`PeerLinks`: peer clients, deadline-bound fan-outs, background sends
``status``     :func:`status_response` (``Status``), :func:`response_from_record` (``Ask``)
``service``    :class:`SwarmServicer`: the client-facing ``SwarmService`` (ask, get record,
               status), one-line delegations to :class:`SwarmNode`
=============  ==============================================================================

Dependencies point one way: ``node`` imports the parts; a part never imports ``node``
(hooks and callables passed at construction carry what it needs from its neighbours).
"""
