"""``POST /v2/models/{name}[/versions/{v}]/infer`` served in plain ASGI, as ``/predict`` is.

Through FastAPI's middleware, router and Request objects an infer call would cost half as
much CPU again as ``/predict``; ``PredlogApi`` matches this path's pattern after its exact
paths (``api.fastpath.PatternRoute``) and hands it here. It goes through ``api.exchange``
like every route (job_id, errors in the protocol's shape, headers, the one record).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from api.errors import MalformedRequestError, PayloadTooLargeError, UnsupportedMediaTypeError
from api.exchange import Reply, begin, failure, send_reply
from api.http import receive_body
from api.oip.handler import HEADER_LENGTH, OipHandler
from api.records import RequestLog

INFER = "/v2/models/{model_name}/infer"
INFER_VERSION = "/v2/models/{model_name}/versions/{model_version}/infer"
_PATH = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?/infer")
_MEDIA = ("application/json", "application/octet-stream")

Finish = Callable[[RequestLog, int, str, float], None]
Reserve = Callable[[RequestLog], None]
"""Reserves a request's record seq just before its answer is written (``Services.reserve``)."""


class InferRoute:
    """The infer route, for ``PredlogApi.pattern_routes``."""

    def __init__(
        self,
        handler: OipHandler,
        finish: Finish,
        max_body: int,
        sticky_header: str | None,
        reserve: Reserve | None = None,
    ) -> None:
        self.handler = handler
        self._finish = finish
        self._reserve = reserve
        self._max_body = max_body
        self._sticky = (sticky_header or "").lower().encode("latin-1")

    def match(self, path: str) -> tuple[str, str | None] | None:
        """(model, version) of an infer path, else None."""
        if not path.startswith("/v2/models/") or not path.endswith("/infer"):
            return None
        found = _PATH.fullmatch(path)
        return None if found is None else (found.group(1), found.group(2))

    async def serve(
        self, scope: Scope, receive: Receive, send: Send, matched: tuple[str, str | None]
    ) -> None:
        """Answer one infer call and emit its record."""
        model, version = matched
        request_log = begin(scope, self._sticky)
        reply = Reply(500, b"")
        try:
            try:
                if scope["method"] != "POST":
                    raise HTTPException(405, headers={"Allow": "POST"})
                header_length = _check_headers(scope, request_log, self._max_body)
                body = await receive_body(receive, self._max_body)
                answered = self.handler.infer(request_log, body, header_length, model, version)
                # a remote version: await its upstream
                reply = answered if isinstance(answered, Reply) else await answered
            except Exception as exc:
                reply = failure(scope, request_log, exc)
            if self._reserve is not None:  # a worker killed now leaves a counted gap
                self._reserve(request_log)
            await send_reply(send, reply, request_log.job_id)
        finally:
            endpoint = INFER if version is None else INFER_VERSION
            self._finish(request_log, reply.status, endpoint, time.perf_counter())


def _check_headers(scope: Scope, log: RequestLog, limit: int) -> int | None:
    """Refuse an unknown content type (415) or a body announced too large (413); the
    binary extension's JSON header length, if given."""
    content_type = log.content_type
    if content_type is not None:  # tritonclient sends none
        media = content_type.partition(";")[0].strip().lower()
        if media not in _MEDIA and not (
            media.startswith("application/") and media.endswith("+json")
        ):
            raise UnsupportedMediaTypeError(
                f"Content-Type must be application/json or application/octet-stream, not {media!r}"
            )
    if log.content_length is not None and log.content_length > limit:
        raise PayloadTooLargeError(
            f"body of {log.content_length} bytes exceeds the {limit}-byte limit"
        )
    for name, value in scope["headers"]:
        if name == HEADER_LENGTH:
            if not value.isdigit() or len(value) > 12:
                raise MalformedRequestError(
                    f"Inference-Header-Content-Length must be a number of bytes, not {value!r}"
                )
            return int(value)
    return None
