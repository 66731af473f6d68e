"""Extract the part of Microsoft Graph's CSDL metadata the simulated tenant serves into sim/graph_metadata.json.

The source is Microsoft's own metadata repository (github.com/microsoftgraph/msgraph-metadata), read from a git
checkout at a commit, so the result names exactly what it came from:
- v1.0: clean_v10_metadata/cleanMetadata.xml (the CSDL Graph publishes; the variant "WithDescriptions" holds the
  same types plus documentation text, which the simulator does not need);
- beta: schemas/type-mappings/beta-entity-types.json (the repository's own extract of the beta CSDL's property and
  navigation names; the beta CSDL itself is too large for the snapshot used here). Beta is served for one read
  (the MDM user scope), so names are all the simulator checks there.

Only the types the simulator serves are kept, with what they reach through their structural properties (complex
types, enums, base and derived types); an entity's navigation properties are recorded by name and target, not
followed. Run it again against a newer commit to refresh the file:

    python tools/graph_metadata.py --repo <checkout of microsoftgraph/msgraph-metadata> [--commit HEAD]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "sim" / "graph_metadata.json"
V1_PATH = "clean_v10_metadata/cleanMetadata.xml"
BETA_PATH = "schemas/type-mappings/beta-entity-types.json"
REPOSITORY = "microsoftgraph/msgraph-metadata"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
NAMESPACE = "microsoft.graph"

# What the simulator serves (sim/server.py ROUTES): the entity types of its resources, the actions it answers.
V1_ENTITY_TYPES = (
    "deviceRegistrationPolicy",
    "directoryObject",
    "user",
    "group",
    "enrollmentTroubleshootingEvent",
    "conditionalAccessPolicy",
    "deviceEnrollmentConfiguration",
    "deviceEnrollmentPlatformRestrictionsConfiguration",
    "deviceEnrollmentLimitConfiguration",
    "enrollmentConfigurationAssignment",
    "signIn",
    "organization",
)
V1_ACTIONS = ("checkMemberGroups", "getByIds")
BETA_ENTITY_TYPES = ("mobilityManagementPolicy",)


def git_show(repo: Path, commit: str, path: str) -> bytes:
    return subprocess.run(
        ["git", "--git-dir", str(repo), "show", f"{commit}:{path}"], check=True, capture_output=True
    ).stdout


def resolve_commit(repo: Path, commit: str) -> str:
    out = subprocess.run(
        ["git", "--git-dir", str(repo), "rev-parse", f"{commit}^{{commit}}"], check=True, capture_output=True
    )
    return out.stdout.decode().strip()


def _qualified(name: str) -> str:
    """`graph.user` (the schema's alias) or `microsoft.graph.user` -> `microsoft.graph.user`; Edm types as is."""
    if name.startswith("graph."):
        return NAMESPACE + name[len("graph") :]
    return name


def _type_ref(raw: str) -> tuple[str, bool]:
    if raw.startswith("Collection(") and raw.endswith(")"):
        return _qualified(raw[len("Collection(") : -1]), True
    return _qualified(raw), False


class Csdl:
    """The microsoft.graph schema of one CSDL document, indexed by qualified name."""

    def __init__(self, xml: bytes):
        root = ET.fromstring(xml)
        schema = next(s for s in root.iter(f"{EDM}Schema") if s.get("Namespace") == NAMESPACE)
        self.structured: dict[str, ET.Element] = {}
        self.enums: dict[str, ET.Element] = {}
        self.actions: dict[str, list[ET.Element]] = {}
        for child in schema:
            name = child.get("Name", "")
            if child.tag in (f"{EDM}EntityType", f"{EDM}ComplexType"):
                self.structured[f"{NAMESPACE}.{name}"] = child
            elif child.tag == f"{EDM}EnumType":
                self.enums[f"{NAMESPACE}.{name}"] = child
            elif child.tag == f"{EDM}Action":
                self.actions.setdefault(name, []).append(child)
        self.derived: dict[str, list[str]] = {}
        for qualified, element in self.structured.items():
            base = element.get("BaseType")
            if base:
                self.derived.setdefault(_qualified(base), []).append(qualified)

    def extract(self, entity_types: tuple[str, ...], actions: tuple[str, ...]) -> dict[str, Any]:
        types: dict[str, Any] = {}
        enums: dict[str, Any] = {}
        pending = [f"{NAMESPACE}.{t}" for t in entity_types]
        out_actions: dict[str, Any] = {}
        for name in actions:
            for element in self.actions[name]:
                params = list(element.iter(f"{EDM}Parameter"))
                binding, collection = _type_ref(params[0].get("Type", ""))
                parameters = {}
                for param in params[1:]:
                    type_name, is_collection = _type_ref(param.get("Type", ""))
                    parameters[param.get("Name", "")] = {
                        "type": type_name,
                        "collection": is_collection,
                        "nullable": param.get("Nullable", "true") != "false",
                    }
                    pending.append(type_name)
                out_actions.setdefault(name, []).append(
                    {"binding": binding, "bindingCollection": collection, "parameters": parameters}
                )
        while pending:
            name = pending.pop()
            if name.startswith("Edm.") or name in types or name in enums:
                continue
            if name in self.enums:
                enums[name] = {m.get("Name"): int(m.get("Value", "0")) for m in self.enums[name].iter(f"{EDM}Member")}
                continue
            element = self.structured[name]
            entity = element.tag == f"{EDM}EntityType"
            record: dict[str, Any] = {"kind": "entity" if entity else "complex"}
            if element.get("BaseType"):
                record["base"] = _qualified(element.get("BaseType", ""))
                pending.append(record["base"])
            if element.get("Abstract") == "true":
                record["abstract"] = True
            if element.get("OpenType") == "true":
                record["open"] = True
            properties = {}
            for prop in element.findall(f"{EDM}Property"):
                type_name, is_collection = _type_ref(prop.get("Type", ""))
                properties[prop.get("Name", "")] = {
                    "type": type_name,
                    "collection": is_collection,
                    "nullable": prop.get("Nullable", "true") != "false",
                }
                pending.append(type_name)
            record["properties"] = properties
            navigation = {}
            for nav in element.findall(f"{EDM}NavigationProperty"):
                type_name, is_collection = _type_ref(nav.get("Type", ""))
                navigation[nav.get("Name", "")] = {"type": type_name, "collection": is_collection}
            record["navigation"] = navigation
            types[name] = record
            if not entity:  # a complex value may carry any derived type (@odata.type): those are declared too
                pending.extend(self.derived.get(name, []))
        return {
            "types": dict(sorted(types.items())),
            "enums": dict(sorted(enums.items())),
            "actions": out_actions,
        }


def beta_names(mappings: bytes, entity_types: tuple[str, ...]) -> dict[str, Any]:
    data = json.loads(mappings)[NAMESPACE]
    return {
        "types": {
            f"{NAMESPACE}.{name}": {
                "properties": sorted(data[name]["properties"]),
                "navigation": sorted(data[name]["navigationProperties"]),
            }
            for name in entity_types
        }
    }


def build(repo: Path, commit: str) -> dict[str, Any]:
    sha = resolve_commit(repo, commit)
    return {
        "source": {
            "repository": REPOSITORY,
            "commit": sha,
            "v1.0": V1_PATH,
            "beta": BETA_PATH,
            "generator": "tools/graph_metadata.py",
        },
        "v1.0": Csdl(git_show(repo, sha, V1_PATH)).extract(V1_ENTITY_TYPES, V1_ACTIONS),
        "beta": beta_names(git_show(repo, sha, BETA_PATH), BETA_ENTITY_TYPES),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True, help="git directory of a msgraph-metadata checkout")
    parser.add_argument("--commit", default="HEAD")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    data = build(args.repo, args.commit)
    args.output.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    v1 = data["v1.0"]
    print(
        f"{args.output}: {len(v1['types'])} types, {len(v1['enums'])} enums, {len(v1['actions'])} actions "
        f"from {REPOSITORY}@{data['source']['commit'][:12]}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
