"""The approval flow, by concern: asking (requests), deciding (service), applying, windows, and the copies of a
request's card that every transition re-renders."""

from bot.approvals.requests import Asked
from bot.approvals.service import ApprovalService, Located

__all__ = ["ApprovalService", "Asked", "Located"]
