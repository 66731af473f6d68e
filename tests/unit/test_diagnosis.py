"""The pure diagnosis: coverage, findings, and the minimal plan as a diff."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from bot.domain.diagnosis import Coverage, FindingCode, diagnose, policy_with_join
from bot.domain.model import DirectoryUser, JoinSetting, MembershipKind, PolicySnapshot, parse_join_setting

NOW = datetime(2026, 11, 26, tzinfo=UTC)


def account(n: int, enabled: bool = True, created: str = "2026-10-01") -> DirectoryUser:
    return DirectoryUser(
        id=f"u{n}",
        user_principal_name=f"package_0000000{n}-0000-4000-8000-000000000000@contoso.onmicrosoft.com",
        display_name=None,
        account_enabled=enabled,
        created=datetime.fromisoformat(created).replace(tzinfo=UTC),
    )


def policy(allowed: dict, mfa: str = "notRequired") -> PolicySnapshot:
    return PolicySnapshot.from_graph(
        {
            "id": "deviceRegistrationPolicy",
            "displayName": "Device Registration Policy",
            "description": "x",
            "userDeviceQuota": 50,
            "multiFactorAuthConfiguration": mfa,
            "azureADRegistration": {
                "isAdminConfigurable": False,
                "allowedToRegister": {"@odata.type": "#microsoft.graph.allDeviceRegistrationMembership"},
            },
            "azureADJoin": {
                "isAdminConfigurable": True,
                "allowedToJoin": allowed,
                "localAdmins": {
                    "enableGlobalAdmins": True,
                    "registeringUsers": {"@odata.type": "#microsoft.graph.noDeviceRegistrationMembership"},
                },
            },
            "localAdminPassword": {"isEnabled": False},
        }
    )


SELECTED = {
    "@odata.type": "#microsoft.graph.enumeratedDeviceRegistrationMembership",
    "users": ["admin", "u1"],
    "groups": ["g1"],
}


def test_selected_coverage_direct_nested_and_missing():
    accounts = [account(1), account(2), account(3)]
    result = diagnose(policy(SELECTED), accounts, {"u2": frozenset({"g1"}), "u3": frozenset()}, NOW)
    coverage = {s.account.id: (s.coverage, s.via_group) for s in result.accounts}
    assert coverage == {"u1": (Coverage.DIRECT, None), "u2": (Coverage.GROUP, "g1"), "u3": (Coverage.NONE, None)}
    assert result.plan is not None
    assert result.plan.added_users == ("u3",)
    assert result.plan.after == JoinSetting(MembershipKind.SELECTED, ("admin", "u1", "u3"), ("g1",))
    assert result.plan.consequence() == "1 package account will be allowed to join devices to Entra ID."
    assert result.alternative is not None and result.alternative.widens_to_all
    assert FindingCode.ACCOUNTS_NOT_COVERED in [f.code for f in result.findings]


def test_none_plans_selected_with_only_usable_accounts():
    accounts = [account(1), account(2, enabled=False), account(3, created="2025-01-01")]
    result = diagnose(policy({"@odata.type": "#microsoft.graph.noDeviceRegistrationMembership"}), accounts, {}, NOW)
    assert result.plan is not None
    assert result.plan.before.kind is MembershipKind.NONE
    assert result.plan.after == JoinSetting(MembershipKind.SELECTED, ("u1",), ())
    codes = [f.code for f in result.findings]
    assert FindingCode.JOIN_NONE in codes
    assert FindingCode.ACCOUNT_DISABLED in codes
    assert FindingCode.TOKEN_EXPIRED in codes


def test_all_needs_no_plan_and_mfa_is_a_blocker():
    result = diagnose(
        policy({"@odata.type": "#microsoft.graph.allDeviceRegistrationMembership"}, "required"), [account(1)], {}, NOW
    )
    assert result.plan is None and result.alternative is None
    assert [s.coverage for s in result.accounts] == [Coverage.ALL]
    codes = [f.code for f in result.findings]
    assert FindingCode.JOIN_OK in codes and FindingCode.MFA_REQUIRED in codes
    assert not result.healthy


def test_mentioned_package_missing_and_no_accounts():
    result = diagnose(policy(SELECTED), [], {}, NOW, ["DEADBEEF-0000-4000-8000-000000000000"])
    assert result.missing_mentioned == ("deadbeef-0000-4000-8000-000000000000",)
    codes = [f.code for f in result.findings]
    assert FindingCode.NO_PACKAGE_ACCOUNTS in codes and FindingCode.MENTIONED_ACCOUNT_MISSING in codes


def test_put_body_changes_only_the_join_setting():
    snapshot = policy(SELECTED)
    original = copy.deepcopy(snapshot.raw)
    after = JoinSetting(MembershipKind.SELECTED, ("admin", "u1", "u9"), ("g1",))
    body = policy_with_join(snapshot.raw, after)
    assert snapshot.raw == original  # the snapshot is not mutated
    for key in ("id", "displayName", "description"):
        assert key not in body
    expected = {k: v for k, v in original.items() if k not in ("id", "displayName", "description")}
    expected["azureADJoin"] = {**original["azureADJoin"], "allowedToJoin": after.to_graph()}
    assert body == expected


def test_plan_round_trips_and_fingerprints_by_content():
    result = diagnose(policy(SELECTED), [account(3)], {}, NOW)
    plan = result.plan
    assert plan is not None
    again = type(plan).from_json(plan.to_json())
    assert again == plan and again.fingerprint() == plan.fingerprint()
    other = diagnose(policy(SELECTED), [account(4)], {}, NOW).plan
    assert other is not None and other.fingerprint() != plan.fingerprint()


def test_parse_join_setting_rejects_unknown_shapes():
    import pytest

    from bot.domain.model import PolicyParseError

    with pytest.raises(PolicyParseError):
        parse_join_setting({"@odata.type": "#microsoft.graph.somethingNew"})
    with pytest.raises(PolicyParseError):
        parse_join_setting(None)


def test_every_package_account_has_one_standing_and_the_findings_count_from_the_same_numbers():
    from bot.domain.diagnosis import FindingCode
    from tests.unit.test_cards import _views

    for view in _views():
        d = view.diagnosis
        counts = d.counts
        assert counts.total == len(d.accounts)
        said = {f.code: int(f.title.split(" ", 1)[0]) for f in d.findings if f.title[:1].isdigit()}
        expected = {
            FindingCode.ACCOUNTS_NOT_COVERED: counts.may_not_join,
            FindingCode.ACCOUNT_DISABLED: counts.disabled,
            FindingCode.TOKEN_EXPIRED: counts.expired,
        }
        assert {code: n for code, n in said.items() if code in expected} == {
            code: n for code, n in expected.items() if code in said
        }
        if d.plan is not None:
            assert len(d.plan.added_users) == counts.may_not_join
