"""The approval flow, by concern: asking and deciding (service), applying, windows, and the copies of a request's
card that every transition re-renders."""

from bot.approvals.service import ApprovalService, Asked, Located

__all__ = ["ApprovalService", "Asked", "Located"]
