"""Validation of a chat completion request: bytes and a Content-Type header in, a typed
:class:`ChatRequest` or a typed :class:`RequestError` out.

This module owns what the gateway accepts on ``POST /v1/chat/completions``. It is pure (no
aiohttp, no I/O) so every rule here is unit-tested and fuzzed without a server. The rules follow
OpenAI's API, so a client that OpenAI would refuse is refused here with the same error shape
(``{"error": {"message", "type": "invalid_request_error", "param", "code"}}``), naming the
offending field in ``param`` (``"stream"``, ``"messages[2].content"``, ...):

* the body is at most :data:`MAX_BODY_BYTES` (else 413), sent plain or with a
  ``Content-Encoding`` of ``gzip`` or ``deflate`` (decompressed here, bounded by the same
  limit; any other encoding is 415, a body that does not decompress 400);
* the body is UTF-8 JSON (a leading byte-order mark is tolerated); the Content-Type, when sent,
  is ``application/json`` or a ``+json`` type with no charset other than UTF-8, else 415;
* JSON nested deeper than :data:`MAX_DEPTH`, ``NaN``/``Infinity`` and integers too long to
  convert are refused as invalid JSON rather than crashing the parser;
* the body is an object; ``messages`` a non-empty list of message objects with a known
  ``role`` and a ``content`` that is a string or a list of text parts (``null`` only for an
  assistant message); the question is the text of the last user message with any;
* the typed optional fields, ``null`` meaning absent: ``model`` (string), ``stream``
  (boolean), ``stream_options`` (object, only with ``stream: true``; ``include_usage``
  boolean), ``max_tokens`` / ``max_completion_tokens`` (integer >= 1), ``temperature``
  (number 0..2), ``top_p`` (number 0..1), ``presence_penalty`` / ``frequency_penalty``
  (number -2..2), ``n`` (integer; only 1: a swarm gives one consensus answer), ``seed``
  (integer), ``stop`` (string or up to 4 strings), ``user`` (string), ``metadata`` (up to 16
  string pairs, keys <= 64 and values <= 512 characters), ``logprobs`` (boolean);
* other fields are ignored, as many chat UIs send extras of their own.

Sampling fields are checked but not forwarded: each node samples with its own model settings.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass, field
from typing import Any

#: largest request body, before and after decompression
MAX_BODY_BYTES = 1024 * 1024
#: deepest JSON nesting accepted (a chat request needs 5: body, messages, message, parts, part)
MAX_DEPTH = 64
#: roles OpenAI's chat API defines
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_MAX_STOP = 4
_MAX_METADATA_PAIRS = 16
_MAX_METADATA_KEY = 64
_MAX_METADATA_VALUE = 512


class RequestError(Exception):
    """A refused request: the HTTP status and OpenAI's error fields.

    Parameters
    ----------
    message : str
        What is wrong, for a person.
    param : str or None
        The offending field (``"stream"``, ``"messages[0].role"``), ``None`` for the body.
    code : str
        A machine-readable code (``"invalid_type"``, ``"bad_json"``, ...).
    status : int
        The HTTP status, 400 unless said otherwise (413 for a body over the limit, 415 for a
        content type or encoding).
    """

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str = "invalid_value",
        status: int = 400,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.status = status

    def body(self) -> dict[str, Any]:
        """OpenAI's error shape for this error."""
        return {
            "error": {
                "message": self.message,
                "type": "invalid_request_error",
                "param": self.param,
                "code": self.code,
            }
        }


@dataclass(frozen=True)
class ChatRequest:
    """A valid chat completion request, reduced to what the gateway acts on.

    Attributes
    ----------
    question : str
        The text of the last user message that has any; what the swarm is asked.
    stream : bool
        Answer with server-sent events.
    include_usage : bool
        With ``stream``: send a usage chunk before ``[DONE]``.
    model : str or None
        The model the client named (the gateway answers as ``swarmrank-consensus`` whatever
        it is).
    user : str or None
        The client's end-user id, for logs.
    metadata : dict of str to str
        The client's metadata pairs.
    """

    question: str
    stream: bool = False
    include_usage: bool = False
    model: str | None = None
    user: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


def _type_name(value: Any) -> str:
    """The JSON type of a decoded value, as OpenAI names it in errors."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _wrong_type(param: str, expected: str, value: Any) -> RequestError:
    return RequestError(
        f"'{param}' must be {expected}, got {_type_name(value)}", param=param, code="invalid_type"
    )


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _check_depth(value: Any) -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH` (iteratively: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > MAX_DEPTH:
                    raise RequestError(
                        f"the request body is nested deeper than {MAX_DEPTH} levels",
                        code="too_deep",
                    )
                stack.append((child, depth + 1))


def _check_content_type(content_type: str | None) -> None:
    """Accept a missing Content-Type, ``application/json`` and ``+json`` types in UTF-8."""
    if content_type is None or not content_type.strip():
        return
    media, *params = content_type.split(";")
    media = media.strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise RequestError(
            f"unsupported Content-Type {media!r}: send 'Content-Type: application/json'",
            code="unsupported_media_type",
            status=415,
        )
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
            if charset not in ("utf-8", "utf8"):
                raise RequestError(
                    f"unsupported charset {charset!r}: the body must be UTF-8 JSON",
                    code="unsupported_media_type",
                    status=415,
                )


def decode_content(raw: bytes, content_encoding: str | None, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body under its ``Content-Encoding`` (none, ``identity``, ``gzip``, ``deflate``),
    decompressed to at most ``limit`` bytes (a decompression bomb stops there: 413)."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        data = raw
    elif encoding in ("gzip", "x-gzip", "deflate"):
        wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
        decompressor = zlib.decompressobj(wbits)
        try:
            data = decompressor.decompress(raw, limit + 1)
        except zlib.error as exc:
            raise RequestError(
                f"the request body is not valid {encoding} data ({exc})", code="bad_encoding"
            ) from None
        if len(data) <= limit and not decompressor.eof:
            raise RequestError(
                f"the request body is truncated {encoding} data", code="bad_encoding"
            )
    else:
        raise RequestError(
            f"unsupported Content-Encoding {encoding!r}: send the body plain, gzip or deflate",
            code="unsupported_encoding",
            status=415,
        )
    if len(data) > limit:
        raise RequestError(
            f"the request body is larger than {limit} bytes", code="body_too_large", status=413
        )
    return data


def decode_json(raw: bytes) -> Any:
    """The JSON value in ``raw``, or :class:`RequestError` ``bad_json`` / ``too_deep``.

    Deep nesting, non-UTF-8 bytes, ``NaN``/``Infinity`` and over-long integers are refused
    here, not left to crash a later step.
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RequestError(
            f"the request body is not UTF-8 (byte {exc.start})", code="bad_json"
        ) from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise RequestError(
            f"the request body is nested deeper than {MAX_DEPTH} levels", code="too_deep"
        ) from None
    except json.JSONDecodeError as exc:
        raise RequestError(
            f"the request body is not valid JSON: {exc.msg} (line {exc.lineno} column {exc.colno})",
            code="bad_json",
        ) from None
    except ValueError as exc:  # NaN / Infinity, integers past Python's digit limit
        raise RequestError(f"the request body is not valid JSON: {exc}", code="bad_json") from None
    _check_depth(value)
    return value


def _optional(body: dict[str, Any], name: str) -> Any:
    """``body[name]``, with ``null`` read as absent."""
    return body.get(name)


def _check_bool(body: dict[str, Any], name: str) -> bool:
    value = _optional(body, name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _wrong_type(name, "a boolean", value)
    return value


def _check_string(body: dict[str, Any], name: str) -> str | None:
    value = _optional(body, name)
    if value is not None and not isinstance(value, str):
        raise _wrong_type(name, "a string", value)
    return value


def _check_integer(body: dict[str, Any], name: str, low: int | None = None) -> None:
    value = _optional(body, name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong_type(name, "an integer", value)
    if low is not None and value < low:
        raise RequestError(f"'{name}' must be >= {low}, got {value}", param=name)


def _check_number(body: dict[str, Any], name: str, low: float, high: float) -> None:
    value = _optional(body, name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong_type(name, "a number", value)
    if not (math.isfinite(value) and low <= value <= high):
        raise RequestError(f"'{name}' must be between {low} and {high}, got {value}", param=name)


def _check_stop(body: dict[str, Any]) -> None:
    value = _optional(body, "stop")
    if value is None or isinstance(value, str):
        return
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise _wrong_type("stop", "a string or an array of strings", value)
    if len(value) > _MAX_STOP:
        raise RequestError(f"'stop' holds at most {_MAX_STOP} strings", param="stop")


def _check_metadata(body: dict[str, Any]) -> dict[str, str]:
    value = _optional(body, "metadata")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _wrong_type("metadata", "an object of string values", value)
    if len(value) > _MAX_METADATA_PAIRS:
        raise RequestError(
            f"'metadata' holds at most {_MAX_METADATA_PAIRS} pairs", param="metadata"
        )
    for key, item in value.items():
        if len(key) > _MAX_METADATA_KEY:
            raise RequestError(
                f"'metadata' keys are at most {_MAX_METADATA_KEY} characters", param="metadata"
            )
        if not isinstance(item, str):
            raise _wrong_type(f"metadata.{key}", "a string", item)
        if len(item) > _MAX_METADATA_VALUE:
            raise RequestError(
                f"'metadata' values are at most {_MAX_METADATA_VALUE} characters",
                param=f"metadata.{key}",
            )
    return dict(value)


def _text_of(content: Any, param: str, role: str) -> str:
    """The text of one message's ``content``: a string, or a list of text parts."""
    if content is None:
        if role in ("assistant", "function"):
            return ""  # an assistant message may carry only tool calls
        raise _wrong_type(param, "a string or an array of content parts", content)
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _wrong_type(param, "a string or an array of content parts", content)
    texts: list[str] = []
    for j, part in enumerate(content):
        where = f"{param}[{j}]"
        if not isinstance(part, dict):
            raise _wrong_type(where, "a content part object", part)
        kind = part.get("type")
        if not isinstance(kind, str):
            raise _wrong_type(f"{where}.type", "a string", kind)
        if kind != "text":
            raise RequestError(
                f"content part type {kind!r} is not supported: the swarm answers text only",
                param=f"{where}.type",
                code="unsupported_value",
            )
        text = part.get("text")
        if not isinstance(text, str):
            raise _wrong_type(f"{where}.text", "a string", text)
        texts.append(text)
    return "".join(texts)


def _question(messages: Any) -> str:
    """Check every message; the text of the last user message that has any."""
    if not isinstance(messages, list):
        raise _wrong_type("messages", "an array of messages", messages)
    if not messages:
        raise RequestError("'messages' must not be empty", param="messages", code="bad_request")
    question = ""
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _wrong_type(where, "a message object", message)
        role = message.get("role")
        if not isinstance(role, str):
            raise _wrong_type(f"{where}.role", "a string", role)
        if role not in ROLES:
            raise RequestError(
                f"unknown role {role!r}: expected one of {', '.join(sorted(ROLES))}",
                param=f"{where}.role",
            )
        name = message.get("name")
        if name is not None and not isinstance(name, str):
            raise _wrong_type(f"{where}.name", "a string", name)
        text = _text_of(message.get("content"), f"{where}.content", role)
        if role == "user" and text.strip():
            question = text
    if not question:
        raise RequestError(
            "no user message with text content", param="messages", code="bad_request"
        )
    try:
        question.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate escape such as "\ud800"
        raise RequestError(
            "the question holds an unpaired surrogate (not valid Unicode text)",
            param="messages",
        ) from None
    return question


def parse_chat_request(
    raw: bytes, content_type: str | None, content_encoding: str | None = None
) -> ChatRequest:
    """Validate one ``POST /v1/chat/completions`` body (see the module docstring).

    Parameters
    ----------
    raw : bytes
        The request body, already bounded in size by the server.
    content_type : str or None
        The ``Content-Type`` header as sent, ``None`` when absent.
    content_encoding : str or None
        The ``Content-Encoding`` header as sent, ``None`` when absent.

    Returns
    -------
    ChatRequest
        What to ask the swarm and how to answer.

    Raises
    ------
    RequestError
        The first thing wrong with the request, naming the field in ``param``.
    """
    _check_content_type(content_type)
    body = decode_json(decode_content(raw, content_encoding))
    if not isinstance(body, dict):
        raise RequestError(
            f"the request body must be a JSON object, got {_type_name(body)}", code="invalid_type"
        )
    model = _check_string(body, "model")
    question = _question(body.get("messages"))
    stream = _check_bool(body, "stream")
    options = _optional(body, "stream_options")
    include_usage = False
    if options is not None:
        if not isinstance(options, dict):
            raise _wrong_type("stream_options", "an object", options)
        if not stream:
            raise RequestError(
                "'stream_options' is only allowed when 'stream' is true", param="stream_options"
            )
        usage = options.get("include_usage")
        if usage is not None and not isinstance(usage, bool):
            raise _wrong_type("stream_options.include_usage", "a boolean", usage)
        include_usage = bool(usage)
    for name in ("max_tokens", "max_completion_tokens"):
        _check_integer(body, name, low=1)
    _check_integer(body, "seed")
    _check_integer(body, "top_logprobs", low=0)
    _check_number(body, "temperature", 0.0, 2.0)
    _check_number(body, "top_p", 0.0, 1.0)
    for name in ("presence_penalty", "frequency_penalty"):
        _check_number(body, name, -2.0, 2.0)
    _check_integer(body, "n", low=1)
    if _optional(body, "n") not in (None, 1):
        raise RequestError(
            "'n' must be 1: the swarm gives one consensus answer per request",
            param="n",
            code="unsupported_value",
        )
    _check_bool(body, "logprobs")
    _check_stop(body)
    user = _check_string(body, "user")
    metadata = _check_metadata(body)
    return ChatRequest(
        question=question,
        stream=stream,
        include_usage=include_usage,
        model=model,
        user=user,
        metadata=metadata,
    )
