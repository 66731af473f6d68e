"""Which tenant a message or press is about, the registry's records, and how cards carry their tenant."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.tenancy import Where, may_act_on, mentioned_domains, resolve
from bot.tenants import TenantRecord, TenantRecordError
from cards.tenancy import TENANT_LINE_ID, stamp_tenant
from cards.verbs import parse_action

HOME = "00000000-0000-4000-8000-00000000aaaa"
A = "aaaaaaaa-0000-4000-8000-000000000001"
B = "bbbbbbbb-0000-4000-8000-000000000002"
SERVED = [HOME, A, B]
DOMAINS = {"msp.example": HOME, "school-a.onmicrosoft.com": A, "school-b.onmicrosoft.com": B}
LABELS = {HOME: "MSP", A: "School A", B: "School B"}
PKG = "package_1b2c3d4e-0000-4000-8000-000000000001"


def settle(text: str, user: str = HOME, bound: str | None = None, served=SERVED):
    return resolve(text, Where(user, bound), HOME, served, DOMAINS, LABELS)


def test_the_package_accounts_domain_decides():
    found = settle(f"bulk enrollment failed for {PKG}@school-b.onmicrosoft.com")
    assert (found.tenant_id, found.why) == (B, "the account's domain")
    assert settle(f"{PKG}@SCHOOL-A.onmicrosoft.com failed").tenant_id == A  # domains are case-insensitive


def test_a_package_domain_nobody_connected_is_refused_not_guessed():
    found = settle(f"{PKG}@elsewhere.onmicrosoft.com failed")
    assert found.tenant_id is None and found.refusal and "elsewhere.onmicrosoft.com" in found.refusal
    # One tenant served (the zero-configuration case): nothing to tell apart, the diagnosis says the rest.
    assert settle(f"{PKG}@elsewhere.onmicrosoft.com failed", served=[HOME]).tenant_id == HOME


def test_then_the_channels_binding_then_the_persons_own_tenant_then_ask():
    assert settle("bulk enrollment failed", bound=A).tenant_id == A
    assert settle("bulk enrollment failed", user=B).tenant_id == B  # a school in its own Teams
    asked = settle("bulk enrollment failed")
    assert asked.tenant_id is None and set(asked.ask) == {HOME, A, B}
    assert settle("bulk enrollment failed", served=[HOME]).tenant_id == HOME


def test_a_channel_bound_to_a_cannot_act_on_b():
    found = settle(f"{PKG}@school-b.onmicrosoft.com failed", bound=A)
    assert found.tenant_id is None and "School A" in (found.refusal or "")
    assert not may_act_on(Where(HOME, A), B, HOME)
    assert may_act_on(Where(HOME, A), A, HOME)


def test_a_customers_people_act_on_their_own_tenant_only():
    found = settle(f"{PKG}@school-b.onmicrosoft.com failed", user=A)
    assert found.tenant_id is None and found.refusal
    assert not may_act_on(Where(A, None), B, HOME)
    assert not may_act_on(Where(A, None), HOME, HOME)
    assert may_act_on(Where(HOME, None), B, HOME)


def test_accounts_of_two_tenants_are_asked_about():
    found = settle(f"{PKG}@school-a.onmicrosoft.com and {PKG}@school-b.onmicrosoft.com")
    assert found.tenant_id is None and set(found.ask) == {A, B}


def test_domains_in_the_text():
    packages, others = mentioned_domains(f"{PKG}@School.onmicrosoft.com; mail adele@contoso.com")
    assert packages == ("school.onmicrosoft.com",) and others == ("contoso.com",)
    assert mentioned_domains("no accounts here, just 0x801c0003") == ((), ())


def test_records_are_validated_and_normalised():
    record = TenantRecord(A.upper(), "  School   A ", ("School-A.onmicrosoft.com.",)).validated()
    assert (record.tenant_id, record.display_name, record.domains) == (A, "School A", ("school-a.onmicrosoft.com",))
    assert TenantRecord.from_json(record.to_json()) == record
    for bad, said in (
        (TenantRecord("contoso", "x"), "GUID"),
        (TenantRecord(A, ""), "display name"),
        (TenantRecord(A, "x", ("not a domain",)), "not a domain"),
        (TenantRecord(A, "x", credential="s3cr3t"), "credential"),
        (TenantRecord(A, "x", credential="env:TENANT_SECRET_A"), "client id"),
        (TenantRecord(A, "x", allowed_changes=("delete_everything",)), "unknown change kinds"),
        (TenantRecord(A, "x", alert_factor=0.5), "alert factor"),
    ):
        with pytest.raises(TenantRecordError, match=said):
            bad.validated()
    at = datetime(2026, 12, 4, tzinfo=UTC)
    assert TenantRecord.from_json(TenantRecord(A, "x", connected_at=at).to_json()).connected_at == at


def test_a_card_names_its_tenant_and_every_action_carries_it():
    card = {
        "type": "AdaptiveCard",
        "body": [{"type": "ActionSet", "actions": [{"type": "Action.Execute", "verb": "diagnosis.start", "data": {}}]}],
        "actions": [{"type": "Action.Execute", "verb": "alert.ack", "data": {"incidentId": "i1"}}],
        "refresh": {"action": {"type": "Action.Execute", "verb": "approval.view", "data": {"requestId": "r"}}},
    }
    stamped = stamp_tenant(card, A, "School A (school-a.onmicrosoft.com)")
    assert stamped["body"][0]["id"] == TENANT_LINE_ID and "School A" in stamped["body"][0]["text"]
    assert stamped["actions"][0]["data"] == {"incidentId": "i1", "tenant": A}
    assert stamped["body"][1]["actions"][0]["data"] == {"tenant": A}
    assert stamped["refresh"]["action"]["data"]["tenant"] == A
    assert "tenant" not in card["actions"][0]["data"]  # the original is left alone
    assert stamp_tenant(stamped, A, "School A") == stamped  # twice changes nothing
    payload = parse_action("alert.ack", stamped["actions"][0]["data"])
    assert payload is not None and payload.tenant == A
    assert parse_action("alert.ack", {"incidentId": "i1", "tenant": "not-a-guid"}) is None  # a forged shape
