"""What people do in Telegram, injected as updates: messages, button presses, forwards,
contacts, files, membership changes."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from . import formatting
from .constants import (
    PendingQuery,
)
from .models import (
    FakeChat,
    FakeUser,
    StoredFile,
    StoredMessage,
)


class PeopleMixin:
    def _incoming(
        self,
        user_id: int,
        chat_id: int | None,
        *,
        text: str | None = None,
        caption: str | None = None,
        content: dict[str, Any] | None = None,
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        user = self._user(user_id)
        chat = self._chat(user_id if chat_id is None else chat_id)
        if chat.type == "private":
            if chat.id != user_id:
                raise ValueError("a user can only write to the bot in their own private chat")
            # Writing to the bot (or pressing "Restart") starts/unblocks it, exactly as in Telegram.
            user.started = True
            user.blocked = False
        else:
            if chat.migrated_to is not None:
                raise ValueError(f"group {chat.id} was migrated to {chat.migrated_to}")
            chat.members.add(user_id)
        reply_to = self.get_message(chat.id, reply_to_message_id) if reply_to_message_id else None
        msg = self._store(
            chat,
            user,
            text=text,
            entities=formatting.detect_entities(text, phone_numbers=True) if text else None,
            caption=caption,
            caption_entities=formatting.detect_entities(caption, phone_numbers=True) if caption else None,
            content=content,
            reply_to=reply_to,
        )
        if chat.is_group and not self._group_message_visible(chat, msg):
            self._inject_marker = self._last_seq
            return {"update_id": None, "message": msg.to_api()}
        return self._enqueue("message", msg.to_api())

    def _group_message_visible(self, chat: FakeChat, msg: StoredMessage) -> bool:
        if chat.bot_status not in ("member", "administrator"):
            return False
        if not self.privacy_mode or chat.bot_status == "administrator":
            return True
        text = msg.text or msg.caption or ""
        if text.startswith("/") or f"@{self.bot_username}".lower() in text.lower():
            return True
        return msg.reply_to is not None and msg.reply_to.from_bot

    def send_text(
        self, user_id: int, text: str, chat_id: int | None = None, *, reply_to_message_id: int | None = None
    ) -> dict[str, Any]:
        """The user sends ``text`` (private chat when ``chat_id`` is None). Returns the Update."""
        return self._incoming(user_id, chat_id, text=text, reply_to_message_id=reply_to_message_id)

    def press_button(
        self,
        user_id: int,
        message_id: int,
        data: str | None = None,
        *,
        chat_id: int | None = None,
        button_text: str | None = None,
    ) -> dict[str, Any]:
        """The user presses an inline button (by callback ``data`` or visible ``button_text``)."""
        user = self._user(user_id)
        chat = self._chat(user_id if chat_id is None else chat_id)
        msg = self.get_message(chat.id, message_id)
        if msg is None or msg.deleted:
            raise LookupError(f"message {message_id} not found in chat {chat.id}")
        buttons = [b for row in msg.inline_keyboard for b in row]
        if not buttons:
            raise LookupError(f"message {message_id} in chat {chat.id} has no inline keyboard")
        if data is None and button_text is None:
            raise ValueError("pass callback data or button_text")
        match = [
            b
            for b in buttons
            if (data is None or b[1] == data) and (button_text is None or b[0] == button_text)
        ]
        if not match:
            raise LookupError(
                f"message {message_id} has no button with data={data!r} text={button_text!r}; "
                f"buttons: {[(b[0], b[1] or b[2]) for b in buttons]}"
            )
        text, callback_data, url = match[0]
        if callback_data is None:
            raise LookupError(f"button {text!r} is not a callback button (url={url!r})")
        query_id = str(secrets.randbits(63))
        self._callback_queries[query_id] = PendingQuery(self.clock())
        query = {
            "id": query_id,
            "from": user.to_api(),
            "message": msg.to_api(),
            "chat_instance": str(abs(hash((self.bot_id, chat.id))) % 10**19),
            "data": callback_data,
        }
        return self._enqueue("callback_query", query)

    def forge_callback(
        self, user_id: int, data: str, *, message_id: int | None = None, chat_id: int | None = None
    ) -> dict[str, Any]:
        """A hostile client sends callback ``data`` of its choosing, whatever buttons exist.

        Telegram does not check callback data against the keyboard, so neither does this; but it
        refuses a press on a message that is gone, as `press_button` does.
        """
        user = self._user(user_id)
        chat = self._chat(user_id if chat_id is None else chat_id)
        msg = self.get_message(chat.id, message_id) if message_id is not None else None
        if message_id is not None and (msg is None or msg.deleted):
            raise LookupError(f"message {message_id} not found in chat {chat.id}")
        query_id = str(secrets.randbits(63))
        self._callback_queries[query_id] = PendingQuery(self.clock())
        query: dict[str, Any] = {
            "id": query_id,
            "from": user.to_api(),
            "chat_instance": str(abs(hash((self.bot_id, chat.id))) % 10**19),
            "data": data,
        }
        if msg is not None:
            query["message"] = msg.to_api()
        return self._enqueue("callback_query", query)

    def forward_message(
        self,
        user_id: int,
        text: str,
        origin_user: int | dict[str, Any] | None = None,
        origin_name: str | None = None,
        origin_chat: dict[str, Any] | None = None,
        *,
        origin_date: int | None = None,
        origin_message_id: int | None = None,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        """The user forwards a text message to the bot (Bot API 7 ``forward_origin``)."""
        date = origin_date if origin_date is not None else self._now() - 3600
        origin: dict[str, Any]
        if origin_user is not None:
            sender = self._user(origin_user).to_api() if isinstance(origin_user, int) else origin_user
            origin = {"type": "user", "date": date, "sender_user": sender}
        elif origin_name is not None:
            origin = {"type": "hidden_user", "date": date, "sender_user_name": origin_name}
        elif origin_chat is not None:
            if origin_chat.get("type") == "channel":
                origin = {
                    "type": "channel",
                    "date": date,
                    "chat": origin_chat,
                    "message_id": origin_message_id or 1,
                }
            else:
                origin = {"type": "chat", "date": date, "sender_chat": origin_chat}
        else:
            raise ValueError("pass origin_user, origin_name or origin_chat")
        return self._incoming(user_id, chat_id, text=text, content={"forward_origin": origin})

    def send_contact(
        self,
        user_id: int,
        phone_number: str,
        first_name: str,
        last_name: str | None = None,
        contact_user_id: int | None = None,
        *,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        contact: dict[str, Any] = {"phone_number": phone_number, "first_name": first_name}
        if last_name:
            contact["last_name"] = last_name
        if contact_user_id is not None:
            contact["user_id"] = contact_user_id
        return self._incoming(user_id, chat_id, content={"contact": contact})

    def send_document(
        self,
        user_id: int,
        file_name: str,
        data: bytes,
        mime_type: str = "application/octet-stream",
        caption: str | None = None,
        *,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        stored = self.store_file(data, file_name=file_name, mime_type=mime_type, kind="documents")
        return self._incoming(
            user_id, chat_id, caption=caption, content={"document": self._document_api(stored)}
        )

    def send_photo(
        self,
        user_id: int,
        data: bytes,
        caption: str | None = None,
        *,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        stored = self.store_file(data, kind="photos", mime_type="image/jpeg")
        return self._incoming(user_id, chat_id, caption=caption, content={"photo": self._photo_api(stored)})

    def inline_query(self, user_id: int, query: str, offset: str = "") -> dict[str, Any]:
        user = self._user(user_id)
        query_id = str(secrets.randbits(63))
        self._inline_queries[query_id] = PendingQuery(self.clock())
        self.inline_answers[query_id] = None
        return self._enqueue(
            "inline_query",
            {"id": query_id, "from": user.to_api(), "query": query, "offset": offset, "chat_type": "sender"},
        )

    def _member_api(self, chat: FakeChat, user: FakeUser, status: str | None = None) -> dict[str, Any]:
        if status is None:
            status = self._status_of(chat, user.id)
        if status == "administrator":
            # The real server lists every right. Newer clients (aiogram 3.31) also require
            # can_send_welcome_messages, which the bundled schema may not know yet.
            spec = self.schema.types.get("ChatMemberAdministrator", {})
            rights = [n for n, f in spec.items() if f.types == ("Boolean",)] + ["can_send_welcome_messages"]
            channel_only = ("can_post_messages", "can_edit_messages", "can_manage_direct_messages")
            data: dict[str, Any] = {
                r: True for r in rights if chat.type == "channel" or r not in channel_only
            }
            data.update({"can_be_edited": False, "is_anonymous": False})
            data.update({"status": status, "user": user.to_api()})
            return data
        if status == "creator":
            return {"status": status, "user": user.to_api(), "is_anonymous": False}
        if status == "kicked":
            return {"status": status, "user": user.to_api(), "until_date": 0}
        return {"status": status, "user": user.to_api()}

    def _status_of(self, chat: FakeChat, user_id: int) -> str:
        if user_id == self.bot_id:
            if chat.type == "private":
                return "kicked" if chat.user and chat.user.blocked else "member"
            return chat.bot_status
        if chat.type == "private":
            return "member" if user_id == chat.id else "left"
        if user_id == chat.owner_id:
            return "creator"
        if user_id in chat.admin_ids:
            return "administrator"
        return "member" if user_id in chat.members else "left"

    def _my_chat_member(self, chat: FakeChat, actor: FakeUser, old: str, new: str) -> dict[str, Any]:
        return self._enqueue(
            "my_chat_member",
            {
                "chat": chat.to_api(),
                "from": actor.to_api(),
                "date": self._now(),
                "old_chat_member": self._member_api(chat, self.bot_user, old),
                "new_chat_member": self._member_api(chat, self.bot_user, new),
            },
        )

    def add_member_event(self, chat_id: int, actor_id: int, new_user_ids: Iterable[int]) -> dict[str, Any]:
        """``actor_id`` adds users (possibly the bot itself) to a group; returns the message Update."""
        chat = self._chat(chat_id)
        actor = self._user(actor_id)
        users = [self._user(uid) for uid in new_user_ids]
        for user in users:
            if user.id == self.bot_id:
                old = chat.bot_status
                chat.bot_status = "member"
                self._my_chat_member(chat, actor, old, "member")
            else:
                chat.members.add(user.id)
        msg = self._store(chat, actor, content={"new_chat_members": [u.to_api() for u in users]})
        return self._enqueue("message", msg.to_api())

    def remove_member_event(self, chat_id: int, actor_id: int, user_id: int) -> dict[str, Any]:
        """``actor_id`` removes ``user_id`` from the group (a user leaving: actor_id == user_id)."""
        chat = self._chat(chat_id)
        actor = self._user(actor_id)
        user = self._user(user_id)
        if user_id == self.bot_id:
            old = chat.bot_status
            chat.bot_status = "kicked" if actor_id != self.bot_id else "left"
            # Telegram does not deliver the service message to a bot that is no longer in the group.
            return self._my_chat_member(chat, actor, old, chat.bot_status)
        chat.members.discard(user_id)
        msg = self._store(chat, actor, content={"left_chat_member": user.to_api()})
        return self._enqueue("message", msg.to_api())

    def kick_bot(self, chat_id: int, actor_id: int | None = None) -> dict[str, Any]:
        chat = self._chat(chat_id)
        actor = actor_id if actor_id is not None else (chat.owner_id or next(iter(chat.members), None))
        if actor is None:
            raise ValueError("pass actor_id: the group has no members")
        return self.remove_member_event(chat_id, actor, self.bot_id)

    def migrate_group(self, chat_id: int, new_supergroup_id: int) -> FakeChat:
        """Upgrade a group to a supergroup; sends to the old id fail with migrate_to_chat_id."""
        old = self._chat(chat_id)
        if old.type != "group":
            raise ValueError("only basic groups can be migrated")
        new = FakeChat(
            new_supergroup_id,
            "supergroup",
            title=old.title,
            members=set(old.members),
            owner_id=old.owner_id,
            admin_ids=set(old.admin_ids),
            bot_status=old.bot_status,
        )
        self.chats[new_supergroup_id] = new
        old.migrated_to = new_supergroup_id
        actor = self._user(old.owner_id) if old.owner_id in self.users else self.bot_user
        m1 = self._store(old, actor, content={"migrate_to_chat_id": new_supergroup_id})
        self._enqueue("message", m1.to_api())
        m2 = self._store(new, actor, content={"migrate_from_chat_id": chat_id})
        self._enqueue("message", m2.to_api())
        return new

    def block_bot(self, user_id: int) -> dict[str, Any]:
        user = self._user(user_id)
        user.blocked = True
        return self._my_chat_member(self._chat(user_id), user, "member", "kicked")

    def unblock_bot(self, user_id: int) -> dict[str, Any]:
        user = self._user(user_id)
        user.blocked = False
        return self._my_chat_member(self._chat(user_id), user, "kicked", "member")

    def store_file(
        self,
        data: bytes,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        kind: str = "documents",
    ) -> StoredFile:
        n = next(self._file_counter)
        ext = ""
        if file_name and "." in file_name:
            ext = "." + file_name.rsplit(".", 1)[1]
        elif kind == "photos":
            ext = ".jpg"
        stored = StoredFile(
            file_id=f"BQACAgIAAx{secrets.token_urlsafe(24)}",
            file_unique_id=f"AgAD{secrets.token_urlsafe(8)}",
            data=bytes(data),
            file_path=f"{kind}/file_{n}{ext}",
            file_name=file_name,
            mime_type=mime_type,
        )
        self.files[stored.file_id] = stored
        return stored

    def file_bytes(self, file_id: str) -> bytes:
        return self.files[file_id].data
