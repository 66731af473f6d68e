"""Bot Framework models (botbuilder.schema, msrest) to JSON, without msrest's per-attribute machinery.

msrest's `Model.serialize()` copies each attribute's description, runs a key transformer and a type dispatch per
attribute and per item: about 0.2 ms for a reply's envelope, on the event loop, several times a turn. `to_json`
gives the same dict for the shapes a turn carries (strings, enums, numbers, datetimes, nested models, lists and
plain JSON objects) from a per-class plan made once, and hands anything else (a flattened key, an XML model, a
value of an unexpected type) to `Model.serialize()` itself, so what goes on the wire never differs.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from msrest.serialization import Model, Serializer

# (attribute, wire key, msrest type) per model class; None: a class msrest must serialize itself
_PLANS: dict[type, tuple[tuple[str, str, str], ...] | None] = {}
_NUMBERS = {"bool": bool, "int": int, "float": float}
_PLAIN = (str, int, float, bool)


class _Unusual(Exception):
    """A value this module does not serialize exactly as msrest would: msrest does it."""


def to_json(model: Model) -> dict[str, Any]:
    """`model.serialize()`, the same dict, made faster where the model holds only the usual shapes."""
    try:
        return _model(model)
    except (_Unusual, AttributeError):
        return model.serialize()  # type: ignore[no-any-return]


def _plan(cls: type) -> tuple[tuple[str, str, str], ...] | None:
    if cls in _PLANS:
        return _PLANS[cls]
    plan: tuple[tuple[str, str, str], ...] | None = None
    attributes: dict[str, dict[str, Any]] = getattr(cls, "_attribute_map", {})
    validation: dict[str, dict[str, Any]] = getattr(cls, "_validation", {}) or {}
    usual = (
        not getattr(cls, "_xml_map", None)
        and not any(v.get("readonly") for v in validation.values())
        and all(d["key"] and "." not in d["key"] and "\\" not in d["key"] for d in attributes.values())
    )
    if usual:
        plan = tuple((name, d["key"], d["type"]) for name, d in attributes.items())
    _PLANS[cls] = plan
    return plan


def _model(model: Model) -> dict[str, Any]:
    plan = _plan(type(model))
    if plan is None:
        raise _Unusual
    out: dict[str, Any] = {}
    for name, key, kind in plan:
        value = getattr(model, name)
        if value is not None:
            out[key] = _typed(value, kind)
    return out


def _typed(value: Any, kind: str) -> Any:
    if kind == "str":
        if type(value) is str:
            return value
        if isinstance(value, Enum):
            return value.value  # msrest: an enum's value
        raise _Unusual
    if kind == "object":
        return _object(value)
    if kind in _NUMBERS:
        if type(value) is not _NUMBERS[kind]:
            raise _Unusual  # msrest would convert it (int(True)): let it
        return value
    if kind == "iso-8601":
        return Serializer.serialize_iso(value)
    if kind.startswith("[") and kind.endswith("]"):
        if type(value) is not list:
            raise _Unusual
        return [None if item is None else _typed(item, kind[1:-1]) for item in value]
    if kind.startswith("{") and kind.endswith("}"):
        if type(value) is not dict or not all(type(k) is str for k in value):
            raise _Unusual
        return {k: None if v is None else _typed(v, kind[1:-1]) for k, v in value.items()}
    if kind[:1].isupper() and isinstance(value, Model):
        return _model(value)
    raise _Unusual  # bytearray, dates, durations, a dict where a model belongs: msrest's own rules


def _object(value: Any) -> Any:
    if value is None or type(value) in _PLAIN:
        return value
    if type(value) is dict:
        if not all(type(k) is str for k in value):
            raise _Unusual
        return {k: _object(v) for k, v in value.items()}
    if type(value) is list:
        return [_object(v) for v in value]
    if isinstance(value, Model):
        return _model(value)
    raise _Unusual  # datetimes, decimals, tuples, enums inside an object: msrest's own rules
