"""Plain domain types for what the bot reads from the tenant (no Graph or botbuilder types here)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

ALL_TYPE = "#microsoft.graph.allDeviceRegistrationMembership"
NONE_TYPE = "#microsoft.graph.noDeviceRegistrationMembership"
ENUMERATED_TYPE = "#microsoft.graph.enumeratedDeviceRegistrationMembership"
PACKAGE_PREFIX = "package_"


def short_package(guid: str) -> str:
    """A package account named by its GUID, as people read it on a phone: package_3f2a…5c6d."""
    return f"{PACKAGE_PREFIX}{guid[:4].lower()}\u2026{guid[-4:].lower()}"


class MembershipKind(StrEnum):
    ALL = "all"
    SELECTED = "selected"
    NONE = "none"

    @property
    def label(self) -> str:
        return {"all": "All", "selected": "Selected", "none": "None"}[self.value]


@dataclass(frozen=True)
class JoinSetting:
    """'Users may join devices to Microsoft Entra ID' as the portal shows it."""

    kind: MembershipKind
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    def to_graph(self) -> dict[str, Any]:
        if self.kind is MembershipKind.ALL:
            return {"@odata.type": ALL_TYPE}
        if self.kind is MembershipKind.NONE:
            return {"@odata.type": NONE_TYPE}
        return {"@odata.type": ENUMERATED_TYPE, "users": list(self.users), "groups": list(self.groups)}

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "users": list(self.users), "groups": list(self.groups)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JoinSetting:
        return cls(MembershipKind(data["kind"]), tuple(data.get("users", ())), tuple(data.get("groups", ())))


class PolicyParseError(ValueError):
    pass


def parse_join_setting(allowed_to_join: Any) -> JoinSetting:
    """Parse `azureADJoin.allowedToJoin`, tolerating the deprecated beta `appliesTo` shape."""
    if not isinstance(allowed_to_join, dict):
        raise PolicyParseError("azureADJoin.allowedToJoin is missing")
    kind = allowed_to_join.get("@odata.type")
    if kind == ALL_TYPE:
        return JoinSetting(MembershipKind.ALL)
    if kind == NONE_TYPE:
        return JoinSetting(MembershipKind.NONE)
    if kind == ENUMERATED_TYPE:
        return JoinSetting(
            MembershipKind.SELECTED,
            tuple(str(u) for u in allowed_to_join.get("users") or ()),
            tuple(str(g) for g in allowed_to_join.get("groups") or ()),
        )
    raise PolicyParseError(f"unknown join membership type {kind!r}")


@dataclass(frozen=True)
class PolicySnapshot:
    """The device registration policy exactly as read, plus the parts the bot reasons about."""

    raw: dict[str, Any]
    join: JoinSetting
    mfa_required: bool
    user_device_quota: int | None
    request_id: str | None = None

    @classmethod
    def from_graph(cls, raw: dict[str, Any], request_id: str | None = None) -> PolicySnapshot:
        join_block = raw.get("azureADJoin")
        if not isinstance(join_block, dict):
            raise PolicyParseError("azureADJoin is missing from the device registration policy")
        join = parse_join_setting(join_block.get("allowedToJoin"))
        mfa = str(raw.get("multiFactorAuthConfiguration", "notRequired")) in ("required", "1")
        quota = raw.get("userDeviceQuota")
        return cls(
            raw=copy.deepcopy(raw),
            join=join,
            mfa_required=mfa,
            user_device_quota=quota if isinstance(quota, int) else None,
            request_id=request_id,
        )


@dataclass(frozen=True)
class DirectoryUser:
    id: str
    user_principal_name: str
    display_name: str | None
    account_enabled: bool
    created: datetime | None

    @property
    def is_package_account(self) -> bool:
        return self.user_principal_name.lower().startswith(PACKAGE_PREFIX)

    @property
    def package_guid(self) -> str | None:
        if not self.is_package_account:
            return None
        return self.user_principal_name[len(PACKAGE_PREFIX) :].split("@", 1)[0].lower()


@dataclass(slots=True)  # not frozen: 100,000 of these are made per poll, and frozen construction costs 5x
class TroubleshootingEvent:
    id: str
    time: datetime
    enrollment_type: str
    failure_category: str
    failure_reason: str
    user_id: str | None = None
    device_id: str | None = None
    os_version: str | None = None

    @property
    def is_bulk(self) -> bool:
        return self.enrollment_type in BULK_ENROLLMENT_TYPES


BULK_ENROLLMENT_TYPES = frozenset({"windowsBulkAzureDomainJoin", "windowsBulkUserless"})


@dataclass(frozen=True)
class DirectoryNames:
    """Display names for object ids, as far as Graph could resolve them."""

    names: dict[str, str] = field(default_factory=dict)

    def name(self, object_id: str) -> str:
        return self.names.get(object_id, object_id)
