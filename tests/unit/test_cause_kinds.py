"""Causes grow by kind: every kind module is registered once, and judging runs every registered kind."""

from __future__ import annotations

import importlib
import pkgutil
from datetime import UTC, datetime

import bot.domain.causes as causes_package
from bot.domain.causes import KINDS, Evidence, Unreadable, causes


def test_every_kind_module_is_registered_once():
    modules = [
        importlib.import_module(f"bot.domain.causes.{info.name}")
        for info in pkgutil.iter_modules(causes_package.__path__)
    ]
    defined = [m.KIND for m in modules if hasattr(m, "KIND")]
    assert len(defined) == len(KINDS) == len({id(k) for k in KINDS})
    assert {id(k) for k in defined} == {id(k) for k in KINDS}
    assert len({k.name for k in KINDS}) == len(KINDS)


def test_findings_of_every_kind_come_back_blockers_first():
    evidence = Evidence(unreadable=(Unreadable("Conditional Access policies", "Policy.Read.All"),), deleted=())
    found, explained = causes(
        evidence, [], ["5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"], ["0x80072efd"], datetime(2026, 11, 26, tzinfo=UTC)
    )
    keys = [c.key for c in found]
    assert keys == ["package_account_gone", "mdm_scope_unreadable", "device_network", "unreadable"]
    assert explained == {"5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"}
