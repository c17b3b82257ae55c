"""A node in the swarm: serving peers, leading rounds, keeping the ledger.

=============  ==============================================================================
module         owns
=============  ==============================================================================
``peer``       :class:`Node`: what a node does with each ``NodeService`` request (generate,
               rank, records, evidence), free of gRPC
``node``       :class:`SwarmNode`: the composition of a node's parts (records, evidence,
               exams, catch-up, gold rounds, leading rounds, status)
``service``    :class:`SwarmServicer`: the client-facing ``SwarmService`` (ask, get record,
               status) and the reply built from a record
=============  ==============================================================================
"""
