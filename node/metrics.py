"""Prometheus metrics of one node: :class:`NodeMetrics`.

Owns the node's own ``CollectorRegistry`` (never the global default, so several nodes in one
process — tests, ``swarmrank up`` — keep separate counts) and the HTTP endpoint serving it.
Metric names carry their unit (``_seconds``) and the ``swarmrank_node_`` prefix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

_LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


@dataclass
class NodeMetrics:
    """The counters and histograms a node updates; see the module docstring."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self._serving_metrics(self.registry)
        self._backend_metrics(self.registry)
        self._round_metrics(self.registry)
        self._ledger_metrics(self.registry)
        self._server: Any = None

    def _serving_metrics(self, r: CollectorRegistry) -> None:
        self.requests = Counter(
            "swarmrank_node_requests",
            "gRPC requests served, by method and final status code",
            ["method", "status"],
            registry=r,
        )
        self.request_latency = Histogram(
            "swarmrank_node_request_latency_seconds",
            "Wall time to serve one gRPC request, by method",
            ["method"],
            buckets=_LATENCY_BUCKETS_S,
            registry=r,
        )
        self.rejected = Counter(
            "swarmrank_node_rejected_envelopes",
            "Requests refused, by machine-readable reason (ProtocolError.reason and node reasons)",
            ["reason"],
            registry=r,
        )
        self.replies_replayed = Counter(
            "swarmrank_node_replies_replayed",
            "Retransmitted requests answered from the reply cache, by method",
            ["method"],
            registry=r,
        )

    def _backend_metrics(self, r: CollectorRegistry) -> None:
        self.backend_calls = Counter(
            "swarmrank_node_backend_calls",
            "Model backend calls, by operation and outcome (ok, error, timeout, abstain)",
            ["op", "outcome"],
            registry=r,
        )
        self.backend_errors = Counter(
            "swarmrank_node_backend_errors",
            "Model backend failures (errors and timeouts), by operation",
            ["op"],
            registry=r,
        )
        self.backend_latency = Histogram(
            "swarmrank_node_backend_latency_seconds",
            "Wall time of one model backend call, by operation",
            ["op"],
            buckets=_LATENCY_BUCKETS_S,
            registry=r,
        )

    def _round_metrics(self, r: CollectorRegistry) -> None:
        self.round_phase = Histogram(
            "swarmrank_node_round_phase_seconds",
            "Wall time of each phase of a round this node led: generate (fan-out until the "
            "generators' quorum), rank (fan-out until the rankers' quorum), aggregate, record "
            "(sign and append the record)",
            ["phase"],
            buckets=_LATENCY_BUCKETS_S,
            registry=r,
        )
        self.record_check = Histogram(
            "swarmrank_node_record_check_seconds",
            "Wall time to accept another leader's record: verify every signature, recompute "
            "the round and append it",
            buckets=_LATENCY_BUCKETS_S,
            registry=r,
        )

    def _ledger_metrics(self, r: CollectorRegistry) -> None:
        self.ledger_height = Gauge(
            "swarmrank_node_ledger_height", "Records in the node's ledger", registry=r
        )
        self.adversary_alarm = Gauge(
            "swarmrank_node_adversary_alarm",
            "1 when the ledger suggests the adversarial share may be past the safe bound "
            "(ranking.trust.adversary_alarm: consensus missing gold answers, or reputation "
            "concentrated in a few identities), else 0",
            registry=r,
        )
        self.gold_agreement = Gauge(
            "swarmrank_node_gold_agreement_ratio",
            "Share of recent gold rounds whose consensus was the gold answer (NaN: none yet)",
            registry=r,
        )
        self.jailed_identities = Gauge(
            "swarmrank_node_jailed_identities", "Identities the ledger has jailed", registry=r
        )

    def serve(self, address: str) -> str:
        """Serve ``/metrics`` on ``address`` ("host:port", port 0 = free port); return its URL."""
        host, _, port = address.rpartition(":")
        server, _thread = start_http_server(int(port), addr=host, registry=self.registry)
        self._server = server
        bound = server.server_address[1]
        return f"http://{host}:{bound}/metrics"

    def stop(self) -> None:
        """Stop the HTTP endpoint, if serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
