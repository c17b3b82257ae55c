from protocol.v1 import envelope_pb2 as _envelope_pb2
from protocol.v1 import messages_pb2 as _messages_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RecordAck(_message.Message):
    __slots__ = ("accepted", "reason", "height")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    accepted: bool
    reason: str
    height: int
    def __init__(self, accepted: _Optional[bool] = ..., reason: _Optional[str] = ..., height: _Optional[int] = ...) -> None: ...

class GetRecordsRequest(_message.Message):
    __slots__ = ("from_height", "limit")
    FROM_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    from_height: int
    limit: int
    def __init__(self, from_height: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class AskRequest(_message.Message):
    __slots__ = ("question", "timeout_ms", "query_id")
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    question: str
    timeout_ms: int
    query_id: bytes
    def __init__(self, question: _Optional[str] = ..., timeout_ms: _Optional[int] = ..., query_id: _Optional[bytes] = ...) -> None: ...

class ScoredCandidate(_message.Message):
    __slots__ = ("index", "answer", "strength", "lower", "upper", "generator_ids", "share", "posterior")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    LOWER_FIELD_NUMBER: _ClassVar[int]
    UPPER_FIELD_NUMBER: _ClassVar[int]
    GENERATOR_IDS_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    POSTERIOR_FIELD_NUMBER: _ClassVar[int]
    index: int
    answer: str
    strength: float
    lower: float
    upper: float
    generator_ids: _containers.RepeatedScalarFieldContainer[str]
    share: float
    posterior: float
    def __init__(self, index: _Optional[int] = ..., answer: _Optional[str] = ..., strength: _Optional[float] = ..., lower: _Optional[float] = ..., upper: _Optional[float] = ..., generator_ids: _Optional[_Iterable[str]] = ..., share: _Optional[float] = ..., posterior: _Optional[float] = ...) -> None: ...

class AskResponse(_message.Message):
    __slots__ = ("answer", "record_id", "height", "candidates", "tied_for_first", "participants", "absent", "leader_id", "latency_ms", "consensus", "judge_weight", "winner")
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    TIED_FOR_FIRST_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    ABSENT_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    CONSENSUS_FIELD_NUMBER: _ClassVar[int]
    JUDGE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    WINNER_FIELD_NUMBER: _ClassVar[int]
    answer: str
    record_id: bytes
    height: int
    candidates: _containers.RepeatedCompositeFieldContainer[ScoredCandidate]
    tied_for_first: _containers.RepeatedScalarFieldContainer[int]
    participants: _containers.RepeatedScalarFieldContainer[str]
    absent: _containers.RepeatedScalarFieldContainer[str]
    leader_id: str
    latency_ms: float
    consensus: int
    judge_weight: float
    winner: int
    def __init__(self, answer: _Optional[str] = ..., record_id: _Optional[bytes] = ..., height: _Optional[int] = ..., candidates: _Optional[_Iterable[_Union[ScoredCandidate, _Mapping]]] = ..., tied_for_first: _Optional[_Iterable[int]] = ..., participants: _Optional[_Iterable[str]] = ..., absent: _Optional[_Iterable[str]] = ..., leader_id: _Optional[str] = ..., latency_ms: _Optional[float] = ..., consensus: _Optional[int] = ..., judge_weight: _Optional[float] = ..., winner: _Optional[int] = ...) -> None: ...

class GetRecordRequest(_message.Message):
    __slots__ = ("record_id",)
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    record_id: bytes
    def __init__(self, record_id: _Optional[bytes] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MemberStatus(_message.Message):
    __slots__ = ("node_id", "address", "model", "reputation", "alive", "last_seen_s", "numerics", "trust_status", "stake")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    REPUTATION_FIELD_NUMBER: _ClassVar[int]
    ALIVE_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_S_FIELD_NUMBER: _ClassVar[int]
    NUMERICS_FIELD_NUMBER: _ClassVar[int]
    TRUST_STATUS_FIELD_NUMBER: _ClassVar[int]
    STAKE_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    address: str
    model: str
    reputation: float
    alive: bool
    last_seen_s: float
    numerics: str
    trust_status: str
    stake: float
    def __init__(self, node_id: _Optional[str] = ..., address: _Optional[str] = ..., model: _Optional[str] = ..., reputation: _Optional[float] = ..., alive: _Optional[bool] = ..., last_seen_s: _Optional[float] = ..., numerics: _Optional[str] = ..., trust_status: _Optional[str] = ..., stake: _Optional[float] = ...) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ("swarm_id", "node_id", "ledger_height", "ledger_head", "members")
    SWARM_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    LEDGER_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    LEDGER_HEAD_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    swarm_id: str
    node_id: str
    ledger_height: int
    ledger_head: bytes
    members: _containers.RepeatedCompositeFieldContainer[MemberStatus]
    def __init__(self, swarm_id: _Optional[str] = ..., node_id: _Optional[str] = ..., ledger_height: _Optional[int] = ..., ledger_head: _Optional[bytes] = ..., members: _Optional[_Iterable[_Union[MemberStatus, _Mapping]]] = ...) -> None: ...
