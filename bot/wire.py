"""Bot Framework models (botbuilder.schema, msrest) to and from JSON, without msrest's per-attribute machinery.

msrest's `Model.serialize()` and `Model.deserialize()` copy each attribute's description, run key extractors or
transformers and a type dispatch per attribute and per item: about 0.2 ms for an activity's envelope, on the
event loop, several times a turn. `to_json` and `from_json` give the same dict and the same model for the shapes
a turn carries (strings, enums, numbers, datetimes, nested models, lists and plain JSON objects) from a
per-class plan made once, and hand anything else (a flattened key, an XML model, a polymorphic class, a value of
an unexpected type, anything msrest would refuse) to msrest itself, so what is read and sent never differs.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, TypeVar

from msrest.serialization import Deserializer, Model, Serializer

# (attribute, wire key, msrest type) per model class; None: a class msrest must serialize itself
_PLANS: dict[type, tuple[tuple[str, str, str], ...] | None] = {}
_NUMBERS = {"bool": bool, "int": int, "float": float}
_PLAIN = (str, int, float, bool)
_DEPENDENCIES: dict[type, dict[str, type]] = {}  # the classes msrest resolves type names in, per root class
M = TypeVar("M", bound=Model)


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
        and not cls.__dict__.get("_subtype_map")
        and not any(v.get("readonly") or v.get("constant") for v in validation.values())
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


def from_json(cls: type[M], data: Any) -> M:
    """`cls.deserialize(data)`, the same model, made faster where the JSON holds only the usual shapes."""
    dependencies = _DEPENDENCIES.get(cls)
    if dependencies is None:
        dependencies = _DEPENDENCIES[cls] = cls._infer_class_models()
    try:
        return _read_model(cls, data, dependencies)  # type: ignore[return-value]
    except Exception:  # noqa: BLE001 - msrest reads it (or refuses it) by its own rules
        return cls.deserialize(data)  # type: ignore[return-value]


def _read_model(cls: type, data: Any, dependencies: dict[str, type]) -> Model:
    plan = _plan(cls)
    if plan is None or type(data) is not dict:
        raise _Unusual
    values: dict[str, Any] = {}
    for name, key, kind in plan:
        value = data.get(key)
        values[name] = None if value is None else _read(value, kind, dependencies)
    model = cls(**values)
    known = _KNOWN.get(cls)
    if known is None:
        known = _KNOWN[cls] = frozenset(key for _, key, _ in plan)
    extra = {k: data[k] for k in data.keys() - known}
    if extra:
        model.additional_properties = extra  # as msrest keeps what the class does not declare
    return model  # type: ignore[no-any-return]


_KNOWN: dict[type, frozenset[str]] = {}


def _read(value: Any, kind: str, dependencies: dict[str, type]) -> Any:
    if kind == "str":
        if type(value) is not str:
            raise _Unusual  # msrest would make "5" of 5
        return value
    if kind == "object":
        return _json_copy(value)  # as msrest makes
    if kind in _NUMBERS:
        if type(value) is not _NUMBERS[kind]:
            raise _Unusual  # msrest would convert "true", 1 or 2.0
        return value
    if kind == "iso-8601":
        if type(value) is not str:
            raise _Unusual
        return Deserializer.deserialize_iso(value)
    if kind.startswith("[") and kind.endswith("]"):
        if type(value) is not list:
            raise _Unusual
        return [None if item is None else _read(item, kind[1:-1], dependencies) for item in value]
    if kind.startswith("{") and kind.endswith("}"):
        if type(value) is not dict:
            raise _Unusual
        return {k: None if v is None else _read(v, kind[1:-1], dependencies) for k, v in value.items()}
    target = dependencies.get(kind)
    if target is None or isinstance(target, type) and issubclass(target, Enum):
        raise _Unusual
    return _read_model(target, value, dependencies)


def _json_copy(value: Any) -> Any:
    if value is None or type(value) in _PLAIN:
        return value
    if type(value) is dict and all(type(k) is str for k in value):
        return {k: _json_copy(v) for k, v in value.items()}
    if type(value) is list:
        return [_json_copy(v) for v in value]
    raise _Unusual  # not JSON (a model, a tuple): msrest's own rules
