"""The admin API on a port of its own (``PREDLOG_API_ADMIN_PORT``).

A NetworkPolicy filters by port, never by path: so that a cluster can keep ``/admin`` to
the namespace while the prediction routes stay open, the api can listen on a second port
and answer ``/admin/...`` there only. On any other port a call of it gets the 404 of a
route that does not exist, through the one request path (a job_id, a record). Every other
route is answered on both ports.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from api.fastpath import route_path

ADMIN_PREFIX = "/admin"


def is_admin_path(path: str) -> bool:
    """Whether ``path`` is one of the admin API's."""
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


class AdminPortGate:
    """ASGI middleware: ``/admin/...`` on the admin port only."""

    def __init__(self, app: ASGIApp, port: int) -> None:
        self.app = app
        self.port = port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_admin_path(route_path(scope)):
            server = scope.get("server")
            if server is None or server[1] != self.port:
                raise HTTPException(404)  # as a route that does not exist: it tells nothing
        await self.app(scope, receive, send)
