"""The ``swarmrank`` command line: one module per command group.

``main`` builds the parser from each module's ``register(subparsers)`` (and ``sim.cli`` /
``bench.cli`` for ``sim`` and ``bench``); ``keys``, ``certs``, ``node`` (``node run``), ``swarm``
(``ask``, ``status``, ``ledger verify``), ``up`` (``up``, ``demo``), ``gateway``, ``doctor``;
``state`` finds the swarm ``up`` started.
"""
