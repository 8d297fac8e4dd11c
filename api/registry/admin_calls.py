"""What every admin call goes through: who makes it, its audit, and this worker catching up.

The base of the admin handlers (``admin``: models and versions; ``admin_access``: groups,
members and keys): a plain class a test calls without HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from api.errors import ServiceError
from api.registry.access import AccessStore, Audit
from api.registry.auth import Caller, UnauthorizedError, authenticate
from api.registry.live import LiveRegistry
from api.registry.store import RegistryStore


@dataclass(slots=True)
class CallNote:
    """What an audited call says about itself as it goes."""

    status: int = 200
    group: str | None = None
    version: str | None = None
    detail: str | None = None


class AdminCalls:
    """The store, this worker's registry and the audit that every admin call uses."""

    def __init__(
        self,
        store: RegistryStore,
        live: LiveRegistry | None,
        max_bundle_bytes: int,
        access: AccessStore | None = None,
    ) -> None:
        self.store = store
        self.live = live
        self.max_bundle_bytes = max_bundle_bytes
        self.access = access or AccessStore(store.engine)

    # -- who calls -------------------------------------------------------------------------

    def authenticate(
        self,
        authorization: str | None,
        client: str,
        actor: str | None,
        action: str,
        model: str | None = None,
    ) -> Caller:
        """The caller of one call (401, audited, if there is none)."""
        try:
            return authenticate(self.access, authorization, client, actor)
        except UnauthorizedError as exc:
            self.access.audit(
                Audit(None, None, client, action, 401, model=model, detail=exc.message)
            )
            raise

    @contextmanager
    def audited(
        self,
        caller: Caller,
        action: str,
        model: str | None = None,
        version: str | None = None,
        status: int = 200,
    ) -> Iterator[CallNote]:
        """Run one call and keep it in the audit with its outcome."""
        note = CallNote(status, version=version)
        try:
            yield note
        except ServiceError as exc:
            note.status, note.detail = exc.status_code, exc.message
            raise
        except Exception as exc:
            note.status, note.detail = 500, type(exc).__name__
            raise
        finally:
            self.access.audit(
                Audit(
                    caller.user,
                    caller.key_id,
                    caller.client,
                    action,
                    note.status,
                    group=note.group,
                    model=model,
                    version=note.version,
                    detail=note.detail,
                )
            )

    def _sync(self) -> None:
        if self.live is not None:  # None: the operator's command line, serving nothing
            self.live.sync()
