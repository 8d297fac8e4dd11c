"""The base of every part's settings: env names and ``to_env`` derived from the fields.

Each setting is declared once, as a field of a part's settings class: its type, default,
environment variable (the class's ``env_prefix``, or a ``validation_alias`` for the names
shared by several parts) and a one-line docstring under it. ``predlog.options`` makes the
command-line options from these fields, and ``predlog.docs`` the README's tables.

pydantic-settings only: every part imports this, in the client image too.
"""

from __future__ import annotations

import json

from pydantic import AliasChoices
from pydantic_settings import BaseSettings, SettingsConfigDict


class PredlogSettings(BaseSettings):
    """Settings whose docstrings are their fields' descriptions; built from names or env."""

    model_config = SettingsConfigDict(
        extra="ignore", populate_by_name=True, use_attribute_docstrings=True
    )

    @classmethod
    def env_names(cls, field: str) -> tuple[str, ...]:
        """The environment variables that set ``field``, the documented one first.

        pydantic-settings' rule: a ``validation_alias`` names the variables itself, without
        the ``env_prefix``; a field without one is read from ``env_prefix`` + its name.
        """
        alias = cls.model_fields[field].validation_alias
        if isinstance(alias, str):
            return (alias.upper(),)
        if isinstance(alias, AliasChoices):
            return tuple(choice.upper() for choice in alias.choices if isinstance(choice, str))
        return (f"{cls.model_config.get('env_prefix', '')}{field}".upper(),)

    def to_env(self) -> dict[str, str]:
        """These settings as environment variables, for child processes that rebuild them.

        Values are written as pydantic-settings reads them back: strings as they are, other
        values as JSON (numbers, ``true``/``false``); a field that is None is left out.
        """
        env: dict[str, str] = {}
        for field, value in self.model_dump(mode="json").items():
            if value is not None:
                text = value if isinstance(value, str) else json.dumps(value)
                env[self.env_names(field)[0]] = text
        return env


def shared(name: str, part: str) -> AliasChoices:
    """A setting several parts share: ``PREDLOG_<name>``, or ``PREDLOG_<part>_<name>`` for one."""
    return AliasChoices(f"PREDLOG_{name}", f"PREDLOG_{part}_{name}")
