"""The operator's way in: the calls of ``AdminClient`` for groups, members and keys, made on
the store directly (``predlog keys ... --store``), as the operator, audited like the rest.

How the first key is made: nobody has one yet, so nobody could make one through the API
from anywhere but loopback.
"""

from __future__ import annotations

import getpass
from typing import Any

from sqlalchemy import Engine

from api.registry.admin import AdminHandler
from api.registry.auth import Caller
from api.registry.store import RegistryStore


class StoreAdmin:
    """Groups, members and keys on the store behind ``engine``, as the operator."""

    def __init__(self, engine: Engine, user: str | None = None) -> None:
        self.admin = AdminHandler(RegistryStore(engine), None, 0)
        self.caller = Caller(user or getpass.getuser(), "store (predlog command line)")

    def groups(self) -> dict[str, Any]:
        """Every group."""
        return self.admin.groups(self.caller)

    def create_group(
        self, group: str, max_versions: int | None = None, max_bundle_bytes: int | None = None
    ) -> dict[str, Any]:
        """A new group, with its limits."""
        return self.admin.create_group(self.caller, group, max_versions, max_bundle_bytes)

    def set_predict_key(self, group: str, required: bool) -> dict[str, Any]:
        """Close (``required``) or open the prediction routes of the group's models."""
        return self.admin.set_predict_key(self.caller, group, required)

    def members(self, group: str) -> dict[str, Any]:
        """A group's members."""
        return self.admin.members(self.caller, group)

    def share(self, group: str, user: str, role: str) -> dict[str, Any]:
        """Give ``user`` ``role`` on ``group``."""
        return self.admin.share(self.caller, group, user, role)

    def unshare(self, group: str, user: str) -> dict[str, Any]:
        """Take ``user`` out of ``group``."""
        return self.admin.unshare(self.caller, group, user)

    def keys(self) -> dict[str, Any]:
        """Every key."""
        return self.admin.keys(self.caller)

    def create_key(self, user: str, group: str | None, role: str | None) -> dict[str, Any]:
        """A new key (in the answer, once)."""
        return self.admin.create_key(self.caller, user, group, role)

    def revoke_key(self, key_id: str) -> dict[str, Any]:
        """Revoke a key."""
        return self.admin.revoke_key(self.caller, key_id)
