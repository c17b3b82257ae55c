"""The ``llama`` backend: :class:`LlamaBackend`, a GGUF model run in-process by llama.cpp
(``llama-cpp-python``) behind :class:`~node.backends.base.ModelBackend`.

This module is the composition: loading (a shipped model by name or a GGUF path, resolved and
verified by :mod:`node.models`; any failure is raised by the constructor, never at the first
request), options, and the three calls. The model's worker thread, lock and deadlines live in
:mod:`node.backends.llama.runner`, the prompt styles in :mod:`node.backends.llama.prompting`,
the judge modes in :mod:`node.backends.llama.judging`.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import cast

from node.backends.base import Answer, Judgement
from node.backends.choice import DEFAULT_MIN_MASS, DEFAULT_TIE_MARGIN, ChoiceProbs
from node.backends.llama.judging import (
    JUDGE_MODES,
    MIN_GENERATE_TOKENS,
    JudgeMode,
    JudgeOptions,
    LlamaJudge,
)
from node.backends.llama.prompting import PROMPT_STYLES, PromptBuilder, PromptStyle
from node.backends.llama.runner import CallDeadline, ModelRunner
from node.backends.prompts import parse_answer
from node.backends.sim import call_seed
from node.errors import BackendError
from node.logging import get_logger
from node.models import ModelFormatError, ModelInfo, resolve_model

log = get_logger("backend.llama")


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
        ``"text"``, ``"prob"`` or ``"likelihood"`` (see :mod:`node.backends.llama.judging`).
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
        _check_options(judge_mode, prompt_style, n_ctx, max_tokens, judge_max_tokens, timeout_s)
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
        start = time.perf_counter()
        self._model = ModelRunner.load(
            self.path,
            name=self._name,
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_batch=n_batch,
            seed=seed,
            chat_format=self.chat_format if self.prompt_style == "chat" else None,
        )
        self.load_s = time.perf_counter() - start
        try:
            self._prompts = PromptBuilder(
                self._model, style=self.prompt_style, chat_format=self.chat_format
            )
            self._judge = LlamaJudge(self._model, self._prompts, n_ctx=n_ctx)
        except BaseException:
            self._model.close_now()
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

        def work(call: CallDeadline) -> str:
            tokens, stop = self._prompts.generation(question)
            room = self.n_ctx - len(tokens)
            if room < MIN_GENERATE_TOKENS:
                raise BackendError(
                    f"llama backend ({self._name}): the question fills the context "
                    f"({len(tokens)} of {self.n_ctx} tokens)"
                )
            return self._model.complete(
                tokens,
                max_tokens=min(self.max_tokens, room),
                temperature=self.temperature,
                seed=seed,
                stop=stop,
                call=call,
            )

        text = await self._model.call("generate", work, timeout_s=self.timeout_s)
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
        options = JudgeOptions(
            mode=self.judge_mode,
            max_tokens=self.judge_max_tokens,
            tie_margin=self.tie_margin,
            min_choice_mass=self.min_choice_mass,
            seed=call_seed(self.seed, "judge", query_id, question, answer_a, answer_b) & 0xFFFFFFFF,
        )
        nonce = secrets.token_hex(8)
        work = self._judge.work(question, answer_a, answer_b, nonce=nonce, options=options)
        judgement = await self._model.call("judge", work, timeout_s=self.timeout_s)
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
        work = self._judge.letter_probs_work(question, answer_a, answer_b, secrets.token_hex(8))
        return await self._model.call("judge", work, timeout_s=self.timeout_s)

    async def health(self) -> bool:
        """True while the model is loaded."""
        return not self._model.closed

    async def close(self) -> None:
        """Free the model (waiting for a running call to finish); later calls raise."""
        await self._model.close()


def _check_options(
    judge_mode: str,
    prompt_style: str | None,
    n_ctx: int,
    max_tokens: int,
    judge_max_tokens: int,
    timeout_s: float,
) -> None:
    """Raise ValueError for an option out of range."""
    if judge_mode not in JUDGE_MODES:
        raise ValueError(f"judge_mode must be one of {', '.join(JUDGE_MODES)}")
    if prompt_style is not None and prompt_style not in PROMPT_STYLES:
        raise ValueError(f"prompt_style must be one of {', '.join(PROMPT_STYLES)}")
    if n_ctx < 256 or max_tokens < 1 or judge_max_tokens < 1 or timeout_s <= 0:
        raise ValueError("need n_ctx >= 256, max_tokens >= 1 and timeout_s > 0")
