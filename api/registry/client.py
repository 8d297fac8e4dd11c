"""A client of the admin API, for ``predlog models``: the standard library only (urllib)."""

from __future__ import annotations

import getpass
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from api.registry.archive import pack
from predlog.settings import PredlogSettings


class AdminClientSettings(PredlogSettings):
    """Where ``predlog models`` finds the admin API (``PREDLOG_ADMIN_*``)."""

    model_config = SettingsConfigDict(env_prefix="PREDLOG_ADMIN_", frozen=True)

    url: str = "http://127.0.0.1:8000"
    """Base URL of the api whose admin API changes the registry."""
    user: str | None = None
    """Who you are, for the deploy log (default: your login name)."""
    timeout: float = Field(default=120.0, gt=0)
    """Seconds to wait for an answer (a deploy checks the whole bundle first)."""
    key: str | None = Field(
        default=None, validation_alias=AliasChoices("PREDLOG_API_KEY", "PREDLOG_ADMIN_KEY")
    )
    """Your API key (sent as Authorization: Bearer); none needed on loopback until keys exist."""


class AdminError(RuntimeError):
    """The admin API refused a call (its status and message), or could not be reached (0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class AdminClient:
    """The admin API's calls, each returning the JSON it answers."""

    def __init__(self, settings: AdminClientSettings) -> None:
        self.base = settings.url.rstrip("/") + "/admin"
        self.user = settings.user or getpass.getuser()
        self.timeout = settings.timeout
        self.key = settings.key

    def index(self, model: str | None = None) -> dict[str, Any]:
        """Every version (of ``model``), and each worker's generation."""
        return self._call("GET", "/models" + (f"/{_quote(model)}" if model else ""))

    def deploy(
        self,
        model: str,
        bundle: Path,
        *,
        mode: str = "add",
        weight: float = 1.0,
        shadow_fraction: float = 1.0,
        group: str | None = None,
    ) -> dict[str, Any]:
        """Upload ``bundle`` (a directory, packed here, or a .tar.gz/.zip file)."""
        data = pack(bundle) if bundle.is_dir() else bundle.read_bytes()
        kind = "application/zip" if data[:2] == b"PK" else "application/gzip"
        query: dict[str, Any] = {"mode": mode, "weight": weight, "shadow_fraction": shadow_fraction}
        if group:
            query["group"] = group
        return self._call("POST", f"/models/{_quote(model)}/versions", query, data, kind)

    def weights(self, model: str, weights: Mapping[str, float]) -> dict[str, Any]:
        """Set the traffic split."""
        body = json.dumps(dict(weights)).encode()
        return self._call("PUT", f"/models/{_quote(model)}/weights", None, body, "application/json")

    def promote(self, model: str, version: str) -> dict[str, Any]:
        """All weighted traffic to ``version``."""
        return self._call("POST", f"/models/{_quote(model)}/versions/{_quote(version)}/promote")

    def rollback(self, model: str) -> dict[str, Any]:
        """Back to the previous split."""
        return self._call("POST", f"/models/{_quote(model)}/rollback")

    def retire(self, model: str, version: str) -> dict[str, Any]:
        """Stop serving ``version``."""
        return self._call("POST", f"/models/{_quote(model)}/versions/{_quote(version)}/retire")

    def logs(self, model: str, version: str | None = None) -> dict[str, Any]:
        """The deploy log."""
        query = {"version": version} if version else None
        return self._call("GET", f"/models/{_quote(model)}/logs", query)

    def groups(self) -> dict[str, Any]:
        """The groups you are a member of."""
        return self._call("GET", "/groups")

    def create_group(
        self, group: str, max_versions: int | None = None, max_bundle_bytes: int | None = None
    ) -> dict[str, Any]:
        """A new group that you manage (limits: the operator only)."""
        body = {"name": group, "max_versions": max_versions, "max_bundle_bytes": max_bundle_bytes}
        return self._json("POST", "/groups", body)

    def set_predict_key(self, group: str, required: bool) -> dict[str, Any]:
        """Close (``required``) or open the prediction routes of the group's models."""
        query = {"required": "true" if required else "false"}
        return self._call("PUT", f"/groups/{_quote(group)}/predict-key", query)

    def members(self, group: str) -> dict[str, Any]:
        """A group's members."""
        return self._call("GET", f"/groups/{_quote(group)}/members")

    def share(self, group: str, user: str, role: str) -> dict[str, Any]:
        """Give ``user`` ``role`` on ``group``."""
        path = f"/groups/{_quote(group)}/members/{_quote(user)}"
        return self._call("PUT", path, {"role": role})

    def unshare(self, group: str, user: str) -> dict[str, Any]:
        """Take ``user`` out of ``group``."""
        return self._call("DELETE", f"/groups/{_quote(group)}/members/{_quote(user)}")

    def keys(self) -> dict[str, Any]:
        """Your keys and those of the groups you manage."""
        return self._call("GET", "/keys")

    def create_key(self, user: str, group: str | None, role: str | None) -> dict[str, Any]:
        """A new key (in the answer, once)."""
        return self._json("POST", "/keys", {"user": user, "group": group, "role": role})

    def revoke_key(self, key_id: str) -> dict[str, Any]:
        """Revoke a key."""
        return self._call("POST", f"/keys/{_quote(key_id)}/revoke")

    def _json(self, method: str, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._call(method, path, None, json.dumps(dict(body)).encode(), "application/json")

    def _call(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> dict[str, Any]:
        url = self.base + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        headers = {"X-Predlog-User": self.user, "Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        request = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310 - the admin URL is the user's
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                answer: dict[str, Any] = json.loads(response.read())
                return answer
        except urllib.error.HTTPError as exc:
            raise AdminError(exc.code, _message(exc.read(), exc.reason)) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AdminError(0, f"cannot reach the admin API at {self.base}: {reason}") from None


def _quote(part: str) -> str:
    return urllib.parse.quote(part, safe="")


def _message(body: bytes, reason: str) -> str:
    try:
        error = json.loads(body)["error"]
        return str(error["message"])
    except (ValueError, KeyError, TypeError):
        return reason or body.decode("utf-8", "replace")[:500]
