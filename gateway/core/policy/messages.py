"""Pydantic validation errors as `file:line: message`, in the words of the policy files.

A pydantic error's `loc` is followed through the file's own data to the path of the
offending node, whose line the source recorded; a missing key points at the mapping
that lacks it. Messages name the thing (rule, tier, phase, limit, list) and the key.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from gateway.core.policy.errors import PolicyError
from gateway.core.policy.model import NoValue
from gateway.core.policy.source import Path, PathKey, Source

_PREDICATES = {
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "too_short": "must not be empty",
    "string_too_short": "must not be empty",
}


# Lists whose items are named by a key: rules by `id`, phases and test cases by `name`.
_NAMED_ITEMS = {"rules": ("rule", "id"), "phases": ("phase", "name"), "cases": ("case", "name")}


def value_at(data: object, path: Sequence[PathKey]) -> object:
    """The value at `path` in `data`, or None when there is none."""
    for part in path:
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return None
    return data


def _named(item: object, key: str) -> str | None:
    name = item.get(key) if isinstance(item, dict) else None
    return name if isinstance(name, str) else None


def _route(item: object, index: int) -> str:
    method, where = _named(item, "method"), _named(item, "path")
    return f"routes[{index}]" if method is None or where is None else f"route '{method} {where}'"


def describe(data: object, path: Path) -> tuple[str, Path]:
    """The thing a path lies in (e.g. `rule 'x'`) and the rest of the path within it."""
    if len(path) >= 2 and path[0] in _NAMED_ITEMS and isinstance(path[1], int):
        kind, key = _NAMED_ITEMS[path[0]]
        name = _named(value_at(data, path[:2]), key)
        if name is None:
            return f"{path[0]}[{path[1]}]", path[2:]
        return f"{kind} {name!r}", path[2:]
    if len(path) >= 2 and path[0] == "routes" and isinstance(path[1], int):
        return _route(value_at(data, path[:2]), path[1]), path[2:]
    if len(path) >= 2 and path[0] in ("tiers", "lists"):
        subject = f"{'tier' if path[0] == 'tiers' else 'list'} {path[1]!r}"
        if path[0] == "tiers" and len(path) >= 4 and path[2] == "limits":
            limit = _named(value_at(data, path[:4]), "name")
            if limit is not None:
                return f"{subject} limit {limit!r}", path[4:]
        return subject, path[2:]
    return "", path


def label(path: Sequence[PathKey]) -> str:
    """`when.all[0].gt` for a path within a thing."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _resolve(data: object, base: Path, loc: Sequence[int | str]) -> Path:
    # Follow loc through the data; parts not in it (a missing key) are skipped.
    path = list(base)
    current = value_at(data, base)
    for part in loc:
        in_dict = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_dict or in_list:
            current = current[part]  # type: ignore[index]
            path.append(part)
    return tuple(path)


def _step(annotation: Any, part: int | str) -> Any:
    # The type found at `part` inside `annotation`: a model's field, a list's item, ...
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    found: Any = None
    if origin is typing.Annotated:
        found = _step(args[0], part)
    elif origin in (typing.Union, types.UnionType):
        options = [arg for arg in args if arg is not type(None)]
        found = _step(options[0], part) if options else None
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        fields = annotation.model_fields.items()
        found = next((f.annotation for name, f in fields if part in (name, f.alias)), None)
    elif origin in (list, tuple):
        found = args[0]
    elif origin is dict:
        found = args[1]
    return found


def _allowed_keys(model: type[BaseModel], loc: Sequence[int | str]) -> str:
    annotation: Any = model
    for part in loc:
        annotation = _step(annotation, part)
    while typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return ""
    names = sorted(field.alias or name for name, field in annotation.model_fields.items())
    return f" (allowed: {', '.join(names)})"


def _number(value: object) -> str:
    # 100.0 reads as 100 in a message about a limit written as 100.
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _message(error: ErrorDetails, model: type[BaseModel], subject: str, where: str) -> str:
    kind, loc, ctx = error["type"], error["loc"], error.get("ctx", {})
    inside = f" in {where}" if where else ""
    if kind == "missing":
        statement = f"missing key {loc[-1]!r}{inside}"
    elif kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        statement = f"unknown key {loc[-1]!r}{inside}{allowed}"
    elif loc and loc[-1] == "[key]":
        statement = f"key {loc[-2]!r} must be a string{inside}"
    else:
        if kind in _PREDICATES:
            predicate = _PREDICATES[kind]
        elif kind == "literal_error":
            predicate = f"must be {ctx['expected']} (got {error['input']!r})"
        elif kind == "greater_than":
            predicate = "must be positive" if ctx["gt"] == 0 else f"must be more than {ctx['gt']}"
        elif kind == "greater_than_equal":
            predicate = f"must be at least {_number(ctx['ge'])}"
        elif kind == "less_than_equal":
            predicate = f"must be at most {_number(ctx['le'])}"
        elif kind == "value_error":
            predicate = str(ctx["error"])
        else:
            predicate = "is invalid: " + error["msg"][:1].lower() + error["msg"][1:]
        if subject and where:
            return f"{subject}: {where} {predicate}"
        return f"{where or subject or 'the top level'} {predicate}"
    return f"{subject}: {statement}" if subject else statement


def policy_errors(
    exc: ValidationError, source: Source, base: Path, model: type[BaseModel]
) -> list[PolicyError]:
    """Each pydantic error of validating `model` at `base` in `source`, located and worded."""
    errors = []
    for error in exc.errors():
        path = _resolve(source.data, base, error["loc"])
        no_value = error.get("ctx", {}).get("error")
        if isinstance(no_value, NoValue):
            path = (*path, no_value.key)
        is_key = isinstance(no_value, NoValue) or error["type"] == "extra_forbidden"
        is_key = is_key or error["loc"][-1:] == ("[key]",)
        subject, rest = describe(source.data, path[:-1] if is_key else path)
        message = _message(error, model, subject, label(rest))
        errors.append(source.at(path, message))
    return errors
