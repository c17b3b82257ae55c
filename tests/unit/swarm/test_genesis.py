"""Genesis events: first record only, sorted unique founders, the parameters' stake and digest."""

from __future__ import annotations

import pytest

from node.ledger.trust import EventRejected, check_genesis
from protocol.v1 import messages_pb2
from ranking.trust import TrustParams

PARAMS = TrustParams()


def genesis(**fields: object) -> messages_pb2.GenesisEvent:
    values: dict[str, object] = {
        "node_ids": ["a", "b"],
        "stake": PARAMS.min_stake,
        "params_digest": PARAMS.digest(),
    }
    values.update(fields)
    return messages_pb2.GenesisEvent(**values)  # type: ignore[arg-type]


def test_valid_genesis() -> None:
    check_genesis(genesis(), 0, PARAMS)


@pytest.mark.parametrize(
    ("event", "height", "match"),
    [
        (genesis(), 1, "outside the first record"),
        (genesis(node_ids=["b", "a"]), 0, "sorted and unique"),
        (genesis(node_ids=[]), 0, "non-empty"),
        (genesis(stake=2.0), 0, "genesis stake"),
        (genesis(params_digest=b""), 0, "digest none vs"),
        (genesis(params_digest=TrustParams(judging_pass=16).digest()), 0, "differ"),
    ],
)
def test_invalid_genesis(event: messages_pb2.GenesisEvent, height: int, match: str) -> None:
    with pytest.raises(EventRejected, match=match):
        check_genesis(event, height, PARAMS)
