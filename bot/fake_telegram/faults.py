"""Fault injection (issue 15): what goes wrong on Telegram's side, on demand, and counted.

- ``storm``: 429 Too Many Requests (with ``retry_after``) on the next calls of a method, also
  ``getUpdates``;
- ``server_errors``: 500/502/504 on the next calls of a method;
- ``drop_next``: the connection closes without an answer, as when a request times out; with
  ``delivered=True`` the call was carried out first (the bot cannot know), so a retry duplicates it;
- ``deliver_again``: an update Telegram delivers a second time (its confirmation was lost);
- ``age_callback_queries``: the bot answers a press after Telegram's 15 s deadline.

Blocked users (``block_bot``) and migrated groups (``migrate_group``) live with the people.
``faults_injected`` counts every fault that fired, by kind. The same is reachable over HTTP for
drivers in another process: ``POST /_control/faults`` with ``{"kind": ..., ...}``,
``GET /_control/faults`` for the counts, ``POST /_control/faults/clear``.
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

from aiohttp import web

from .models import Fault, RequestRecord

_DEFAULT_TEXTS = {500: "Internal Server Error", 502: "Bad Gateway", 504: "Gateway Timeout"}


class FaultsMixin:
    @property
    def faults_injected(self) -> Counter[str]:
        counts = self.__dict__.get("_fault_counts")
        if counts is None:
            counts = self.__dict__["_fault_counts"] = Counter()
        return counts

    @property
    def _drops(self) -> list[Fault]:
        drops = self.__dict__.get("_drop_rules")
        if drops is None:
            drops = self.__dict__["_drop_rules"] = []
        return drops

    def storm(self, method: str | None, times: int, *, retry_after: int = 1, chat_id: Any = None) -> None:
        """The next ``times`` calls of ``method`` (None = any) get 429 with ``retry_after``."""
        self.fail_next(method, times, chat_id=chat_id, retry_after=retry_after)  # type: ignore[attr-defined]

    def server_errors(self, method: str | None, times: int = 1, *, code: int = 500) -> None:
        """The next ``times`` calls of ``method`` get a 5xx."""
        self.fail_next(method, times, error_code=code, description=_DEFAULT_TEXTS.get(code))  # type: ignore[attr-defined]

    def drop_next(
        self, method: str | None, times: int = 1, *, delivered: bool = True, chat_id: Any = None
    ) -> None:
        """Close the connection of the next ``times`` calls of ``method`` without an answer; with
        ``delivered`` the call takes effect first (a send that timed out but arrived)."""
        kind = "delivered" if delivered else "lost"
        self._drops.append(Fault(method.lower() if method else None, chat_id, times, 0, kind))

    def deliver_again(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update once more, with its update_id (a redelivery after a lost confirmation)."""
        again = copy.deepcopy(update)
        self._updates.append(again)  # type: ignore[attr-defined]
        self.faults_injected["update delivered twice"] += 1
        self._touch()  # type: ignore[attr-defined]
        return again

    def age_callback_queries(self, seconds: float = 16.0) -> None:
        """Every pending button press was made ``seconds`` ago (past the 15 s answer deadline)."""
        for query in self._callback_queries.values():  # type: ignore[attr-defined]
            if not query.answered:
                query.created -= seconds
                self.faults_injected["callback answered too late"] += 1

    # --- hooks called by the HTTP layer -------------------------------------------------------------

    def _fault_fired(self, fault: Fault) -> None:
        if fault.error_code == 429:
            kind = "429 on getUpdates" if fault.method == "getupdates" else "429 on sends"
        elif fault.error_code >= 500:
            kind = f"{fault.error_code} on {fault.method or 'any method'}"
        else:
            kind = f"{fault.error_code} {fault.description}"
        self.faults_injected[kind] += 1

    def _drop_before(self, method: str, record: RequestRecord, request: web.Request) -> bool:
        """Whether the connection is dropped before the call takes effect (then it is, now)."""
        return self._drop(method, record, request, delivered=False)

    def _drop_after(self, method: str, record: RequestRecord, request: web.Request) -> bool:
        return self._drop(method, record, request, delivered=True)

    def _drop(self, method: str, record: RequestRecord, request: web.Request, *, delivered: bool) -> bool:
        kind = "delivered" if delivered else "lost"
        rules = [r for r in self._drops if r.description == kind]
        rule = self._take(rules, method, record.chat_id)  # type: ignore[attr-defined]
        if rule is None:
            return False
        if rule.remaining is not None and rule.remaining <= 0 and rule in self._drops:
            self._drops.remove(rule)
        self.faults_injected[f"timeout ({'delivered' if delivered else 'not delivered'}) on {method}"] += 1
        record.ok = False
        record.status = 0
        record.description = f"connection dropped ({kind})"
        if request.transport is not None:
            request.transport.abort()
        return True


def add_fault_routes(app: web.Application, fake: Any) -> None:
    """POST /_control/faults {"kind": "storm"|"server_errors"|"drop_next"|"age_callback_queries", ...}."""

    async def inject(request: web.Request) -> web.Response:
        body = await request.json()
        kind = body.pop("kind")
        if kind not in ("storm", "server_errors", "drop_next", "age_callback_queries", "block_bot"):
            return web.json_response({"ok": False, "description": f"unknown fault {kind}"}, status=400)
        getattr(fake, kind)(**body)
        return web.json_response({"ok": True})

    async def counts(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "result": dict(fake.faults_injected)})

    async def clear(request: web.Request) -> web.Response:
        fake.clear_faults()
        fake._drops.clear()
        return web.json_response({"ok": True})

    app.router.add_post("/_control/faults", inject)
    app.router.add_get("/_control/faults", counts)
    app.router.add_post("/_control/faults/clear", clear)
