"""The caller of the admin API: who they are (from their API key) and their role per group.

Before any key exists, loopback callers need none (they act as the operator: every role on
every group) and every other caller gets 401; once one exists, every call needs one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from api.errors import ServiceError
from api.registry.access import AccessStore
from api.registry.groups import Role, includes


class UnauthorizedError(ServiceError):
    """No API key, or one the store does not know or has revoked."""

    status_code = 401


class ForbiddenError(ServiceError):
    """A known key without the role the call needs."""

    status_code = 403


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls: a key's user and their roles, or (``key_id`` None) the operator on loopback."""

    user: str
    client: str
    key_id: str | None = None
    home: str | None = None
    """The group the key was made for: where a model first deployed with it goes."""
    roles: Mapping[str, Role] = field(default_factory=dict)

    @property
    def operator(self) -> bool:
        """The operator: loopback before any key exists (or the store, from the CLI)."""
        return self.key_id is None

    def role(self, group: str) -> Role | None:
        """The caller's role on ``group``, or None."""
        return "manage" if self.operator else self.roles.get(group)

    def may(self, group: str, needed: Role) -> bool:
        """Whether the caller has ``needed`` (or more) on ``group``."""
        return includes(self.role(group), needed)

    def require(self, group: str, needed: Role, what: str) -> None:
        """ForbiddenError naming the role ``what`` needs, unless the caller has it."""
        if not self.may(group, needed):
            held = self.role(group)
            raise ForbiddenError(
                f"{what} needs the {needed} role on group {group!r} (yours: {held or 'none'})"
            )


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address."""
    return host.startswith("127.") or host in ("::1", "localhost")


def bearer(authorization: str | None) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header value, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("the Authorization header must be 'Bearer <API key>'")
    return token.strip()


def authenticate(
    access: AccessStore, authorization: str | None, client: str, actor: str | None
) -> Caller:
    """The caller of one admin call; UnauthorizedError (never echoing the key) if none."""
    key = bearer(authorization)
    if key is None:
        if access.any_keys():
            raise UnauthorizedError(
                "this call needs an API key (Authorization: Bearer <key>; predlog: --key)"
            )
        if not is_loopback(client):
            raise UnauthorizedError(
                "the admin API answers loopback callers only until API keys exist"
            )
        return Caller(actor or client, client)
    owner = access.owner(key)
    if owner is None:
        raise UnauthorizedError("unknown API key")
    if owner.revoked:
        raise UnauthorizedError(f"API key {owner.key_id!r} was revoked")
    return Caller(owner.user, client, owner.key_id, owner.group, access.roles(owner.user))
