"""Command-line options made from the settings classes' fields, each naming its variable.

A field gives its option everything: the flag (``--`` and its name, or ``FLAGS``), the type
and bounds (from its annotation), the default, the environment variable (the first that
pydantic-settings reads) and the help (its docstring). ``settings_options`` turns a class's
fields into options and hands the command one settings object built from their values.

Light on purpose (click and pydantic only): ``predlog load`` runs in the client image.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union, cast, get_args, get_origin

import annotated_types
import click
from pydantic import BeforeValidator, PlainValidator, ValidationError, WrapValidator

from predlog.settings import PredlogSettings

F = TypeVar("F", bound=Callable[..., Any])

FLAGS: Mapping[str, str] = {
    "models_dir": "--models",
    "spool_dir": "--spool",
    "store_url": "--store",
}
"""Flags shorter than their field's name, the same in every command."""


def option(*names: str, env: str, **kwargs: Any) -> Callable[[F], F]:
    """A click option that can also be set by the environment variable ``env``."""
    kwargs.setdefault("show_default", True)
    return click.option(*names, envvar=env, show_envvar=True, **kwargs)


def field_option(
    settings: type[PredlogSettings],
    field: str,
    flag: str | None = None,
    *,
    dest: str | None = None,
    help: str | None = None,
) -> Callable[[F], F]:
    """The option of one settings field; ``help`` only where a command means it otherwise."""
    info = settings.model_fields[field]
    text = help or info.description
    if not text or "\n" in text.strip():
        raise TypeError(f"{settings.__name__}.{field} needs a one-line docstring (its --help)")
    flag = flag or FLAGS.get(field) or "--" + field.replace("_", "-")
    kwargs: dict[str, Any] = {
        "env": settings.env_names(field)[0],
        "default": _defaults(settings)[field],
        "help": text.strip(),
    }
    annotation = _without_none(info.annotation)
    if annotation is bool:
        return option(f"{flag}/--no-{flag.removeprefix('--')}", dest or field, **kwargs)
    if _repeatable(annotation):  # the option given once per item
        return option(flag, dest or field, multiple=True, type=click.STRING, **kwargs)
    return option(flag, dest or field, type=_click_type(annotation, info.metadata), **kwargs)


def settings_options(
    settings: type[PredlogSettings],
    name: str = "settings",
    *,
    fields: Iterable[str] | None = None,
    flags: Mapping[str, str] | None = None,
) -> Callable[[F], F]:
    """Options for ``fields`` (default: all) of ``settings``; the command gets ``name=`` one
    object built from them (fields not given as options come from the environment)."""
    chosen = list(settings.model_fields if fields is None else fields)
    dests = {field: f"{name}__{field}" for field in chosen}

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            values = {field: kwargs.pop(dest) for field, dest in dests.items()}
            kwargs[name] = _build(settings, values, dests)
            return command(*args, **kwargs)

        decorated: Callable[..., Any] = wrapper
        for field in reversed(chosen):
            flag = (flags or {}).get(field)
            decorated = field_option(settings, field, flag, dest=dests[field])(decorated)
        return cast(F, decorated)

    return decorate


def _build(
    settings: type[PredlogSettings], values: dict[str, Any], dests: Mapping[str, str]
) -> PredlogSettings:
    """The settings object; a value pydantic refuses is a bad parameter of its option."""
    try:
        return settings(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        ctx = click.get_current_context()
        by_name = {
            n.upper(): dest for f, dest in dests.items() for n in (f, *settings.env_names(f))
        }
        dest = by_name.get(str(error["loc"][0]).upper()) if error["loc"] else None
        param = next((p for p in ctx.command.params if dest and p.name == dest), None)
        if param is None:
            raise click.UsageError(_describe(settings, exc), ctx) from exc
        raise click.BadParameter(error["msg"], ctx, param) from exc


def _describe(settings: type[PredlogSettings], exc: ValidationError) -> str:
    """pydantic's errors in a line each, a field named with its variable (it came from env)."""
    names = {n.upper(): f for f in settings.model_fields for n in (f, *settings.env_names(f))}
    lines = []
    for error in exc.errors():
        field = names.get(str(error["loc"][0]).upper()) if error["loc"] else None
        if field is not None:
            lines.append(f"{field} ({settings.env_names(field)[0]}): {error['msg']}")
        else:
            lines.append(f"{settings.__name__}: {error['msg']}")
    return "\n".join(lines)


@functools.cache
def _defaults(settings: type[PredlogSettings]) -> dict[str, Any]:
    """Every field's default as the command line and the environment write it."""
    defaults: dict[str, Any] = settings.model_construct().model_dump(mode="json")
    return defaults


def _without_none(annotation: Any) -> Any:
    """``X`` for ``X | None``."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _repeatable(annotation: Any) -> bool:
    """Whether a field holds a tuple of items (``tuple[str, ...]``, maybe Annotated)."""
    if get_origin(annotation) is Annotated:
        return _repeatable(get_args(annotation)[0])
    return get_origin(annotation) is tuple


def _click_type(annotation: Any, metadata: list[Any]) -> click.ParamType[Any]:
    """The click type of a field: bounds from its constraints, text where pydantic parses it."""
    if get_origin(annotation) is Annotated:
        base, *extra = get_args(annotation)
        if any(isinstance(m, BeforeValidator | PlainValidator | WrapValidator) for m in extra):
            return click.STRING  # the field's own parser reads the text (e.g. a duration)
        return _click_type(base, [*metadata, *extra])
    if get_origin(annotation) is Literal:
        return click.Choice([str(choice) for choice in get_args(annotation)])
    if annotation is Path:
        return click.Path(path_type=Path)
    if annotation in (int, float):
        return _number_type(annotation is int, metadata)
    return click.STRING


def _number_type(integer: bool, metadata: list[Any]) -> click.ParamType[Any]:
    """INTEGER or FLOAT, as a range when the field has bounds (ge, gt, le, lt)."""
    bounds: dict[str, Any] = {}
    for m in metadata:
        if isinstance(m, annotated_types.Ge | annotated_types.Gt):
            bounds.update(min=getattr(m, "ge", getattr(m, "gt", None)))
            bounds.update(min_open=isinstance(m, annotated_types.Gt))
        elif isinstance(m, annotated_types.Le | annotated_types.Lt):
            bounds.update(max=getattr(m, "le", getattr(m, "lt", None)))
            bounds.update(max_open=isinstance(m, annotated_types.Lt))
    if integer:
        return click.IntRange(**bounds) if bounds else click.INT
    return click.FloatRange(**bounds) if bounds else click.FLOAT
