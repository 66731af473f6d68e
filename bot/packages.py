"""Package watch, run by the alerts poller (same leader lease, so one replica at a time): warn before packages
expire, and offer the join permission for package accounts that appear without it, each exactly once.

What is owed is written down (an outbox in the database) before anything is sent, and each conversation is
ticked off as it is reached: a restart between "due" and "done" finishes the deliveries without repeating them."""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock
from bot.doctor import recent_bulk_failures
from bot.domain.model import DirectoryUser
from bot.domain.packages import Expiry, due_warnings, may_join, new_since
from bot.errors import DeliveryError, GraphError
from bot.graph import GraphGateway
from bot.proactive import ConversationGoneError, Messenger
from bot.settings import Settings
from bot.storage import Storage
from cards.packages import build_expiry_card, build_new_account_card

log = logging.getLogger(__name__)

WATCH_KEY = "package_watch"
ADMIN = "@admins-channel"  # an outbox address: the admins' channel, resolved when delivering
LATE_ACCOUNTS = timedelta(minutes=10)  # a directory read may show a just-created account a little late
EVENT_LIMIT = 1000

Target = tuple[str, dict[str, Any]]  # conversation id, its reference


def _account_json(account: DirectoryUser) -> dict[str, Any]:
    return {
        "id": account.id,
        "upn": account.user_principal_name,
        "created": account.created.isoformat() if account.created else None,
        "enabled": account.account_enabled,
    }


def _account(data: dict[str, Any]) -> DirectoryUser:
    created = datetime.fromisoformat(data["created"]) if data.get("created") else None
    return DirectoryUser(data["id"], data["upn"], None, bool(data.get("enabled", True)), created)


class PackageWatch:
    def __init__(
        self, settings: Settings, graph: GraphGateway, storage: Storage, clock: Clock, messenger: Messenger
    ) -> None:
        self._settings = settings
        self._graph = graph
        self._storage = storage
        self._clock = clock
        self._messenger = messenger

    async def check(self, targets: list[Target], admin: Target | None) -> None:
        """One look: what is due goes into the outbox (persisted), then the outbox is delivered."""
        state = dict(await self._storage.get_setting(WATCH_KEY) or {})
        now = self._clock.now()
        accounts = await self._graph.list_package_accounts()
        warned: dict[str, str] = dict(state.get("warned", {}))
        outbox: list[dict[str, Any]] = list(state.get("outbox", []))

        due, settled = due_warnings(
            accounts, now, self._settings.package_token_days, self._settings.package_warn_days, warned
        )
        if due:
            devices = await self._devices_by_account()
            items = [
                {**_account_json(e.account), "expires": e.expires_at.isoformat(), "threshold": e.threshold,
                 "devices": None if devices is None else len(devices.get(e.account.id, ()))}
                for e in due
            ]  # fmt: skip
            # To the conversations that get alerts now; with none yet, to the first that exists (see _recipients).
            outbox.append({"id": uuid.uuid4().hex, "kind": "expiry", "items": items, "to": [t for t, _ in targets]})
        for key in settled:
            warned[key] = now.isoformat()

        since = state.get("since")
        offered: dict[str, str] = dict(state.get("offered", {}))
        if since is not None:  # the first look only learns what exists: nothing is "new" on day one
            fresh = [
                a for a in new_since(accounts, datetime.fromisoformat(since) - LATE_ACCOUNTS) if a.id not in offered
            ]
            if fresh:
                policy = await self._graph.get_policy()
                members = await self._graph.group_user_ids(policy.join.groups) if policy.join.groups else {}
                for account in fresh:
                    offered[account.id] = now.isoformat()
                    if not may_join(account.id, policy.join, members):
                        # To the admins' channel, whenever there is one (it may be set up later).
                        item = _account_json(account)
                        outbox.append({"id": uuid.uuid4().hex, "kind": "new", "items": [item], "to": [ADMIN]})
        keep_after = (now - timedelta(days=self._settings.package_token_days + 30)).isoformat()
        state.update(
            since=now.isoformat(),
            warned={k: v for k, v in warned.items() if v >= keep_after},
            offered={k: v for k, v in offered.items() if v >= keep_after},
            outbox=outbox,
        )
        await self._storage.set_setting(WATCH_KEY, state)  # owed before sent: a restart repeats nothing
        await self._deliver(state, targets, admin)

    async def _devices_by_account(self) -> dict[str, set[str]] | None:
        try:
            events = await recent_bulk_failures(self._graph, limit=EVENT_LIMIT)
        except GraphError as exc:
            log.warning("package watch: could not read troubleshooting events: %s", exc)
            return None
        devices: dict[str, set[str]] = defaultdict(set)
        for event in events:
            if event.user_id and event.device_id:
                devices[event.user_id].add(event.device_id)
        return devices

    def _still_expiring(self, entry: dict[str, Any]) -> bool:
        """Keep only the packages that have not expired yet; False when none is left."""
        now = self._clock.now()
        entry["items"] = [i for i in entry["items"] if datetime.fromisoformat(i["expires"]) > now]
        return bool(entry["items"])

    def _card(self, entry: dict[str, Any]) -> dict[str, Any]:
        if entry["kind"] == "new":
            return build_new_account_card(_account(entry["items"][0]))
        expiring = [
            Expiry(_account(i), datetime.fromisoformat(i["expires"]), i["threshold"], i.get("devices"))
            for i in entry["items"]
        ]
        return build_expiry_card(expiring, self._clock.now(), self._settings.package_token_days)

    async def _deliver(self, state: dict[str, Any], targets: list[Target], admin: Target | None) -> None:
        references = dict([*targets, *([(ADMIN, admin[1])] if admin else [])])
        for entry in list(state["outbox"]):
            if not entry["to"]:
                # Owed before anyone could be told (no conversation gets alerts, no admins' channel yet): it waits,
                # and goes to the first recipients there are. Never settled without one.
                entry["to"] = [t for t, _ in targets] or ([ADMIN] if admin else [])
                if not entry["to"]:
                    log.info(
                        "package watch: %s card %s waits for a conversation to post to", entry["kind"], entry["id"]
                    )
                    continue
                await self._storage.set_setting(WATCH_KEY, state)
            if entry["kind"] == "expiry" and not self._still_expiring(entry):
                # It waited past the day itself: the diagnosis speaks for an expired package, not this warning.
                state["outbox"].remove(entry)
                await self._storage.set_setting(WATCH_KEY, state)
                log.warning(
                    "package watch: expiry card %s: every package expired before it could be posted", entry["id"]
                )
                continue
            done: list[str] = entry.setdefault("done", [])
            card = self._card(entry)
            for target in entry["to"]:
                if target in done:
                    continue
                reference = references.get(target)
                if reference is None:
                    log.warning("package watch: no conversation reference for %s", target)
                    continue
                try:
                    await self._messenger.send_card(reference, card)
                except ConversationGoneError:
                    log.warning("package watch: the bot is no longer in %s", target)
                except DeliveryError as exc:
                    log.warning("package watch: could not post to %s (%s); will try again next poll", target, exc)
                    continue
                except Exception:
                    log.exception("package watch: could not post to %s; will try again next poll", target)
                    continue
                done.append(target)
                await self._storage.set_setting(WATCH_KEY, state)  # each delivery remembered at once
            if all(t in done for t in entry["to"]):
                state["outbox"].remove(entry)
                await self._storage.set_setting(WATCH_KEY, state)
                log.info("package watch: %s card %s delivered", entry["kind"], entry["id"])
