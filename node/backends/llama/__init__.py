"""The ``llama`` backend: a GGUF model run in-process by llama.cpp (``llama-cpp-python``).

* :mod:`node.backends.llama.backend` — :class:`LlamaBackend`, the
  :class:`~node.backends.base.ModelBackend` composed of the parts below (loading, options,
  ``generate``, ``judge``, ``letter_probs``, ``health``, ``close``).
* :mod:`node.backends.llama.runner` — :class:`ModelRunner`: the loaded model, its lock and its
  one worker thread; :class:`CallDeadline`, per-call deadlines and their errors.
* :mod:`node.backends.llama.prompting` — :class:`PromptBuilder`: the ``"chat"`` and
  ``"completion"`` prompt styles, as the model's tokens.
* :mod:`node.backends.llama.judging` — :class:`LlamaJudge`: the ``"text"``, ``"prob"`` and
  ``"likelihood"`` judge modes.

What is asked lives in :mod:`node.backends.prompts`; how next-token chances become a verdict
in :mod:`node.backends.choice`.
"""

from node.backends.llama.backend import LlamaBackend
from node.backends.llama.judging import JUDGE_MODES, JudgeMode
from node.backends.llama.prompting import PROMPT_STYLES, PromptStyle, fold_system

__all__ = [
    "JUDGE_MODES",
    "PROMPT_STYLES",
    "JudgeMode",
    "LlamaBackend",
    "PromptStyle",
    "fold_system",
]
