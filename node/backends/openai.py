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

The API key is sent only in the ``Authorization`` header; it is not in ``repr``, log records or
error messages (a server that echoes it back in an error body has it redacted).
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import time
from typing import Any

import aiohttp

from node.backends.base import Answer, Judgement
from node.backends.prompts import (
    ChatMessage,
    build_generation_messages,
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
        Sampling settings for :meth:`judge` (greedy by default: a verdict should be stable).
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
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        if not model:
            raise ValueError("model must be a non-empty model name")
        if timeout_s <= 0 or health_timeout_s <= 0:
            raise ValueError("timeouts must be positive")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
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
        """Judge ``answer_a`` against ``answer_b``; an unparseable verdict is an abstention.

        Raises
        ------
        BackendTimeout, BackendError
            As for :meth:`generate` (transport failures only; never for the reply's text).
        """
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
    ) -> dict[str, Any]:
        """POST one chat completion with retries; return the decoded response object.

        Raises
        ------
        BackendTimeout
            The last attempt timed out.
        BackendError
            The last attempt failed otherwise, or a failure that retrying cannot fix.
        """
        payload = {
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


def _retry_after_s(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header in its delta-seconds form; None otherwise."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
