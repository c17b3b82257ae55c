"""Running nodes: the daemon's life cycle and the processes around it.

=============  ==============================================================================
module         owns
=============  ==============================================================================
``run``        :func:`run_node`: start-up order, signals, draining; the backend factory
``local``      :class:`LocalSwarm`: Ray head + N node daemons + gateway on one machine (``up``)
``doctor``     the operator's self-checks (pure ``assess_*`` judgements, I/O at the edge)
``lifecycle``  signal handling shared by long-running commands
=============  ==============================================================================
"""
