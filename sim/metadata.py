"""What Microsoft Graph's own metadata declares, applied to requests: types, nesting, enums, action parameters,
$select and $expand. The declarations come from sim/graph_metadata.json (tools/graph_metadata.py extracts them from
microsoftgraph/msgraph-metadata at a recorded commit), never from lists written here.

The wording of each refusal is the OData library's (Microsoft.OData.Core), which Graph's workloads answer with:
"The property 'x' does not exist on type 't'. Make sure to only use property names that are defined by the type or
mark the type as open type." (seen in Graph answers, e.g. msgraph-sdk-python#313, msgraph-sdk-dotnet#450), "Could
not find a property named 'x' on type 't'." ($select), "Parsing OData Select and Expand failed: ..." ($expand, e.g.
msgraph-sdk-powershell#2103). Those three were found in real Graph answers; the others (an undeclared action
parameter, a missing one, a value of the wrong type, a type not derived from the declared one, an unexpected JSON
node) are the OData library's own messages, and an enum value that is not a member gets the directory's "Invalid
value specified for property ..."; none of these could be matched to a recorded Graph answer here. Directory
workloads answer with the code Request_BadRequest, Intune and Conditional Access with BadRequest; Conditional Access
replaces the detail with its own schema error (see CA_SCHEMA_ERROR).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sim.tenant import GraphFailure

METADATA_FILE = Path(__file__).with_name("graph_metadata.json")
ANNOTATION_PREFIX = "@odata."

DIRECTORY = "Request_BadRequest"  # Entra directory workloads (users, groups, directory objects, policies)
SERVICE = "BadRequest"  # Intune, Conditional Access

# The Conditional Access service's answer to a body that does not match conditionalAccessPolicy's schema, as
# reported from real tenants (microsoft-graph-docs-contrib#4162): it names no property.
CA_SCHEMA_ERROR = (
    "1007: Incoming ConditionalAccessPolicy object is null or does not match the schema of ConditionalAccessPolicy "
    "type. For examples, please see API documentation at "
    "https://learn.microsoft.com/graph/api/conditionalaccesspolicy-update?view=graph-rest-1.0."
)

_EDM_CHECKS: dict[str, Any] = {
    "Edm.String": lambda v: isinstance(v, str),
    "Edm.Boolean": lambda v: isinstance(v, bool),
    "Edm.Int32": lambda v: isinstance(v, int) and not isinstance(v, bool) and -(2**31) <= v < 2**31,
    "Edm.Int64": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "Edm.Double": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "Edm.DateTimeOffset": lambda v: isinstance(v, str),
    "Edm.Guid": lambda v: isinstance(v, str),
    "Edm.Duration": lambda v: isinstance(v, str),
    "Edm.Binary": lambda v: isinstance(v, str),
}


@dataclass(frozen=True)
class Property:
    name: str
    type: str
    collection: bool
    nullable: bool


class GraphMetadata:
    """One API version's declarations: structured types (with inheritance), enums and actions."""

    def __init__(self, data: Mapping[str, Any], beta: Mapping[str, Any], source: Mapping[str, Any]):
        self._types: Mapping[str, Any] = data["types"]
        self._enums: Mapping[str, Mapping[str, int]] = data["enums"]
        self._actions: Mapping[str, Any] = data["actions"]
        self._beta: Mapping[str, Any] = beta["types"]
        self.source = dict(source)

    # ---- declarations ---------------------------------------------------------------------------
    def _chain(self, type_name: str) -> list[Mapping[str, Any]]:
        chain = []
        current: str | None = type_name
        while current:
            record = self._types.get(current)
            if record is None:
                raise KeyError(f"{type_name} is not in sim/graph_metadata.json (regenerate it with its type)")
            chain.append(record)
            current = record.get("base")
        return chain

    def properties(self, type_name: str) -> dict[str, Property]:
        out: dict[str, Property] = {}
        for record in reversed(self._chain(type_name)):
            for name, p in record["properties"].items():
                out[name] = Property(name, p["type"], p["collection"], p["nullable"])
        return out

    def navigation(self, type_name: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for record in reversed(self._chain(type_name)):
            out.update({name: n["type"] for name, n in record["navigation"].items()})
        return out

    def is_open(self, type_name: str) -> bool:
        return any(r.get("open") for r in self._chain(type_name))

    def derives_from(self, type_name: str, base: str) -> bool:
        current: str | None = type_name
        while current:
            if current == base:
                return True
            current = self._types.get(current, {}).get("base")
        return False

    def enum_members(self, type_name: str) -> Mapping[str, int] | None:
        return self._enums.get(type_name)

    def beta_names(self, type_name: str) -> tuple[frozenset[str], frozenset[str]]:
        record = self._beta[type_name]
        return frozenset(record["properties"]) | {"id"}, frozenset(record["navigation"])

    # ---- query options --------------------------------------------------------------------------
    def check_select(
        self, names: Iterable[str] | None, type_name: str, code: str = DIRECTORY, derived: Iterable[str] = ()
    ) -> None:
        """$select: a structural or navigation property the type (or a base) declares; on a collection of a base
        type (directoryObject members), also one its `derived` types in the collection declare."""
        declared: set[str] = set()
        for name in (type_name, *derived):
            declared |= set(self.properties(name)) | set(self.navigation(name))
        for name in names or ():
            if name not in declared:
                raise GraphFailure(400, code, f"Could not find a property named '{name}' on type '{type_name}'.")

    def check_expand(
        self, names: Iterable[str] | None, type_name: str, code: str = DIRECTORY, served: Iterable[str] = ()
    ) -> None:
        """$expand: a navigation property; a structural one is refused with the OData library's own words. A
        navigation property Graph would expand but the simulator does not render (`served` lists those it does)
        is said plainly rather than answered without it."""
        navigation = self.navigation(type_name)
        structural = self.properties(type_name)
        for name in names or ():
            if name in navigation:
                if name not in served:
                    raise GraphFailure(
                        501, "NotImplemented", f"The simulated tenant does not serve $expand={name} on {type_name}."
                    )
                continue
            if name in structural:
                raise GraphFailure(
                    400,
                    code,
                    f"Parsing OData Select and Expand failed: Property '{name}' on type '{type_name}' is not a "
                    "navigation property or complex property. Only navigation properties can be expanded.",
                )
            raise GraphFailure(
                400,
                code,
                f"Parsing OData Select and Expand failed: Could not find a property named '{name}' on type "
                f"'{type_name}'.",
            )

    def check_beta_query(self, select: Iterable[str] | None, expand: Iterable[str] | None, type_name: str) -> None:
        properties, navigation = self.beta_names(type_name)
        for name in select or ():
            if name not in properties | navigation:
                raise GraphFailure(400, SERVICE, f"Could not find a property named '{name}' on type '{type_name}'.")
        for name in expand or ():
            if name not in navigation:
                raise GraphFailure(
                    400,
                    SERVICE,
                    f"Parsing OData Select and Expand failed: Could not find a property named '{name}' on type "
                    f"'{type_name}'.",
                )

    # ---- bodies ---------------------------------------------------------------------------------
    def check_body(self, body: Any, type_name: str, code: str = DIRECTORY, schema_error: str | None = None) -> None:
        """A PUT/PATCH body against the type: every property declared (at every depth), each value of its
        declared type, each enum value a member, each @odata.type the declared type or one derived from it."""
        try:
            self._value(body, type_name, False, True, type_name)
        except GraphFailure as failure:
            if schema_error is not None:
                raise GraphFailure(400, code, schema_error) from failure
            raise GraphFailure(400, code, failure.message) from failure

    def check_action(self, action: str, binding: str, body: Any, code: str = DIRECTORY) -> None:
        """An action's body: only the parameters it declares, the non-nullable ones present, each of its type."""
        overloads = [a for a in self._actions[action] if self.derives_from(binding, a["binding"])]
        if not overloads:
            raise KeyError(f"{action} is not bound to {binding} in sim/graph_metadata.json")
        parameters: Mapping[str, Any] = overloads[0]["parameters"]
        if not isinstance(body, dict):
            raise GraphFailure(400, code, "The parameters payload is missing or is not a JSON object.")
        for name, value in body.items():
            if name.startswith(ANNOTATION_PREFIX):
                continue
            declared = parameters.get(name)
            if declared is None:
                raise GraphFailure(
                    400,
                    code,
                    f"The parameter '{name}' in the request payload is not a valid parameter for the operation "
                    f"'{action}'.",
                )
            try:
                self._value(value, declared["type"], declared["collection"], declared["nullable"], name)
            except GraphFailure as failure:
                raise GraphFailure(400, code, failure.message) from failure
        missing = [n for n, p in parameters.items() if not p["nullable"] and n not in body]
        if missing:
            raise GraphFailure(
                400,
                code,
                f"One or more parameters of the operation '{action}' are missing from the request payload. The "
                f"missing parameters are: {', '.join(missing)}.",
            )

    def _value(self, value: Any, type_name: str, collection: bool, nullable: bool, where: str) -> None:
        if value is None:
            if collection or not nullable:
                raise GraphFailure(
                    400,
                    DIRECTORY,
                    f"A null value was found for the property named '{where}', "
                    f"which has the expected type '{_shown(type_name, collection)}[Nullable=False]'. "
                    "The expected type '"
                    f"{_shown(type_name, collection)}[Nullable=False]' does not allow null values.",
                )
            return
        if collection:
            if not isinstance(value, list):
                raise GraphFailure(400, DIRECTORY, _unexpected_node(value, "StartArray"))
            for item in value:
                self._value(item, type_name, False, False, where)
            return
        if type_name.startswith("Edm."):
            check = _EDM_CHECKS.get(type_name, lambda v: not isinstance(v, dict | list))
            if isinstance(value, dict | list) or not check(value):
                raise GraphFailure(
                    400,
                    DIRECTORY,
                    f"Cannot convert a primitive value to the expected type '{type_name}'. See the inner exception "
                    "for more details.",
                )
            return
        members = self.enum_members(type_name)
        if members is not None:
            text = value if isinstance(value, str) else None
            names = set(members) | {str(v) for v in members.values()}
            # Flags enums and comma lists are not used by the types served; one member name (or its value) is.
            if text is None or text not in names:
                raise GraphFailure(
                    400, DIRECTORY, f"Invalid value specified for property '{where}' of resource '{type_name}'."
                )
            return
        if not isinstance(value, dict):
            raise GraphFailure(400, DIRECTORY, _unexpected_node(value, "StartObject"))
        actual = type_name
        annotated = value.get("@odata.type")
        if annotated is not None:
            actual = str(annotated).lstrip("#")
            if actual not in self._types or not self.derives_from(actual, type_name):
                raise GraphFailure(
                    400,
                    DIRECTORY,
                    f"A resource with type '{actual}' was found, but it is not assignable to the expected type "
                    f"'{type_name}'. The type specified in the resource must be equal to either the expected type "
                    "or a derived type.",
                )
        declared = self.properties(actual)
        navigation = self.navigation(actual)
        open_type = self.is_open(actual)
        for name, item in value.items():
            if name.startswith(ANNOTATION_PREFIX) or "@odata." in name:
                continue
            prop = declared.get(name)
            if prop is None:
                if name in navigation or open_type:
                    continue  # a bind or an open type's dynamic property: not a structural mismatch
                raise GraphFailure(
                    400,
                    DIRECTORY,
                    f"The property '{name}' does not exist on type '{actual}'. Make sure to only use property "
                    "names that are defined by the type or mark the type as open type.",
                )
            self._value(item, prop.type, prop.collection, prop.nullable, name)


def _shown(type_name: str, collection: bool) -> str:
    return f"Collection({type_name})" if collection else type_name


def _unexpected_node(value: Any, expected: str) -> str:
    node = "StartObject" if isinstance(value, dict) else "StartArray" if isinstance(value, list) else "PrimitiveValue"
    return f"An unexpected '{node}' node was found when reading from the JSON reader. A '{expected}' node was expected."


@cache
def metadata() -> GraphMetadata:
    data = json.loads(METADATA_FILE.read_text())
    return GraphMetadata(data["v1.0"], data["beta"], data["source"])


def select_of(query: Mapping[str, str]) -> list[str] | None:
    return _names(query.get("$select"))


def expand_of(query: Mapping[str, str]) -> list[str] | None:
    # Nested options ("assignments($select=id)") name the property before the parenthesis.
    return [n.split("(", 1)[0].strip() for n in _names(query.get("$expand")) or []] or None


def _names(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    return [n.strip() for n in raw.split(",") if n.strip()]
