"""The app-scoped objects handlers use, built once in the composition root."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.attachments import AttachmentIntake
from bot.clock import Clock
from bot.doctor import TenantReadings
from bot.graph import GraphGateway
from bot.observability import Metrics
from bot.settings import Settings
from bot.storage import Storage

if TYPE_CHECKING:
    from bot.alerts import AlertService
    from bot.approvals import ApprovalService
    from bot.proactive import Background, Messenger
    from bot.signin import SignIn
    from bot.tenants import TenantRecord
    from bot.tenants.connect import TenantConnector
    from bot.tenants.runtime import Tenants


@dataclass
class Deps:
    settings: Settings
    graph: GraphGateway
    readings: TenantReadings  # the tenant's state, shared by concurrent diagnoses
    storage: Storage
    clock: Clock
    approvals: ApprovalService
    alerts: AlertService
    metrics: Metrics
    background: Background
    messenger: Messenger
    attachments: AttachmentIntake
    tenants: Tenants | None = None  # every tenant served (None only in tests that build one tenant's Deps)
    tenant: TenantRecord | None = None  # the tenant these services are about
    signin: SignIn | None = None  # approver mode (APPLY_AS=approver): the approver's own sign-in
    connector: TenantConnector | None = None  # connects customer tenants (admin consent, then proof of access)
