"""Who may do what, in the store: API keys and the admin audit, over the groups of ``groups``.

A key is ``plk_<id>_<secret>``: the id is public (it names the key in listings and in the
audit), the secret is 256 random bits. The store keeps only the sha256 of the whole key,
which a caller's key is compared with in constant time; the key itself is shown once, when
it is made, and never stored, logged or echoed. Every change to keys bumps the registry's
generation, so every worker reloads its prediction guard (``api.registry.guard``). Groups
and their members are in ``groups``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update

from api.errors import ConflictError, InvalidInputError, ModelNotFoundError
from api.registry import sql
from api.registry.groups import GroupStore, Role
from api.registry.rows import check_name, now
from sidecar.store.schema import admin_audit, api_keys

KEY_PREFIX = "plk_"
MAX_KEY = 128


def key_hash(key: str) -> str:
    """The sha256 of a key, as stored (a 256-bit random secret needs no slow hash)."""
    return hashlib.sha256(key.encode()).hexdigest()


def split_key(key: str) -> str | None:
    """The public id of a well-formed key, or None."""
    if len(key) > MAX_KEY or not key.startswith(KEY_PREFIX):
        return None
    key_id, sep, secret = key.removeprefix(KEY_PREFIX).partition("_")
    return key_id if sep and key_id.isalnum() and secret else None


@dataclass(frozen=True, slots=True)
class KeyOwner:
    """Whom a presented key belongs to (``revoked``: it was, and no longer is, valid)."""

    key_id: str
    user: str
    group: str
    revoked: bool


@dataclass(frozen=True, slots=True)
class Audit:
    """One admin call as the audit keeps it."""

    user: str | None
    key_id: str | None
    client: str
    action: str
    status: int
    group: str | None = None
    model: str | None = None
    version: str | None = None
    detail: str | None = None


class AccessStore(GroupStore):
    """Keys and the audit (and groups, members and models' groups: ``GroupStore``) in the
    store behind ``engine``."""

    # -- keys ------------------------------------------------------------------------------

    def any_keys(self) -> bool:
        """Whether a key was ever made (from then on every admin call needs one)."""
        with self.engine.connect() as conn:
            return conn.execute(select(api_keys.c.key_id).limit(1)).first() is not None

    def owner(self, key: str) -> KeyOwner | None:
        """Whose key ``key`` is, or None for a key the store does not know."""
        key_id = split_key(key)
        if key_id is None:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
        if row is None or not hmac.compare_digest(row.key_hash, key_hash(key)):
            return None
        return KeyOwner(row.key_id, row.user_name, row.group_name, row.revoked_at is not None)

    def create_key(
        self, user: str, group: str | None, role: Role | None, by: str
    ) -> tuple[str, str]:
        """A new key for ``user`` (with ``role`` on ``group``); returns (its id, the key).

        The user gets a default group of their own name (manage) if none has that name yet;
        without ``group`` the key is for that one. A missing ``group`` is created.
        """
        check_name("user", user)
        home = self.ensure_user(user, by)
        group = group or home
        if group is None:
            raise InvalidInputError(f"group {user!r} is not {user!r}'s: give the key's group")
        check_name("group", group)
        if not self.group_exists(group):
            self.create_group(group, by)
        if role is not None or self.role(user, group) is None:
            self.share(group, user, role or "read", by)
        key_id = secrets.token_hex(6)
        key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        with self.engine.begin() as conn:
            sql.bump(conn)
            conn.execute(
                insert(api_keys).values(
                    key_id=key_id,
                    key_hash=key_hash(key),
                    user_name=user,
                    group_name=group,
                    created_at=now(),
                    created_by=by,
                    revoked_at=None,
                )
            )
        return key_id, key

    def keys(self, groups: set[str] | None = None) -> list[dict[str, Any]]:
        """Every key (made for one of ``groups``), oldest first, without its hash."""
        query = select(
            api_keys.c.key_id,
            api_keys.c.user_name,
            api_keys.c.group_name,
            api_keys.c.created_at,
            api_keys.c.created_by,
            api_keys.c.revoked_at,
        ).order_by(api_keys.c.created_at, api_keys.c.key_id)
        if groups is not None:
            query = query.where(api_keys.c.group_name.in_(sorted(groups)))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            {
                "key_id": r["key_id"],
                "user": r["user_name"],
                "group": r["group_name"],
                "created_at": r["created_at"].isoformat(),
                "created_by": r["created_by"],
                "revoked_at": r["revoked_at"].isoformat() if r["revoked_at"] else None,
            }
            for r in rows
        ]

    def key(self, key_id: str) -> dict[str, Any] | None:
        """One key's listing row, or None."""
        return next((k for k in self.keys() if k["key_id"] == key_id), None)

    def revoke(self, key_id: str) -> dict[str, Any]:
        """Revoke a key: from now on it gets 401."""
        with self.engine.begin() as conn:
            sql.bump(conn)
            done = conn.execute(
                update(api_keys)
                .where((api_keys.c.key_id == key_id) & api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now())
            ).rowcount
        found = self.key(key_id)
        if found is None:
            raise ModelNotFoundError(f"no API key {key_id[:40]!r}")
        if not done:
            raise ConflictError(f"API key {key_id!r} is revoked already")
        return found

    # -- the audit -------------------------------------------------------------------------

    def audit(self, entry: Audit) -> None:
        """Keep one admin call in the audit."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(admin_audit).values(
                    at=now(),
                    user_name=entry.user,
                    key_id=entry.key_id,
                    client=entry.client[:255],
                    action=entry.action,
                    group_name=entry.group,
                    model=entry.model,
                    version=entry.version,
                    status=entry.status,
                    detail=entry.detail[:4000] if entry.detail else None,
                )
            )

    def audit_events(self, model: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """The audit (of ``model``), oldest first, the newest ``limit`` entries."""
        query = select(admin_audit).order_by(admin_audit.c.id.desc()).limit(limit)
        if model is not None:
            query = query.where(admin_audit.c.model == model)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            {
                "at": r["at"].isoformat(),
                "user": r["user_name"],
                "key_id": r["key_id"],
                "client": r["client"],
                "action": r["action"],
                "group": r["group_name"],
                "model": r["model"],
                "version": r["version"],
                "status": r["status"],
                "detail": r["detail"],
            }
            for r in reversed(rows)
        ]
