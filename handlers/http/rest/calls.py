"""The method registry and one method call: its own unit of work, with the token's user reloaded in
it (a user deactivated a moment ago acts no more), our refusals turned into Bitrix24's errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import zone_of
from crm_core.db import Database
from crm_core.errors import DomainError
from crm_core.models.users import User
from handlers.http.rest.protocol import RestError, Result, bad_argument, from_domain, invalid_credentials
from handlers.texts import Translator


@dataclass
class Call:
    session: AsyncSession
    actor: User
    params: dict[str, Any]
    region: str

    @property
    def tz(self) -> Any:
        return zone_of(self.actor.timezone)

    @property
    def tr(self) -> Translator:
        return Translator(self.actor.language)

    def param(self, name: str, default: Any = None) -> Any:
        return self.params.get(name.lower(), default)


Method = Callable[[Call], Awaitable[Result]]
METHODS: dict[str, Method] = {}


def method(*names: str) -> Callable[[Method], Method]:
    def register(fn: Method) -> Method:
        for name in names:
            METHODS[name] = fn
        return fn

    return register


def normalise(params: dict[str, Any]) -> dict[str, Any]:
    """Bitrix24 takes top-level parameter names in any case (ID, id; FIELDS, fields)."""
    return {str(k).lower(): v for k, v in params.items() if str(k).lower() != "auth"}


async def run_method(db: Database, user_id: int, name: str, params: dict[str, Any], region: str) -> Result:
    fn = METHODS.get(name)
    if fn is None:
        from handlers.http.rest.protocol import method_not_found

        raise method_not_found()
    try:
        async with db.unit_of_work() as session:
            actor = await session.get(User, user_id)
            if actor is None or not actor.is_active:
                raise invalid_credentials()
            return await fn(Call(session, actor, normalise(params), region))
    except DomainError as exc:
        raise from_domain(exc) from None
    except (TypeError, ValueError, KeyError) as exc:  # a malformed parameter shape
        raise bad_argument(f"Invalid parameters: {exc}") from None


def require_id(call: Call, name: str = "id") -> int:
    raw = call.param(name)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise bad_argument("ID is not defined or invalid.") from None
    if value <= 0:
        raise bad_argument("ID is not defined or invalid.")
    return value


def page_start(call: Call) -> int:
    raw = call.param("start", 0)
    try:
        start = int(raw or 0)
    except (TypeError, ValueError):
        raise bad_argument("Invalid start") from None
    return -1 if start < 0 else start


__all__ = ["METHODS", "Call", "RestError", "method", "page_start", "require_id", "run_method"]
