"""Which models need a read key on the prediction routes, and the check, without the store.

A group's ``predict_needs_key`` closes its models' prediction routes to callers without a key
that has the read role on it. A worker loads the guard with every registry generation (in the
same read as the versions it serves: ``RegistryStore.snapshot``), and every change to groups,
members or keys bumps that generation. A request then costs one dict lookup when its model
is open, and a sha256 and a constant-time compare with the hash the worker holds when it is
not: never a store read.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from api.registry.access import split_key
from api.registry.auth import ForbiddenError, UnauthorizedError, bearer
from sidecar.store.schema import access_groups, api_keys, group_members, model_groups


@dataclass(frozen=True, slots=True)
class HeldKey:
    """One key as a worker holds it: its hash, and the closed groups its user may read."""

    digest: bytes
    reads: frozenset[str]
    revoked: bool


@dataclass(frozen=True, slots=True)
class PredictGuard:
    """The closed models (model -> group) and the keys that may be presented for them."""

    closed: Mapping[str, str] = field(default_factory=dict)
    keys: Mapping[str, HeldKey] = field(default_factory=dict)

    def check(self, model: str, authorization: str | None) -> None:
        """Nothing for an open model; else 401 without a valid key, 403 without the role."""
        group = self.closed.get(model)
        if group is None:
            return
        key = bearer(authorization)
        if key is None:
            raise UnauthorizedError(
                f"model {model!r} needs an API key with the read role on its group "
                "(Authorization: Bearer <key>)"
            )
        key_id = split_key(key)
        held = self.keys.get(key_id) if key_id is not None else None
        digest = hashlib.sha256(key.encode()).digest()
        if held is None or not hmac.compare_digest(held.digest, digest):
            raise UnauthorizedError("unknown API key")
        if held.revoked:
            raise UnauthorizedError(f"API key {key_id!r} was revoked")
        if group not in held.reads:
            raise ForbiddenError(
                f"predicting with model {model!r} needs the read role on its group"
            )


OPEN = PredictGuard()
"""No closed group: every model's predictions are open."""


def load_guard(conn: Connection) -> PredictGuard:
    """The guard as the store says now (read inside the caller's snapshot transaction)."""
    closed_groups = sorted(
        conn.execute(
            select(access_groups.c.name).where(access_groups.c.predict_needs_key.is_(True))
        ).scalars()
    )
    if not closed_groups:
        return OPEN
    closed = {
        model: group
        for model, group in conn.execute(
            select(model_groups.c.model, model_groups.c.group_name).where(
                model_groups.c.group_name.in_(closed_groups)
            )
        )
    }
    reads: dict[str, set[str]] = {}
    for user, group in conn.execute(  # every role includes read
        select(group_members.c.user_name, group_members.c.group_name).where(
            group_members.c.group_name.in_(closed_groups)
        )
    ):
        reads.setdefault(user, set()).add(group)
    keys = {
        key_id: HeldKey(bytes.fromhex(digest), frozenset(reads.get(user, ())), revoked is not None)
        for key_id, digest, user, revoked in conn.execute(
            select(
                api_keys.c.key_id, api_keys.c.key_hash, api_keys.c.user_name, api_keys.c.revoked_at
            )
        )
    }
    return PredictGuard(closed, keys)
