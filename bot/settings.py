"""Typed settings, read once from the environment (and an optional .env); nothing else reads os.environ."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from bot.auth import BOT_FRAMEWORK_ISSUER, BOT_FRAMEWORK_OPENID_METADATA
from bot.errors import ConfigError
from bot.graph import GraphSettings
from bot.tenants.registry import CHANGE_KINDS, SHARED, TenantRecord

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
APP_TYPES = ("SingleTenant", "MultiTenant", "UserAssignedMSI")
CREDENTIALS = ("secret", "certificate", "managed_identity")
APPLY_AS = ("app", "approver")


@dataclass(frozen=True)
class Settings:
    port: int
    app_id: str
    app_password: str
    app_type: str
    app_tenant_id: str
    tenant_id: str  # the one tenant this bot serves
    graph: GraphSettings
    database_url: str
    host: str = "0.0.0.0"
    allow_unauthenticated: bool = False
    openid_metadata_url: str = BOT_FRAMEWORK_OPENID_METADATA
    openid_ca_bundle: str | None = None
    openid_timeout: float = 10.0
    connector_timeout: float = 20.0
    tenant_reading_seconds: float = 5.0  # a finished reading of the tenant serves other diagnoses this long
    tenant_reading_shared: bool = True  # off: each diagnosis reads the tenant alone
    token_issuer: str = BOT_FRAMEWORK_ISSUER
    log_level: str = "INFO"
    log_format: str = "json"
    max_body_bytes: int = 256 * 1024
    approver_group_id: str | None = None
    approver_user_ids: tuple[str, ...] = ()
    allow_self_approval: bool = False
    approval_channel_id: str | None = None
    approval_expiry_hours: float = 24.0
    approval_sweep_seconds: float = 60.0
    alerts_enabled: bool = True
    alert_poll_seconds: float = 300.0
    alert_window_minutes: float = 60.0
    alert_min_count: int = 5
    alert_factor: float = 3.0
    alert_clear_factor: float = 1.5
    alert_baseline_windows: int = 24
    # Per-tenant polling across replicas (bot/tenants/polling.py)
    replica_id: str = "local"  # this replica's name in the leases table
    poll_lease_seconds: float = 60.0  # a replica that stops renewing loses its tenants this long after
    poll_concurrency: int = 8  # tenants polled at the same time by one replica
    package_watch: bool = True  # expiry warnings and new package accounts, with the alerts poll
    package_token_days: int = 180  # a provisioning package's bulk token is valid this long from its creation
    package_warn_days: tuple[int, ...] = (14, 3)  # warn this many days before a package expires
    join_windows: tuple[str, ...] = ("1d", "7d", "30d")  # how long an approved join permission may last
    join_window_default: str = "7d"  # bounded unless the operator says otherwise: "permanent" must be chosen
    apply_as: str = "app"  # "app": the app's own write permission; "approver": the approver's own sign-in
    oauth_connection_name: str = "graph"  # the Azure Bot's OAuth connection (approver mode)
    token_service_url: str = "https://token.botframework.com"  # the Bot Framework Token Service
    token_service_ca_bundle: str | None = None
    # Files and pasted images (bot/attachments.py): size cap, download and reading time, the reader's memory.
    attachment_max_bytes: int = 20 * 1024 * 1024
    attachment_download_seconds: float = 30.0
    attachment_read_seconds: float = 30.0
    attachment_memory_mb: int = 1024
    attachment_workers: int = 2
    # Many tenants (bot/tenants/): the change kinds this tenant allows, and the per-tenant secrets the registry's
    # records name (TENANT_SECRET_<NAME> variables: the environment, or App Service's Key Vault references).
    allowed_changes: tuple[str, ...] = CHANGE_KINDS
    tenant_secrets: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    tenant_refresh_seconds: float = 30.0  # how often a replica re-reads the registry others may have changed
    # The bot's public base URL (https://doctor.example.net): admin consent sends the browser back to
    # PUBLIC_URL/consent. None: tenants are connected with `python app.py tenants add` only.
    public_url: str | None = None
    attachment_file_hosts: tuple[str, ...] = (
        "*.sharepoint.com",
        "*.sharepoint.us",
        "*.sharepoint-mil.us",
        "*.sharepoint.cn",
    )

    @property
    def approvals_configured(self) -> bool:
        return bool(self.approver_group_id or self.approver_user_ids)

    @property
    def auth_enabled(self) -> bool:
        return bool(self.app_id)

    def with_overrides(self, **changes) -> Settings:
        return replace(self, **changes)

    def secret(self, name: str) -> str | None:
        return dict(self.tenant_secrets).get(name)

    def for_tenant(self, record: TenantRecord) -> Settings:
        """This deployment's settings as one customer tenant's services see them: its Graph tenant and credential,
        its approvers and admins' channel (the deployment's own where the record names none), the changes it
        allows, its alert thresholds. The deployment's own tenant keeps the environment's settings."""
        graph = replace(self.graph, tenant_id=record.tenant_id)
        if record.credential != SHARED:
            graph = replace(
                graph,
                credential="secret",
                client_id=record.client_id or "",
                client_secret=self.secret(record.credential.removeprefix("env:")),
                certificate_path=None,
            )
        named_approvers = bool(record.approver_user_ids or record.approver_group_id)
        return replace(
            self,
            tenant_id=record.tenant_id,
            graph=graph,
            approver_user_ids=record.approver_user_ids if named_approvers else self.approver_user_ids,
            approver_group_id=record.approver_group_id if named_approvers else self.approver_group_id,
            approval_channel_id=record.admin_channel_id or self.approval_channel_id,
            allowed_changes=record.allowed_changes,
            alert_min_count=record.alert_min_count or self.alert_min_count,
            alert_factor=record.alert_factor or self.alert_factor,
        )


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; `#` comments; optional quotes. The real environment wins over the file."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[7:].lstrip()
        if "=" not in stripped:
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE, got {line!r}")
        key, value = stripped.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


DEFAULT_DATABASE_URL = "sqlite:///enrollment-doctor.db"
_UNITS = {"m": 60, "h": 3600, "d": 86400}


def window_seconds(window: str) -> int | None:
    """ "5m" / "12h" / "7d" in seconds; None for anything else ("permanent" included)."""
    if len(window) < 2 or window[-1] not in _UNITS or not window[:-1].isdigit() or int(window[:-1]) < 1:
        return None
    return int(window[:-1]) * _UNITS[window[-1]]


def load_database_url(environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")) -> str:
    """DATABASE_URL alone (for `python app.py audit`, which needs nothing else), checked like load_settings does."""
    env: dict[str, str] = {}
    if dotenv is not None:
        env.update(read_dotenv(dotenv))
    env.update(environ if environ is not None else os.environ)
    url = env.get("DATABASE_URL", DEFAULT_DATABASE_URL).strip() or DEFAULT_DATABASE_URL
    if not url.startswith(("sqlite://", "postgresql://", "postgres://")):
        raise ConfigError(f"DATABASE_URL must start with sqlite:// or postgresql://, got {url!r}")
    return url


def load_home_tenant_id(environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")) -> str | None:
    """GRAPH_TENANT_ID (or MicrosoftAppTenantId) alone, lower case, for commands that need nothing else."""
    env: dict[str, str] = {}
    if dotenv is not None:
        env.update(read_dotenv(dotenv))
    env.update(environ if environ is not None else os.environ)
    tenant = (env.get("GRAPH_TENANT_ID", "").strip() or env.get("MicrosoftAppTenantId", "").strip()).lower()
    return tenant or None


def load_settings(environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")) -> Settings:
    env: dict[str, str] = {}
    if dotenv is not None:
        env.update(read_dotenv(dotenv))
    env.update(environ if environ is not None else os.environ)
    problems: list[str] = []

    def get(name: str, default: str = "") -> str:
        return env.get(name, default).strip()

    def number(name: str, default: str, kind=int, low: float | None = None, high: float | None = None):
        raw = get(name, default)
        try:
            value = kind(raw)
        except ValueError:
            problems.append(f"{name} must be a number, got {raw!r}")
            return kind(default)
        if (low is not None and value < low) or (high is not None and value > high):
            problems.append(f"{name} must be between {low} and {high}, got {raw!r}")
            return kind(default)
        return value

    port = number("PORT", "3978", int, 1, 65535)
    app_id = get("MicrosoftAppId")
    app_password = get("MicrosoftAppPassword")
    app_type = get("MicrosoftAppType", "SingleTenant") or "SingleTenant"
    app_tenant_id = get("MicrosoftAppTenantId")
    if app_type not in APP_TYPES:
        problems.append(f"MicrosoftAppType must be one of {', '.join(APP_TYPES)}, got {app_type!r}")
    if app_password and not app_id:
        problems.append("MicrosoftAppPassword is set but MicrosoftAppId is empty: set both, or neither for local use")
    if app_id and app_type != "UserAssignedMSI" and not app_password:
        problems.append("MicrosoftAppPassword is required when MicrosoftAppId is set")
    if app_id and app_type in ("SingleTenant", "UserAssignedMSI") and not app_tenant_id:
        problems.append(f"MicrosoftAppTenantId is required when MicrosoftAppType is {app_type}")

    def flag(name: str, default: str) -> bool:
        raw = get(name, default).lower()
        if raw not in ("true", "false", "1", "0", "yes", "no"):
            problems.append(f"{name} must be true or false, got {raw!r}")
        return raw in ("true", "1", "yes")

    allow_unauthenticated = flag("ALLOW_UNAUTHENTICATED", "false")
    # Without an app id nobody's token is checked: then listen on loopback only, unless told otherwise.
    host = get("HOST") or ("0.0.0.0" if app_id or allow_unauthenticated else "127.0.0.1")
    if not app_id and not allow_unauthenticated and host not in LOOPBACK_HOSTS:
        problems.append(
            f"HOST is {host!r} but MicrosoftAppId is empty, so inbound authentication is off and anyone who can "
            "reach the port could act as any approver: set MicrosoftAppId, or listen on 127.0.0.1, or set "
            "ALLOW_UNAUTHENTICATED=true if that is really meant"
        )
    openid_metadata = get("BOT_OPENID_METADATA_URL", BOT_FRAMEWORK_OPENID_METADATA)
    if urlsplit(openid_metadata).scheme != "https" or not urlsplit(openid_metadata).hostname:
        problems.append(f"BOT_OPENID_METADATA_URL must be an https URL, got {openid_metadata!r}")
    openid_ca = get("BOT_OPENID_CA_BUNDLE") or None
    if openid_ca and not Path(openid_ca).is_file():
        problems.append(f"BOT_OPENID_CA_BUNDLE {openid_ca!r} does not exist")

    graph_tenant = get("GRAPH_TENANT_ID") or app_tenant_id
    graph_client = get("GRAPH_CLIENT_ID") or app_id
    secret = get("GRAPH_CLIENT_SECRET")
    certificate = get("GRAPH_CERTIFICATE_PATH")
    credential = get("GRAPH_CREDENTIAL") or ("certificate" if certificate and not secret else "secret")
    if credential not in CREDENTIALS:
        problems.append(f"GRAPH_CREDENTIAL must be one of {', '.join(CREDENTIALS)}, got {credential!r}")
    if not graph_tenant:
        problems.append("GRAPH_TENANT_ID (or MicrosoftAppTenantId) is required: the tenant the bot reads and fixes")
    if credential != "managed_identity" and not graph_client:
        problems.append("GRAPH_CLIENT_ID (or MicrosoftAppId) is required for the Graph credential")
    if credential == "secret" and not secret:
        problems.append("GRAPH_CLIENT_SECRET is required when GRAPH_CREDENTIAL is secret")
    if credential == "certificate":
        if not certificate:
            problems.append("GRAPH_CERTIFICATE_PATH is required when GRAPH_CREDENTIAL is certificate")
        elif not Path(certificate).is_file():
            problems.append(f"GRAPH_CERTIFICATE_PATH {certificate!r} does not exist")
    if secret and certificate:
        problems.append("GRAPH_CLIENT_SECRET and GRAPH_CERTIFICATE_PATH are both set: choose one credential")
    base_url = get("GRAPH_BASE_URL", "https://graph.microsoft.com/v1.0").rstrip("/")
    authority = get("GRAPH_AUTHORITY", "https://login.microsoftonline.com").rstrip("/")
    for name, url in (("GRAPH_BASE_URL", base_url), ("GRAPH_AUTHORITY", authority)):
        if urlsplit(url).scheme != "https" or not urlsplit(url).hostname:
            problems.append(f"{name} must be an https URL, got {url!r}")
    ca_bundle = get("GRAPH_CA_BUNDLE") or None
    if ca_bundle and not Path(ca_bundle).is_file():
        problems.append(f"GRAPH_CA_BUNDLE {ca_bundle!r} does not exist")
    if app_tenant_id and get("GRAPH_TENANT_ID") and get("GRAPH_TENANT_ID") != app_tenant_id:
        problems.append("GRAPH_TENANT_ID differs from MicrosoftAppTenantId: the bot serves one tenant")

    database_url = get("DATABASE_URL", DEFAULT_DATABASE_URL) or DEFAULT_DATABASE_URL
    if not database_url.startswith(("sqlite://", "postgresql://", "postgres://")):
        problems.append(f"DATABASE_URL must start with sqlite:// or postgresql://, got {database_url!r}")
    log_format = get("LOG_FORMAT", "json").lower()
    if log_format not in ("json", "text"):
        problems.append(f"LOG_FORMAT must be json or text, got {log_format!r}")
    log_level = get("LOG_LEVEL", "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        problems.append(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {log_level!r}")

    graph = GraphSettings(
        tenant_id=graph_tenant,
        client_id=graph_client,
        credential=credential,
        client_secret=secret or None,
        certificate_path=certificate or None,
        base_url=base_url,
        authority=authority,
        ca_bundle=ca_bundle,
        retry_delay=number("GRAPH_RETRY_DELAY", "2", float, 0, 180),
        max_retries=number("GRAPH_MAX_RETRIES", "3", int, 0, 10),
        timeout=number("GRAPH_TIMEOUT", "30", float, 1, 300),
        requests_per_minute=number("GRAPH_REQUESTS_PER_MINUTE", "0", float, 0, 1_000_000),
    )
    max_body = number("MAX_BODY_BYTES", str(256 * 1024), int, 1024, 64 * 1024 * 1024)
    approver_group = get("APPROVER_GROUP_ID") or None
    approver_users = tuple(u.strip() for u in get("APPROVER_USER_IDS").split(",") if u.strip())
    allow_self_approval = flag("ALLOW_SELF_APPROVAL", "false")
    expiry_hours = number("APPROVAL_EXPIRY_HOURS", "24", float, 0.01, 24 * 30)
    sweep_seconds = number("APPROVAL_SWEEP_SECONDS", "60", float, 0.1, 3600)
    alerts_enabled = flag("ALERTS_ENABLED", "true")
    alert_poll = number("ALERT_POLL_SECONDS", "300", float, 1, 86400)
    alert_window = number("ALERT_WINDOW_MINUTES", "60", float, 1, 7 * 24 * 60)
    alert_min = number("ALERT_MIN_COUNT", "5", int, 1, 1_000_000)
    alert_factor = number("ALERT_FACTOR", "3", float, 1.01, 1000)
    alert_clear = number("ALERT_CLEAR_FACTOR", "1.5", float, 0, 1000)
    if alert_clear >= alert_factor:
        problems.append("ALERT_CLEAR_FACTOR must be below ALERT_FACTOR (hysteresis)")
    alert_baseline = number("ALERT_BASELINE_WINDOWS", "24", int, 1, 10_000)
    replica_id = get("REPLICA_ID") or f"{socket.gethostname()}-{os.getpid()}"
    if len(replica_id) > 200:
        problems.append("REPLICA_ID must be at most 200 characters")
    poll_lease = number("POLL_LEASE_SECONDS", "60", float, 1, 3600)
    poll_concurrency = number("POLL_CONCURRENCY", "8", int, 1, 1000)
    token_days = number("PACKAGE_TOKEN_DAYS", "180", int, 1, 3650)
    warn_days: tuple[int, ...] = ()
    try:
        warn_days = tuple(sorted({int(d) for d in get("PACKAGE_EXPIRY_WARN_DAYS", "14,3").split(",") if d.strip()}))
        warn_days = tuple(reversed(warn_days))
        if any(d < 1 or d >= token_days for d in warn_days):
            raise ValueError
    except ValueError:
        problems.append(
            f"PACKAGE_EXPIRY_WARN_DAYS must be whole days between 1 and {token_days - 1}, comma-separated, "
            f"got {get('PACKAGE_EXPIRY_WARN_DAYS')!r}"
        )
        warn_days = (14, 3)
    windows = tuple(w.strip().lower() for w in get("JOIN_WINDOWS", "1d,7d,30d").split(",") if w.strip())
    bad_windows = [w for w in windows if window_seconds(w) is None]
    if bad_windows:
        problems.append(f"JOIN_WINDOWS must list durations like 5m, 1d or 7d, got {', '.join(bad_windows)}")
        windows = ("1d", "7d", "30d")
    # Time-bound by default: 7 days when offered, else the shortest window offered; "permanent" only if configured.
    bounded = "7d" if "7d" in windows else min(windows, key=lambda w: window_seconds(w) or 0, default="permanent")
    window_default = get("JOIN_WINDOW_DEFAULT", "").strip().lower() or bounded
    if window_default != "permanent" and window_default not in windows:
        problems.append(f"JOIN_WINDOW_DEFAULT must be permanent or one of JOIN_WINDOWS, got {window_default!r}")
        window_default = bounded
    apply_as = get("APPLY_AS", "app").lower() or "app"
    if apply_as not in APPLY_AS:
        problems.append(f"APPLY_AS must be app or approver, got {apply_as!r}")
    connection_name = get("OAUTH_CONNECTION_NAME", "graph")
    if apply_as == "approver" and not connection_name:
        problems.append("OAUTH_CONNECTION_NAME is required when APPLY_AS is approver (the Azure Bot's connection)")
    token_service = get("BOT_TOKEN_SERVICE_URL", "https://token.botframework.com").rstrip("/")
    if urlsplit(token_service).scheme != "https" or not urlsplit(token_service).hostname:
        problems.append(f"BOT_TOKEN_SERVICE_URL must be an https URL, got {token_service!r}")
    token_service_ca = get("BOT_TOKEN_SERVICE_CA_BUNDLE") or None
    if token_service_ca and not Path(token_service_ca).is_file():
        problems.append(f"BOT_TOKEN_SERVICE_CA_BUNDLE {token_service_ca!r} does not exist")
    attachment_mb = number("ATTACHMENT_MAX_MB", "20", float, 0.01, 200)
    file_hosts = tuple(
        h.strip().lower()
        for h in get("ATTACHMENT_FILE_HOSTS", ",".join(Settings.attachment_file_hosts)).split(",")
        if h.strip()
    )
    public_url = get("PUBLIC_URL").rstrip("/") or None
    if public_url is not None:
        parts = urlsplit(public_url)
        local = parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS  # a bot run on this machine, tests
        if not (parts.scheme == "https" or local) or not parts.hostname or parts.query or parts.fragment:
            problems.append(
                f"PUBLIC_URL must be the bot's https base URL (e.g. https://doctor.example.net), got {public_url!r}"
            )
            public_url = None
    tenant_secrets = tuple(
        sorted((k, v.strip()) for k, v in env.items() if k.startswith("TENANT_SECRET_") and v.strip())
    )
    if problems:
        raise ConfigError("Invalid configuration:\n  - " + "\n  - ".join(problems))
    return Settings(
        port=port,
        app_id=app_id,
        app_password=app_password,
        app_type=app_type,
        app_tenant_id=app_tenant_id,
        tenant_id=graph_tenant,
        graph=graph,
        database_url=database_url,
        host=host,
        allow_unauthenticated=allow_unauthenticated,
        openid_metadata_url=openid_metadata,
        openid_ca_bundle=openid_ca,
        openid_timeout=number("BOT_OPENID_TIMEOUT_SECONDS", "10", float, 0.1, 120),
        connector_timeout=number("BOT_CONNECTOR_TIMEOUT_SECONDS", "20", float, 0.1, 300),
        tenant_reading_seconds=number("TENANT_READING_SECONDS", "5", float, 0, 300),
        tenant_reading_shared=flag("TENANT_READING_SHARED", "true"),
        token_issuer=get("BOT_TOKEN_ISSUER", BOT_FRAMEWORK_ISSUER),
        log_level=log_level,
        log_format=log_format,
        max_body_bytes=max_body,
        approver_group_id=approver_group,
        approver_user_ids=approver_users,
        allow_self_approval=allow_self_approval,
        approval_channel_id=get("APPROVAL_CHANNEL_ID") or None,
        approval_expiry_hours=expiry_hours,
        approval_sweep_seconds=sweep_seconds,
        alerts_enabled=alerts_enabled,
        alert_poll_seconds=alert_poll,
        alert_window_minutes=alert_window,
        alert_min_count=alert_min,
        alert_factor=alert_factor,
        package_watch=flag("PACKAGE_WATCH_ENABLED", "true"),
        package_token_days=token_days,
        package_warn_days=warn_days,
        join_windows=windows,
        join_window_default=window_default,
        alert_clear_factor=alert_clear,
        alert_baseline_windows=alert_baseline,
        replica_id=replica_id,
        poll_lease_seconds=poll_lease,
        poll_concurrency=poll_concurrency,
        apply_as=apply_as,
        oauth_connection_name=connection_name,
        token_service_url=token_service,
        token_service_ca_bundle=token_service_ca,
        attachment_max_bytes=int(attachment_mb * 1024 * 1024),
        attachment_download_seconds=number("ATTACHMENT_DOWNLOAD_SECONDS", "30", float, 0.1, 600),
        attachment_read_seconds=number("ATTACHMENT_READ_SECONDS", "30", float, 0.1, 600),
        attachment_memory_mb=number("ATTACHMENT_MEMORY_MB", "1024", int, 64, 16384),
        attachment_workers=number("ATTACHMENT_WORKERS", "2", int, 1, 64),
        attachment_file_hosts=file_hosts,
        tenant_secrets=tenant_secrets,
        tenant_refresh_seconds=number("TENANT_REFRESH_SECONDS", "30", float, 1, 3600),
        public_url=public_url,
    )
