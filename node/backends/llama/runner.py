"""The model's side of the ``llama`` backend: :class:`ModelRunner`, one loaded
``llama_cpp.Llama`` behind one lock and one worker thread, and :class:`CallDeadline`.

A ``llama_cpp.Llama`` is not thread-safe, so everything that touches it runs in the runner's
single worker thread under its lock. Calls queue on that thread instead of each holding a
thread of the shared default executor while they wait for the model.

Timeouts. Each call has a deadline ``timeout_s`` from its start, covering its wait in the
queue and for the lock. Generation checks it between tokens and stops there; a prompt
evaluation cannot be interrupted, so the awaiting side also gives up at the deadline (plus
:data:`TIMEOUT_GRACE_S`) and the worker thread finishes in the background, still holding the
lock. Failures of llama.cpp (plain exceptions) become :class:`~node.errors.BackendError`.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from node.errors import BackendError, BackendTimeout
from node.logging import get_logger
from node.models import ModelFormatError

log = get_logger("backend.llama")

TIMEOUT_GRACE_S = 2.0  # how long past its deadline the caller waits for a worker to notice it
INSTALL_HINT = "pip install 'llama-cpp-python>=0.3.16,<0.4'"

T = TypeVar("T")


@dataclass(frozen=True)
class CallDeadline:
    """One call's deadline (a ``time.monotonic()`` value) and how to report missing it."""

    op: str  # what the call does: "generate", "judge"
    deadline: float  # monotonic seconds
    timeout_s: float  # the budget the deadline was set from, for messages
    model: str  # the model's name, for messages

    def expired(self) -> bool:
        """True once the deadline has passed."""
        return time.monotonic() >= self.deadline

    def timeout(self, what: str = "", detail: str = "") -> BackendTimeout:
        """The error for this call (``what`` names the step, default the call's ``op``)."""
        return BackendTimeout(
            f"llama backend ({self.model}) {what or self.op}: no reply within "
            f"{self.timeout_s:g} s{detail}"
        )

    def check(self) -> None:
        """Raise :class:`~node.errors.BackendTimeout` if the deadline has passed."""
        if self.expired():
            raise self.timeout()


class _StopAtDeadline:
    """A stopping criterion for llama.cpp generation that trips at a monotonic deadline."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.tripped = False

    def __call__(self, input_ids: Any, logits: Any) -> bool:
        if time.monotonic() >= self.deadline:
            self.tripped = True
        return self.tripped


class ModelRunner:
    """One loaded ``llama_cpp.Llama``, its lock and its worker thread.

    :meth:`call` is the only way in from the event loop; the model methods (:meth:`tokenize`,
    :meth:`complete`, :meth:`next_logprobs` ...) are for work running inside a call, or for
    set-up before the first one.
    """

    def __init__(self, llm: Any, name: str) -> None:
        self.llm = llm
        self.name = name
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama")
        self.closed = False

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        name: str,
        n_ctx: int,
        n_threads: int | None,
        n_batch: int,
        seed: int,
        chat_format: str | None,
    ) -> ModelRunner:
        """Load the GGUF at ``path``.

        Raises
        ------
        BackendError
            ``llama-cpp-python`` is not installed.
        ModelFormatError
            llama.cpp cannot load the file.
        """
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise BackendError(
                f"backend llama needs llama-cpp-python, which is not installed: {INSTALL_HINT}"
            ) from exc
        try:
            llm = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_batch=min(n_batch, n_ctx),
                seed=seed & 0xFFFFFFFF,
                chat_format=chat_format,
                logits_all=False,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelFormatError(
                f"llama.cpp could not load {path}: {exc} (truncated or corrupt file, or an "
                "architecture this llama-cpp-python does not know)"
            ) from exc
        return cls(llm, name)

    async def call(self, op: str, work: Callable[[CallDeadline], T], *, timeout_s: float) -> T:
        """Run ``work(deadline)`` in the worker thread under the model lock, within
        ``timeout_s`` (plus a grace for a prompt evaluation that cannot be interrupted).

        Raises
        ------
        BackendTimeout
            The deadline passed (waiting for the model, or in ``work``).
        BackendError
            The runner is closed, or ``work`` failed.
        """
        if self.closed:
            raise BackendError(f"llama backend ({self.name}) is closed")
        call = CallDeadline(op, time.monotonic() + timeout_s, timeout_s, self.name)
        start = time.perf_counter()
        try:
            loop = asyncio.get_running_loop()
            result = await asyncio.wait_for(
                loop.run_in_executor(self._executor, self._run_locked, call, work),
                timeout=timeout_s + TIMEOUT_GRACE_S,
            )
        except TimeoutError as exc:
            raise call.timeout() from exc
        except RuntimeError as exc:  # the executor was shut down by close()
            raise BackendError(f"llama backend ({self.name}) is closed") from exc
        log.debug(
            "llama call done",
            extra={"op": op, "latency_ms": round((time.perf_counter() - start) * 1000, 1)},
        )
        return result

    def _run_locked(self, call: CallDeadline, work: Callable[[CallDeadline], T]) -> T:
        if call.expired():  # waited in the queue past its deadline
            raise call.timeout(detail=" (model busy)")
        if not self._lock.acquire(timeout=max(call.deadline - time.monotonic(), 0.0)):
            raise call.timeout(detail=" (model busy)")
        try:
            if self.closed:
                raise BackendError(f"llama backend ({self.name}) is closed")
            return work(call)
        except (BackendError, MemoryError):
            raise
        except Exception as exc:  # llama.cpp surfaces failures as plain exceptions
            raise BackendError(
                f"llama backend ({self.name}) {call.op} failed: {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            self._lock.release()

    async def close(self) -> None:
        """Free the model (waiting for a running call to finish); later calls raise."""
        if self.closed:
            return
        self.closed = True
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._free_locked)
        finally:
            self._executor.shutdown(wait=False)

    def close_now(self) -> None:
        """Free the model from the calling thread (set-up failed; no call has run)."""
        self.closed = True
        self._free_locked()
        self._executor.shutdown(wait=False)

    def _free_locked(self) -> None:
        with self._lock:
            close = getattr(self.llm, "close", None)
            if callable(close):
                close()

    # --- the model itself: call only from work inside call(), or during set-up ---

    def tokenize(self, text: str, *, bos: bool, special: bool = True) -> list[int]:
        """``text`` as the model's tokens (``special``: parse special-token spellings)."""
        return [
            int(t) for t in self.llm.tokenize(text.encode("utf-8"), add_bos=bos, special=special)
        ]

    def token_text(self, token: int) -> str:
        """The text of one token (special tokens spelled out); "" for a negative id."""
        if token < 0:
            return ""
        return bytes(self.llm.detokenize([token], special=True)).decode("utf-8", "replace")

    def complete(
        self,
        tokens: Sequence[int],
        *,
        max_tokens: int,
        temperature: float,
        seed: int,
        stop: list[str],
        call: CallDeadline,
    ) -> str:
        """Generate after ``tokens``, stopping at ``stop``, ``max_tokens`` or the deadline.

        Raises
        ------
        BackendTimeout
            The deadline passed during generation.
        BackendError
            llama.cpp returned no choices.
        """
        from llama_cpp import StoppingCriteriaList

        stopper = _StopAtDeadline(call.deadline)
        result = self.llm.create_completion(
            prompt=list(tokens),
            max_tokens=max_tokens,
            temperature=temperature,
            seed=seed,
            stop=stop,
            stopping_criteria=StoppingCriteriaList([stopper]),
        )
        if stopper.tripped:
            raise call.timeout("generation")
        choices = result.get("choices") if isinstance(result, dict) else None
        if not choices:
            raise BackendError(f"llama backend ({self.name}): completion has no choices")
        return str(choices[0].get("text") or "")

    def next_logprobs(self, tokens: list[int]) -> npt.NDArray[np.float64]:
        """Evaluate ``tokens``, re-using the longest cached prefix (so extending the previous
        call by one token costs one decode), and return the next token's log-probabilities."""
        import llama_cpp

        llm = self.llm
        keep = 0
        for old, new in zip(llm.input_ids[: llm.n_tokens], tokens, strict=False):
            if old != new:
                break
            keep += 1
        keep = min(keep, len(tokens) - 1)  # at least one token is evaluated, to get logits
        llm.n_tokens = keep
        llm.eval(tokens[keep:])
        pointer = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        logits = np.ctypeslib.as_array(pointer, shape=(llm.n_vocab(),)).astype(np.float64)
        top = float(logits.max())
        result: npt.NDArray[np.float64] = logits - (
            top + math.log(float(np.exp(logits - top).sum()))
        )
        return result
