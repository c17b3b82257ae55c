"""The three judge modes of the ``llama`` backend: :class:`LlamaJudge` builds the work that one
judgement runs in the model's worker thread (see :mod:`node.backends.llama.runner`).

``"text"`` generates the ``VERDICT: A|B|TIE`` reply of the text protocol and parses it
strictly. ``"prob"`` generates nothing: it evaluates the one-letter judge prompt once per order
(candidates as given, then swapped), reads the next-token probabilities of ``A`` and ``B`` from
the logits, and combines the two orders so that position bias cancels (see
:mod:`node.backends.choice`). The second order re-uses the first one's cached prefix.
``"likelihood"`` has no order at all: it scores each candidate by the mean log probability per
token the model gives it as its own answer to the question (the generation prompt, then
``FINAL ANSWER:`` for chat models, then the candidate), one token at a time after the shared,
cached prompt.

A likelihood judge scores candidates as answers, so a candidate written to be likely (the
question repeated, filler) can score well; it is one signal among the swarm's, not a defence.
A prompt that does not fit the context is an abstention, as is an unreadable verdict.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from node.backends.base import Judgement
from node.backends.choice import (
    CHOICE_SPELLINGS,
    ChoiceProbs,
    judgement_from_likelihoods,
    judgement_from_orders,
)
from node.backends.llama.prompting import PromptBuilder
from node.backends.llama.runner import CallDeadline, ModelRunner
from node.backends.prompts import parse_judgement
from node.errors import BackendError
from node.models import ModelFormatError

JudgeMode = Literal["text", "prob", "likelihood"]
JUDGE_MODES: tuple[str, ...] = ("text", "prob", "likelihood")
MIN_GENERATE_TOKENS = 16  # fewer tokens left in the context than this: the prompt is too long

JudgeWork = Callable[[CallDeadline], Judgement]


@dataclass(frozen=True)
class JudgeOptions:
    """How one judgement is made (read from the backend at each call)."""

    mode: JudgeMode
    max_tokens: int  # generation limit of a "text" verdict
    tie_margin: float  # a verdict within this of 0.5 is a tie ("prob", "likelihood")
    min_choice_mass: float  # less chance than this on the two letters abstains ("prob")
    seed: int  # sampler seed of a "text" verdict


class LlamaJudge:
    """The judge modes over one model and its prompts.

    Raises
    ------
    ModelFormatError
        The model's vocabulary has no single-token spelling of ``A`` or of ``B``.
    """

    def __init__(self, model: ModelRunner, prompts: PromptBuilder, *, n_ctx: int) -> None:
        self.model = model
        self.prompts = prompts
        self.n_ctx = n_ctx
        self.choice_ids = {
            letter: single_token_ids(model, spellings)
            for letter, spellings in CHOICE_SPELLINGS.items()
        }

    def work(
        self, question: str, answer_a: str, answer_b: str, *, nonce: str, options: JudgeOptions
    ) -> JudgeWork:
        """The work judging ``answer_a`` against ``answer_b`` in ``options.mode``."""
        if options.mode == "prob":
            return self._prob_work(question, answer_a, answer_b, nonce, options)
        if options.mode == "likelihood":
            return self._likelihood_work(question, answer_a, answer_b, options)
        return self._text_work(question, answer_a, answer_b, nonce, options)

    def letter_probs_work(
        self, question: str, answer_a: str, answer_b: str, nonce: str
    ) -> Callable[[CallDeadline], ChoiceProbs]:
        """The work reading the chances of ``A`` and ``B`` for the order as given.

        The work raises :class:`~node.errors.BackendError` when the prompt does not fit."""

        def work(call: CallDeadline) -> ChoiceProbs:
            tokens = self.prompts.choice(question, answer_a, answer_b, nonce)
            if len(tokens) >= self.n_ctx:
                raise BackendError(
                    f"llama backend ({self.model.name}): judge prompt exceeds context"
                )
            return self.choice_probs(tokens)

        return work

    def _text_work(
        self, question: str, answer_a: str, answer_b: str, nonce: str, options: JudgeOptions
    ) -> JudgeWork:
        def work(call: CallDeadline) -> Judgement:
            tokens, stop, prefix = self.prompts.text_judge(question, answer_a, answer_b, nonce)
            room = self.n_ctx - len(tokens)
            if room < MIN_GENERATE_TOKENS:
                return too_long(len(tokens), self.n_ctx)
            text = self.model.complete(
                tokens,
                max_tokens=min(options.max_tokens, room),
                temperature=0.0,
                seed=options.seed,
                stop=stop,
                call=call,
            )
            return parse_judgement(prefix + text)

        return work

    def _prob_work(
        self, question: str, answer_a: str, answer_b: str, nonce: str, options: JudgeOptions
    ) -> JudgeWork:
        def work(call: CallDeadline) -> Judgement:
            prompts = [
                self.prompts.choice(question, first, second, nonce)
                for first, second in ((answer_a, answer_b), (answer_b, answer_a))
            ]
            longest = max(len(p) for p in prompts)
            if longest >= self.n_ctx:
                return too_long(longest, self.n_ctx)
            first = self.choice_probs(prompts[0])
            call.check()
            second = self.choice_probs(prompts[1])
            return judgement_from_orders(
                first, second, tie_margin=options.tie_margin, min_mass=options.min_choice_mass
            )

        return work

    def _likelihood_work(
        self, question: str, answer_a: str, answer_b: str, options: JudgeOptions
    ) -> JudgeWork:
        def work(call: CallDeadline) -> Judgement:
            if not (answer_a.strip() and answer_b.strip()):
                return Judgement(outcome="abstain", rationale="an empty candidate")
            prompt = self.prompts.answer_context(question)
            answers = [self.prompts.scored_answer(" " + a.strip()) for a in (answer_a, answer_b)]
            needed = len(prompt) + max(len(a) for a in answers)
            if needed >= self.n_ctx:
                return too_long(needed, self.n_ctx)
            score_a = self.mean_logprob(prompt, answers[0], call)
            score_b = self.mean_logprob(prompt, answers[1], call)
            return judgement_from_likelihoods(score_a, score_b, tie_margin=options.tie_margin)

        return work

    def choice_probs(self, tokens: list[int]) -> ChoiceProbs:
        """The next-token chances of the two letters after ``tokens``."""
        logprobs = self.model.next_logprobs(tokens)

        def mass(ids: tuple[int, ...]) -> float:
            return min(sum(math.exp(float(logprobs[i])) for i in ids), 1.0)

        return ChoiceProbs(p_a=mass(self.choice_ids["A"]), p_b=mass(self.choice_ids["B"]))

    def mean_logprob(self, prompt: list[int], answer: list[int], call: CallDeadline) -> float:
        """Mean log P(answer token | prompt and the answer so far), one decode per token."""
        logprobs = self.model.next_logprobs(prompt)
        total = float(logprobs[answer[0]])
        for seen in range(1, len(answer)):
            call.check()
            logprobs = self.model.next_logprobs([*prompt, *answer[:seen]])
            total += float(logprobs[answer[seen]])
        return total / len(answer)


def single_token_ids(model: ModelRunner, spellings: tuple[str, ...]) -> tuple[int, ...]:
    """The ids of those ``spellings`` that are one token in ``model``'s vocabulary.

    Raises
    ------
    ModelFormatError
        None of them is a single token (the ``"prob"`` mode cannot read this letter).
    """
    ids: list[int] = []
    for text in spellings:
        tokens = model.tokenize(text, bos=False, special=False)
        if len(tokens) == 1 and tokens[0] not in ids:
            ids.append(tokens[0])
    if not ids:
        raise ModelFormatError(
            f"model {model.name!r}: no single-token spelling of {spellings[0]!r}; "
            "use judge_mode text"
        )
    return tuple(ids)


def too_long(tokens: int, n_ctx: int) -> Judgement:
    """The abstention for a judge prompt of ``tokens`` that does not fit ``n_ctx``."""
    return Judgement(
        outcome="abstain",
        rationale=f"judge prompt does not fit the context ({tokens} of {n_ctx} tokens)",
    )
