"""Envelope sign/verify throughput against raw ``cryptography`` Ed25519 in the same run.

``python -m bench.bench_envelope [--json]``. The raw baseline signs and verifies the very bytes
an envelope signs (domain tag, swarm id, payload), so the ratio is the protocol's overhead:
protobuf parsing, size and context checks, public-key decoding (cached), the timestamp window.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from bench.common import best_rate, emit, machine
from protocol.signing import Verifier, seal, signing_bytes
from protocol.testing import FakeClock, test_identity
from protocol.v1 import envelope_pb2, messages_pb2

SWARM = "bench-swarm"


def run(json_output: bool = False, iterations: int = 2000) -> dict[str, Any]:
    identity = test_identity(0)
    clock = FakeClock()
    ballot = messages_pb2.Ballot(
        context=messages_pb2.MessageContext(
            swarm_id=SWARM, query_id=b"q" * 16, timestamp_ms=clock.time_ms()
        ),
        ranker_id=identity.node_id,
        candidate_set_digest=b"d" * 32,
        verdicts=[
            messages_pb2.Verdict(a=i, b=i + 1, outcome=messages_pb2.OUTCOME_A, rationale="short")
            for i in range(6)
        ],
    )
    envelope = seal(identity, envelope_pb2.KIND_BALLOT, ballot, SWARM)
    data = envelope.SerializeToString()
    message = signing_bytes(envelope.kind, SWARM, envelope.payload)
    public_key = identity.private_key.public_key()
    signature = envelope.signature
    verifier = Verifier(SWARM, clock=clock)

    raw_sign = best_rate(lambda: identity.private_key.sign(message), iterations)
    raw_verify = best_rate(lambda: public_key.verify(signature, message), iterations)
    env_sign = best_rate(
        lambda: seal(identity, envelope_pb2.KIND_BALLOT, ballot, SWARM), iterations
    )
    env_verify = best_rate(lambda: verifier.verify(data, envelope_pb2.KIND_BALLOT), iterations)
    result = {
        "benchmark": "envelope",
        "payload_bytes": len(envelope.payload),
        "raw_sign_per_s": round(raw_sign),
        "raw_verify_per_s": round(raw_verify),
        "envelope_sign_per_s": round(env_sign),
        "envelope_verify_per_s": round(env_verify),
        "sign_ratio": round(env_sign / raw_sign, 3),
        "verify_ratio": round(env_verify / raw_verify, 3),
        "verify_target": 0.8,
        "machine": machine(),
    }
    lines = [
        f"envelope ({len(envelope.payload)}-byte Ballot payload, best of 5 x {iterations})",
        f"  sign:   envelope {env_sign:9.0f}/s   raw Ed25519 {raw_sign:9.0f}/s   "
        f"ratio {env_sign / raw_sign:.2f}",
        f"  verify: envelope {env_verify:9.0f}/s   raw Ed25519 {raw_verify:9.0f}/s   "
        f"ratio {env_verify / raw_verify:.2f} (target >= 0.80)",
    ]
    emit(result, json_output, lines)
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--iterations", type=int, default=2000)
    args = parser.parse_args(argv)
    run(args.json, args.iterations)


if __name__ == "__main__":
    main()
