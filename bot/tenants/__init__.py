"""Many tenants from one deployment: the registry's records and the runtime each tenant gets."""

from bot.tenants.registry import CHANGE_KINDS, SHARED, TenantRecord, TenantRecordError

__all__ = ["CHANGE_KINDS", "SHARED", "TenantRecord", "TenantRecordError"]
