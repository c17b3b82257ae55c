"""The ``openai`` backend: :class:`OpenAIBackend`, any OpenAI-compatible chat-completions server
(vLLM, llama.cpp server, Ollama, LM Studio, OpenAI itself) behind
:class:`~node.backends.base.ModelBackend`.

This module owns the HTTP side only: one aiohttp session, a per-attempt timeout, bounded
retries with exponential backoff and jitter on 5xx, 429, timeouts and connection errors (never
on other 4xx, which would fail the same way again), and the mapping of failures to
:class:`~node.errors.BackendError` / :class:`~node.errors.BackendTimeout`. What is sent and
how replies are read lives in :mod:`node.backends.prompts`. A malformed judge reply is an
abstention, never an exception; a transport failure or a response that is not a chat
completion raises.

Two judge modes (``judge_mode``). ``"text"`` asks for the ``VERDICT: A|B|TIE`` reply of the
text protocol. ``"prob"``, for servers that return logprobs (llama.cpp's server, vLLM, OpenAI),
asks for one token with ``logprobs=true, top_logprobs=20`` in both orders (candidates as given,
then swapped), reads the chances of ``A`` and ``B`` from the top logprobs and combines the two
orders so position bias cancels (:func:`node.backends.choice.judgement_from_orders`): a judge
that only prefers a position says 0.5, a tie. A reply without usable logprobs is an
abstention. The orders are asked one after the other, so the requests a server sees come in a
fixed order (llama.cpp's server evaluates one request at a time anyway).

The API key is sent only in the ``Authorization`` header; it is not in ``repr``, log records or
error messages (a server that echoes it back in an error body has it redacted).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import secrets
import time
from collections.abc import Mapping
from typing import Any, Literal

import aiohttp

from node.backends.base import Answer, Judgement
from node.backends.choice import (
    DEFAULT_MIN_MASS,
    DEFAULT_TIE_MARGIN,
    ChoiceProbs,
    choice_probs_from_logprobs,
    judgement_from_orders,
)
from node.backends.prompts import (
    ChatMessage,
    build_generation_messages,
    build_judge_choice_messages,
    build_judge_messages,
    parse_answer,
    parse_judgement,
)
from node.errors import BackendError, BackendTimeout
from node.logging import get_logger

log = get_logger("backend.openai")

#: HTTP statuses worth another attempt: overload, rate limit, server-side failure
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_ERROR_SNIPPET_CHARS = 200
OpenAIJudgeMode = Literal["text", "prob"]
OPENAI_JUDGE_MODES: tuple[str, ...] = ("text", "prob")
#: alternatives asked for in "prob" mode (OpenAI's maximum; llama.cpp and vLLM serve as many)
TOP_LOGPROBS = 20


class OpenAIBackend:
    """A model served over the OpenAI chat-completions protocol.

    Parameters
    ----------
    base_url
        API root including the version prefix, e.g. ``http://127.0.0.1:8000/v1``; requests go
        to ``{base_url}/chat/completions`` and ``{base_url}/models``.
    model
        Model name sent in every request (and reported as ``model_name``).
    api_key
        Bearer token, or ``None`` for servers without authentication.
    timeout_s
        Limit on one HTTP attempt, connect to last byte. A call can take up to about
        ``(1 + max_retries) * timeout_s`` plus backoff; the node's own per-call deadline caps it.
    max_retries
        Further attempts after a timeout, connection error, 5xx or 429 (0 = one attempt only).
    temperature, max_tokens
        Sampling settings for :meth:`generate`.
    judge_temperature, judge_max_tokens
        Sampling settings for :meth:`judge` in ``"text"`` mode (greedy by default: a verdict
        should be stable).
    judge_mode
        ``"text"`` (a ``VERDICT`` line) or ``"prob"`` (the chances of ``A`` and ``B`` from the
        server's top logprobs, both orders; see the module docstring).
    tie_margin
        ``"prob"``: a probability within this of 0.5 is a tie.
    min_choice_mass
        ``"prob"``: less chance than this on the two letters, in either order, abstains.
    backoff_s, max_backoff_s
        Retry ``n`` (from 0) waits a uniform random time in ``[0, min(max_backoff_s,
        backoff_s * 2**n)]``; a ``Retry-After`` header on 429/503 raises the wait to that
        value, still capped by ``max_backoff_s``.
    health_timeout_s
        Limit on the :meth:`health` probe.
    max_response_bytes
        Larger response bodies are refused (a :class:`BackendError`).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        timeout_s: float = 60.0,
        max_retries: int = 2,
        temperature: float = 0.2,
        max_tokens: int = 1024,
        judge_temperature: float = 0.0,
        judge_max_tokens: int = 512,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        health_timeout_s: float = 5.0,
        max_response_bytes: int = 4 * 1024 * 1024,
        judge_mode: OpenAIJudgeMode = "text",
        tie_margin: float = DEFAULT_TIE_MARGIN,
        min_choice_mass: float = DEFAULT_MIN_MASS,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        if not model:
            raise ValueError("model must be a non-empty model name")
        if timeout_s <= 0 or health_timeout_s <= 0:
            raise ValueError("timeouts must be positive")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if judge_mode not in OPENAI_JUDGE_MODES:
            raise ValueError(f"judge_mode must be one of {OPENAI_JUDGE_MODES}, got {judge_mode!r}")
        if not 0.0 <= tie_margin < 0.5:
            raise ValueError("tie_margin must be in [0, 0.5)")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._api_key = api_key or None
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.judge_temperature = judge_temperature
        self.judge_max_tokens = judge_max_tokens
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.health_timeout_s = health_timeout_s
        self.max_response_bytes = max_response_bytes
        self.judge_mode = judge_mode
        self.tie_margin = tie_margin
        self.min_choice_mass = min_choice_mass
        self._session: aiohttp.ClientSession | None = None
        self._jitter = random.Random()

    def __repr__(self) -> str:
        return f"OpenAIBackend(base_url={self.base_url!r}, model={self.model!r})"

    @property
    def model_name(self) -> str:
        """The configured model name."""
        return self.model

    async def generate(self, question: str, *, query_id: bytes) -> Answer:
        """Answer ``question``; the text after ``FINAL ANSWER:`` is the answer.

        Raises
        ------
        BackendTimeout
            Every attempt timed out (or the last failure was a timeout).
        BackendError
            Retries exhausted, a non-retryable HTTP error, a reply that is not a chat
            completion, or an empty answer.
        """
        body = await self.call_chat(
            build_generation_messages(question),
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            query_id=query_id,
            op="generate",
        )
        content = _message_content(body)
        text, reasoning = parse_answer(content or "")
        if not text:
            raise BackendError(f"model {self.model!r} returned an empty answer")
        model = body.get("model")
        return Answer(
            text=text,
            reasoning=reasoning,
            model=model if isinstance(model, str) and model else self.model,
        )

    async def judge(
        self, question: str, answer_a: str, answer_b: str, *, query_id: bytes
    ) -> Judgement:
        """Judge ``answer_a`` against ``answer_b`` in :attr:`judge_mode`; an unparseable
        verdict (or, in ``"prob"`` mode, a reply without usable logprobs) is an abstention.

        Raises
        ------
        BackendTimeout, BackendError
            As for :meth:`generate` (transport failures only; never for the reply's text).
        """
        if self.judge_mode == "prob":
            return await self._judge_by_probability(question, answer_a, answer_b, query_id)
        messages = build_judge_messages(question, answer_a, answer_b, nonce=secrets.token_hex(8))
        body = await self.call_chat(
            messages,
            temperature=self.judge_temperature,
            max_tokens=self.judge_max_tokens,
            query_id=query_id,
            op="judge",
        )
        judgement = parse_judgement(_message_content(body))
        if judgement.outcome == "abstain":
            log.info(
                "judge reply unparseable, abstaining",
                extra={"query_id": query_id.hex(), "reason": judgement.rationale},
            )
        return judgement

    async def call_choice_probs(
        self, question: str, answer_a: str, answer_b: str, *, query_id: bytes
    ) -> ChoiceProbs | None:
        """The judge's next-token chances of ``A`` and ``B`` with the candidates in this order:
        one token, greedy, ``top_logprobs`` read; None when the reply carries no logprobs.

        Raises
        ------
        BackendTimeout, BackendError
            As for :meth:`generate`.
        """
        messages = build_judge_choice_messages(
            question, answer_a, answer_b, nonce=secrets.token_hex(8)
        )
        body = await self.call_chat(
            messages,
            temperature=0.0,
            max_tokens=1,
            query_id=query_id,
            op="judge",
            extra={"logprobs": True, "top_logprobs": TOP_LOGPROBS},
        )
        table = first_token_logprobs(body)
        return None if table is None else choice_probs_from_logprobs(table)

    async def _judge_by_probability(
        self, question: str, answer_a: str, answer_b: str, query_id: bytes
    ) -> Judgement:
        orders = ((answer_a, answer_b), (answer_b, answer_a))
        probs = [
            await self.call_choice_probs(question, first, second, query_id=query_id)
            for first, second in orders
        ]
        if probs[0] is None or probs[1] is None:
            log.warning(
                "judge reply has no logprobs, abstaining (does the server serve them?)",
                extra={"query_id": query_id.hex(), "model": self.model},
            )
            return Judgement(outcome="abstain", rationale="judge reply carried no logprobs")
        return judgement_from_orders(
            probs[0], probs[1], tie_margin=self.tie_margin, min_mass=self.min_choice_mass
        )

    async def health(self) -> bool:
        """True when ``GET {base_url}/models`` answers 200 with JSON within the health timeout."""
        try:
            session = self._get_session()
            timeout = aiohttp.ClientTimeout(total=self.health_timeout_s)
            async with session.get(
                f"{self.base_url}/models", headers=self._headers(), timeout=timeout
            ) as response:
                if response.status != 200:
                    return False
                await response.json(content_type=None)
                return True
        except (TimeoutError, aiohttp.ClientError, ValueError):
            return False

    async def close(self) -> None:
        """Close the HTTP session (a later call opens a new one)."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def call_chat(
        self,
        messages: list[ChatMessage],
        *,
        temperature: float,
        max_tokens: int,
        query_id: bytes,
        op: str,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """POST one chat completion with retries; return the decoded response object.

        ``extra`` adds request fields (``logprobs``, ``top_logprobs``); it cannot replace the
        model, messages, sampling settings or ``stream``.

        Raises
        ------
        BackendTimeout
            The last attempt timed out.
        BackendError
            The last attempt failed otherwise, or a failure that retrying cannot fix.
        """
        payload: dict[str, Any] = dict(extra or {})
        payload |= {
            "model": self.model,
            "messages": messages,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "stream": False,
        }
        url = f"{self.base_url}/chat/completions"
        attempts = 1 + self.max_retries
        failure = ""
        timed_out = False
        retry_after_s: float | None = None
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(self._backoff_s(attempt - 1, retry_after_s))
            retry_after_s = None
            start = time.perf_counter()
            try:
                status, raw, retry_after_s = await self._post(url, payload)
            except TimeoutError:
                timed_out, failure = True, f"no reply within {self.timeout_s:g} s"
            except aiohttp.ClientError as exc:
                timed_out, failure = False, f"connection failed ({type(exc).__name__})"
            else:
                timed_out = False
                if status == 200:
                    return self._decode(raw, op)
                failure = f"HTTP {status}{self._error_snippet(raw)}"
                if status not in RETRY_STATUSES:
                    raise BackendError(f"{self._where(op)}: {failure}")
            log.warning(
                "backend attempt failed",
                extra={
                    "query_id": query_id.hex(),
                    "op": op,
                    "attempt": attempt + 1,
                    "attempts": attempts,
                    "reason": failure,
                    "latency_ms": round((time.perf_counter() - start) * 1000, 1),
                },
            )
        message = f"{self._where(op)}: {failure} (after {attempts} attempt(s))"
        if timed_out:
            raise BackendTimeout(message)
        raise BackendError(message)

    async def _post(self, url: str, payload: dict[str, Any]) -> tuple[int, bytes, float | None]:
        session = self._get_session()
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with session.post(
            url, json=payload, headers=self._headers(), timeout=timeout
        ) as response:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > self.max_response_bytes:
                    raise BackendError(
                        f"{self._where('call')}: response larger than "
                        f"{self.max_response_bytes} bytes"
                    )
                chunks.append(chunk)
            retry_after_s = _retry_after_s(response.headers.get("Retry-After"))
            return response.status, b"".join(chunks), retry_after_s

    def _decode(self, raw: bytes, op: str) -> dict[str, Any]:
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise BackendError(f"{self._where(op)}: response is not JSON") from exc
        if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
            raise BackendError(f"{self._where(op)}: response is not a chat completion")
        if not body["choices"] or not isinstance(body["choices"][0], dict):
            raise BackendError(f"{self._where(op)}: chat completion has no choices")
        return body

    def _backoff_s(self, retry: int, retry_after_s: float | None) -> float:
        wait = self._jitter.uniform(0.0, min(self.max_backoff_s, self.backoff_s * 2**retry))
        if retry_after_s is not None:
            wait = max(wait, min(retry_after_s, self.max_backoff_s))
        return wait

    def _where(self, op: str) -> str:
        return f"openai backend {op} ({self.base_url}, model {self.model!r})"

    def _error_snippet(self, raw: bytes) -> str:
        """A short, key-free excerpt of an error body (OpenAI's ``error.message`` if present)."""
        text = raw.decode("utf-8", "replace")
        try:
            decoded = json.loads(text)
            if isinstance(decoded, dict) and isinstance(decoded.get("error"), dict):
                text = str(decoded["error"].get("message", ""))
        except ValueError:
            pass
        if self._api_key:
            text = text.replace(self._api_key, "[redacted]")
        text = " ".join(text.split())[:MAX_ERROR_SNIPPET_CHARS]
        return f": {text}" if text else ""

    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": "swarmrank-node"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session


def _message_content(body: dict[str, Any]) -> str | None:
    """The first choice's message text, or None when it has none (refusal, tool call)."""
    message = body["choices"][0].get("message")
    if not isinstance(message, dict):
        return None
    content = message.get("content")
    return content if isinstance(content, str) else None


def first_token_logprobs(body: Mapping[str, Any]) -> dict[str, float] | None:
    """The first generated token's alternatives as token -> natural-log probability, from the
    first choice's ``logprobs.content[0].top_logprobs`` (the chat-completions shape).

    The chosen token is added when the list lacks it; a spelling listed twice (distinct token
    ids, same text) gets the sum of their probabilities. None when the reply has no
    ``top_logprobs`` list or no well-formed, finite entry in it (the server ignored the request
    for logprobs, or serves none).
    """
    choices = body.get("choices")
    logprobs = choices[0].get("logprobs") if isinstance(choices, list) and choices else None
    content = logprobs.get("content") if isinstance(logprobs, Mapping) else None
    if not isinstance(content, list) or not content or not isinstance(content[0], Mapping):
        return None
    listed = content[0].get("top_logprobs")
    if not isinstance(listed, list):
        return None
    table: dict[str, float] = {}
    for token, value in filter(None, map(_token_logprob, listed)):
        earlier = table.get(token)
        table[token] = value if earlier is None else _logaddexp(earlier, value)
    chosen = _token_logprob(content[0])
    if table and chosen is not None and chosen[0] not in table:
        table[chosen[0]] = chosen[1]
    return table or None


def _token_logprob(entry: object) -> tuple[str, float] | None:
    """``(token, logprob)`` of one logprobs entry; None unless both are there and finite."""
    if not isinstance(entry, Mapping):
        return None
    token, value = entry.get("token"), entry.get("logprob")
    if not isinstance(token, str) or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return (token, float(value)) if math.isfinite(value) else None


def _logaddexp(a: float, b: float) -> float:
    """``log(exp(a) + exp(b))`` without overflow."""
    high, low = max(a, b), min(a, b)
    return high + math.log1p(math.exp(low - high))


def _retry_after_s(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header in its delta-seconds form; None otherwise."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
