"""A graceful stop without failed requests: on SIGTERM a worker drains before it stops.

uvicorn's own graceful shutdown closes the listener and every idle keep-alive connection at
once. A client that picks such a connection for its next request as it closes gets no
answer (aiohttp's ``ServerDisconnectedError``; a POST is not retried), and a connection
routed to the port after the close is refused. In a rolling update that is where requests
fail. So for ``shutdown_drain`` seconds after SIGTERM the worker goes on serving: every
answer carries ``Connection: close``, so each client connection ends cleanly after its
next answer and the client opens a new one (which the Service routes to a pod that is
ready), and ``/health`` answers 503, so readiness takes the pod out of the Service. Then
uvicorn's graceful shutdown runs as usual (listener closed, what is in flight finished,
the lifespan's shutdown: the emitter flushes).

A second SIGTERM, or SIGINT, stops at once (uvicorn's handling).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from types import FrameType

import uvicorn

log = logging.getLogger(__name__)

CLOSE = (b"connection", b"close")


class _State:
    draining = False


state = _State()
"""``state.draining``: SIGTERM came and the worker drains (``/health`` answers 503)."""


def install(seconds: float) -> bool:
    """Drain for ``seconds`` on SIGTERM; call in the lifespan's startup, on the event loop
    of the uvicorn worker. Whether it was installed (not without uvicorn, or with 0 s).

    uvicorn installs its ``Server.handle_exit`` as the SIGTERM handler while it serves
    (``Server.capture_signals``); that bound method is how the worker's ``Server`` is found
    here (uvicorn offers no hook for it: ``uvicorn.run`` and its multiprocess supervisor
    make their own ``Server``). Of it, two documented-by-use attributes are touched:
    ``config.encoded_headers``, the headers uvicorn adds to every answer (its
    ``headers=`` option), and ``server_state.default_headers``, the current copy of them
    (tests/api/test_drain.py checks both under a real uvicorn)."""
    uvicorn_handler = signal.getsignal(signal.SIGTERM)
    server = getattr(uvicorn_handler, "__self__", None)
    if seconds <= 0 or not isinstance(server, uvicorn.Server) or not callable(uvicorn_handler):
        return False
    if threading.current_thread() is not threading.main_thread():
        return False  # signal handlers are the main thread's (uvicorn's are too)
    loop = asyncio.get_running_loop()

    def stop(sig: int) -> None:
        uvicorn_handler(sig, None)

    def on_sigterm(sig: int, frame: FrameType | None) -> None:
        if state.draining:  # a second SIGTERM: stop now
            uvicorn_handler(sig, frame)
            return
        state.draining = True
        server.config.encoded_headers.append(CLOSE)
        server.server_state.default_headers = [*server.server_state.default_headers, CLOSE]
        # A signal handler runs between two bytecodes of the loop's thread: hand over.
        loop.call_soon_threadsafe(loop.call_later, seconds, stop, sig)
        log.info("SIGTERM: draining for %.1fs (Connection: close, /health 503)", seconds)

    signal.signal(signal.SIGTERM, on_sigterm)
    return True


def reset() -> None:
    """Forget a drain (tests)."""
    state.draining = False
