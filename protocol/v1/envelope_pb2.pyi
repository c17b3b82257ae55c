from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KIND_UNSPECIFIED: _ClassVar[Kind]
    KIND_NODE_INFO: _ClassVar[Kind]
    KIND_QUERY: _ClassVar[Kind]
    KIND_CANDIDATE: _ClassVar[Kind]
    KIND_RANK_REQUEST: _ClassVar[Kind]
    KIND_BALLOT: _ClassVar[Kind]
    KIND_CONSENSUS_RECORD: _ClassVar[Kind]
    KIND_EQUIVOCATION_EVIDENCE: _ClassVar[Kind]
    KIND_HEARTBEAT: _ClassVar[Kind]
KIND_UNSPECIFIED: Kind
KIND_NODE_INFO: Kind
KIND_QUERY: Kind
KIND_CANDIDATE: Kind
KIND_RANK_REQUEST: Kind
KIND_BALLOT: Kind
KIND_CONSENSUS_RECORD: Kind
KIND_EQUIVOCATION_EVIDENCE: Kind
KIND_HEARTBEAT: Kind

class Envelope(_message.Message):
    __slots__ = ("kind", "payload", "signer", "signature")
    KIND_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SIGNER_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    kind: Kind
    payload: bytes
    signer: bytes
    signature: bytes
    def __init__(self, kind: _Optional[_Union[Kind, str]] = ..., payload: _Optional[bytes] = ..., signer: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...
