"""Groups as deal rooms need them: forum topics (createForumTopic and the rest, message_thread_id
on every send), the bot's administrator rights per chat, startgroup links and the chat picker
(chat_shared), and the people's side of it (writing in a topic, adding the bot through a link).

Groups, supergroups, privacy mode, my_chat_member, migration, pins, invite links and the per-group
limit live in the older modules; this mixin goes first in FakeTelegram's bases so that its sends
can check the topic and then let the plain send do the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import BadRequest
from .models import FakeChat, StoredMessage

# The colours Telegram allows for a topic's icon.
TOPIC_COLORS = (7322096, 16766590, 13338331, 9367192, 16749490, 16478047)
TOPIC_NAME_LIMIT = 128
ALL_RIGHTS = (
    "is_anonymous",
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_pin_messages",
    "can_manage_topics",
)


@dataclass
class Topic:
    thread_id: int
    name: str
    icon_color: int
    closed: bool = False
    deleted: bool = False

    def to_api(self) -> dict[str, Any]:
        return {"message_thread_id": self.thread_id, "name": self.name, "icon_color": self.icon_color}


class GroupsMixin:
    # --- state (created on first use: FakeTelegram's constructor is shared with other features)

    @property
    def topics(self) -> dict[int, dict[int, Topic]]:
        if not hasattr(self, "_topics_state"):
            self._topics_state: dict[int, dict[int, Topic]] = {}
        return self._topics_state

    @property
    def bot_rights(self) -> dict[int, dict[str, bool]]:
        """Per chat, the rights of the bot as an administrator (all of them unless set)."""
        if not hasattr(self, "_bot_rights_state"):
            self._bot_rights_state: dict[int, dict[str, bool]] = {}
        return self._bot_rights_state

    @property
    def default_admin_rights(self) -> dict[str, Any] | None:
        return getattr(self, "_default_admin_rights", None)

    def _bot_can(self, chat: FakeChat, right: str) -> bool:
        if chat.bot_status != "administrator":
            return False
        return self.bot_rights.get(chat.id, {}).get(right, True)

    def set_bot_rights(self, chat_id: int, **rights: bool) -> None:
        """Make the bot an administrator of the chat with exactly these rights (others False)."""
        chat = self._chat(chat_id)
        chat.bot_status = "administrator"
        self.bot_rights[chat.id] = {r: bool(rights.get(r, False)) for r in ALL_RIGHTS}

    # --- the Bot API: forum topics

    def _forum(self, params: dict[str, Any]) -> FakeChat:
        chat = self._writable_chat(params["chat_id"])
        if not chat.is_forum:
            raise BadRequest("the chat is not a forum")
        return chat

    def _topic(self, chat: FakeChat, thread_id: Any) -> Topic:
        topic = self.topics.get(chat.id, {}).get(int(thread_id))
        if topic is None or topic.deleted:
            raise BadRequest("message thread not found")
        return topic

    async def api_createForumTopic(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._forum(params)
        if not self._bot_can(chat, "can_manage_topics"):
            raise BadRequest("not enough rights to create a topic")
        name = str(params.get("name") or "").strip()
        if not name:
            raise BadRequest("TOPIC_TITLE_EMPTY")
        if len(name) > TOPIC_NAME_LIMIT:
            raise BadRequest("TOPIC_TITLE_INVALID")
        color = int(params.get("icon_color") or TOPIC_COLORS[0])
        if color not in TOPIC_COLORS:
            raise BadRequest("TOPIC_ICON_COLOR_INVALID")
        # Creating a topic is a message of the group: it counts towards the group's limit.
        self._flood_check("createForumTopic", chat)
        msg = self._store(
            chat, self.bot_user, content={"forum_topic_created": {"name": name, "icon_color": color}}
        )
        topic = Topic(msg.message_id, name, color)
        msg.content["message_thread_id"] = topic.thread_id
        msg.content["is_topic_message"] = True
        self.topics.setdefault(chat.id, {})[topic.thread_id] = topic
        return topic.to_api()

    def _manage_topic(self, params: dict[str, Any]) -> tuple[FakeChat, Topic]:
        chat = self._forum(params)
        topic = self._topic(chat, params.get("message_thread_id"))
        if not self._bot_can(chat, "can_manage_topics"):
            raise BadRequest("not enough rights to manage topics")
        return chat, topic

    async def api_editForumTopic(self, params: dict[str, Any]) -> bool:
        chat, topic = self._manage_topic(params)
        name = params.get("name")
        if name is not None:
            name = str(name).strip()
            if not name or len(name) > TOPIC_NAME_LIMIT:
                raise BadRequest("TOPIC_TITLE_INVALID" if name else "TOPIC_TITLE_EMPTY")
            if name == topic.name and params.get("icon_custom_emoji_id") is None:
                raise BadRequest("TOPIC_NOT_MODIFIED")
            topic.name = name
            self._service(chat, topic, {"forum_topic_edited": {"name": name}})
        return True

    async def api_closeForumTopic(self, params: dict[str, Any]) -> bool:
        chat, topic = self._manage_topic(params)
        if topic.closed:
            raise BadRequest("TOPIC_NOT_MODIFIED")
        topic.closed = True
        self._service(chat, topic, {"forum_topic_closed": {}})
        return True

    async def api_reopenForumTopic(self, params: dict[str, Any]) -> bool:
        chat, topic = self._manage_topic(params)
        if not topic.closed:
            raise BadRequest("TOPIC_NOT_MODIFIED")
        topic.closed = False
        self._service(chat, topic, {"forum_topic_reopened": {}})
        return True

    async def api_deleteForumTopic(self, params: dict[str, Any]) -> bool:
        chat, topic = self._manage_topic(params)
        if not self._bot_can(chat, "can_delete_messages"):
            raise BadRequest("not enough rights to delete a topic")
        topic.deleted = True
        for msg in self._messages.get(chat.id, {}).values():
            if msg.content.get("message_thread_id") == topic.thread_id:
                msg.deleted = True
        self._touch()
        return True

    def _service(self, chat: FakeChat, topic: Topic, content: dict[str, Any]) -> StoredMessage:
        msg = self._store(chat, self.bot_user, content={**content})
        msg.content.update(message_thread_id=topic.thread_id, is_topic_message=True)
        return msg

    # --- sends into topics

    def _send_thread(self, params: dict[str, Any]) -> tuple[FakeChat, Topic] | None:
        """The topic a send goes to (None: the chat itself), with Telegram's refusals."""
        thread_id = params.get("message_thread_id")
        if thread_id is None:
            return None
        try:
            chat = self._resolve_chat(params["chat_id"])
        except BadRequest:
            return None  # the plain send says "chat not found"
        if not chat.is_forum:
            # Outside forums a thread is a reply chain; the fake keeps none.
            raise BadRequest("message thread not found")
        topic = self._topic(chat, thread_id)
        if topic.closed and not self._bot_can(chat, "can_manage_topics"):
            raise BadRequest("TOPIC_CLOSED")
        return chat, topic

    def _into_thread(self, result: dict[str, Any], where: tuple[FakeChat, Topic] | None) -> dict[str, Any]:
        if where is None:
            return result
        chat, topic = where
        msg = self.get_message(chat.id, result["message_id"])
        if msg is not None:
            msg.content.update(message_thread_id=topic.thread_id, is_topic_message=True)
            return msg.to_api()
        return result

    async def api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        where = self._send_thread(params)
        return self._into_thread(await super().api_sendMessage(params), where)  # type: ignore[misc]

    async def api_sendDocument(self, params: dict[str, Any]) -> dict[str, Any]:
        where = self._send_thread(params)
        return self._into_thread(await super().api_sendDocument(params), where)  # type: ignore[misc]

    async def api_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        where = self._send_thread(params)
        return self._into_thread(await super().api_sendPhoto(params), where)  # type: ignore[misc]

    # --- rights an administrator bot may lack

    async def api_pinChatMessage(self, params: dict[str, Any]) -> bool:
        chat = self._resolve_chat(params["chat_id"])
        if chat.bot_status == "administrator" and not self._bot_can(chat, "can_pin_messages"):
            raise BadRequest("not enough rights to manage pinned messages in the chat")
        return await super().api_pinChatMessage(params)  # type: ignore[misc]

    async def api_createChatInviteLink(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._resolve_chat(params["chat_id"])
        if chat.bot_status == "administrator" and not self._bot_can(chat, "can_invite_users"):
            raise BadRequest("not enough rights to manage chat invite links")
        return await super().api_createChatInviteLink(params)  # type: ignore[misc]

    # --- administrator rights the bot asks for

    async def api_setMyDefaultAdministratorRights(self, params: dict[str, Any]) -> bool:
        rights = params.get("rights")
        if rights is not None and not isinstance(rights, dict):
            raise BadRequest("can't parse ChatAdministratorRights JSON object")
        self._default_admin_rights = rights
        return True

    async def api_getMyDefaultAdministratorRights(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.default_admin_rights or {r: False for r in ALL_RIGHTS}

    # --- what people do

    def _group_message_visible(self, chat: FakeChat, msg: StoredMessage) -> bool:
        # In a forum, a message that replies to nothing is shown as a reply to the topic's first
        # (service) message; that is not "a reply to the bot" for privacy mode.
        reply = msg.reply_to
        if reply is not None and "forum_topic_created" in reply.content and self.privacy_mode:
            if chat.bot_status != "administrator":
                text = msg.text or msg.caption or ""
                return chat.bot_status == "member" and (
                    text.startswith("/") or f"@{self.bot_username}".lower() in text.lower()
                )
        return super()._group_message_visible(chat, msg)  # type: ignore[misc]

    def send_in_topic(
        self,
        user_id: int,
        chat_id: int,
        thread_id: int,
        text: str,
        *,
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """The user writes in a forum topic (a reply to a message of it, or just in it)."""
        chat = self._chat(chat_id)
        topic = self.topics.get(chat.id, {}).get(thread_id)
        if topic is None or topic.deleted:
            raise LookupError(f"no topic {thread_id} in chat {chat_id}")
        if topic.closed and user_id != chat.owner_id and user_id not in chat.admin_ids:
            raise PermissionError("the topic is closed")
        return self._incoming(
            user_id,
            chat_id,
            text=text,
            content={"message_thread_id": thread_id, "is_topic_message": True},
            reply_to_message_id=reply_to_message_id or thread_id,
        )

    def start_group(
        self,
        user_id: int,
        payload: str,
        chat_id: int,
        title: str = "Deal room",
        *,
        admin: bool = True,
        supergroup: bool = False,
    ) -> dict[str, Any]:
        """The user follows t.me/<bot>?startgroup=<payload>[&admin=...] and picks a group (made
        anew, with the user as its owner, if it does not exist): the bot is added (as an
        administrator when the link asked for rights), and the group then says
        ``/start@<bot> <payload>`` on the user's behalf."""
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = self.add_group(
                chat_id, title, [user_id], supergroup=supergroup, owner_id=user_id, bot_is_member=False
            )
        chat.members.add(user_id)
        old = chat.bot_status
        new = "administrator" if admin else "member"
        if old != new and not (old == "administrator" and new == "member"):
            chat.bot_status = new
            self._my_chat_member(chat, self._user(user_id), old, new)
        return self.send_text(user_id, f"/start@{self.bot_username} {payload}", chat_id)

    def share_chat(self, user_id: int, request_id: int, chat_id: int) -> dict[str, Any]:
        """The user presses a request_chat button in their private chat and picks ``chat_id``.

        The button must be on the keyboard the bot last showed them; a request with
        bot_administrator_rights adds the bot to the chat as an administrator first."""
        button = self._chat_request(user_id, request_id)
        chat = self._chat(chat_id)
        if button.get("chat_is_forum") is True and not chat.is_forum:
            raise ValueError("the button asks for a forum")
        rights = button.get("bot_administrator_rights")
        if rights and chat.bot_status != "administrator":
            old = chat.bot_status
            chat.bot_status = "administrator"
            self._my_chat_member(chat, self._user(user_id), old, "administrator")
        elif button.get("bot_is_member") and chat.bot_status not in ("member", "administrator"):
            old = chat.bot_status
            chat.bot_status = "member"
            self._my_chat_member(chat, self._user(user_id), old, "member")
        shared: dict[str, Any] = {"request_id": request_id, "chat_id": chat.id}
        if button.get("request_title") and chat.title:
            shared["title"] = chat.title
        return self._incoming(user_id, None, content={"chat_shared": shared})

    def _chat_request(self, user_id: int, request_id: int) -> dict[str, Any]:
        for msg in reversed(self.bot_messages(user_id)):
            rows = (msg.reply_markup or {}).get("keyboard")
            if not rows:
                continue
            for row in rows:
                for b in row:
                    req = b.get("request_chat") if isinstance(b, dict) else None
                    if req and int(req.get("request_id", 0)) == request_id:
                        return req
            break  # only the keyboard shown last is on the screen
        raise LookupError(f"no request_chat button with request_id {request_id} on the user's screen")

    def _member_api(self, chat: FakeChat, user: Any, status: str | None = None) -> dict[str, Any]:
        data = super()._member_api(chat, user, status)  # type: ignore[misc]
        if user.id == self.bot_id and data.get("status") == "administrator" and chat.id in self.bot_rights:
            for right, value in self.bot_rights[chat.id].items():
                if right in data:
                    data[right] = value
        return data
