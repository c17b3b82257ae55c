"""The ``llama`` backend: :class:`LlamaBackend`, a GGUF model run in-process by llama.cpp
(``llama-cpp-python``) behind :class:`~node.backends.base.ModelBackend`.

This module owns the runtime side: loading (a shipped model by name or a GGUF path, resolved
and verified by :mod:`node.models`; any failure is raised by the constructor, never at the
first request), rendering prompts to tokens, running the model in its own worker thread under
one lock per loaded model (a ``llama_cpp.Llama`` is not thread-safe), per-call deadlines and the
mapping of failures to :class:`~node.errors.BackendError` / :class:`~node.errors.BackendTimeout`.
What is asked lives in :mod:`node.backends.prompts`; how next-token chances become a verdict
lives in :mod:`node.backends.choice`.

Prompt styles. ``"chat"`` renders chat messages with the GGUF's own chat template or a named
llama.cpp ``chat_format`` (system text is folded into the first user turn for formats that
drop system messages, such as ``gemma``). ``"completion"`` is for base models that continue
text: a few-shot ``Question:/Answer:`` prompt for answers, and the judge prompts flattened to
text ending in a cue.

Judge modes. ``"text"`` generates the ``VERDICT: A|B|TIE`` reply of the text protocol and
parses it strictly. ``"prob"`` generates nothing: it evaluates the one-letter judge prompt
once per order (candidates as given, then swapped), reads the next-token probabilities of
``A`` and ``B`` from the logits, and combines the two orders so that position bias cancels
(see :mod:`node.backends.choice`). The second order re-uses the first one's cached prefix.
``"likelihood"`` has no order at all: it scores each candidate by the mean log probability per
token the model gives it as its own answer to the question (the generation prompt, then
``FINAL ANSWER:`` for chat models, then the candidate), one token at a time after the shared,
cached prompt.

Timeouts. Each call has a deadline ``timeout_s`` from its start, covering its wait in the
model's one-thread queue and for its lock. Generation checks it between tokens and stops there;
a prompt evaluation cannot be interrupted, so the awaiting side also gives up at the deadline
(plus a short grace) and the worker thread finishes in the background, still holding the lock.

A likelihood judge scores candidates as answers, so a candidate written to be likely (the
question repeated, filler) can score well; it is one signal among the swarm's, not a defence.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import numpy as np
import numpy.typing as npt

from node.backends.base import Answer, Judgement
from node.backends.choice import (
    CHOICE_SPELLINGS,
    DEFAULT_MIN_MASS,
    DEFAULT_TIE_MARGIN,
    ChoiceProbs,
    judgement_from_likelihoods,
    judgement_from_orders,
)
from node.backends.prompts import (
    COMPLETION_STOP,
    FINAL_ANSWER_PREFIX,
    VERDICT_PREFIX,
    ChatMessage,
    build_completion_generation_prompt,
    build_generation_messages,
    build_judge_choice_messages,
    build_judge_messages,
    messages_as_completion_prompt,
    parse_answer,
    parse_judgement,
)
from node.backends.sim import call_seed
from node.errors import BackendError, BackendTimeout
from node.logging import get_logger
from node.models import ModelFormatError, ModelInfo, resolve_model

log = get_logger("backend.llama")

JudgeMode = Literal["text", "prob", "likelihood"]
PromptStyle = Literal["chat", "completion"]
JUDGE_MODES: tuple[str, ...] = ("text", "prob", "likelihood")
PROMPT_STYLES: tuple[str, ...] = ("chat", "completion")
#: chat formats whose llama.cpp formatter silently drops system messages
SYSTEMLESS_CHAT_FORMATS = frozenset({"gemma", "mistral-instruct"})
TIMEOUT_GRACE_S = 2.0  # how long past its deadline the caller waits for a worker to notice it
MIN_GENERATE_TOKENS = 16  # fewer tokens left in the context than this: the question is too long
JUDGE_CHOICE_CUE = "Better candidate:"
MAX_SCORED_ANSWER_TOKENS = 64  # "likelihood" judging scores at most this many tokens per answer
INSTALL_HINT = "pip install 'llama-cpp-python>=0.3.16,<0.4'"

T = TypeVar("T")


class _Deadline:
    """A stopping criterion for llama.cpp generation that trips at a monotonic deadline."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.tripped = False

    def __call__(self, input_ids: Any, logits: Any) -> bool:
        if time.monotonic() >= self.deadline:
            self.tripped = True
        return self.tripped


class LlamaBackend:
    """A GGUF model run in-process by llama.cpp.

    Parameters
    ----------
    model
        A shipped model name (``"smollm2-135m"``, ``"gemma3-270m"``; see
        ``swarmrank models list``) or a path to a GGUF file.
    cache_dir
        Where chunked shipped models are assembled and hash stamps kept (``<data dir>/models``).
    model_sha256
        Expected sha256 of a GGUF given by path (shipped models carry a pinned one).
    chat_format
        llama.cpp chat format name (``"chatml"``, ``"gemma"``, ``"llama-3"`` ...); None uses the
        shipped model's setting, else the chat template inside the GGUF.
    prompt_style
        ``"chat"`` or ``"completion"`` (base models); None uses the shipped model's setting,
        else ``"chat"``.
    n_ctx, n_threads, n_batch
        llama.cpp context length (tokens), CPU threads (None: llama.cpp's choice) and batch.
    temperature, max_tokens, seed
        Sampling for :meth:`generate`. Each call's sampler seed derives from ``seed``, the
        query id and the question, so one node answers one round reproducibly.
    judge_mode
        ``"text"`` or ``"prob"`` (see the module docstring).
    judge_max_tokens
        Generation limit of a ``"text"`` judgement (a ``"prob"`` one generates nothing).
    tie_margin, min_choice_mass
        ``"prob"`` mode: a verdict within ``tie_margin`` of 0.5 is a tie; less than
        ``min_choice_mass`` of probability on the two letters is an abstention.
    timeout_s
        Deadline of one call, including the wait for the model lock.
    name
        The model name reported to the swarm; defaults to the shipped name or the file stem.

    Raises
    ------
    ModelNotFound, ModelCorrupt, ModelFormatError
        The model cannot be found, does not verify, or llama.cpp cannot load it.
    BackendError
        ``llama-cpp-python`` is not installed.
    ValueError
        An option out of range.
    """

    def __init__(
        self,
        model: str | Path,
        *,
        cache_dir: Path,
        model_sha256: str = "",
        chat_format: str | None = None,
        prompt_style: PromptStyle | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        n_batch: int = 512,
        temperature: float = 0.2,
        max_tokens: int = 256,
        seed: int = 0,
        judge_mode: JudgeMode = "prob",
        judge_max_tokens: int = 96,
        tie_margin: float = DEFAULT_TIE_MARGIN,
        min_choice_mass: float = DEFAULT_MIN_MASS,
        timeout_s: float = 60.0,
        name: str | None = None,
    ) -> None:
        if judge_mode not in JUDGE_MODES:
            raise ValueError(f"judge_mode must be one of {', '.join(JUDGE_MODES)}")
        if prompt_style is not None and prompt_style not in PROMPT_STYLES:
            raise ValueError(f"prompt_style must be one of {', '.join(PROMPT_STYLES)}")
        if n_ctx < 256 or max_tokens < 1 or judge_max_tokens < 1 or timeout_s <= 0:
            raise ValueError("need n_ctx >= 256, max_tokens >= 1 and timeout_s > 0")
        if not 0.0 <= tie_margin < 0.5:
            raise ValueError("tie_margin must be in [0, 0.5)")
        self.info: ModelInfo = resolve_model(str(model), cache_dir, sha256=model_sha256)
        if self.info.path is None:  # pragma: no cover - resolve_model returns a file or raises
            raise ModelFormatError(f"model {model!r} resolved to no file")
        self.path: Path = self.info.path
        self.chat_format = chat_format if chat_format is not None else self.info.chat_format
        self.prompt_style: PromptStyle = cast(
            PromptStyle, prompt_style or self.info.prompt_style or "chat"
        )
        self.n_ctx = n_ctx
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed
        self.judge_mode: JudgeMode = judge_mode
        self.judge_max_tokens = judge_max_tokens
        self.tie_margin = tie_margin
        self.min_choice_mass = min_choice_mass
        self.timeout_s = timeout_s
        self._name = name or (Path(self.info.name).stem if self.info.source == "file" else "")
        self._name = self._name or self.info.name
        self._lock = threading.Lock()
        # One worker thread per model: calls queue here instead of each holding a thread of
        # the shared default executor while it waits for the model.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama")
        self._closed = False
        start = time.perf_counter()
        self._llm = _load_llama(
            self.path,
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_batch=n_batch,
            seed=seed,
            chat_format=self.chat_format if self.prompt_style == "chat" else None,
        )
        self.load_s = time.perf_counter() - start
        try:
            self._render_chat = self._chat_renderer() if self.prompt_style == "chat" else None
            self._choice_ids = {
                letter: self._single_token_ids(spellings)
                for letter, spellings in CHOICE_SPELLINGS.items()
            }
        except BaseException:
            self._close_locked()
            self._executor.shutdown(wait=False)
            raise
        log.info(
            "llama model loaded",
            extra={
                "model": self._name,
                "path": str(self.path),
                "prompt_style": self.prompt_style,
                "judge_mode": judge_mode,
                "latency_ms": round(self.load_s * 1000, 1),
            },
        )

    def __repr__(self) -> str:
        return f"LlamaBackend(model={self._name!r}, path={str(self.path)!r})"

    @property
    def model_name(self) -> str:
        """The shipped model's name, the given ``name``, or the GGUF file's stem."""
        return self._name

    async def generate(self, question: str, *, query_id: bytes) -> Answer:
        """Answer ``question`` (see :class:`LlamaBackend` for sampling and seeding).

        Raises
        ------
        BackendTimeout
            No answer before the deadline.
        BackendError
            The model failed, produced an empty answer, or the question fills the context.
        """
        seed = call_seed(self.seed, "generate", query_id, question) & 0xFFFFFFFF

        def work(deadline: float) -> str:
            if self.prompt_style == "chat":
                tokens, stop = self._chat_tokens(build_generation_messages(question))
            else:
                tokens = self._tokens(build_completion_generation_prompt(question), bos=True)
                stop = list(COMPLETION_STOP)
            room = self.n_ctx - len(tokens)
            if room < MIN_GENERATE_TOKENS:
                raise BackendError(
                    f"llama backend ({self._name}): the question fills the context "
                    f"({len(tokens)} of {self.n_ctx} tokens)"
                )
            return self._complete(
                tokens,
                max_tokens=min(self.max_tokens, room),
                temperature=self.temperature,
                seed=seed,
                stop=stop,
                deadline=deadline,
            )

        text = await self._call("generate", work)
        if self.prompt_style == "completion":
            answer, reasoning = text.strip(), ""
        else:
            answer, reasoning = parse_answer(text)
        if not answer:
            raise BackendError(f"llama backend ({self._name}): the model gave an empty answer")
        return Answer(text=answer, reasoning=reasoning, model=self._name)

    async def judge(
        self, question: str, answer_a: str, answer_b: str, *, query_id: bytes
    ) -> Judgement:
        """Judge ``answer_a`` against ``answer_b`` in this backend's ``judge_mode``.

        A prompt that does not fit the context, or an unreadable verdict, is an abstention.

        Raises
        ------
        BackendTimeout, BackendError
            The model did not answer in time or failed.
        """
        nonce = secrets.token_hex(8)
        if self.judge_mode == "prob":
            work = self._prob_judge_work(question, answer_a, answer_b, nonce)
        elif self.judge_mode == "likelihood":
            work = self._likelihood_judge_work(question, answer_a, answer_b)
        else:
            seed = call_seed(self.seed, "judge", query_id, question, answer_a, answer_b)
            work = self._text_judge_work(question, answer_a, answer_b, nonce, seed & 0xFFFFFFFF)
        judgement = await self._call("judge", work)
        if judgement.outcome == "abstain":
            log.info(
                "judge abstained",
                extra={"query_id": query_id.hex(), "reason": judgement.rationale[:200]},
            )
        return judgement

    async def letter_probs(self, question: str, answer_a: str, answer_b: str) -> ChoiceProbs:
        """The judge's next-token chances of ``A`` and ``B`` for one order only (a diagnostic:
        position bias shows as ``share_a`` far from 0.5 in both orders).

        Raises
        ------
        BackendTimeout, BackendError
            As for :meth:`judge`; also when the prompt does not fit the context.
        """
        nonce = secrets.token_hex(8)

        def work(deadline: float) -> ChoiceProbs:
            tokens = self._choice_tokens(question, answer_a, answer_b, nonce)
            if len(tokens) >= self.n_ctx:
                raise BackendError(f"llama backend ({self._name}): judge prompt exceeds context")
            return self._choice_probs(tokens)

        return await self._call("judge", work)

    async def health(self) -> bool:
        """True while the model is loaded."""
        return not self._closed

    async def close(self) -> None:
        """Free the model (waiting for a running call to finish); later calls raise."""
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._close_locked)
        finally:
            self._executor.shutdown(wait=False)

    # --- judging: each returns the work to run in the worker thread under the lock ---

    def _text_judge_work(
        self, question: str, answer_a: str, answer_b: str, nonce: str, seed: int
    ) -> Callable[[float], Judgement]:
        messages = build_judge_messages(question, answer_a, answer_b, nonce=nonce)

        def work(deadline: float) -> Judgement:
            if self.prompt_style == "chat":
                tokens, stop = self._chat_tokens(messages)
                prefix = ""
            else:
                prompt = messages_as_completion_prompt(messages, VERDICT_PREFIX)
                tokens, stop = self._tokens(prompt, bos=True), list(COMPLETION_STOP)
                prefix = VERDICT_PREFIX
            room = self.n_ctx - len(tokens)
            if room < MIN_GENERATE_TOKENS:
                return _too_long(len(tokens), self.n_ctx)
            text = self._complete(
                tokens,
                max_tokens=min(self.judge_max_tokens, room),
                temperature=0.0,
                seed=seed,
                stop=stop,
                deadline=deadline,
            )
            return parse_judgement(prefix + text)

        return work

    def _prob_judge_work(
        self, question: str, answer_a: str, answer_b: str, nonce: str
    ) -> Callable[[float], Judgement]:
        def work(deadline: float) -> Judgement:
            prompts = [
                self._choice_tokens(question, first, second, nonce)
                for first, second in ((answer_a, answer_b), (answer_b, answer_a))
            ]
            longest = max(len(p) for p in prompts)
            if longest >= self.n_ctx:
                return _too_long(longest, self.n_ctx)
            first = self._choice_probs(prompts[0])
            if time.monotonic() >= deadline:
                raise BackendTimeout(self._timeout_message("judge"))
            second = self._choice_probs(prompts[1])
            return judgement_from_orders(
                first, second, tie_margin=self.tie_margin, min_mass=self.min_choice_mass
            )

        return work

    def _likelihood_judge_work(
        self, question: str, answer_a: str, answer_b: str
    ) -> Callable[[float], Judgement]:
        def work(deadline: float) -> Judgement:
            if not (answer_a.strip() and answer_b.strip()):
                return Judgement(outcome="abstain", rationale="an empty candidate")
            if self.prompt_style == "chat":
                # The assistant turn is pre-filled with the final-answer marker the generation
                # prompt asks for: scoring the bare answer as the reply's first words measured
                # at chance on SmolLM2 (47% of easy pairs), after the marker 73%.
                prompt = self._chat_tokens(build_generation_messages(question))[0]
                prompt += self._answer_tokens(FINAL_ANSWER_PREFIX)
            else:
                prompt = self._tokens(build_completion_generation_prompt(question), bos=True)
            answers = [self._answer_tokens(" " + a.strip()) for a in (answer_a, answer_b)]
            needed = len(prompt) + max(len(a) for a in answers)
            if needed >= self.n_ctx:
                return _too_long(needed, self.n_ctx)
            score_a = self._mean_logprob(prompt, answers[0], deadline)
            score_b = self._mean_logprob(prompt, answers[1], deadline)
            return judgement_from_likelihoods(score_a, score_b, tie_margin=self.tie_margin)

        return work

    def _answer_tokens(self, text: str) -> list[int]:
        tokens = self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        return list(tokens)[:MAX_SCORED_ANSWER_TOKENS]

    def _choice_tokens(self, question: str, first: str, second: str, nonce: str) -> list[int]:
        messages = build_judge_choice_messages(question, first, second, nonce=nonce)
        if self.prompt_style == "chat":
            return self._chat_tokens(messages)[0]
        return self._tokens(messages_as_completion_prompt(messages, JUDGE_CHOICE_CUE), bos=True)

    # --- the worker thread side: everything that touches the model holds self._lock ---

    async def _call(self, op: str, work: Callable[[float], T]) -> T:
        """Run ``work(deadline)`` in a thread under the model lock, within ``timeout_s``."""
        if self._closed:
            raise BackendError(f"llama backend ({self._name}) is closed")
        deadline = time.monotonic() + self.timeout_s
        start = time.perf_counter()

        def locked() -> T:
            if time.monotonic() >= deadline:  # waited in the queue past its deadline
                raise BackendTimeout(self._timeout_message(op) + " (model busy)")
            if not self._lock.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
                raise BackendTimeout(self._timeout_message(op) + " (model busy)")
            try:
                if self._closed:
                    raise BackendError(f"llama backend ({self._name}) is closed")
                return work(deadline)
            except (BackendError, MemoryError):
                raise
            except Exception as exc:  # llama.cpp surfaces failures as plain exceptions
                raise BackendError(
                    f"llama backend ({self._name}) {op} failed: {type(exc).__name__}: {exc}"
                ) from exc
            finally:
                self._lock.release()

        try:
            loop = asyncio.get_running_loop()
            result = await asyncio.wait_for(
                loop.run_in_executor(self._executor, locked),
                timeout=self.timeout_s + TIMEOUT_GRACE_S,
            )
        except TimeoutError as exc:
            raise BackendTimeout(self._timeout_message(op)) from exc
        except RuntimeError as exc:  # the executor was shut down by close()
            raise BackendError(f"llama backend ({self._name}) is closed") from exc
        log.debug(
            "llama call done",
            extra={"op": op, "latency_ms": round((time.perf_counter() - start) * 1000, 1)},
        )
        return result

    def _complete(
        self,
        tokens: Sequence[int],
        *,
        max_tokens: int,
        temperature: float,
        seed: int,
        stop: list[str],
        deadline: float,
    ) -> str:
        from llama_cpp import StoppingCriteriaList

        stopper = _Deadline(deadline)
        result = self._llm.create_completion(
            prompt=list(tokens),
            max_tokens=max_tokens,
            temperature=temperature,
            seed=seed,
            stop=stop,
            stopping_criteria=StoppingCriteriaList([stopper]),
        )
        if stopper.tripped:
            raise BackendTimeout(self._timeout_message("generation"))
        choices = result.get("choices") if isinstance(result, dict) else None
        if not choices:
            raise BackendError(f"llama backend ({self._name}): completion has no choices")
        return str(choices[0].get("text") or "")

    def _choice_probs(self, tokens: list[int]) -> ChoiceProbs:
        """The next-token chances of the two letters after ``tokens``."""
        logprobs = self._next_logprobs(tokens)

        def mass(ids: tuple[int, ...]) -> float:
            return min(sum(math.exp(float(logprobs[i])) for i in ids), 1.0)

        return ChoiceProbs(p_a=mass(self._choice_ids["A"]), p_b=mass(self._choice_ids["B"]))

    def _mean_logprob(self, prompt: list[int], answer: list[int], deadline: float) -> float:
        """Mean log P(answer token | prompt and the answer so far), one decode per token."""
        logprobs = self._next_logprobs(prompt)
        total = float(logprobs[answer[0]])
        for seen in range(1, len(answer)):
            if time.monotonic() >= deadline:
                raise BackendTimeout(self._timeout_message("judge"))
            logprobs = self._next_logprobs([*prompt, *answer[:seen]])
            total += float(logprobs[answer[seen]])
        return total / len(answer)

    def _next_logprobs(self, tokens: list[int]) -> npt.NDArray[np.float64]:
        """Evaluate ``tokens``, re-using the longest cached prefix (so extending the previous
        call by one token costs one decode), and return the next token's log-probabilities."""
        import llama_cpp

        llm = self._llm
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

    def _close_locked(self) -> None:
        with self._lock:
            close = getattr(self._llm, "close", None)
            if callable(close):
                close()

    # --- prompts to tokens ---

    def _tokens(self, text: str, *, bos: bool) -> list[int]:
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=bos, special=True))

    def _chat_tokens(self, messages: list[ChatMessage]) -> tuple[list[int], list[str]]:
        if self._render_chat is None:  # pragma: no cover - only chat style renders chats
            raise BackendError("chat rendering used in completion style")
        if self.chat_format in SYSTEMLESS_CHAT_FORMATS:
            messages = _fold_system(messages)
        prompt, stop, bos = self._render_chat(messages)
        return self._tokens(prompt, bos=bos), stop

    def _chat_renderer(self) -> Callable[[list[ChatMessage]], tuple[str, list[str], bool]]:
        """``messages -> (prompt text, stop strings, whether to add BOS)`` for this model.

        Raises
        ------
        ModelFormatError
            No such chat format, or no ``chat_format`` given and the GGUF has no template.
        """
        from llama_cpp import llama_chat_format

        formatter: Any
        if self.chat_format is None:
            template = self._llm.metadata.get("tokenizer.chat_template")
            if not template:
                raise ModelFormatError(
                    f"model {self._name!r} has no chat template in its GGUF: set chat_format "
                    "(e.g. chatml) or use prompt_style completion for a base model"
                )
            formatter = llama_chat_format.Jinja2ChatFormatter(
                template=template,
                eos_token=self._token_text(self._llm.token_eos()),
                bos_token=self._token_text(self._llm.token_bos()),
                stop_token_ids=[self._llm.token_eos()],
            )
        else:
            formatter = getattr(
                llama_chat_format, "format_" + self.chat_format.replace("-", "_"), None
            ) or getattr(llama_chat_format, "format_" + self.chat_format.replace("-", ""), None)
            if formatter is None:
                raise ModelFormatError(
                    f"unknown chat_format {self.chat_format!r} for model {self._name!r}"
                )

        def render(messages: list[ChatMessage]) -> tuple[str, list[str], bool]:
            result = formatter(messages=messages)
            stop = result.stop
            stops = [] if stop is None else [stop] if isinstance(stop, str) else list(stop)
            return str(result.prompt), stops, not result.added_special

        return render

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return bytes(self._llm.detokenize([token], special=True)).decode("utf-8", "replace")

    def _single_token_ids(self, spellings: tuple[str, ...]) -> tuple[int, ...]:
        ids: list[int] = []
        for text in spellings:
            tokens = self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
            if len(tokens) == 1 and tokens[0] not in ids:
                ids.append(int(tokens[0]))
        if not ids:
            raise ModelFormatError(
                f"model {self._name!r}: no single-token spelling of {spellings[0]!r}; "
                "use judge_mode text"
            )
        return tuple(ids)

    def _timeout_message(self, op: str) -> str:
        return f"llama backend ({self._name}) {op}: no reply within {self.timeout_s:g} s"


def _load_llama(
    path: Path,
    *,
    n_ctx: int,
    n_threads: int | None,
    n_batch: int,
    seed: int,
    chat_format: str | None,
) -> Any:
    """A loaded ``llama_cpp.Llama``; typed errors for a missing runtime or an unloadable file."""
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise BackendError(
            f"backend llama needs llama-cpp-python, which is not installed: {INSTALL_HINT}"
        ) from exc
    try:
        return Llama(
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


def _fold_system(messages: list[ChatMessage]) -> list[ChatMessage]:
    """Put system text at the top of the first user turn (for formats without a system role)."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if system and rest and rest[0]["role"] == "user":
        rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
    elif system:
        rest.insert(0, {"role": "user", "content": system})
    return rest


def _too_long(tokens: int, n_ctx: int) -> Judgement:
    return Judgement(
        outcome="abstain",
        rationale=f"judge prompt does not fit the context ({tokens} of {n_ctx} tokens)",
    )
