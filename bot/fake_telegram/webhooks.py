"""Webhooks as Telegram runs them: setWebhook / deleteWebhook / getWebhookInfo, and a pusher that
POSTs each pending update (JSON, with X-Telegram-Bot-Api-Secret-Token when a secret was given) to
the webhook URL, at most `max_connections` at once, one chat's updates one after another, retrying
an update until it is answered with a 2xx. While a webhook is set, getUpdates answers 409.

Telegram only posts to public https URLs on ports 443, 80, 88 and 8443. Tests cannot have one, so
`webhook_hosts` maps a host name of the webhook URL to the plain-HTTP address that receives its
requests, as the TLS-terminating reverse proxy in front of a deployment does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from .errors import BadRequest

SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
WEBHOOK_PORTS = (443, 80, 88, 8443)
RETRY_FIRST = 0.2  # seconds before the first retry of a refused update; doubles up to RETRY_MAX
RETRY_MAX = 2.0


class WebhookMixin:
    """Mixed into FakeTelegram before UpdatesMethods (it replaces the webhook methods there)."""

    webhook_url: str
    _updates: list[dict[str, Any]]

    def _webhook_state(self) -> dict[str, Any]:
        state = self.__dict__.get("_webhook")
        if state is None:
            state = self.__dict__["_webhook"] = {
                "secret": None,
                "max_connections": 40,
                "allowed_updates": None,
                "last_error_date": None,
                "last_error_message": None,
                "task": None,
                "in_flight": {},  # update_id -> chat key
                "attempts": [],  # (update_id, status or error) of every push, in order
            }
            self.__dict__.setdefault("webhook_hosts", {})
        return state

    @property
    def webhook_pushes(self) -> list[tuple[int, int | str]]:
        """Every push made: (update_id, the HTTP status answered, or the connection error)."""
        return list(self._webhook_state()["attempts"])

    async def api_setWebhook(self, params: dict[str, Any]) -> bool:
        state = self._webhook_state()
        url = params.get("url") or ""
        if url:
            parts = urlsplit(url)
            if parts.scheme.lower() != "https":
                raise BadRequest("bad webhook: An HTTPS URL must be provided for webhook")
            if not parts.hostname:
                raise BadRequest("bad webhook: Failed to resolve host: Name or service not known")
            if (parts.port or 443) not in WEBHOOK_PORTS:
                raise BadRequest("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
        secret = params.get("secret_token")
        if secret is not None and not SECRET_RE.match(str(secret)):
            raise BadRequest("bad webhook: Secret token contains unallowed characters")
        max_connections = params.get("max_connections")
        if max_connections is not None:
            state["max_connections"] = min(max(int(max_connections), 1), 100)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(allowed) if allowed else None  # type: ignore[attr-defined]
            state["allowed_updates"] = list(allowed) or None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook_url = url
        state["secret"] = secret
        if url:
            # A long poll still waiting ends now, with the conflict it would meet on its next call.
            poller = self.__dict__.get("_poller")
            if poller is not None and not poller.done():
                poller.set_result(None)
            self._ensure_pusher()
        return True

    async def api_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = ""
        self._webhook_state()["secret"] = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def api_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        state = self._webhook_state()
        info: dict[str, Any] = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook_url:
            info["max_connections"] = state["max_connections"]
            if state["allowed_updates"]:
                info["allowed_updates"] = state["allowed_updates"]
            info["ip_address"] = "127.0.0.1"
        if state["last_error_date"] is not None:
            info["last_error_date"] = state["last_error_date"]
            info["last_error_message"] = state["last_error_message"]
        return info

    # ------------------------------------------------------------------ the pusher

    def _ensure_pusher(self) -> None:
        state = self._webhook_state()
        task = state["task"]
        if task is None or task.done():
            state["task"] = asyncio.get_running_loop().create_task(self._push_loop())

    def _target(self) -> str:
        parts = urlsplit(self.webhook_url)
        hosts: dict[str, str] = self.__dict__.get("webhook_hosts", {})
        base = hosts.get(parts.hostname or "")
        if base is None:
            base = f"https://{parts.netloc}"
        return base.rstrip("/") + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    async def _push_loop(self) -> None:
        state = self._webhook_state()
        in_flight: dict[int, Any] = state["in_flight"]
        backoff: dict[int, float] = {}
        not_before: dict[int, float] = {}
        loop = asyncio.get_running_loop()
        stopping: asyncio.Event = self._stopping  # type: ignore[attr-defined]
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            while self.webhook_url and not stopping.is_set():
                self._updates = [u for u in self._updates if self._allowed(u)]  # type: ignore[attr-defined]
                busy_chats = set(in_flight.values())
                now = loop.time()
                for update in list(self._updates):
                    if len(in_flight) >= state["max_connections"]:
                        break
                    uid = update["update_id"]
                    chat = _chat_key(update)
                    if uid in in_flight or (chat is not None and chat in busy_chats):
                        if chat is not None:
                            busy_chats.add(chat)  # a later update of this chat waits for this one
                        continue
                    if not_before.get(uid, 0) > now:
                        if chat is not None:
                            busy_chats.add(chat)
                        continue
                    in_flight[uid] = chat
                    if chat is not None:
                        busy_chats.add(chat)
                    loop.create_task(self._push_one(http, update, backoff, not_before))
                changed = asyncio.ensure_future(self._changed.wait())  # type: ignore[attr-defined]
                stop = asyncio.ensure_future(stopping.wait())
                try:
                    await asyncio.wait({changed, stop}, timeout=0.1, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    changed.cancel()
                    stop.cancel()

    async def _push_one(
        self,
        http: aiohttp.ClientSession,
        update: dict[str, Any],
        backoff: dict[int, float],
        not_before: dict[int, float],
    ) -> None:
        state = self._webhook_state()
        uid = update["update_id"]
        headers = {"Content-Type": "application/json"}
        if state["secret"]:
            headers["X-Telegram-Bot-Api-Secret-Token"] = state["secret"]
        outcome: int | str
        try:
            async with http.post(self._target(), data=json.dumps(update), headers=headers) as resp:
                outcome = resp.status
                await resp.read()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        finally:
            state["in_flight"].pop(uid, None)
        state["attempts"].append((uid, outcome))
        if isinstance(outcome, int) and 200 <= outcome < 300:
            self._updates = [u for u in self._updates if u["update_id"] != uid]
            backoff.pop(uid, None)
            not_before.pop(uid, None)
        else:
            state["last_error_date"] = self._now()  # type: ignore[attr-defined]
            state["last_error_message"] = (
                f"Wrong response from the webhook: {outcome} {_reason(outcome)}"
                if isinstance(outcome, int)
                else "Connection refused"
            )
            delay = backoff[uid] = min(backoff.get(uid, RETRY_FIRST / 2) * 2, RETRY_MAX)
            not_before[uid] = asyncio.get_running_loop().time() + delay
        self._touch()  # type: ignore[attr-defined]

    async def _stop_pusher(self) -> None:
        task = self._webhook_state()["task"]
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _chat_key(update: dict[str, Any]) -> int | None:
    for key, value in update.items():
        if key == "update_id" or not isinstance(value, dict):
            continue
        chat = value.get("chat") or (value.get("message") or {}).get("chat")
        if isinstance(chat, dict) and "id" in chat:
            return int(chat["id"])
        sender = value.get("from")
        if isinstance(sender, dict) and "id" in sender:
            return int(sender["id"])
    return None
