"""The explorer's views of records and members (:mod:`node.gateway.views`), pure: a signed
sample record becomes the round the page shows, a broken signature or a mislabelled signer is
reported per envelope, non-finite numbers never reach the JSON, the win matrix follows the
documented weighting, and member addresses appear only when asked for."""

from __future__ import annotations

import json
import math

from node.gateway.testing import SWARM_ID, sample_record, sample_status
from node.gateway.views import members_view, round_view, win_matrix
from protocol.hashing import payload_hash
from protocol.signing import Envelope
from protocol.testing import test_identity
from protocol.v1 import envelope_pb2, messages_pb2


def test_a_record_becomes_a_round() -> None:
    envelope = sample_record(["42", "41", "42"], question="What is 6 x 7?", height=3, rankers=2)
    view = round_view(envelope, SWARM_ID)
    assert view["record_id"] == payload_hash(envelope).hex()
    assert (view["height"], view["question"], view["answer"]) == (3, "What is 6 x 7?", "42")
    assert view["kind"] == "live" and view["gold"] is None
    assert view["latency_ms"] == 900
    # Two clusters, in a seeded order: the two "42" candidates merged, and they won.
    clusters = {c["answer"]: c for c in view["clusters"]}
    assert sorted(clusters) == ["41", "42"]
    win, lose = clusters["42"], clusters["41"]
    assert sorted(g["node_id"] for g in win["generators"]) == sorted(
        [test_identity(1).node_id, test_identity(3).node_id]
    )
    assert [g["node_id"] for g in lose["generators"]] == [test_identity(2).node_id]
    assert win["winner"] and win["tied_for_first"] and not lose["winner"]
    assert lose["interval"] == [-1.5, -0.5]
    # Each of 2 rankers said "42 beats 41" with confidence 0.9.
    w, lo = win["index"], lose["index"]
    assert view["matrix"][w][lo] == 1.8 and view["matrix"][lo][w] == 0.2
    assert [j["verdicts"][0]["outcome"] for j in view["judges"]] == ["A", "A"]
    kinds = [s["what"] for s in view["signatures"]]
    assert kinds[:2] == ["record", "query"] and len(kinds) == 2 + 3 + 1 + 2
    assert view["signatures_valid"]
    # a record made before the calibrated consensus names the robust BT rule
    assert view["consensus"] == {"rule": "robust-bt", "judge_weight": 0.0, "judges_alone": False}
    json.dumps(view, allow_nan=False)


def test_the_view_says_how_far_the_round_trusted_its_judges() -> None:
    from node.gateway.views import _consensus_view

    query = messages_pb2.Query(parameters=messages_pb2.RoundParameters(consensus=1))
    for weight, expected in ((0.0, 0.0), (2.5, 2.5), (math.inf, None)):
        view = _consensus_view(query, messages_pb2.AggregationOutcome(judge_weight=weight))
        assert view["rule"] == "calibrated" and view["judge_weight"] == expected
        assert view["judges_alone"] == math.isinf(weight)
        json.dumps(view, allow_nan=False)
    reading = messages_pb2.Query(parameters=messages_pb2.RoundParameters(consensus=2))
    view = _consensus_view(reading, messages_pb2.AggregationOutcome(posterior=[0.25, 0.75]))
    assert view["rule"] == "evidence" and view["posterior"] == [0.25, 0.75]
    assert not view["judges_alone"]


def test_gold_rounds_are_labelled() -> None:
    view = round_view(sample_record(["B", "C"], gold=("mc-7", "B")), SWARM_ID)
    assert view["kind"] == "gold" and view["gold"] == {"task_id": "mc-7", "answer": "B"}


def test_bad_signatures_are_reported_per_envelope() -> None:
    envelope = sample_record(["42", "41"])
    record = messages_pb2.ConsensusRecord.FromString(envelope.payload)
    record.candidates[1].signature = bytes(64)
    forged = Envelope()
    forged.CopyFrom(envelope)
    forged.payload = record.SerializeToString()  # the leader's signature no longer matches
    view = round_view(forged, SWARM_ID)
    bad = {s["what"]: s["reason"] for s in view["signatures"] if not s["valid"]}
    assert set(bad) == {"record", "candidate 1"} and not view["signatures_valid"]
    assert "signature" in bad["record"]
    # Another swarm's id makes every signature fail (signatures bind the swarm).
    assert not any(s["valid"] for s in round_view(envelope, "other-swarm")["signatures"])


def test_a_signer_must_be_the_node_the_payload_names() -> None:
    from protocol.signing import seal

    envelope = sample_record(["42", "41"])
    record = messages_pb2.ConsensusRecord.FromString(envelope.payload)
    record.leader_id = test_identity(9).node_id  # signed by identity 0, naming identity 9
    relabelled = seal(test_identity(0), envelope_pb2.KIND_CONSENSUS_RECORD, record, SWARM_ID)
    status = round_view(relabelled, SWARM_ID)["signatures"][0]
    assert not status["valid"] and "names" in status["reason"]


def test_garbage_is_a_view_with_an_error() -> None:
    junk = Envelope(
        kind=envelope_pb2.KIND_CONSENSUS_RECORD, payload=b"\xff\x00junk", signer=b"", signature=b""
    )
    view = round_view(junk, SWARM_ID)
    assert view["error"] and view["record_id"] == payload_hash(junk).hex()


def test_non_finite_numbers_become_null() -> None:
    envelope = sample_record(["42", "41"])
    record = messages_pb2.ConsensusRecord.FromString(envelope.payload)
    record.outcome.strengths[1] = math.inf
    record.outcome.upper[0] = math.nan
    record.outcome.ranker_weights[0] = math.nan
    view = round_view(Envelope(kind=envelope.kind, payload=record.SerializeToString()), SWARM_ID)
    assert view["clusters"][1]["strength"] is None
    assert view["clusters"][0]["interval"][1] is None
    assert view["judges"][0]["weight"] is None
    json.dumps(view, allow_nan=False)


def test_win_matrix_weights_ties_confidence_and_abstentions() -> None:
    def verdict(
        a: int, b: int, outcome: int, confidence: float | None = None
    ) -> messages_pb2.Verdict:
        v = messages_pb2.Verdict(a=a, b=b, outcome=outcome)  # type: ignore[arg-type]
        if confidence is not None:
            v.confidence = confidence
        return v

    ballots = [
        messages_pb2.Ballot(
            verdicts=[
                verdict(0, 1, messages_pb2.OUTCOME_A),  # 0 beats 1: 2.0 x 1
                verdict(1, 2, messages_pb2.OUTCOME_TIE),  # half each way: 2.0 x 0.5
                verdict(2, 0, messages_pb2.OUTCOME_B, 0.75),  # 0 over 2 at 0.75
                verdict(0, 2, messages_pb2.OUTCOME_ABSTAIN),  # nothing
                verdict(0, 9, messages_pb2.OUTCOME_A),  # out of range: nothing
            ]
        )
    ]
    assert win_matrix(3, ballots, [2.0]) == [[0.0, 2.0, 1.5], [0.0, 0.0, 1.0], [0.5, 1.0, 0.0]]


def test_member_addresses_only_when_asked() -> None:
    status = sample_status([sample_record(["42"])])
    hidden = members_view(status, addresses=False)
    shown = members_view(status, addresses=True)
    assert len(hidden) == 4 and all("address" not in m for m in hidden)
    assert {m["address"] for m in shown} == {f"10.0.0.{i}:7700" for i in range(4)}
    assert [m["node_id"] for m in hidden] == sorted(m["node_id"] for m in hidden)
