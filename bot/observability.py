"""Operations: Prometheus metrics, JSON logs with the activity id as correlation id, and secret redaction."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

activity_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("activity_id", default=None)
# The tenant the work is about (set when a turn settles on one, and in each tenant's background work)
tenant_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("tenant_id", default=None)

_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_SECRET_FIELD = re.compile(r"(?i)(client_secret|password|access_token|secret)(['\"]?\s*[:=]\s*['\"]?)([^'\"&\s,}]+)")
REDACTED = "[redacted]"


class Metrics:
    """One registry per app, so tests can run several apps in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "enrollment_doctor_activities_total", "Activities received, by type", ["type"], registry=self.registry
        )
        self.refused = Counter(
            "enrollment_doctor_refused_requests_total",
            "Requests refused at the edge, by status (401 unauthenticated, 403 other tenant, 503 no keys)",
            ["status"],
            registry=self.registry,
        )
        self.diagnoses = Counter(
            "enrollment_doctor_diagnoses_total", "Diagnostic flows started", ["source"], registry=self.registry
        )
        self.approvals = Counter(
            "enrollment_doctor_approval_transitions_total",
            "Approval requests entering a state (created, approved, applied, failed, ...)",
            ["state"],
            registry=self.registry,
        )
        self.graph_requests = Counter(
            "enrollment_doctor_graph_requests_total",
            "Microsoft Graph requests, by operation and HTTP status",
            ["operation", "status"],
            registry=self.registry,
        )
        self.graph_seconds = Histogram(
            "enrollment_doctor_graph_request_seconds",
            "Microsoft Graph request latency, retries included",
            ["operation"],
            registry=self.registry,
        )
        self.alerts = Counter(
            "enrollment_doctor_alerts_sent_total", "Alert messages sent, by kind", ["kind"], registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class Redactor(logging.Filter):
    """Masks tokens and known secret values in every log record, whatever the logger."""

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self._secrets = [s for s in secrets if s and len(s) >= 4]

    def scrub(self, text: str) -> str:
        text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
        text = _JWT.sub(REDACTED, text)
        text = _SECRET_FIELD.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = self.scrub(message)
        record.args = ()
        if record.exc_info:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        correlation = activity_id.get()
        if correlation:
            entry["activityId"] = correlation
        tenant = tenant_id.get()
        if tenant:
            entry["tenantId"] = tenant
        if record.exc_text:
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, secrets: Iterable[str] = (), fmt: str = "json", stream: TextIO | None = None):
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(Redactor(secrets))
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("azure", "httpx", "msrest", "aiohttp.access", "kiota_http", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler
