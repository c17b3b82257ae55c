"""The two prompt styles of the ``llama`` backend, as tokens: :class:`PromptBuilder`.

``"chat"`` renders chat messages with the GGUF's own chat template or a named llama.cpp
``chat_format`` (system text is folded into the first user turn for formats that drop system
messages, such as ``gemma``). ``"completion"`` is for base models that continue text: a
few-shot ``Question:/Answer:`` prompt for answers, and the judge prompts flattened to text
ending in a cue. What is asked lives in :mod:`node.backends.prompts`; this module only turns
it into the model's tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from node.backends.llama.runner import ModelRunner
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
)
from node.errors import BackendError
from node.models import ModelFormatError

PromptStyle = Literal["chat", "completion"]
PROMPT_STYLES: tuple[str, ...] = ("chat", "completion")
#: chat formats whose llama.cpp formatter silently drops system messages
SYSTEMLESS_CHAT_FORMATS = frozenset({"gemma", "mistral-instruct"})
JUDGE_CHOICE_CUE = "Better candidate:"
MAX_SCORED_ANSWER_TOKENS = 64  # "likelihood" judging scores at most this many tokens per answer

#: ``messages -> (prompt text, stop strings, whether to add BOS)``
ChatRenderer = Callable[[list[ChatMessage]], tuple[str, list[str], bool]]


class PromptBuilder:
    """Questions and judge prompts as one model's tokens, in its prompt style.

    Raises
    ------
    ModelFormatError
        Chat style with an unknown ``chat_format``, or none given and no template in the GGUF.
    """

    def __init__(self, model: ModelRunner, *, style: PromptStyle, chat_format: str | None) -> None:
        self.model = model
        self.style: PromptStyle = style
        self.chat_format = chat_format
        self._render_chat = chat_renderer(model, chat_format) if style == "chat" else None

    def generation(self, question: str) -> tuple[list[int], list[str]]:
        """The prompt asking for an answer to ``question``, and its stop strings."""
        if self.style == "chat":
            return self.chat(build_generation_messages(question))
        prompt = build_completion_generation_prompt(question)
        return self.model.tokenize(prompt, bos=True), list(COMPLETION_STOP)

    def text_judge(
        self, question: str, answer_a: str, answer_b: str, nonce: str
    ) -> tuple[list[int], list[str], str]:
        """The ``VERDICT:`` judge prompt, its stop strings, and the text already given of the
        reply (the completion style ends its prompt in the verdict prefix)."""
        messages = build_judge_messages(question, answer_a, answer_b, nonce=nonce)
        if self.style == "chat":
            tokens, stop = self.chat(messages)
            return tokens, stop, ""
        prompt = messages_as_completion_prompt(messages, VERDICT_PREFIX)
        return self.model.tokenize(prompt, bos=True), list(COMPLETION_STOP), VERDICT_PREFIX

    def choice(self, question: str, first: str, second: str, nonce: str) -> list[int]:
        """The one-letter judge prompt with ``first`` shown as A and ``second`` as B."""
        messages = build_judge_choice_messages(question, first, second, nonce=nonce)
        if self.style == "chat":
            return self.chat(messages)[0]
        prompt = messages_as_completion_prompt(messages, JUDGE_CHOICE_CUE)
        return self.model.tokenize(prompt, bos=True)

    def answer_context(self, question: str) -> list[int]:
        """What precedes a candidate scored as the model's own answer to ``question``."""
        if self.style == "completion":
            return self.model.tokenize(build_completion_generation_prompt(question), bos=True)
        # The assistant turn is pre-filled with the final-answer marker the generation prompt
        # asks for: scoring the bare answer as the reply's first words measured at chance on
        # SmolLM2 (47% of easy pairs), after the marker 73%.
        prompt = self.chat(build_generation_messages(question))[0]
        return prompt + self.scored_answer(FINAL_ANSWER_PREFIX)

    def scored_answer(self, text: str) -> list[int]:
        """``text`` as plain tokens, cut to :data:`MAX_SCORED_ANSWER_TOKENS`."""
        return self.model.tokenize(text, bos=False, special=False)[:MAX_SCORED_ANSWER_TOKENS]

    def chat(self, messages: list[ChatMessage]) -> tuple[list[int], list[str]]:
        """Chat ``messages`` rendered and tokenized, and the format's stop strings."""
        if self._render_chat is None:  # pragma: no cover - only chat style renders chats
            raise BackendError("chat rendering used in completion style")
        if self.chat_format in SYSTEMLESS_CHAT_FORMATS:
            messages = fold_system(messages)
        prompt, stop, bos = self._render_chat(messages)
        return self.model.tokenize(prompt, bos=bos), stop


def chat_renderer(model: ModelRunner, chat_format: str | None) -> ChatRenderer:
    """The renderer for ``chat_format``, or for the GGUF's own template when it is None.

    Raises
    ------
    ModelFormatError
        No such chat format, or no ``chat_format`` given and the GGUF has no template.
    """
    from llama_cpp import llama_chat_format

    formatter: Any
    if chat_format is None:
        template = model.llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelFormatError(
                f"model {model.name!r} has no chat template in its GGUF: set chat_format "
                "(e.g. chatml) or use prompt_style completion for a base model"
            )
        formatter = llama_chat_format.Jinja2ChatFormatter(
            template=template,
            eos_token=model.token_text(model.llm.token_eos()),
            bos_token=model.token_text(model.llm.token_bos()),
            stop_token_ids=[model.llm.token_eos()],
        )
    else:
        formatter = getattr(
            llama_chat_format, "format_" + chat_format.replace("-", "_"), None
        ) or getattr(llama_chat_format, "format_" + chat_format.replace("-", ""), None)
        if formatter is None:
            raise ModelFormatError(f"unknown chat_format {chat_format!r} for model {model.name!r}")

    def render(messages: list[ChatMessage]) -> tuple[str, list[str], bool]:
        result = formatter(messages=messages)
        stop = result.stop
        stops = [] if stop is None else [stop] if isinstance(stop, str) else list(stop)
        return str(result.prompt), stops, not result.added_special

    return render


def fold_system(messages: list[ChatMessage]) -> list[ChatMessage]:
    """Put system text at the top of the first user turn (for formats without a system role)."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if system and rest and rest[0]["role"] == "user":
        rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
    elif system:
        rest.insert(0, {"role": "user", "content": system})
    return rest
