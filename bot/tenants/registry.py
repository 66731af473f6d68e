"""The tenant registry's records: each customer tenant the deployment serves, and what it allows.

Secrets never live here: a record names where its Graph credential comes from (the deployment's own multi-tenant
app, or an environment variable that App Service can fill from a Key Vault reference), never the secret itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
SECRET_ENV = re.compile(r"^TENANT_SECRET_[A-Z0-9_]{1,64}$")
CHANGE_KINDS = ("join_permission", "ca_exclusion", "allow_windows")

SHARED = "shared"  # the deployment's own app registration, consented in the tenant (multi-tenant)


class TenantRecordError(ValueError):
    """A record that cannot be stored: says which field and why."""


@dataclass(frozen=True)
class TenantRecord:
    tenant_id: str
    display_name: str
    domains: tuple[str, ...] = ()  # verified domains, read once from GET /organization (lower case)
    # Where the Graph credential comes from: "shared" (the deployment's multi-tenant app, consented here), or
    # "env:TENANT_SECRET_<NAME>" (an app registration of this tenant: client_id below, its secret in that variable)
    credential: str = SHARED
    client_id: str | None = None  # with an env: credential, the tenant's own app registration
    approver_user_ids: tuple[str, ...] = ()  # Entra object ids in the approvers' own directory
    approver_group_id: str | None = None  # a group of the approvers' directory
    approvers_tenant: str | None = None  # the directory the approvers sign in to; default the deployment's own
    admin_channel_id: str | None = None  # where its approval cards go
    allowed_changes: tuple[str, ...] = CHANGE_KINDS  # the change kinds this tenant lets the bot propose
    alert_min_count: int | None = None  # None: the deployment's ALERT_MIN_COUNT
    alert_factor: float | None = None  # None: the deployment's ALERT_FACTOR
    connected_by: str | None = None
    connected_at: datetime | None = None
    home: bool = field(default=False, compare=False)  # the deployment's own tenant (from the environment)

    def validated(self) -> TenantRecord:
        """The same record, normalised; TenantRecordError names the first field that cannot be stored."""
        tid = self.tenant_id.strip().lower()
        if not GUID.match(tid):
            raise TenantRecordError(f"tenant id must be a GUID, got {self.tenant_id!r}")
        name = " ".join(self.display_name.split())
        if not name or len(name) > 256:
            raise TenantRecordError("display name must be 1 to 256 characters")
        domains = tuple(dict.fromkeys(d.strip().lower().rstrip(".") for d in self.domains if d.strip()))
        for domain in domains:
            if not DOMAIN.match(domain):
                raise TenantRecordError(f"not a domain name: {domain!r}")
        if self.credential != SHARED:
            ref = self.credential.removeprefix("env:")
            if not self.credential.startswith("env:") or not SECRET_ENV.match(ref):
                raise TenantRecordError(
                    f"credential must be 'shared' or 'env:TENANT_SECRET_<NAME>' (the secret stays in the "
                    f"environment or a Key Vault reference), got {self.credential!r}"
                )
            if not self.client_id or not GUID.match(self.client_id.lower()):
                raise TenantRecordError("a credential of its own needs the tenant's app registration (client id)")
        for user in self.approver_user_ids:
            if not GUID.match(user.lower()):
                raise TenantRecordError(f"approver user ids must be GUIDs, got {user!r}")
        for named, what in ((self.approver_group_id, "approver group"), (self.approvers_tenant, "approvers' tenant")):
            if named is not None and not GUID.match(named.lower()):
                raise TenantRecordError(f"{what} must be a GUID, got {named!r}")
        unknown = [k for k in self.allowed_changes if k not in CHANGE_KINDS]
        if unknown:
            raise TenantRecordError(f"unknown change kinds {', '.join(unknown)}: choose from {', '.join(CHANGE_KINDS)}")
        if self.alert_min_count is not None and not 1 <= self.alert_min_count <= 1_000_000:
            raise TenantRecordError("alert minimum count must be between 1 and 1000000")
        if self.alert_factor is not None and not 1.01 <= self.alert_factor <= 1000:
            raise TenantRecordError("alert factor must be between 1.01 and 1000")
        return replace(
            self,
            tenant_id=tid,
            display_name=name,
            domains=domains,
            approver_user_ids=tuple(u.lower() for u in self.approver_user_ids),
            approver_group_id=self.approver_group_id.lower() if self.approver_group_id else None,
            approvers_tenant=self.approvers_tenant.lower() if self.approvers_tenant else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "tenantId": self.tenant_id,
            "displayName": self.display_name,
            "domains": list(self.domains),
            "credential": self.credential,
            "clientId": self.client_id,
            "approverUserIds": list(self.approver_user_ids),
            "approverGroupId": self.approver_group_id,
            "approversTenant": self.approvers_tenant,
            "adminChannelId": self.admin_channel_id,
            "allowedChanges": list(self.allowed_changes),
            "alertMinCount": self.alert_min_count,
            "alertFactor": self.alert_factor,
            "connectedBy": self.connected_by,
            "connectedAt": self.connected_at.isoformat() if self.connected_at else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TenantRecord:
        at = data.get("connectedAt")
        return cls(
            tenant_id=str(data["tenantId"]),
            display_name=str(data.get("displayName") or data["tenantId"]),
            domains=tuple(data.get("domains") or ()),
            credential=str(data.get("credential") or SHARED),
            client_id=data.get("clientId"),
            approver_user_ids=tuple(data.get("approverUserIds") or ()),
            approver_group_id=data.get("approverGroupId"),
            approvers_tenant=data.get("approversTenant"),
            admin_channel_id=data.get("adminChannelId"),
            allowed_changes=tuple(data.get("allowedChanges") or CHANGE_KINDS),
            alert_min_count=data.get("alertMinCount"),
            alert_factor=data.get("alertFactor"),
            connected_by=data.get("connectedBy"),
            connected_at=datetime.fromisoformat(at) if at else None,
        )

    def label(self) -> str:
        """How cards name it: its name and first verified domain."""
        return f"{self.display_name} ({self.domains[0]})" if self.domains else self.display_name


def by_domain(records: Iterable[TenantRecord]) -> dict[str, str]:
    """Verified domain -> tenant id (a domain is verified in one tenant only)."""
    return {domain: r.tenant_id for r in records for domain in r.domains}
