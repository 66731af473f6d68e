"""Composition root: `create_app(settings, ...)` builds the bot's web application; `main()` runs it."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from botbuilder.core import TurnContext

from bot.adapter import create_adapter
from bot.clock import Clock, SystemClock
from bot.deps import Deps
from bot.errors import ConfigError
from bot.graph import GraphGateway, MsGraphGateway
from bot.settings import Settings, load_settings
from bot.storage import Storage, open_storage
from bot.teams_bot import EnrollmentDoctorBot
from bot.web import healthz, make_messages_handler

log = logging.getLogger("enrollment_doctor")

DEPS: web.AppKey[Deps] = web.AppKey("deps", Deps)


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    graph: GraphGateway | None = None,
    storage: Storage | None = None,
) -> web.Application:
    """The bot's aiohttp application. Anything not passed in is built from settings at start-up."""
    app = web.Application(client_max_size=settings.max_body_bytes)
    adapter = create_adapter(settings)
    the_clock = clock or SystemClock()

    async def on_turn_error(context: TurnContext, error: Exception) -> None:
        log.error("activity %s: unhandled error", context.activity.id, exc_info=error)
        await context.send_activity("Sorry, something went wrong on my side. Nothing was changed.")

    adapter.on_turn_error = on_turn_error

    async def resources(app: web.Application) -> AsyncIterator[None]:
        the_storage = storage or await open_storage(settings.database_url)
        the_graph = graph or MsGraphGateway(settings.graph, the_clock)
        deps = Deps(settings=settings, graph=the_graph, storage=the_storage, clock=the_clock)
        app[DEPS] = deps
        bot = EnrollmentDoctorBot(deps)
        app.router.add_post("/api/messages", make_messages_handler(settings, adapter, bot))
        yield
        if graph is None:
            await the_graph.close()
        if storage is None:
            await the_storage.close()

    app.cleanup_ctx.append(resources)
    app.router.add_get("/healthz", healthz)
    return app


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("azure", "httpx", "msrest", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python app.py", description="Enrollment Doctor, a Teams bot")
    parser.add_argument("--demo", action="store_true", help="run against the simulated tenant, with the Playground")
    parser.add_argument("--port", type=int, default=None, help="bot port (default PORT or 3978)")
    parser.add_argument("--graph-port", type=int, default=8443, help="demo: simulated tenant port")
    parser.add_argument("--playground-port", type=int, default=56150, help="demo: Agents Playground port")
    parser.add_argument("--tenant", type=Path, default=None, help="demo: tenant fixture (JSON)")
    parser.add_argument("--no-playground", action="store_true", help="demo: do not start the Agents Playground")
    args = parser.parse_args(argv)

    if args.demo:
        from bot.demo import run_demo

        configure_logging("INFO")
        return run_demo(
            port=args.port or 3978,
            graph_port=args.graph_port,
            playground_port=args.playground_port,
            tenant_file=args.tenant,
            playground=not args.no_playground,
        )
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"Enrollment Doctor cannot start.\n{exc}", file=sys.stderr)
        return 2
    if args.port:
        settings = settings.with_overrides(port=args.port)
    configure_logging(settings.log_level)
    web.run_app(create_app(settings), port=settings.port, access_log=None, print=lambda *_: None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
