"""The committed extract of Graph's metadata: where it came from, that it holds what the simulator names, and that
the extractor keeps what a body can reach (derived complex types, enums) without following navigation."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sim.metadata import METADATA_FILE, metadata
from tools.graph_metadata import Csdl

ROOT = Path(__file__).resolve().parents[2]

CSDL = b"""<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
    <Schema Namespace="microsoft.graph" Alias="graph" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EnumType Name="colour"><Member Name="red" Value="0" /><Member Name="blue" Value="1" /></EnumType>
      <EnumType Name="unused"><Member Name="x" Value="0" /></EnumType>
      <ComplexType Name="membership" />
      <ComplexType Name="listedMembership" BaseType="graph.membership">
        <Property Name="users" Type="Collection(Edm.String)" />
      </ComplexType>
      <ComplexType Name="unrelated"><Property Name="a" Type="Edm.String" /></ComplexType>
      <EntityType Name="entity" Abstract="true"><Key><PropertyRef Name="id" /></Key>
        <Property Name="id" Type="Edm.String" Nullable="false" /></EntityType>
      <EntityType Name="widget" BaseType="graph.entity">
        <Property Name="colour" Type="graph.colour" Nullable="false" />
        <Property Name="allowed" Type="graph.membership" />
        <NavigationProperty Name="owner" Type="graph.person" />
      </EntityType>
      <EntityType Name="person" BaseType="graph.entity"><Property Name="name" Type="Edm.String" /></EntityType>
      <Action Name="paint" IsBound="true">
        <Parameter Name="bindingParameter" Type="graph.widget" Nullable="false" />
        <Parameter Name="colours" Type="Collection(graph.colour)" Nullable="false" />
      </Action>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>"""


def test_the_extractor_keeps_what_a_body_reaches_and_records_navigation_by_name():
    out = Csdl(CSDL).extract(("widget",), ("paint",))
    types = out["types"]
    assert set(types) == {
        "microsoft.graph.widget",
        "microsoft.graph.entity",
        "microsoft.graph.membership",
        "microsoft.graph.listedMembership",  # a value of `membership` may be this derived type
    }
    widget = types["microsoft.graph.widget"]
    assert widget["base"] == "microsoft.graph.entity"  # the alias resolved
    assert widget["properties"]["colour"] == {"type": "microsoft.graph.colour", "collection": False, "nullable": False}
    assert widget["navigation"] == {"owner": {"type": "microsoft.graph.person", "collection": False}}
    assert out["enums"] == {"microsoft.graph.colour": {"red": 0, "blue": 1}}
    assert out["actions"]["paint"][0]["parameters"]["colours"]["collection"] is True


def test_the_committed_extract_names_its_source_and_holds_every_type_the_simulator_names():
    data = json.loads(METADATA_FILE.read_text())
    assert data["source"]["repository"] == "microsoftgraph/msgraph-metadata"
    assert re.fullmatch(r"[0-9a-f]{40}", data["source"]["commit"])
    server = (ROOT / "sim" / "server.py").read_text()
    named = set(re.findall(r'"(microsoft\.graph\.[A-Za-z]+)"', server))
    named |= {f"microsoft.graph.{c}" for c in ("user", "group", "directoryObject")}
    graph = metadata()
    for type_name in named:
        if type_name == "microsoft.graph.mobilityManagementPolicy":
            assert "includedGroups" in graph.beta_names(type_name)[1]
        else:
            assert graph.properties(type_name), type_name
    assert set(graph.enum_members("microsoft.graph.conditionalAccessClientApp") or {}) >= {"all", "browser", "other"}
