"""Groups in the store: their members' roles, their limits, and which group each model is in.

Every change to members or to a group's ``predict_needs_key`` bumps the registry's
generation, so every worker reloads its prediction guard (``api.registry.guard``). Keys and
the audit are in ``access``.
"""

from __future__ import annotations

import contextlib
from typing import Any, Literal, cast

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from api.errors import ConflictError, InvalidInputError, ModelNotFoundError
from api.registry import sql
from api.registry.rows import check_name, now
from sidecar.store.schema import access_groups, group_members, model_groups

Role = Literal["read", "change", "manage"]
ROLES: tuple[Role, ...] = ("read", "change", "manage")
"""Each role includes the ones before it."""
DEFAULT_GROUP = "default"
"""The group of the models imported from a models directory (and of those registered before
groups existed)."""


def check_role(role: str) -> Role:
    """``role`` if it is one of read, change, manage; InvalidInputError if not."""
    if role not in ROLES:
        raise InvalidInputError(f"role {role[:20]!r} is not one of {', '.join(ROLES)}")
    return role


def includes(held: Role | None, needed: Role) -> bool:
    """Whether a member with role ``held`` may do what needs ``needed``."""
    return held is not None and ROLES.index(held) >= ROLES.index(needed)


class GroupStore:
    """Groups, members and models' groups in the store behind ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

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
