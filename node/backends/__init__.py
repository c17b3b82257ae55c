"""Model backends behind one small interface (:class:`node.backends.base.ModelBackend`).

* :mod:`node.backends.base` — the interface and its value types.
* :mod:`node.backends.sim` — the seeded synthetic model (wraps :mod:`sim.model`).
* :mod:`node.backends.openai` — any OpenAI-compatible chat-completions server.
"""
