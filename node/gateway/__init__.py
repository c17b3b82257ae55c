"""The OpenAI-compatible HTTP gateway in front of a swarm (``app``: :class:`Gateway`)."""
