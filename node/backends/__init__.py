"""Model backends behind one small interface (:class:`node.backends.base.ModelBackend`).

* :mod:`node.backends.base` — the interface and its value types.
* :mod:`node.backends.sim` — the seeded synthetic model (wraps :mod:`sim.model`).
* :mod:`node.backends.openai` — any OpenAI-compatible chat-completions server.
* :mod:`node.backends.llama` — a GGUF model run in-process by llama.cpp (shipped small models
  or the user's own file, found through :mod:`node.models`).
* :mod:`node.backends.prompts` — what is asked of a chat or base model, and strict parsing of
  the replies (shared by the openai and llama backends).
* :mod:`node.backends.choice` — judging by probability: the chances of ``A`` and ``B`` asked in
  both orders, or the candidates' likelihoods, turned into a verdict (pure).
"""
