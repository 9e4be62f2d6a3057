"""Bot API methods about commands, chats, members, pins, invite links and files."""

from __future__ import annotations

import secrets
from typing import Any

from .constants import (
    COMMAND_RE,
    DOWNLOAD_LIMIT,
)
from .errors import (
    BadRequest,
)


class ChatMethods:
    async def api_setMyCommands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise BadRequest("can't parse commands JSON object")
        if len(commands) > 100:
            raise BadRequest("too many commands specified")
        cleaned: list[dict[str, str]] = []
        for cmd in commands:
            if not isinstance(cmd, dict) or not isinstance(cmd.get("command"), str):
                raise BadRequest('can\'t parse BotCommand: Field "command" must be of type String')
            if not isinstance(cmd.get("description"), str):
                raise BadRequest('can\'t parse BotCommand: Field "description" must be of type String')
            name = cmd["command"].strip()
            if not COMMAND_RE.match(name):
                raise BadRequest("BOT_COMMAND_INVALID")
            description = cmd["description"].strip()
            if not 1 <= len(description) <= 256:
                raise BadRequest("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": name, "description": description})
        scope = params.get("scope")
        key = (self._scope_key(scope), params.get("language_code") or "")
        self._check_scope_chat(scope)
        if cleaned:
            self.commands[key] = cleaned
        else:
            self.commands.pop(key, None)
        return True

    def _check_scope_chat(self, scope: Any) -> None:
        if isinstance(scope, dict) and "chat_id" in scope:
            chat = self._resolve_chat(scope["chat_id"])
            if scope["type"] == "chat_member" and int(scope.get("user_id", 0)) not in chat.members:
                raise BadRequest("user not found")

    async def api_getMyCommands(self, params: dict[str, Any]) -> list[dict[str, str]]:
        key = (self._scope_key(params.get("scope")), params.get("language_code") or "")
        return list(self.commands.get(key, []))

    async def api_deleteMyCommands(self, params: dict[str, Any]) -> bool:
        key = (self._scope_key(params.get("scope")), params.get("language_code") or "")
        self.commands.pop(key, None)
        return True

    async def api_setChatMenuButton(self, params: dict[str, Any]) -> bool:
        button = params.get("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in ("default", "commands", "web_app"):
            raise BadRequest("can't parse menu button: unsupported type")
        if params.get("chat_id") is not None:
            self._resolve_chat(params["chat_id"]).menu_button = button
        else:
            self.default_menu_button = button
        return True

    async def api_getChatMenuButton(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("chat_id") is not None:
            chat = self._resolve_chat(params["chat_id"])
            if chat.menu_button:
                return chat.menu_button
        return self.default_menu_button

    async def api_getChat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._resolve_chat(params["chat_id"])
        data = chat.to_api()
        data.update(accent_color_id=0, max_reaction_count=11)
        data["accepted_gift_types"] = {f: False for f in self.schema.required_fields("AcceptedGiftTypes")}
        if chat.pinned:
            pinned = self.get_message(chat.id, chat.pinned[-1])
            if pinned is not None:
                data["pinned_message"] = pinned.to_api(with_reply=False)
        if chat.type == "supergroup" or chat.type == "group":
            data["permissions"] = {"can_send_messages": True}
        return data

    async def api_getChatMember(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._resolve_chat(params["chat_id"])
        user_id = int(params["user_id"])
        if user_id != self.bot_id and user_id not in self.users:
            raise BadRequest("user not found")
        return self._member_api(chat, self._user(user_id))

    async def api_getChatMemberCount(self, params: dict[str, Any]) -> int:
        chat = self._resolve_chat(params["chat_id"])
        if chat.type == "private":
            return 2
        return len(chat.members) + (1 if chat.bot_status in ("member", "administrator") else 0)

    async def api_getChatAdministrators(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        chat = self._resolve_chat(params["chat_id"])
        ids = ([chat.owner_id] if chat.owner_id else []) + sorted(chat.admin_ids)
        result = [self._member_api(chat, self._user(uid)) for uid in ids if uid in self.users]
        if chat.bot_status == "administrator":
            result.append(self._member_api(chat, self.bot_user))
        return result

    async def api_leaveChat(self, params: dict[str, Any]) -> bool:
        chat = self._resolve_chat(params["chat_id"])
        if chat.type == "private":
            raise BadRequest("chat member status can't be changed in private chats")
        chat = self._writable_chat(chat.id)
        old = chat.bot_status
        chat.bot_status = "left"
        self._my_chat_member(chat, self.bot_user, old, "left")
        return True

    async def api_pinChatMessage(self, params: dict[str, Any]) -> bool:
        chat = self._writable_chat(params["chat_id"])
        msg = self._bot_message(chat, params.get("message_id"), "message to pin not found")
        if chat.is_group and chat.bot_status != "administrator":
            raise BadRequest("not enough rights to manage pinned messages in the chat")
        if msg.message_id in chat.pinned:
            chat.pinned.remove(msg.message_id)
        chat.pinned.append(msg.message_id)
        self._touch()
        return True

    async def api_unpinChatMessage(self, params: dict[str, Any]) -> bool:
        chat = self._writable_chat(params["chat_id"])
        if chat.is_group and chat.bot_status != "administrator":
            raise BadRequest("not enough rights to manage pinned messages in the chat")
        message_id = params.get("message_id")
        if message_id is None:
            if chat.pinned:
                chat.pinned.pop()
            return True
        msg = self._bot_message(chat, message_id, "message to unpin not found")
        if msg.message_id in chat.pinned:
            chat.pinned.remove(msg.message_id)
        self._touch()
        return True

    async def api_unpinAllChatMessages(self, params: dict[str, Any]) -> bool:
        chat = self._writable_chat(params["chat_id"])
        if chat.is_group and chat.bot_status != "administrator":
            raise BadRequest("not enough rights to manage pinned messages in the chat")
        chat.pinned.clear()
        return True

    async def api_createChatInviteLink(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._writable_chat(params["chat_id"])
        if chat.type == "private":
            raise BadRequest("can't invite members to a private chat")
        if chat.bot_status != "administrator":
            raise BadRequest("not enough rights to manage chat invite links")
        name = params.get("name")
        if name is not None and len(str(name)) > 32:
            raise BadRequest("invite link name is too long")
        member_limit = params.get("member_limit")
        if member_limit is not None and not 1 <= int(member_limit) <= 99999:
            raise BadRequest("member limit must be between 1 and 99999")
        creates_join_request = bool(params.get("creates_join_request"))
        if creates_join_request and member_limit:
            raise BadRequest("member limit can't be specified for links requiring administrator approval")
        link: dict[str, Any] = {
            "invite_link": f"https://t.me/+{secrets.token_urlsafe(12)}",
            "creator": self.bot_user.to_api(),
            "creates_join_request": creates_join_request,
            "is_primary": False,
            "is_revoked": False,
        }
        for optional in ("name", "expire_date", "member_limit"):
            if params.get(optional) is not None:
                link[optional] = params[optional]
        self.invite_links.append({"chat_id": chat.id, **link})
        return link

    async def api_getFile(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self.files.get(str(params["file_id"]))
        if stored is None:
            raise BadRequest("invalid file_id")
        if stored.size > DOWNLOAD_LIMIT:
            raise BadRequest("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.file_path,
        }
