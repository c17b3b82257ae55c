from protocol.v1 import envelope_pb2 as _envelope_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTCOME_UNSPECIFIED: _ClassVar[Outcome]
    OUTCOME_A: _ClassVar[Outcome]
    OUTCOME_B: _ClassVar[Outcome]
    OUTCOME_TIE: _ClassVar[Outcome]
    OUTCOME_ABSTAIN: _ClassVar[Outcome]
OUTCOME_UNSPECIFIED: Outcome
OUTCOME_A: Outcome
OUTCOME_B: Outcome
OUTCOME_TIE: Outcome
OUTCOME_ABSTAIN: Outcome

class MessageContext(_message.Message):
    __slots__ = ("swarm_id", "query_id", "timestamp_ms")
    SWARM_ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    swarm_id: str
    query_id: bytes
    timestamp_ms: int
    def __init__(self, swarm_id: _Optional[str] = ..., query_id: _Optional[bytes] = ..., timestamp_ms: _Optional[int] = ...) -> None: ...

class NodeInfo(_message.Message):
    __slots__ = ("context", "node_id", "public_key", "address", "model", "capabilities", "version", "challenge")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    context: MessageContext
    node_id: str
    public_key: bytes
    address: str
    model: str
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    version: str
    challenge: bytes
    def __init__(self, context: _Optional[_Union[MessageContext, _Mapping]] = ..., node_id: _Optional[str] = ..., public_key: _Optional[bytes] = ..., address: _Optional[str] = ..., model: _Optional[str] = ..., capabilities: _Optional[_Iterable[str]] = ..., version: _Optional[str] = ..., challenge: _Optional[bytes] = ...) -> None: ...

class InfoRequest(_message.Message):
    __slots__ = ("challenge",)
    CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    challenge: bytes
    def __init__(self, challenge: _Optional[bytes] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("context", "node_id", "ledger_height", "ledger_head")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    LEDGER_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    LEDGER_HEAD_FIELD_NUMBER: _ClassVar[int]
    context: MessageContext
    node_id: str
    ledger_height: int
    ledger_head: bytes
    def __init__(self, context: _Optional[_Union[MessageContext, _Mapping]] = ..., node_id: _Optional[str] = ..., ledger_height: _Optional[int] = ..., ledger_head: _Optional[bytes] = ...) -> None: ...

class RoundParameters(_message.Message):
    __slots__ = ("max_generators", "max_rankers", "schedule", "schedule_k", "alpha", "max_ranker_share", "em_iterations", "confidence_level", "quorum_generators", "quorum_rankers", "generate_deadline_ms", "rank_deadline_ms", "cluster_answers", "em_ilsr_steps", "numerics", "consensus", "judge_budget", "wave_size", "min_rankers", "max_waves")
    MAX_GENERATORS_FIELD_NUMBER: _ClassVar[int]
    MAX_RANKERS_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_K_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    MAX_RANKER_SHARE_FIELD_NUMBER: _ClassVar[int]
    EM_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    QUORUM_GENERATORS_FIELD_NUMBER: _ClassVar[int]
    QUORUM_RANKERS_FIELD_NUMBER: _ClassVar[int]
    GENERATE_DEADLINE_MS_FIELD_NUMBER: _ClassVar[int]
    RANK_DEADLINE_MS_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ANSWERS_FIELD_NUMBER: _ClassVar[int]
    EM_ILSR_STEPS_FIELD_NUMBER: _ClassVar[int]
    NUMERICS_FIELD_NUMBER: _ClassVar[int]
    CONSENSUS_FIELD_NUMBER: _ClassVar[int]
    JUDGE_BUDGET_FIELD_NUMBER: _ClassVar[int]
    WAVE_SIZE_FIELD_NUMBER: _ClassVar[int]
    MIN_RANKERS_FIELD_NUMBER: _ClassVar[int]
    MAX_WAVES_FIELD_NUMBER: _ClassVar[int]
    max_generators: int
    max_rankers: int
    schedule: str
    schedule_k: int
    alpha: float
    max_ranker_share: float
    em_iterations: int
    confidence_level: float
    quorum_generators: int
    quorum_rankers: int
    generate_deadline_ms: int
    rank_deadline_ms: int
    cluster_answers: bool
    em_ilsr_steps: int
    numerics: int
    consensus: int
    judge_budget: int
    wave_size: int
    min_rankers: int
    max_waves: int
    def __init__(self, max_generators: _Optional[int] = ..., max_rankers: _Optional[int] = ..., schedule: _Optional[str] = ..., schedule_k: _Optional[int] = ..., alpha: _Optional[float] = ..., max_ranker_share: _Optional[float] = ..., em_iterations: _Optional[int] = ..., confidence_level: _Optional[float] = ..., quorum_generators: _Optional[int] = ..., quorum_rankers: _Optional[int] = ..., generate_deadline_ms: _Optional[int] = ..., rank_deadline_ms: _Optional[int] = ..., cluster_answers: _Optional[bool] = ..., em_ilsr_steps: _Optional[int] = ..., numerics: _Optional[int] = ..., consensus: _Optional[int] = ..., judge_budget: _Optional[int] = ..., wave_size: _Optional[int] = ..., min_rankers: _Optional[int] = ..., max_waves: _Optional[int] = ...) -> None: ...

class Query(_message.Message):
    __slots__ = ("context", "question", "leader_id", "previous_record_hash", "height", "generator_ids", "ranker_ids", "parameters")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_RECORD_HASH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    GENERATOR_IDS_FIELD_NUMBER: _ClassVar[int]
    RANKER_IDS_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    context: MessageContext
    question: str
    leader_id: str
    previous_record_hash: bytes
    height: int
    generator_ids: _containers.RepeatedScalarFieldContainer[str]
    ranker_ids: _containers.RepeatedScalarFieldContainer[str]
    parameters: RoundParameters
    def __init__(self, context: _Optional[_Union[MessageContext, _Mapping]] = ..., question: _Optional[str] = ..., leader_id: _Optional[str] = ..., previous_record_hash: _Optional[bytes] = ..., height: _Optional[int] = ..., generator_ids: _Optional[_Iterable[str]] = ..., ranker_ids: _Optional[_Iterable[str]] = ..., parameters: _Optional[_Union[RoundParameters, _Mapping]] = ...) -> None: ...

class Candidate(_message.Message):
    __slots__ = ("context", "generator_id", "query_hash", "answer", "reasoning", "model")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    GENERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_HASH_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    REASONING_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    context: MessageContext
    generator_id: str
    query_hash: bytes
    answer: str
    reasoning: str
    model: str
    def __init__(self, context: _Optional[_Union[MessageContext, _Mapping]] = ..., generator_id: _Optional[str] = ..., query_hash: _Optional[bytes] = ..., answer: _Optional[str] = ..., reasoning: _Optional[str] = ..., model: _Optional[str] = ...) -> None: ...

class AnonymousCandidate(_message.Message):
    __slots__ = ("content_hash", "answer", "reasoning")
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    REASONING_FIELD_NUMBER: _ClassVar[int]
    content_hash: bytes
    answer: str
    reasoning: str
    def __init__(self, content_hash: _Optional[bytes] = ..., answer: _Optional[str] = ..., reasoning: _Optional[str] = ...) -> None: ...

class Pair(_message.Message):
    __slots__ = ("a", "b")
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    a: int
    b: int
    def __init__(self, a: _Optional[int] = ..., b: _Optional[int] = ...) -> None: ...

class Assignment(_message.Message):
    __slots__ = ("ranker_id", "pairs")
    RANKER_ID_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    ranker_id: str
    pairs: _containers.RepeatedCompositeFieldContainer[Pair]
    def __init__(self, ranker_id: _Optional[str] = ..., pairs: _Optional[_Iterable[_Union[Pair, _Mapping]]] = ...) -> None: ...

class RankRequest(_message.Message):
    __slots__ = ("context", "query", "candidates", "candidate_set_digest", "assignments", "wave")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_SET_DIGEST_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    WAVE_FIELD_NUMBER: _ClassVar[int]
    context: MessageContext
    query: _envelope_pb2.Envelope
    candidates: _containers.RepeatedCompositeFieldContainer[AnonymousCandidate]
    candidate_set_digest: bytes
    assignments: _containers.RepeatedCompositeFieldContainer[Assignment]
    wave: int
    def __init__(self, context: _Optional[_Union[MessageContext, _Mapping]] = ..., query: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ..., candidates: _Optional[_Iterable[_Union[AnonymousCandidate, _Mapping]]] = ..., candidate_set_digest: _Optional[bytes] = ..., assignments: _Optional[_Iterable[_Union[Assignment, _Mapping]]] = ..., wave: _Optional[int] = ...) -> None: ...

class Verdict(_message.Message):
    __slots__ = ("a", "b", "outcome", "confidence", "rationale")
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    RATIONALE_FIELD_NUMBER: _ClassVar[int]
    a: int
    b: int
    outcome: Outcome
    confidence: float
    rationale: str
    def __init__(self, a: _Optional[int] = ..., b: _Optional[int] = ..., outcome: _Optional[_Union[Outcome, str]] = ..., confidence: _Optional[float] = ..., rationale: _Optional[str] = ...) -> None: ...

class Ballot(_message.Message):
    __slots__ = ("context", "ranker_id", "candidate_set_digest", "verdicts", "wave")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    RANKER_ID_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_SET_DIGEST_FIELD_NUMBER: _ClassVar[int]
    VERDICTS_FIELD_NUMBER: _ClassVar[int]
    WAVE_FIELD_NUMBER: _ClassVar[int]
    context: MessageContext
    ranker_id: str
    candidate_set_digest: bytes
    verdicts: _containers.RepeatedCompositeFieldContainer[Verdict]
    wave: int
    def __init__(self, context: _Optional[_Union[MessageContext, _Mapping]] = ..., ranker_id: _Optional[str] = ..., candidate_set_digest: _Optional[bytes] = ..., verdicts: _Optional[_Iterable[_Union[Verdict, _Mapping]]] = ..., wave: _Optional[int] = ...) -> None: ...

class AggregationOutcome(_message.Message):
    __slots__ = ("strengths", "lower", "upper", "winner", "tied_for_first", "unjudged", "ranker_weights", "tie_gap", "judge_weight", "posterior")
    STRENGTHS_FIELD_NUMBER: _ClassVar[int]
    LOWER_FIELD_NUMBER: _ClassVar[int]
    UPPER_FIELD_NUMBER: _ClassVar[int]
    WINNER_FIELD_NUMBER: _ClassVar[int]
    TIED_FOR_FIRST_FIELD_NUMBER: _ClassVar[int]
    UNJUDGED_FIELD_NUMBER: _ClassVar[int]
    RANKER_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    TIE_GAP_FIELD_NUMBER: _ClassVar[int]
    JUDGE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    POSTERIOR_FIELD_NUMBER: _ClassVar[int]
    strengths: _containers.RepeatedScalarFieldContainer[float]
    lower: _containers.RepeatedScalarFieldContainer[float]
    upper: _containers.RepeatedScalarFieldContainer[float]
    winner: int
    tied_for_first: _containers.RepeatedScalarFieldContainer[int]
    unjudged: _containers.RepeatedScalarFieldContainer[int]
    ranker_weights: _containers.RepeatedScalarFieldContainer[float]
    tie_gap: _containers.RepeatedScalarFieldContainer[float]
    judge_weight: float
    posterior: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, strengths: _Optional[_Iterable[float]] = ..., lower: _Optional[_Iterable[float]] = ..., upper: _Optional[_Iterable[float]] = ..., winner: _Optional[int] = ..., tied_for_first: _Optional[_Iterable[int]] = ..., unjudged: _Optional[_Iterable[int]] = ..., ranker_weights: _Optional[_Iterable[float]] = ..., tie_gap: _Optional[_Iterable[float]] = ..., judge_weight: _Optional[float] = ..., posterior: _Optional[_Iterable[float]] = ...) -> None: ...

class ConsensusRecord(_message.Message):
    __slots__ = ("context", "leader_id", "height", "previous_record_hash", "query", "candidates", "rank_request", "ballots", "outcome", "answer", "absent_ids", "reputation_ids", "reputations", "admitted_at", "events", "gold", "trust", "rules", "wave_requests", "stop_reason", "looks", "evidence_fit")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_RECORD_HASH_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    RANK_REQUEST_FIELD_NUMBER: _ClassVar[int]
    BALLOTS_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    ABSENT_IDS_FIELD_NUMBER: _ClassVar[int]
    REPUTATION_IDS_FIELD_NUMBER: _ClassVar[int]
    REPUTATIONS_FIELD_NUMBER: _ClassVar[int]
    ADMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    GOLD_FIELD_NUMBER: _ClassVar[int]
    TRUST_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    WAVE_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    LOOKS_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIT_FIELD_NUMBER: _ClassVar[int]
    context: MessageContext
    leader_id: str
    height: int
    previous_record_hash: bytes
    query: _envelope_pb2.Envelope
    candidates: _containers.RepeatedCompositeFieldContainer[_envelope_pb2.Envelope]
    rank_request: _envelope_pb2.Envelope
    ballots: _containers.RepeatedCompositeFieldContainer[_envelope_pb2.Envelope]
    outcome: AggregationOutcome
    answer: str
    absent_ids: _containers.RepeatedScalarFieldContainer[str]
    reputation_ids: _containers.RepeatedScalarFieldContainer[str]
    reputations: _containers.RepeatedScalarFieldContainer[float]
    admitted_at: _containers.RepeatedScalarFieldContainer[int]
    events: _containers.RepeatedCompositeFieldContainer[LedgerEvent]
    gold: GoldReveal
    trust: bool
    rules: int
    wave_requests: _containers.RepeatedCompositeFieldContainer[_envelope_pb2.Envelope]
    stop_reason: str
    looks: _containers.RepeatedCompositeFieldContainer[SeparationLook]
    evidence_fit: EvidenceFit
    def __init__(self, context: _Optional[_Union[MessageContext, _Mapping]] = ..., leader_id: _Optional[str] = ..., height: _Optional[int] = ..., previous_record_hash: _Optional[bytes] = ..., query: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ..., candidates: _Optional[_Iterable[_Union[_envelope_pb2.Envelope, _Mapping]]] = ..., rank_request: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ..., ballots: _Optional[_Iterable[_Union[_envelope_pb2.Envelope, _Mapping]]] = ..., outcome: _Optional[_Union[AggregationOutcome, _Mapping]] = ..., answer: _Optional[str] = ..., absent_ids: _Optional[_Iterable[str]] = ..., reputation_ids: _Optional[_Iterable[str]] = ..., reputations: _Optional[_Iterable[float]] = ..., admitted_at: _Optional[_Iterable[int]] = ..., events: _Optional[_Iterable[_Union[LedgerEvent, _Mapping]]] = ..., gold: _Optional[_Union[GoldReveal, _Mapping]] = ..., trust: _Optional[bool] = ..., rules: _Optional[int] = ..., wave_requests: _Optional[_Iterable[_Union[_envelope_pb2.Envelope, _Mapping]]] = ..., stop_reason: _Optional[str] = ..., looks: _Optional[_Iterable[_Union[SeparationLook, _Mapping]]] = ..., evidence_fit: _Optional[_Union[EvidenceFit, _Mapping]] = ...) -> None: ...

class EvidenceFit(_message.Message):
    __slots__ = ("options", "difficulty_sd", "pull_sd", "concentration", "judge_offset", "judge_correlation", "skill_mean", "skill_sd", "judge_sd", "use_verdicts", "use_records")
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    DIFFICULTY_SD_FIELD_NUMBER: _ClassVar[int]
    PULL_SD_FIELD_NUMBER: _ClassVar[int]
    CONCENTRATION_FIELD_NUMBER: _ClassVar[int]
    JUDGE_OFFSET_FIELD_NUMBER: _ClassVar[int]
    JUDGE_CORRELATION_FIELD_NUMBER: _ClassVar[int]
    SKILL_MEAN_FIELD_NUMBER: _ClassVar[int]
    SKILL_SD_FIELD_NUMBER: _ClassVar[int]
    JUDGE_SD_FIELD_NUMBER: _ClassVar[int]
    USE_VERDICTS_FIELD_NUMBER: _ClassVar[int]
    USE_RECORDS_FIELD_NUMBER: _ClassVar[int]
    options: int
    difficulty_sd: float
    pull_sd: float
    concentration: float
    judge_offset: float
    judge_correlation: float
    skill_mean: float
    skill_sd: float
    judge_sd: float
    use_verdicts: bool
    use_records: bool
    def __init__(self, options: _Optional[int] = ..., difficulty_sd: _Optional[float] = ..., pull_sd: _Optional[float] = ..., concentration: _Optional[float] = ..., judge_offset: _Optional[float] = ..., judge_correlation: _Optional[float] = ..., skill_mean: _Optional[float] = ..., skill_sd: _Optional[float] = ..., judge_sd: _Optional[float] = ..., use_verdicts: _Optional[bool] = ..., use_records: _Optional[bool] = ...) -> None: ...

class SeparationLook(_message.Message):
    __slots__ = ("wave", "fitted", "winner", "strengths", "not_beaten")
    WAVE_FIELD_NUMBER: _ClassVar[int]
    FITTED_FIELD_NUMBER: _ClassVar[int]
    WINNER_FIELD_NUMBER: _ClassVar[int]
    STRENGTHS_FIELD_NUMBER: _ClassVar[int]
    NOT_BEATEN_FIELD_NUMBER: _ClassVar[int]
    wave: int
    fitted: bool
    winner: int
    strengths: _containers.RepeatedScalarFieldContainer[float]
    not_beaten: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, wave: _Optional[int] = ..., fitted: _Optional[bool] = ..., winner: _Optional[int] = ..., strengths: _Optional[_Iterable[float]] = ..., not_beaten: _Optional[_Iterable[float]] = ...) -> None: ...

class GoldReveal(_message.Message):
    __slots__ = ("task_id", "answer")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    answer: str
    def __init__(self, task_id: _Optional[str] = ..., answer: _Optional[str] = ...) -> None: ...

class LedgerEvent(_message.Message):
    __slots__ = ("genesis", "exam", "slash")
    GENESIS_FIELD_NUMBER: _ClassVar[int]
    EXAM_FIELD_NUMBER: _ClassVar[int]
    SLASH_FIELD_NUMBER: _ClassVar[int]
    genesis: GenesisEvent
    exam: ExamEvent
    slash: SlashEvent
    def __init__(self, genesis: _Optional[_Union[GenesisEvent, _Mapping]] = ..., exam: _Optional[_Union[ExamEvent, _Mapping]] = ..., slash: _Optional[_Union[SlashEvent, _Mapping]] = ...) -> None: ...

class GenesisEvent(_message.Message):
    __slots__ = ("node_ids", "stake", "params_digest")
    NODE_IDS_FIELD_NUMBER: _ClassVar[int]
    STAKE_FIELD_NUMBER: _ClassVar[int]
    PARAMS_DIGEST_FIELD_NUMBER: _ClassVar[int]
    node_ids: _containers.RepeatedScalarFieldContainer[str]
    stake: float
    params_digest: bytes
    def __init__(self, node_ids: _Optional[_Iterable[str]] = ..., stake: _Optional[float] = ..., params_digest: _Optional[bytes] = ...) -> None: ...

class ExamEvent(_message.Message):
    __slots__ = ("candidate_id", "queries", "candidates", "rank_requests", "ballots")
    CANDIDATE_ID_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    RANK_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    BALLOTS_FIELD_NUMBER: _ClassVar[int]
    candidate_id: str
    queries: _containers.RepeatedCompositeFieldContainer[_envelope_pb2.Envelope]
    candidates: _containers.RepeatedCompositeFieldContainer[_envelope_pb2.Envelope]
    rank_requests: _containers.RepeatedCompositeFieldContainer[_envelope_pb2.Envelope]
    ballots: _containers.RepeatedCompositeFieldContainer[_envelope_pb2.Envelope]
    def __init__(self, candidate_id: _Optional[str] = ..., queries: _Optional[_Iterable[_Union[_envelope_pb2.Envelope, _Mapping]]] = ..., candidates: _Optional[_Iterable[_Union[_envelope_pb2.Envelope, _Mapping]]] = ..., rank_requests: _Optional[_Iterable[_Union[_envelope_pb2.Envelope, _Mapping]]] = ..., ballots: _Optional[_Iterable[_Union[_envelope_pb2.Envelope, _Mapping]]] = ...) -> None: ...

class SlashEvent(_message.Message):
    __slots__ = ("equivocation", "forged_record")
    EQUIVOCATION_FIELD_NUMBER: _ClassVar[int]
    FORGED_RECORD_FIELD_NUMBER: _ClassVar[int]
    equivocation: EquivocationEvidence
    forged_record: _envelope_pb2.Envelope
    def __init__(self, equivocation: _Optional[_Union[EquivocationEvidence, _Mapping]] = ..., forged_record: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ...) -> None: ...

class EquivocationEvidence(_message.Message):
    __slots__ = ("context", "reporter_id", "first", "second")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    REPORTER_ID_FIELD_NUMBER: _ClassVar[int]
    FIRST_FIELD_NUMBER: _ClassVar[int]
    SECOND_FIELD_NUMBER: _ClassVar[int]
    context: MessageContext
    reporter_id: str
    first: _envelope_pb2.Envelope
    second: _envelope_pb2.Envelope
    def __init__(self, context: _Optional[_Union[MessageContext, _Mapping]] = ..., reporter_id: _Optional[str] = ..., first: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ..., second: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ...) -> None: ...
