"""What a test or driver sets up and inspects: users, groups, faults, waits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from .models import (
    FakeChat,
    FakeUser,
    Fault,
    RequestRecord,
    StoredMessage,
)


class ControlMixin:
    def add_user(
        self,
        user_id: int,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        *,
        is_bot: bool = False,
    ) -> FakeUser:
        """Register a Telegram user. They have not started the bot until they write to it."""
        user = FakeUser(user_id, first_name, last_name, username, language_code, is_bot=is_bot)
        self.users[user_id] = user
        self.chats[user_id] = FakeChat(user_id, "private", user=user)
        return user

    def add_group(
        self,
        chat_id: int,
        title: str,
        member_ids: Iterable[int] = (),
        *,
        supergroup: bool = False,
        is_forum: bool = False,
        username: str | None = None,
        owner_id: int | None = None,
        bot_is_admin: bool = False,
        bot_is_member: bool = True,
    ) -> FakeChat:
        """Register a group (or supergroup) the bot is a member of (``bot_is_member``)."""
        members = set(member_ids)
        for uid in members:
            self._user(uid)
        status = "administrator" if bot_is_admin else "member" if bot_is_member else "left"
        chat = FakeChat(
            chat_id,
            "supergroup" if supergroup or is_forum else "group",
            title=title,
            username=username,
            members=members,
            owner_id=owner_id,
            bot_status=status,
            is_forum=is_forum,
        )
        self.chats[chat_id] = chat
        return chat

    def set_bot_admin(self, chat_id: int, is_admin: bool = True) -> None:
        self._chat(chat_id).bot_status = "administrator" if is_admin else "member"

    def set_rate_limits(self, enabled: bool) -> None:
        self.rate_limiter.enabled = enabled

    def fail_next(
        self,
        method: str | None,
        times: int | None = 1,
        *,
        chat_id: int | str | None = None,
        error_code: int = 500,
        description: str | None = None,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (None = any; for ``chat_id`` if given) fail."""
        parameters: dict[str, Any] | None = None
        if retry_after is not None:
            error_code = 429 if error_code == 500 else error_code
            parameters = {"retry_after": retry_after}
            description = description or f"Too Many Requests: retry after {retry_after}"
        if migrate_to_chat_id is not None:
            error_code = 400 if error_code == 500 else error_code
            parameters = {"migrate_to_chat_id": migrate_to_chat_id}
            description = description or "Bad Request: group chat was upgraded to a supergroup chat"
        default_texts = {
            500: "Internal Server Error",
            502: "Bad Gateway",
            400: "Bad Request",
            403: "Forbidden",
        }
        self._faults.append(
            Fault(
                method.lower() if method else None,
                chat_id,
                times,
                error_code,
                description or default_texts.get(error_code, "Internal Server Error"),
                parameters,
            )
        )

    def delay_next(
        self, method: str | None, seconds: float, times: int | None = 1, *, chat_id: int | str | None = None
    ) -> None:
        """Delay the responses of the next ``times`` calls of ``method`` by ``seconds`` (real time)."""
        self._delays.append(Fault(method.lower() if method else None, chat_id, times, 200, "", None, seconds))

    def clear_faults(self) -> None:
        self._faults.clear()
        self._delays.clear()

    @staticmethod
    def _take(rules: list[Fault], method: str, chat_id: Any) -> Fault | None:
        for rule in rules:
            if rule.method not in (None, method):
                continue
            if rule.chat_id is not None and str(rule.chat_id) != str(chat_id):
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    rules.remove(rule)
            return rule
        return None

    def messages(self, chat_id: int, *, include_deleted: bool = False) -> list[StoredMessage]:
        """Messages of a chat in order, edits applied; deleted ones only with ``include_deleted``."""
        msgs = sorted(self._messages.get(chat_id, {}).values(), key=lambda m: m.message_id)
        return [m for m in msgs if include_deleted or not m.deleted]

    def bot_messages(self, chat_id: int, *, include_deleted: bool = False) -> list[StoredMessage]:
        return [m for m in self.messages(chat_id, include_deleted=include_deleted) if m.from_bot]

    def last_bot_message(self, chat_id: int) -> StoredMessage | None:
        msgs = self.bot_messages(chat_id)
        return msgs[-1] if msgs else None

    def get_message(self, chat_id: int, message_id: int) -> StoredMessage | None:
        return self._messages.get(chat_id, {}).get(message_id)

    def errors(self, status: int | None = None) -> list[RequestRecord]:
        return [r for r in self.requests if not r.ok and (status is None or r.status == status)]

    def calls(self, method: str) -> list[RequestRecord]:
        return [r for r in self.requests if r.method.lower() == method.lower()]

    @property
    def callback_answers(self) -> dict[str, dict[str, Any] | None]:
        """callback_query_id -> answerCallbackQuery params, or None while unanswered."""
        return {qid: q.answer if q.answered else None for qid, q in self._callback_queries.items()}

    @property
    def pending_updates_count(self) -> int:
        return len(self._updates)

    def commands_for(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, str]]:
        return list(self.commands.get((self._scope_key(scope), language_code), []))

    def mark(self) -> int:
        """A marker for :meth:`wait_bot_messages` (messages created after this call count as new)."""
        return self._last_seq

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Wait until ``predicate()`` is truthy (re-checked on every state change); returns its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._changed
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout}s")
            try:
                await asyncio.wait_for(event.wait(), min(remaining, 0.25))
            except TimeoutError:
                pass

    async def wait_bot_messages(
        self, chat_id: int, count: int = 1, timeout: float = 5.0, *, since: int | None = None
    ) -> list[StoredMessage]:
        """Wait until ``count`` new bot messages exist in ``chat_id``.

        "New" means created after ``since`` (a :meth:`mark` value); by default after the most recent
        injected update, so ``fake.send_text(...); await fake.wait_bot_messages(uid)`` does what it says.
        """
        marker = self._inject_marker if since is None else since

        def new() -> list[StoredMessage]:
            msgs = [m for m in self.bot_messages(chat_id) if m.seq > marker]
            return msgs if len(msgs) >= count else []

        try:
            return await self.wait_for(new, timeout)
        except TimeoutError:
            got = [m.text or m.caption for m in self.bot_messages(chat_id) if m.seq > marker]
            raise TimeoutError(
                f"expected {count} new bot message(s) in chat {chat_id} within {timeout}s, got {got}"
            ) from None
