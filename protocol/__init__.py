"""swarmrank wire protocol v1: schemas, signed envelopes, identities, hashing, replay checks.

Pure: no sockets, no Ray, no gRPC servers (the generated ``protocol.v1.services_pb2_grpc``
imports ``grpc`` and is loaded only by the node). Where things live:

* ``protocol.v1`` — generated protobuf code (``python -m protocol.generate``), committed.
* :mod:`protocol.errors` — the error tree.
* :mod:`protocol.identity` — Ed25519 identities, node ids, key files.
* :mod:`protocol.signing` — domain tags, sealing, :class:`~protocol.signing.Verifier`.
* :mod:`protocol.replay` — :class:`~protocol.replay.ReplayGuard`, equivocation evidence.
* :mod:`protocol.hashing` — record ids, content hashes, candidate set digests.
* :mod:`protocol.testing` — ``FakeClock`` and deterministic test identities.
"""
