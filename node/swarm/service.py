"""The client-facing ``SwarmService`` (ask, get record, status): :class:`SwarmServicer`, whose
methods are one-line delegations to :class:`~node.swarm.node.SwarmNode`, with errors mapped
to status codes by :func:`node.transport.server.status_for`."""

from __future__ import annotations

from typing import Any

import grpc

from node.errors import NodeError
from node.swarm.node import SwarmNode
from protocol.errors import ProtocolError
from protocol.v1 import services_pb2_grpc


class SwarmServicer(services_pb2_grpc.SwarmServiceServicer):
    """gRPC adapter for ``SwarmService``; errors map through
    :func:`node.transport.server.status_for`."""

    def __init__(self, node: SwarmNode) -> None:
        self.node = node

    async def Ask(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await _serve(context, self.node.handle_ask(request))

    async def GetRecord(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await _serve(context, self.node.handle_get_record(request))

    async def Status(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await _serve(context, self.node.handle_status(request))


async def _serve(context: grpc.aio.ServicerContext, coro: Any) -> Any:
    from node.transport.server import status_for

    try:
        return await coro
    except (NodeError, ProtocolError) as exc:
        code, _, message = status_for(exc)
        await context.abort(code, message)
