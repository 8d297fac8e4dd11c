"""Who may do what, in the store: groups, their members' roles, API keys and the admin audit.

Every change to keys, members or a group's ``predict_needs_key`` bumps the registry's
generation, so every worker reloads its prediction guard (``api.registry.guard``).

A key is ``plk_<id>_<secret>``: the id is public (it names the key in listings and in the
audit), the secret is 256 random bits. The store keeps only the sha256 of the whole key,
which a caller's key is compared with in constant time; the key itself is shown once, when
it is made, and never stored, logged or echoed.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any, Literal, cast

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from api.errors import ConflictError, InvalidInputError, ModelNotFoundError
from api.registry import sql
from api.registry.rows import check_name, now
from sidecar.store.schema import access_groups, admin_audit, api_keys, group_members, model_groups

Role = Literal["read", "change", "manage"]
ROLES: tuple[Role, ...] = ("read", "change", "manage")
"""Each role includes the ones before it."""
DEFAULT_GROUP = "default"
"""The group of the models imported from a models directory (and of those registered before
groups existed)."""
KEY_PREFIX = "plk_"
MAX_KEY = 128


def check_role(role: str) -> Role:
    """``role`` if it is one of read, change, manage; InvalidInputError if not."""
    if role not in ROLES:
        raise InvalidInputError(f"role {role[:20]!r} is not one of {', '.join(ROLES)}")
    return role


def includes(held: Role | None, needed: Role) -> bool:
    """Whether a member with role ``held`` may do what needs ``needed``."""
    return held is not None and ROLES.index(held) >= ROLES.index(needed)


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


class AccessStore:
    """Groups, members, keys and the audit in the store behind ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

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

    # -- groups and members ----------------------------------------------------------------

    def group_exists(self, group: str) -> bool:
        """Whether ``group`` exists."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(access_groups.c.name).where(access_groups.c.name == group)
            ).first()
        return found is not None

    def create_group(
        self,
        group: str,
        by: str,
        *,
        max_versions: int | None = None,
        max_bundle_bytes: int | None = None,
        manager: str | None = None,
    ) -> dict[str, Any]:
        """A new group (``manager``, if given, manages it)."""
        check_name("group", group)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(access_groups).values(
                        name=group,
                        created_at=now(),
                        created_by=by,
                        max_versions=max_versions,
                        max_bundle_bytes=max_bundle_bytes,
                    )
                )
        except IntegrityError as exc:
            raise ConflictError(f"group {group!r} exists already") from exc
        if manager is not None:
            self.share(group, manager, "manage", by)
        return self.group(group)

    def ensure_user(self, user: str, by: str) -> str | None:
        """The user's default group (their own name, managed by them), made if missing;
        None when a group of that name is someone else's."""
        if not self.group_exists(user):
            with contextlib.suppress(ConflictError):  # made meanwhile
                self.create_group(user, by, manager=user)
        return user if self.role(user, user) is not None else None

    def group(self, group: str) -> dict[str, Any]:
        """One group: its limits and members."""
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(access_groups).where(access_groups.c.name == group))
                .mappings()
                .first()
            )
        if row is None:
            raise ModelNotFoundError(f"no group {group[:140]!r}")
        return {
            "group": row["name"],
            "created_at": row["created_at"].isoformat(),
            "created_by": row["created_by"],
            "max_versions": row["max_versions"],
            "max_bundle_bytes": row["max_bundle_bytes"],
            "predict_needs_key": bool(row["predict_needs_key"]),
            "members": self.members(group),
        }

    def groups(self, names: set[str] | None = None) -> list[dict[str, Any]]:
        """Every group (of ``names``), by name."""
        with self.engine.connect() as conn:
            found = conn.execute(select(access_groups.c.name).order_by(access_groups.c.name))
            all_names = [name for (name,) in found]
        return [self.group(n) for n in all_names if names is None or n in names]

    def limits(self, group: str) -> tuple[int | None, int | None]:
        """The group's (max versions online, max bundle bytes); None: the api's setting."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(access_groups.c.max_versions, access_groups.c.max_bundle_bytes).where(
                    access_groups.c.name == group
                )
            ).first()
        return (None, None) if row is None else (row[0], row[1])

    def set_predict_key(self, group: str, needed: bool) -> dict[str, Any]:
        """Whether the prediction routes of ``group``'s models need a read key on it."""
        with self.engine.begin() as conn:
            sql.bump(conn)
            found = conn.execute(
                update(access_groups)
                .where(access_groups.c.name == group)
                .values(predict_needs_key=needed)
            ).rowcount
        if not found:
            raise ModelNotFoundError(f"no group {group[:140]!r}")
        return self.group(group)

    def share(self, group: str, user: str, role: Role, by: str) -> list[dict[str, Any]]:
        """Give ``user`` ``role`` on ``group`` (replacing the one they had)."""
        check_name("user", user)
        check_role(role)
        if not self.group_exists(group):
            raise ModelNotFoundError(f"no group {group[:140]!r}")
        member = (group_members.c.group_name == group) & (group_members.c.user_name == user)
        with self.engine.begin() as conn:
            sql.bump(conn)
            conn.execute(delete(group_members).where(member))
            conn.execute(
                insert(group_members).values(
                    group_name=group, user_name=user, role=role, added_at=now(), added_by=by
                )
            )
        return self.members(group)

    def unshare(self, group: str, user: str) -> list[dict[str, Any]]:
        """Take ``user`` out of ``group``."""
        member = (group_members.c.group_name == group) & (group_members.c.user_name == user)
        with self.engine.begin() as conn:
            sql.bump(conn)
            gone = conn.execute(delete(group_members).where(member)).rowcount
        if not gone:
            raise ModelNotFoundError(f"{user[:140]!r} is not a member of group {group!r}")
        return self.members(group)

    def members(self, group: str) -> list[dict[str, Any]]:
        """The group's members and their roles."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(group_members)
                .where(group_members.c.group_name == group)
                .order_by(group_members.c.user_name)
            ).mappings()
            return [
                {
                    "user": r["user_name"],
                    "role": r["role"],
                    "added_at": r["added_at"].isoformat(),
                    "added_by": r["added_by"],
                }
                for r in rows
            ]

    def role(self, user: str, group: str) -> Role | None:
        """``user``'s role on ``group``, or None."""
        return self.roles(user).get(group)

    def roles(self, user: str) -> dict[str, Role]:
        """Every group ``user`` is a member of, with the role."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(group_members.c.group_name, group_members.c.role).where(
                    group_members.c.user_name == user
                )
            ).all()
        return {group: cast(Role, role) for group, role in rows}

    # -- models' groups ----------------------------------------------------------------------

    def model_groups(self) -> dict[str, str]:
        """model -> its group."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(model_groups.c.model, model_groups.c.group_name)).all()
        return {model: group for model, group in rows}

    def model_group(self, model: str) -> str | None:
        """The group of ``model``, or None for a model the registry does not have."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(model_groups.c.group_name).where(model_groups.c.model == model)
            ).scalar()
        return None if found is None else str(found)

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
