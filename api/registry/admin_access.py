"""The admin API's calls on groups, their members and API keys (who may do what).

Each call is made by a ``Caller``, checked against their roles and audited (``admin_calls``);
a change bumps the registry's generation, and this worker catches up at once.
"""

from __future__ import annotations

from typing import Any

from api.errors import InvalidInputError, ModelNotFoundError
from api.registry.admin_calls import AdminCalls
from api.registry.auth import Caller, ForbiddenError
from api.registry.groups import Role, check_role
from api.registry.rows import check_name


class AccessAdmin(AdminCalls):
    """Groups, members and keys, on behalf of the admin routes and ``predlog keys/groups``."""

    def groups(self, caller: Caller) -> dict[str, Any]:
        """The groups the caller is a member of (the operator: every group)."""
        with self.audited(caller, "groups"):
            names = None if caller.operator else set(caller.roles)
            return {"groups": self.access.groups(names)}

    def create_group(
        self,
        caller: Caller,
        group: str,
        max_versions: int | None = None,
        max_bundle_bytes: int | None = None,
    ) -> dict[str, Any]:
        """A new group, managed by its creator; only the operator sets its limits."""
        with self.audited(caller, "create-group", status=201) as note:
            note.group = check_name("group", group)
            if not caller.operator and (max_versions or max_bundle_bytes):
                raise ForbiddenError("only the operator sets a group's limits")
            return self.access.create_group(
                group,
                caller.user,
                max_versions=max_versions,
                max_bundle_bytes=max_bundle_bytes,
                manager=None if caller.operator else caller.user,
            )

    def set_predict_key(self, caller: Caller, group: str, required: bool) -> dict[str, Any]:
        """Whether predicting with the group's models needs a key with read on it (manage)."""
        with self.audited(caller, "predict-key") as note:
            note.group = self._group(caller, group, "manage", "closing or opening predictions")
            note.detail = "required" if required else "open"
            changed = self.access.set_predict_key(group, required)
            self._sync()
            return changed

    def members(self, caller: Caller, group: str) -> dict[str, Any]:
        """The group's members and their roles (for its read members)."""
        with self.audited(caller, "members") as note:
            note.group = self._group(caller, group, "read", "listing members")
            return {"group": group, "members": self.access.members(group)}

    def share(self, caller: Caller, group: str, user: str, role: str) -> dict[str, Any]:
        """Give ``user`` ``role`` on ``group`` (manage members)."""
        with self.audited(caller, "share") as note:
            note.group = self._group(caller, group, "manage", "sharing a group")
            note.detail = f"{user[:255]}={role[:20]}"
            members = self.access.share(group, user, check_role(role), caller.user)
            self._sync()
            return {"group": group, "members": members}

    def unshare(self, caller: Caller, group: str, user: str) -> dict[str, Any]:
        """Take ``user`` out of ``group`` (manage members)."""
        with self.audited(caller, "unshare") as note:
            note.group = self._group(caller, group, "manage", "removing a member")
            note.detail = user[:255]
            members = self.access.unshare(group, user)
            self._sync()
            return {"group": group, "members": members}

    def keys(self, caller: Caller) -> dict[str, Any]:
        """The caller's own keys and those made for the groups they manage."""
        with self.audited(caller, "keys"):
            keys = self.access.keys()
            if not caller.operator:
                keys = [
                    k for k in keys if k["user"] == caller.user or caller.may(k["group"], "manage")
                ]
            return {"keys": keys}

    def create_key(
        self, caller: Caller, user: str, group: str | None, role: str | None
    ) -> dict[str, Any]:
        """A new key for ``user``, shown once. Through a key: for the caller themself, or for
        a user all of whose groups the caller manages (a new user gets their own group)."""
        with self.audited(caller, "create-key", status=201) as note:
            check_name("user", user)
            wanted = check_role(role) if role is not None else None
            if not caller.operator:
                if group is None and user != caller.user:
                    raise InvalidInputError("give the group the key is for")
                target = group or caller.home or caller.user
                note.group = self._group(caller, target, "manage", "making a key")
                held = self.access.roles(user)
                if user != caller.user and any(not caller.may(g, "manage") for g in held):
                    raise ForbiddenError(
                        f"making a key for {user!r} needs the manage role on every group "
                        "they are a member of"
                    )
                if user == caller.user and wanted is not None:
                    caller.require(target, wanted, "a key with that role")
                group = target
            note.group = group
            key_id, key = self.access.create_key(user, group, wanted, caller.user)
            self._sync()
            return {**(self.access.key(key_id) or {}), "key": key}

    def revoke_key(self, caller: Caller, key_id: str) -> dict[str, Any]:
        """Revoke a key (its user, a manage member of its group, or the operator)."""
        with self.audited(caller, "revoke-key") as note:
            found = self.access.key(key_id[:40])
            if found is None or not (
                caller.operator
                or found["user"] == caller.user
                or caller.may(found["group"], "manage")
            ):
                raise ModelNotFoundError(f"no API key {key_id[:40]!r}")
            note.group, note.detail = found["group"], key_id[:40]
            revoked = self.access.revoke(key_id)
            self._sync()
            return revoked

    def _group(self, caller: Caller, group: str, needed: Role, what: str) -> str:
        """``group`` if the caller has ``needed`` on it: one they are not a member of is
        answered as a missing one (404), one they are, 403."""
        check_name("group", group)
        if not self.access.group_exists(group) or not caller.may(group, "read"):
            raise ModelNotFoundError(f"no group {group!r}")
        caller.require(group, needed, what)
        return group
