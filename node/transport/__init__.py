"""gRPC transport: everything that touches the network between nodes.

=============  ==============================================================================
module         owns
=============  ==============================================================================
``server``     :class:`NodeServer` / :class:`NodeServicer` and the one error -> status mapping
``client``     :class:`PeerClient` and the one status -> error mapping
``tls``        certificates bound to node identities and the gRPC credentials
``ratelimit``  per-identity token buckets
=============  ==============================================================================
"""
