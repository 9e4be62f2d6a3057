"""Bot API methods about the bot itself and how it receives updates: getMe, getUpdates, webhooks."""

from __future__ import annotations

import asyncio
from typing import Any

from .errors import (
    GET_UPDATES_CONFLICT,
    ApiError,
    BadRequest,
)


class UpdatesMethods:
    async def api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        data = self.bot_user.to_api()
        data.update(
            can_join_groups=True,
            can_read_all_group_messages=not self.privacy_mode,
            supports_inline_queries=True,
            can_connect_to_business=False,
            has_main_web_app=False,
        )
        return data

    async def api_logOut(self, params: dict[str, Any]) -> bool:
        return True

    async def api_close(self, params: dict[str, Any]) -> bool:
        return True

    async def api_setWebhook(self, params: dict[str, Any]) -> bool:
        url = params.get("url") or ""
        if url and not url.lower().startswith("https://"):
            raise BadRequest("bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook_url = url
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def api_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = ""
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def api_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    async def api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        limit = min(max(limit, 1), 100)  # Telegram clamps instead of failing
        timeout = max(float(params.get("timeout") or 0), 0.0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(allowed) if allowed else None

        # A newer getUpdates terminates the one that is still waiting (it gets 409), like Telegram.
        if self._poller is not None and not self._poller.done():
            self._poller.set_result(None)
        me: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._poller = me

        # Confirmation: every update with id < offset is forgotten forever.
        before = len(self._updates)
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:] if -offset < len(self._updates) else self._updates
        if len(self._updates) != before:
            self._touch()  # waiters on "all confirmed" wake now, not when this long poll ends

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                # Updates the bot did not subscribe to are never delivered (dropped from the queue).
                self._updates = [u for u in self._updates if self._allowed(u)]
                batch = [u for u in self._updates if offset <= 0 or u["update_id"] >= offset][:limit]
                remaining = deadline - loop.time()
                if batch or remaining <= 0:
                    return batch
                changed = asyncio.ensure_future(self._changed.wait())
                try:
                    await asyncio.wait({me, changed}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    changed.cancel()
                if me.done():
                    raise ApiError(409, GET_UPDATES_CONFLICT)
        finally:
            if self._poller is me:
                self._poller = None
