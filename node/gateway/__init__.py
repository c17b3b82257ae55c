"""The HTTP gateway in front of a swarm, and its swarm explorer page.

==============  ==============================================================================
module          owns
==============  ==============================================================================
``app``         :class:`Gateway`: the OpenAI-compatible ``/v1`` API, ``/healthz``, ``/metrics``,
                API keys, the concurrency limit, and the node calls (Ask, Status, GetRecord)
``request``     :func:`parse_chat_request`: what a chat completion may hold; typed 4xx (pure)
``explorer``    :class:`Explorer`: the explorer's routes, its polling and its event stream
``views``       records and members as the explorer's JSON (pure)
``static/``     the explorer page: HTML, JS and CSS, no third-party code, no build step
``testing``     a signed sample record and a gateway over a fake ledger, for tests
==============  ==============================================================================
"""
