"""The three classes of cause Microsoft documents that a person enrolling would not meet, each on a tenant of its
own (the demo tenant made healthy, then given that one fault), over real HTTP against the simulated tenant."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.domain.model import short_package
from sim.runner import DEFAULT_FIXTURE
from sim.tenant import MEMBERSHIP_ALL, Fault
from tests.integration.test_diagnostic_flow import session_id_of, start, step
from tests.support.cards import actions_in
from tests.support.cards import text_of as card_text

LAB_GROUP = "d1e2f3a4-0000-4000-8000-00000000a004"  # holds package_c4d95b10…
PACKAGE_ACCOUNTS = [f"c0a80001-5a1e-4b7c-8d9e-00000000010{i}" for i in range(1, 5)]
DEFAULT_ID = "a1b2c3d4-0000-4000-8000-000000000001_DefaultPlatformRestrictions"


def healthy_tenant() -> dict[str, Any]:
    """The demo tenant with nothing wrong: every package account enabled and allowed to join."""
    data = json.loads(DEFAULT_FIXTURE.read_text())
    data["deviceRegistrationPolicy"]["azureADJoin"]["allowedToJoin"] = {"@odata.type": MEMBERSHIP_ALL}
    for user in data["users"]:
        user["accountEnabled"] = True
    return data


def restriction(name: str, priority: int, blocked: bool, group: str) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.deviceEnrollmentPlatformRestrictionsConfiguration",
        "id": f"b7000000-0000-4000-8000-00000000001{priority}_PlatformRestrictions",
        "displayName": name,
        "priority": priority,
        "windowsRestriction": {
            "platformBlocked": blocked,
            "personalDeviceEnrollmentBlocked": False,
            "osMinimumVersion": None,
            "osMaximumVersion": None,
        },
        "assignments": [
            {
                "id": f"a{priority}",
                "target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": group},
            }
        ],
    }


class TestOnlyTheDefaultRestrictionApplies:
    """Bulk enrollment is userless: the Default restriction decides, whatever is assigned to the accounts' group."""

    @pytest.fixture
    def fixture_data(self) -> dict[str, Any]:
        data = healthy_tenant()
        configs = data["deviceEnrollmentConfigurations"]
        configs[0]["windowsRestriction"]["platformBlocked"] = True  # the Default blocks Windows
        # Every package account is in the lab group, which is assigned two restrictions that allow Windows.
        next(g for g in data["groups"] if g["id"] == LAB_GROUP)["members"] = list(PACKAGE_ACCOUNTS)
        configs.append(restriction("Lab devices", 2, False, LAB_GROUP))
        configs.append(restriction("Lab (first)", 1, False, LAB_GROUP))
        return data

    async def test_a_default_that_blocks_windows_is_a_blocker_despite_an_assigned_allow(self, bot, connector, sim):
        card = await start(bot, connector)
        words = card_text(card)
        assert "The Default enrollment restriction blocks Windows (MDM)" in words
        assert "only the 'Default' enrollment restriction in Intune would apply during enrollment" in words
        # Of the two assigned to the group, the documented priority (lowest number) is the one a user would get.
        assert "'Lab (first)' (priority 1, allows Windows)" in words and "'Lab devices'" not in words
        assert "but not for bulk enrollment" in words
        assert "higher priority" not in words  # never the fix that cannot work
        assert "\u26d4" in json.dumps(card, ensure_ascii=False)

    async def test_the_allow_windows_option_targets_the_default(self, bot, connector, sim):
        card = await start(bot, connector)
        join = await step(bot, connector, session_id_of(card), "join")
        options = [a["data"]["option"] for a in actions_in(join) if "option" in a.get("data", {})]
        assert f"restriction:{DEFAULT_ID}" in options
        assert not [o for o in options if o.startswith("restriction:b7")]  # never an assigned restriction

    async def test_once_the_default_allows_windows_an_assigned_block_is_no_cause(self, bot, connector, sim):
        configs = sim.tenant.extra["deviceEnrollmentConfigurations"]
        configs[0]["windowsRestriction"]["platformBlocked"] = False
        for config in configs[2:]:
            config["windowsRestriction"]["platformBlocked"] = True
        words = card_text(await start(bot, connector))
        assert "restriction" not in words.lower()


GONE = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"  # a package account deleted long ago: in no list any more


class TestAPackageAccountDeletedMoreThan30DaysAgo:
    """Not among the living, not among the deleted users: the package is gone for good; a new one is the fix."""

    @pytest.fixture
    def fixture_data(self) -> dict[str, Any]:
        data = healthy_tenant()
        data["deletedUsers"] = []  # Entra ID purged it after 30 days
        return data

    async def test_the_card_says_to_build_a_new_package_and_how(self, bot, connector, sim):
        card = await start(bot, connector, f"bulk enrollment failed for package_{GONE}")
        words = card_text(card)
        assert f"{short_package(GONE)} is not in this tenant" in words  # short, as on every card
        assert "not among the deleted users, which Entra ID keeps 30 days" in words
        for step_words in ("Provision desktop devices", "Account Management: Enroll in Azure AD", "Get Bulk Token"):
            assert step_words in words
        assert "new package_ account needs the join permission" in words
        assert "has no account here" not in words  # explained, not merely reported missing
        assert "\u26d4" in json.dumps(card, ensure_ascii=False)

    async def test_without_the_deleted_users_read_the_missing_account_still_gets_the_fix(self, bot, connector, sim):
        sim.tenant.faults.append(Fault("deletedUsers.list", status=503))
        words = card_text(await start(bot, connector, f"bulk enrollment failed for package_{GONE}"))
        assert "I could not read deleted users" in words
        assert "A package you mentioned has no account here" in words
        assert "Build a new package in Windows Configuration Designer" in words


class TestDeviceSideNetworkAndClockOnAHealthyTenant:
    """Nothing in the tenant is wrong; the device could not reach, trust or time the services."""

    @pytest.fixture
    def fixture_data(self) -> dict[str, Any]:
        data = healthy_tenant()
        data["troubleshootingEvents"].append(
            {
                "id": "e0000000-0000-4000-8000-00000000e2e2",
                "eventDateTime": "2026-11-26T11:30:00Z",
                "correlationId": "c0000000-0000-4000-8000-00000000e2e2",
                "managedDeviceIdentifier": "",
                "operatingSystem": "Windows",
                "osVersion": "10.0.22631.4460",
                "userId": PACKAGE_ACCOUNTS[0],
                "deviceId": "",
                "enrollmentType": "windowsBulkAzureDomainJoin",
                "failureCategory": "clientDisconnected",
                "failureReason": "The operation timed out (0x80072EE2).",
            }
        )
        return data

    async def test_a_pasted_network_code_names_the_network_and_the_endpoints(self, bot, connector, sim):
        card = await start(bot, connector, "ppkg fails at OOBE with 0x80072efd")
        words = card_text(card)
        assert "The device could not reach the enrollment services" in words
        assert "Nothing in the tenant blocks bulk enrollment: the device does." in words
        assert "0x80072EFD (cannot connect) in your message" in words
        for endpoint in ("enterpriseregistration.windows.net", "login.microsoftonline.com", "*.manage.microsoft.com"):
            assert endpoint in words
        assert "\u26d4" in json.dumps(card, ensure_ascii=False)
        assert "MDM user scope" not in words  # the device explains it: no lead on what cannot be read

    async def test_tls_inspection_and_the_clock_are_told_apart(self, bot, connector, sim):
        words = card_text(await start(bot, connector, "bulk enrollment failed: 0x80072f8f, later 0x80072F05"))
        assert "The device rejected the enrollment services' certificate" in words
        assert "from TLS inspection" in words
        assert "The device's clock is wrong" in words
        assert "time.windows.com on UDP 123" in words and "w32tm /resync" in words

    async def test_a_code_from_the_devices_reports_says_where_and_when_it_was_seen(self, bot, connector, sim):
        card = await start(bot, connector)
        assert "could not reach" not in card_text(card)
        verify = card_text(await step(bot, connector, session_id_of(card), "verify"))
        assert "The device could not reach the enrollment services" in verify
        assert "0x80072EE2 (timed out) seen in Intune's troubleshooting events at 2026-11-26 11:30 UTC" in verify

    async def test_on_a_tenant_that_blocks_the_device_code_is_a_warning_beside_it(self, bot, connector, sim):
        sim.tenant.policy["azureADJoin"]["allowedToJoin"] = {
            "@odata.type": "#microsoft.graph.noDeviceRegistrationMembership"
        }
        words = card_text(await start(bot, connector, "ppkg fails with 0x80072efd"))
        assert "Nobody may join devices" in words
        assert "Warning:** **The device could not reach" in words or "Warning: **The device could not reach" in words
        assert "Nothing in the tenant blocks" not in words
