"""Composition root: `create_app(settings, ...)` builds the bot's web application; `main()` runs it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import ssl
import sys
from collections.abc import AsyncIterator, Coroutine
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from botbuilder.core import TurnContext

from bot.adapter import create_adapter, token_service_authorization
from bot.alerts import AlertService
from bot.approvals import ApprovalService
from bot.attachments import AttachmentIntake, Limits
from bot.auth import SigningKeys, TokenValidator
from bot.clock import Clock, SystemClock
from bot.deps import Deps
from bot.doctor import TenantReadings
from bot.errors import ConfigError, DeliveryError, StorageOpenError
from bot.graph import GraphGateway, MsGraphGateway
from bot.observability import Metrics, configure_logging
from bot.observability import tenant_id as log_tenant
from bot.packages import PackageWatch
from bot.proactive import Background, Messenger, NoteLastCard
from bot.recent import RecentCards
from bot.settings import LOOPBACK_HOSTS, Settings, load_database_url, load_home_tenant_id, load_settings
from bot.signin import SignIn, TokenService
from bot.storage import Storage, open_storage
from bot.storage.base import AuditEntry
from bot.teams_bot import EnrollmentDoctorBot
from bot.tenants import CHANGE_KINDS, SHARED, TenantRecord
from bot.tenants.connect import ConnectError, TenantConnector
from bot.tenants.polling import PollScheduler
from bot.tenants.registry import GUID
from bot.tenants.runtime import TenantRuntime, Tenants
from bot.tenants.scoped import TenantScopedStorage
from bot.web import healthz, make_consent_handler, make_messages_handler
from cards.tenancy import stamp_tenant

log = logging.getLogger("enrollment_doctor")

DEPS: web.AppKey[Deps] = web.AppKey("deps", Deps)
BACKGROUND: web.AppKey[Background] = web.AppKey("background", Background)
SCHEDULER: web.AppKey[PollScheduler] = web.AppKey("scheduler", PollScheduler)


def _ssl_context(ca_bundle: str | None) -> ssl.SSLContext | None:
    return ssl.create_default_context(cafile=ca_bundle) if ca_bundle else None


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    graph: GraphGateway | None = None,
    storage: Storage | None = None,
) -> web.Application:
    """The bot's aiohttp application. Anything not passed in is built from settings at start-up."""
    app = web.Application(client_max_size=settings.max_body_bytes)
    the_clock = clock or SystemClock()
    adapter = create_adapter(settings, the_clock)
    metrics = Metrics()
    validator = None
    if settings.auth_enabled:
        keys = SigningKeys(
            settings.openid_metadata_url,
            the_clock,
            timeout=settings.openid_timeout,
            ssl_context=_ssl_context(settings.openid_ca_bundle),
        )
        validator = TokenValidator(settings.app_id, keys, the_clock, settings.token_issuer)

    async def on_turn_error(context: TurnContext, error: Exception) -> None:
        # Reached only when an error escaped the bot's own funnel (teams_bot.py): log it once, apologise if we can.
        if isinstance(error, DeliveryError):
            log.warning("activity %s: %s", context.activity.id, error)
            return
        log.error("activity %s: unhandled error", context.activity.id, exc_info=error)
        try:
            await context.send_activity("Sorry, something went wrong on my side. Nothing was changed.")
        except Exception as exc:  # noqa: BLE001 - the apology could not be delivered either; said once in the log
            log.warning("activity %s: could not deliver the apology: %s", context.activity.id, exc)

    adapter.on_turn_error = on_turn_error

    async def resources(app: web.Application) -> AsyncIterator[None]:
        the_storage = storage or await open_storage(settings.database_url)
        background = Background()
        attachments = AttachmentIntake(Limits.from_settings(settings))
        messenger = Messenger(adapter, settings.app_id, the_clock)
        recent = RecentCards(the_storage, the_clock)

        def note_last_card(conversation_id: str, card: dict[str, Any]) -> None:
            # After the card has gone out, off the turn's path: a person's "why?" comes long after this write.
            background.spawn(recent.remember(conversation_id, card), name="note-last-card")

        adapter.use(NoteLastCard(note_last_card))
        home_graph = graph or MsGraphGateway(settings.graph, the_clock, metrics)

        def build_tenant(record: TenantRecord, tenant_settings: Settings) -> TenantRuntime:
            """One tenant's services: its Graph gateway (the deployment's own for its own tenant), its shared
            reading, its view of the database, its approvals, alerts and package watch."""
            the_graph = home_graph if record.home else MsGraphGateway(tenant_settings.graph, the_clock, metrics)
            readings = TenantReadings(
                the_graph,
                the_clock,
                tenant_settings.tenant_reading_seconds,
                shared=tenant_settings.tenant_reading_shared,
            )
            the_graph.on_write(readings.invalidate)
            scoped = TenantScopedStorage(the_storage, record.tenant_id, home=record.home)
            own_people = record.home or record.approvers_tenant == record.tenant_id
            tid = record.tenant_id

            def stamp(card: dict[str, Any]) -> dict[str, Any]:
                # With several tenants served, every card names its tenant and each action carries it.
                current = tenants.record(tid)
                return stamp_tenant(card, tid, current.label()) if tenants.many and current else card

            tenant_messenger = messenger.for_tenant(stamp)
            approvals = ApprovalService(
                tenant_settings,
                the_graph,
                scoped,
                the_clock,
                tenant_messenger,
                background,
                metrics,
                # The approvers are the operator's people (the deployment's own directory), unless the record
                # says they are the tenant's own (a school approving in its own Teams).
                directory=the_graph if own_people else home_graph,
                directory_tenant=record.tenant_id if own_people else settings.tenant_id,
            )
            packages = (
                PackageWatch(tenant_settings, the_graph, scoped, the_clock, tenant_messenger)
                if tenant_settings.package_watch
                else None
            )
            alerts = AlertService(
                tenant_settings, the_graph, scoped, the_clock, tenant_messenger, approvals, metrics, packages
            )
            tenant_deps = Deps(
                settings=tenant_settings,
                graph=the_graph,
                readings=readings,
                storage=scoped,
                clock=the_clock,
                approvals=approvals,
                alerts=alerts,
                metrics=metrics,
                background=background,
                messenger=tenant_messenger,
                attachments=attachments,
                tenants=tenants,
                tenant=record,
                connector=connector,
            )
            runtime = TenantRuntime(record, tenant_deps)
            if not record.home:
                runtime.closers.append(the_graph.close)
            return runtime

        tenants = Tenants(settings, the_storage, the_clock, build_tenant)

        async def is_deployment_approver(user_id: str) -> bool:
            return await tenants.deps_for(tenants.home_id).approvals.is_approver(user_id)

        connector = TenantConnector(
            settings,
            the_storage,
            the_clock,
            lambda graph_settings: MsGraphGateway(graph_settings, the_clock, metrics),
            tenants.add,
            is_approver=is_deployment_approver,
            announce=messenger.send_text,
        )

        def watch(runtime: TenantRuntime) -> None:
            """Each tenant's own background work: requests resumed after a restart, expiry sweeps, its alerts poll
            (one replica at a time per tenant, through the tenant's own lease)."""
            tid = runtime.tenant_id
            approvals, tasks = runtime.deps.approvals, []

            def spawn(work: Coroutine[Any, Any, Any], name: str, forever: bool = False) -> None:
                async def in_tenant() -> Any:
                    log_tenant.set(tid)  # this task's own context: its log lines name the tenant
                    return await work

                tasks.append(background.spawn(in_tenant(), name=f"{name}:{tid}", forever=forever))

            if approvals.configured:
                spawn(approvals.resume(), "approvals-resume")
                spawn(approvals.sweep_forever(), "approvals-sweep", forever=True)

            async def stop() -> None:
                for task in tasks:
                    task.cancel()

            runtime.closers.append(stop)

        tenants.on_built(watch)
        await tenants.load()
        deps = tenants.deps_for(settings.tenant_id)
        if settings.apply_as == "approver":
            service = TokenService(
                settings.token_service_url,
                settings.token_service_ca_bundle,
                token_service_authorization(settings, adapter.auth.tokens),
                settings.connector_timeout,
            )
            # An approver's write invalidates the shared tenant reading, as the app's own writes do.
            deps.signin = SignIn(settings, the_storage, the_clock, service, on_write=deps.readings.invalidate)
        if settings.alerts_enabled:
            # Every tenant's alert, expiry and new-account watches: each tenant polled by one replica at a time.
            async def poll_tenant(tenant_id: str) -> None:
                log_tenant.set(tenant_id)  # the poll runs in a task of its own: its log lines name the tenant
                alerts = tenants.runtime(tenant_id).deps.alerts
                await alerts.poll_once(holder=settings.replica_id, lease_seconds=settings.poll_lease_seconds)

            async def tenant_ids() -> list[str]:
                return [r.tenant_id for r in tenants.records()]

            scheduler = PollScheduler(
                the_storage,
                the_clock,
                settings.replica_id,
                tenant_ids,
                poll_tenant,
                interval=settings.alert_poll_seconds,
                lease_seconds=settings.poll_lease_seconds,
                concurrency=settings.poll_concurrency,
            )
            app[SCHEDULER] = scheduler
            polls = background.spawn(scheduler.run_forever(), name="tenant-polls", forever=True)
        background.spawn(tenants.learn_home(), name="tenants-learn-home")
        background.spawn(tenants.refresh_forever(), name="tenants-refresh", forever=True)
        app[DEPS] = deps
        app[BACKGROUND] = background
        bot = EnrollmentDoctorBot(deps)
        handler = make_messages_handler(settings, adapter, bot, metrics, validator, background, tenants)
        app.router.add_post("/api/messages", handler)
        app.router.add_get("/consent", make_consent_handler(connector))
        yield
        if settings.alerts_enabled:
            scheduler.stop()  # hands its tenants back at once, for the other replicas to take
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(polls), timeout=5)
        await background.close()
        await tenants.close()
        await attachments.close()
        if validator is not None:
            await validator.close()
        await adapter.auth.close()
        if deps.signin is not None:
            await deps.signin.service.close()
        if graph is None:
            await home_graph.close()
        if storage is None:
            await the_storage.close()

    async def readyz(request: web.Request) -> web.Response:
        deps = app[DEPS]
        checks: dict[str, str] = {}
        for name, probe in (("storage", deps.storage.ping), ("graph", deps.graph.ping)):
            try:
                await asyncio.wait_for(probe(), timeout=10)
                checks[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - readiness reports any failure as not ready
                log.warning("readiness: %s is not ready: %s", name, exc)
                checks[name] = f"failing: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        return web.json_response({"status": "ready" if ready else "not ready", **checks}, status=200 if ready else 503)

    async def metrics_endpoint(request: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), content_type="text/plain", charset="utf-8")

    app.cleanup_ctx.append(resources)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_endpoint)
    return app


async def _print_audit(database_url: str, since: datetime | None, as_json: bool, tenant: str | None = None) -> None:
    storage = await open_storage(database_url, must_exist=True)
    try:
        for entry in await storage.list_audit(since=since, tenant_id=tenant):
            if as_json:
                print(json.dumps(entry.to_json(), sort_keys=True))
            else:
                who = entry.actor_name or "-"
                where = entry.tenant_id or "-"
                print(f"{entry.at.isoformat()}  {where:<36}  {entry.action:<20} {who:<24} {entry.request_id or '-'}")
    finally:
        await storage.close()


async def _check_database(database_url: str) -> None:
    """Open (creating the schema) and close the database once before serving: a database that cannot be opened
    or written is a one-line start-up error, not a traceback from the web server's start-up."""
    storage = await open_storage(database_url)
    await storage.close()


def audit_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python app.py audit", description="Print the approval audit log")
    parser.add_argument("--since", help="ISO date or time (UTC if no offset), e.g. 2026-11-01")
    parser.add_argument("--json", action="store_true", help="one JSON object per line, for export")
    parser.add_argument("--tenant", help="only this tenant's entries (its id)")
    args = parser.parse_args(argv)
    tenant = args.tenant.strip().lower() if args.tenant else None
    if tenant is not None and not GUID.match(tenant):
        print(f"--tenant: not a tenant id (GUID): {args.tenant!r}", file=sys.stderr)
        return 2
    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            print(f"--since: not an ISO date or time: {args.since!r}", file=sys.stderr)
            return 2
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
    try:
        # The audit log is read from the database alone: no Graph or Bot Framework credentials needed.
        database_url = load_database_url()
        asyncio.run(_print_audit(database_url, since, args.json, tenant))
    except (ConfigError, StorageOpenError) as exc:
        print(f"Enrollment Doctor cannot read its audit log.\n{exc}", file=sys.stderr)
        return 2
    return 0


# ---- python app.py tenants list|add|remove -----------------------------------------------------------------
OPERATOR = "operator (command line)"


async def _list_tenants(database_url: str, as_json: bool) -> None:
    storage = await open_storage(database_url, must_exist=True)
    try:
        records, bound = await storage.list_tenants(), list((await storage.channel_bindings()).values())
    finally:
        await storage.close()
    if not records and not as_json:
        print("No customer tenants: this deployment serves its own tenant (GRAPH_TENANT_ID) only.")
    for record in records:
        channels = bound.count(record.tenant_id)
        if as_json:
            print(json.dumps({**record.to_json(), "boundChannels": channels}, sort_keys=True))
        else:
            domains = ",".join(record.domains) or "-"
            print(
                f"{record.tenant_id}  {record.display_name:<32} {domains:<40} {channels:>3} bound  {record.credential}"
            )


async def _add_tenant(settings: Settings, record: TenantRecord, check: bool) -> TenantRecord:
    storage = await open_storage(settings.database_url, must_exist=False)
    clock = SystemClock()

    async def store(filled: TenantRecord) -> TenantRecord:
        checked = filled.validated()
        if settings.apply_as == "approver" and checked.tenant_id != settings.tenant_id.lower():
            raise ConnectError("APPLY_AS=approver serves the deployment's own tenant only")
        await storage.save_tenant(checked, clock.now())
        return checked

    connector = TenantConnector(
        settings, storage, clock, lambda graph_settings: MsGraphGateway(graph_settings, clock), store
    )
    try:
        return await connector.connect(record, by=OPERATOR, check=check)
    finally:
        await storage.close()


async def _remove_tenant(database_url: str, tenant_id: str) -> bool:
    storage = await open_storage(database_url, must_exist=True)
    try:
        removed = await storage.remove_tenant(tenant_id)
        if removed:
            await storage.append_audit(
                AuditEntry(at=SystemClock().now(), action="tenant_removed", actor_name=OPERATOR, tenant_id=tenant_id)
            )
        return removed
    finally:
        await storage.close()


def tenants_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python app.py tenants", description="The customer tenants this bot serves")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="the tenants in the registry")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    add = commands.add_parser("add", help="connect a tenant (proves access first: a token, then GET /organization)")
    add.add_argument("--tenant-id", required=True, help="the tenant's id (GUID)")
    add.add_argument("--name", default="", help="display name (default: the organization's name)")
    add.add_argument("--credential", default=SHARED, help="shared (the deployment's app) or env:TENANT_SECRET_<NAME>")
    add.add_argument("--client-id", help="with env:TENANT_SECRET_<NAME>: the tenant's own app registration")
    add.add_argument("--approver-user", action="append", default=[], help="an approver's object id (repeatable)")
    add.add_argument("--approver-group", help="the approvers group's object id")
    add.add_argument("--channel", help="the admins' channel (conversation id) for its approval cards")
    add.add_argument("--allow", help=f"comma-separated change kinds it allows (default all: {','.join(CHANGE_KINDS)})")
    add.add_argument("--alert-min-count", type=int, help="its alert threshold (default ALERT_MIN_COUNT)")
    add.add_argument("--alert-factor", type=float, help="its alert factor (default ALERT_FACTOR)")
    add.add_argument("--no-check", action="store_true", help="store without proving access (no name or domains read)")
    remove = commands.add_parser("remove", help="stop serving a tenant (its requests and audit stay)")
    remove.add_argument("tenant_id", help="the tenant's id (GUID)")
    args = parser.parse_args(argv)
    # A refused token is said in one line below; azure-identity would also log it, with Entra's whole answer.
    identity_log = logging.getLogger("azure.identity")
    level = identity_log.level
    identity_log.setLevel(logging.ERROR)
    try:
        return _tenants_command(args)
    finally:
        identity_log.setLevel(level)


def _tenants_command(args: argparse.Namespace) -> int:
    try:
        if args.command == "list":
            asyncio.run(_list_tenants(load_database_url(), args.json))
            return 0
        if args.command == "remove":
            tenant_id = args.tenant_id.strip().lower()
            if not GUID.match(tenant_id):
                print(f"tenants remove: not a tenant id (a GUID): {args.tenant_id!r}", file=sys.stderr)
                return 2
            if tenant_id == load_home_tenant_id():
                print(
                    "tenants remove: that is this deployment's own tenant (GRAPH_TENANT_ID): it is always served",
                    file=sys.stderr,
                )
                return 2
            if not asyncio.run(_remove_tenant(load_database_url(), tenant_id)):
                print(f"tenants remove: {tenant_id} is not in the registry", file=sys.stderr)
                return 2
            print(f"Removed {tenant_id}: its channels are unbound and its alerts stopped (replicas follow within "
                  "TENANT_REFRESH_SECONDS).")  # fmt: skip
            return 0
        settings = load_settings()
        record = TenantRecord(
            tenant_id=args.tenant_id,
            display_name=args.name,
            credential=args.credential,
            client_id=args.client_id,
            approver_user_ids=tuple(args.approver_user),
            approver_group_id=args.approver_group,
            admin_channel_id=args.channel,
            allowed_changes=tuple(k.strip() for k in args.allow.split(",") if k.strip())
            if args.allow
            else CHANGE_KINDS,
            alert_min_count=args.alert_min_count,
            alert_factor=args.alert_factor,
        )
        added = asyncio.run(_add_tenant(settings, record, check=not args.no_check))
    except ConnectError as exc:
        print(f"tenants {args.command}: {exc.message}", file=sys.stderr)
        return 2
    except (ConfigError, StorageOpenError) as exc:
        print(f"Enrollment Doctor cannot reach its tenant registry.\n{exc}", file=sys.stderr)
        return 2
    domains = ", ".join(added.domains) or "none read (--no-check)"
    print(f"Connected {added.display_name} ({added.tenant_id}): verified domains {domains}.")
    return 0


def auth_warning(settings: Settings) -> str | None:
    """What start-up says, loudly, when nobody's token is checked."""
    if settings.auth_enabled:
        return None
    if settings.host in LOOPBACK_HOSTS:
        exposure = f"so it listens on {settings.host} only"
    else:
        exposure = (
            f"and it listens on {settings.host} because ALLOW_UNAUTHENTICATED=true: anyone who can reach port "
            f"{settings.port} can act as any user, approvers included"
        )
    return f"INBOUND AUTHENTICATION IS OFF (MicrosoftAppId is empty), {exposure}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["audit"]:
        return audit_main(argv[1:])
    if argv[:1] == ["tenants"]:
        return tenants_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python app.py", description="Enrollment Doctor, a Teams bot")
    parser.add_argument("--port", type=int, default=None, help="bot port (default PORT or 3978)")
    parser.add_argument("--demo", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.demo:  # the demo builds on this app (it imports create_app); this app never imports the demo
        print("The demo has its own command: make demo (or python -m bot.demo --help).", file=sys.stderr)
        return 2
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"Enrollment Doctor cannot start.\n{exc}", file=sys.stderr)
        return 2
    if args.port:
        settings = settings.with_overrides(port=args.port)
    configure_logging(
        settings.log_level, secrets=[settings.app_password, settings.graph.client_secret or ""], fmt=settings.log_format
    )
    warning = auth_warning(settings)
    if warning:
        log.warning("%s", warning)
    try:
        asyncio.run(_check_database(settings.database_url))
    except StorageOpenError as exc:
        print(f"Enrollment Doctor cannot start.\n{exc}", file=sys.stderr)
        return 2
    web.run_app(create_app(settings), host=settings.host, port=settings.port, access_log=None, print=lambda *_: None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
