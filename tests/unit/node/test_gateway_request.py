"""The gateway's request validation (:mod:`node.gateway.request`), pure: each documented field
refused with a 400 naming it when its type is wrong, deep nesting and odd bytes refused as
typed errors, and arbitrary input never raising anything but :class:`RequestError`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.gateway.request import MAX_DEPTH, ChatRequest, RequestError, parse_chat_request

JSON_TYPE = "application/json"
USER = [{"role": "user", "content": "What is 17 + 25?"}]


def _parse(body: Any, content_type: str | None = JSON_TYPE) -> ChatRequest:
    return parse_chat_request(json.dumps(body).encode(), content_type)


def _refused(body: Any, content_type: str | None = JSON_TYPE) -> RequestError:
    with pytest.raises(RequestError) as caught:
        _parse(body, content_type)
    return caught.value


def test_a_valid_request_becomes_a_chat_request() -> None:
    chat = _parse(
        {
            "model": "swarmrank-consensus",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is "},
                        {"type": "text", "text": "6 x 7?"},
                    ],
                },
                {"role": "assistant", "content": None},
                {"role": "user", "content": "  "},
            ],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": 64,
            "temperature": 0.2,
            "n": 1,
            "stop": ["\n\n"],
            "user": "alice",
            "metadata": {"team": "red"},
            "unknown_extra": {"ignored": True},
        }
    )
    assert chat == ChatRequest(
        question="What is 6 x 7?",
        stream=True,
        include_usage=True,
        model="swarmrank-consensus",
        user="alice",
        metadata={"team": "red"},
    )


def test_null_means_absent() -> None:
    body = {"messages": USER, "stream": None, "max_tokens": None, "stop": None, "n": None}
    assert _parse(body) == ChatRequest(question="What is 17 + 25?")


def test_the_filed_cases_name_their_field() -> None:
    """Issue 19: a string ``stream`` and a 5,000-deep body were a stream and a 500."""
    error = _refused({"model": "x", "messages": USER, "stream": "yes"})
    assert (error.status, error.param, error.code) == (400, "stream", "invalid_type")
    deep = b'{"model":"x","messages":' + b"[" * 5000 + b"]" * 5000 + b"}"
    with pytest.raises(RequestError) as caught:
        parse_chat_request(deep, JSON_TYPE)
    assert (caught.value.status, caught.value.code) == (400, "too_deep")


@pytest.mark.parametrize(
    ("field", "value", "param"),
    [
        ("model", 3, "model"),
        ("stream", "yes", "stream"),
        ("stream", 1, "stream"),
        ("max_tokens", "10", "max_tokens"),
        ("max_tokens", 1.5, "max_tokens"),
        ("max_tokens", True, "max_tokens"),
        ("max_tokens", 0, "max_tokens"),
        ("max_completion_tokens", [], "max_completion_tokens"),
        ("temperature", "hot", "temperature"),
        ("temperature", 2.5, "temperature"),
        ("temperature", False, "temperature"),
        ("top_p", -0.1, "top_p"),
        ("presence_penalty", {}, "presence_penalty"),
        ("n", "1", "n"),
        ("n", 2, "n"),
        ("n", 0, "n"),
        ("seed", 1.0, "seed"),
        ("logprobs", "true", "logprobs"),
        ("stop", 5, "stop"),
        ("stop", ["a", 1], "stop"),
        ("stop", ["a", "b", "c", "d", "e"], "stop"),
        ("user", 42, "user"),
        ("metadata", "x", "metadata"),
        ("metadata", {"k": 1}, "metadata.k"),
        ("metadata", {f"k{i}": "v" for i in range(17)}, "metadata"),
        ("metadata", {"k" * 65: "v"}, "metadata"),
        ("metadata", {"k": "v" * 513}, "metadata.k"),
        ("stream_options", "usage", "stream_options"),
        ("messages", "hello", "messages"),
        ("messages", {"role": "user"}, "messages"),
        ("messages", [], "messages"),
        ("messages", ["hello"], "messages[0]"),
        ("messages", [{"role": 1, "content": "x"}], "messages[0].role"),
        ("messages", [{"role": "robot", "content": "x"}], "messages[0].role"),
        ("messages", [{"content": "x"}], "messages[0].role"),
        ("messages", [{"role": "user", "content": 7}], "messages[0].content"),
        ("messages", [{"role": "user", "content": None}], "messages[0].content"),
        ("messages", [{"role": "user", "content": ["x"]}], "messages[0].content[0]"),
        ("messages", [{"role": "user", "content": [{"text": "x"}]}], "messages[0].content[0].type"),
        (
            "messages",
            [{"role": "user", "content": [{"type": "text", "text": 5}]}],
            "messages[0].content[0].text",
        ),
        (
            "messages",
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
            "messages[0].content[0].type",
        ),
        ("messages", [{"role": "user", "content": "x", "name": 3}], "messages[0].name"),
        ("messages", [{"role": "system", "content": "only a system message"}], "messages"),
    ],
)
def test_a_wrong_value_is_a_400_naming_its_field(field: str, value: Any, param: str) -> None:
    body: dict[str, Any] = {"model": "swarmrank-consensus", "messages": USER, field: value}
    error = _refused(body)
    assert (error.status, error.param) == (400, param)
    assert error.body() == {
        "error": {
            "message": error.message,
            "type": "invalid_request_error",
            "param": param,
            "code": error.code,
        }
    }
    assert param.split("[")[0].split(".")[0] in error.message or field == "messages"


def test_stream_options_need_stream_and_a_boolean_include_usage() -> None:
    assert _refused({"messages": USER, "stream_options": {}}).param == "stream_options"
    error = _refused({"messages": USER, "stream": True, "stream_options": {"include_usage": 1}})
    assert error.param == "stream_options.include_usage"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "bad_json"),
        (b"{", "bad_json"),
        (b"\xff\xfe{}", "bad_json"),
        ('{"messages": "é"}'.encode("latin-1"), "bad_json"),
        (b'{"messages": NaN}', "bad_json"),
        (b'{"temperature": Infinity, "messages": []}', "bad_json"),
        (b'{"max_tokens": ' + b"9" * 5000 + b"}", "bad_json"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "too_deep"),
        (b'{"metadata": ' + b'{"a": ' * 100 + b"1" + b"}" * 100 + b"}", "too_deep"),
        (b"[]", "invalid_type"),
        (b'"hello"', "invalid_type"),
        (b"null", "invalid_type"),
    ],
)
def test_bodies_that_are_not_a_json_object_are_typed_400s(raw: bytes, code: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_chat_request(raw, JSON_TYPE)
    assert (caught.value.status, caught.value.code) == (400, code)


def test_a_byte_order_mark_and_a_missing_content_type_are_tolerated() -> None:
    raw = b"\xef\xbb\xbf" + json.dumps({"messages": USER}).encode()
    assert parse_chat_request(raw, None).question == "What is 17 + 25?"
    assert parse_chat_request(raw, "Application/JSON; charset=UTF-8").question
    assert parse_chat_request(raw, "application/vnd.api+json").question


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-16", "; ;"],
)
def test_other_content_types_are_415(content_type: str) -> None:
    error = _refused({"messages": USER}, content_type)
    assert (error.status, error.code) == (415, "unsupported_media_type")


def test_an_unpaired_surrogate_in_the_question_is_refused() -> None:
    raw = b'{"messages": [{"role": "user", "content": "x\\ud800"}]}'
    with pytest.raises(RequestError) as caught:
        parse_chat_request(raw, JSON_TYPE)
    assert caught.value.param == "messages"


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = [
    "model",
    "messages",
    "stream",
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "n",
    "seed",
    "logprobs",
    "top_logprobs",
    "stop",
    "user",
    "metadata",
]


def _outcome(
    raw: bytes, content_type: str | None, encoding: str | None = None
) -> ChatRequest | RequestError:
    try:
        return parse_chat_request(raw, content_type, encoding)
    except RequestError as exc:
        assert exc.status in (400, 413, 415) and exc.code
        json.dumps(exc.body())  # always serialisable
        return exc


@settings(max_examples=150)
@given(
    st.binary(max_size=300),
    st.none() | st.text(max_size=40),
    st.none() | st.sampled_from(["gzip", "deflate", "identity", "br"]) | st.text(max_size=10),
)
def test_arbitrary_bytes_give_a_request_or_a_typed_error(
    raw: bytes, content_type: str | None, encoding: str | None
) -> None:
    _outcome(raw, content_type, encoding)


@settings(max_examples=150)
@given(st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=6), st.booleans())
def test_arbitrary_field_values_give_a_request_or_a_typed_error(
    body: dict[str, Any], with_question: bool
) -> None:
    if with_question:
        body.setdefault("messages", USER)
    outcome = _outcome(json.dumps(body).encode(), JSON_TYPE)
    if isinstance(outcome, ChatRequest):
        assert outcome.question.strip()
        assert outcome.stream is (body.get("stream") is True)


@settings(max_examples=60)
@given(st.sampled_from(FIELDS), JSON_VALUES)
def test_one_wrong_field_is_named(field: str, value: Any) -> None:
    outcome = _outcome(json.dumps({"messages": USER, field: value}).encode(), JSON_TYPE)
    if isinstance(outcome, RequestError):
        assert outcome.param is not None and outcome.param.startswith(field)


def test_gzip_and_deflate_bodies_are_decompressed_within_the_limit() -> None:
    import gzip
    import zlib

    from node.gateway.request import MAX_BODY_BYTES, decode_content

    raw = json.dumps({"messages": USER}).encode()
    assert parse_chat_request(gzip.compress(raw), JSON_TYPE, "gzip").question
    assert parse_chat_request(zlib.compress(raw), JSON_TYPE, "Deflate").question
    assert parse_chat_request(raw, JSON_TYPE, "identity").question
    bomb = gzip.compress(b" " * (MAX_BODY_BYTES + 1))  # ~1 KiB that inflates past the limit
    cases = [
        (bomb, "gzip", 413, "body_too_large"),
        (b" " * (MAX_BODY_BYTES + 1), None, 413, "body_too_large"),
        (raw, "gzip", 400, "bad_encoding"),
        (gzip.compress(raw)[:-12], "gzip", 400, "bad_encoding"),
        (raw, "br", 415, "unsupported_encoding"),
        (raw, "gzip, br", 415, "unsupported_encoding"),
    ]
    for body, encoding, status, code in cases:
        with pytest.raises(RequestError) as caught:
            decode_content(body, encoding)
        assert (caught.value.status, caught.value.code) == (status, code), encoding
