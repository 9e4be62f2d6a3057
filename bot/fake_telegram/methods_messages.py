"""Bot API methods that send, edit, delete, copy and forward messages, and answer queries."""

from __future__ import annotations

from typing import Any

from aiohttp.web_request import FileField

from .constants import (
    CALLBACK_QUERY_TTL,
    CHAT_ACTIONS,
)
from .errors import (
    NOT_MODIFIED,
    QUERY_TOO_OLD,
    ApiError,
    BadRequest,
)
from .files import PHOTO_LIMIT, UPLOAD_LIMIT, guess_mime, image_size, photo_problem
from .keyboards import validate_reply_markup
from .models import (
    StoredMessage,
)


class MessageMethods:
    async def api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("business_connection_id"):
            return self._business_send(params, "text")  # business.py
        chat = self._writable_chat(params["chat_id"])
        text, entities = self._format(params.get("text"), params.get("parse_mode"), params.get("entities"))
        markup = validate_reply_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat, params)
        self._flood_check("sendMessage", chat)
        msg = self._store(
            chat,
            self.bot_user,
            text=text,
            entities=entities,
            reply_markup=markup,
            source=params.get("text"),
            parse_mode=params.get("parse_mode"),
            reply_to=reply_to,
        )
        return msg.to_api()

    async def _send_media(self, params: dict[str, Any], kind: str) -> dict[str, Any]:
        if params.get("business_connection_id"):
            return self._business_send(params, kind)  # business.py
        chat = self._writable_chat(params["chat_id"])
        media = params.get(kind)
        if isinstance(media, FileField):
            data = media.file.read()
            if not data:
                raise BadRequest("file must be non-empty")
            mime = media.content_type if kind == "document" else "image/jpeg"
            if len(data) > (UPLOAD_LIMIT if kind == "document" else PHOTO_LIMIT):
                raise ApiError(413, "Request Entity Too Large")
            if kind == "photo":
                if image_size(data) is None and not data.startswith((b"GIF8", b"RIFF")):
                    raise BadRequest("IMAGE_PROCESS_FAILED")
                if photo_problem(data):
                    raise BadRequest(photo_problem(data) or "")
                mime = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
            stored = self.store_file(
                data,
                file_name=media.filename if kind == "document" else None,
                mime_type=mime if mime != "application/octet-stream" else guess_mime(media.filename),
                kind="documents" if kind == "document" else "photos",
            )
        elif isinstance(media, str) and media in self.files:
            stored = self.files[media]
        elif isinstance(media, str) and media.lower().startswith(("http://", "https://")):
            # The fake has no internet; Telegram would fetch the URL.
            raise BadRequest("failed to get HTTP URL content")
        else:
            raise BadRequest("wrong file identifier/HTTP URL specified")
        caption, caption_entities = None, []
        if params.get("caption"):
            caption, caption_entities = self._format(
                params["caption"], params.get("parse_mode"), params.get("caption_entities"), caption=True
            )
            caption = caption or None
        markup = validate_reply_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat, params)
        self._flood_check("send" + kind.title(), chat)
        content = (
            {"document": self._document_api(stored)}
            if kind == "document"
            else {"photo": self._photo_api(stored)}
        )
        msg = self._store(
            chat,
            self.bot_user,
            caption=caption,
            caption_entities=caption_entities,
            reply_markup=markup,
            content=content,
            source=params.get("caption"),
            parse_mode=params.get("parse_mode"),
            reply_to=reply_to,
        )
        return msg.to_api()

    async def api_sendDocument(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._send_media(params, "document")

    async def api_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._send_media(params, "photo")

    async def api_editMessageText(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        if params.get("inline_message_id"):
            raise BadRequest("MESSAGE_ID_INVALID")
        if params.get("chat_id") is None:
            raise BadRequest("chat_id is empty")
        chat = self._writable_chat(params["chat_id"])
        msg = self._bot_message(chat, params.get("message_id"), "message to edit not found")
        if not msg.from_bot:
            raise BadRequest("message can't be edited")
        if msg.text is None:
            raise BadRequest("there is no text in the message to edit")
        text, entities = self._format(params.get("text"), params.get("parse_mode"), params.get("entities"))
        # Omitting reply_markup in an edit removes the inline keyboard, as in Telegram.
        markup = validate_reply_markup(params.get("reply_markup"))
        if (text, entities, markup) == (msg.text, msg.entities, msg.reply_markup):
            raise BadRequest(NOT_MODIFIED)
        if chat.is_group:
            self._flood_check("editMessageText", chat, cost=self.rate_limiter.config.group_edit_cost)
        msg.text, msg.entities, msg.reply_markup = text, entities, markup
        msg.source, msg.parse_mode = params.get("text"), params.get("parse_mode")
        self._mark_edited(msg)
        return msg.to_api()

    async def api_editMessageCaption(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        if params.get("inline_message_id"):
            raise BadRequest("MESSAGE_ID_INVALID")
        chat = self._writable_chat(params.get("chat_id"))
        msg = self._bot_message(chat, params.get("message_id"), "message to edit not found")
        if not msg.from_bot:
            raise BadRequest("message can't be edited")
        if msg.text is not None:
            raise BadRequest("there is no caption in the message to edit")
        caption, entities = self._format(
            params.get("caption"), params.get("parse_mode"), params.get("caption_entities"), caption=True
        )
        markup = validate_reply_markup(params.get("reply_markup"))
        if (caption or None, entities, markup) == (msg.caption, msg.caption_entities, msg.reply_markup):
            raise BadRequest(NOT_MODIFIED)
        msg.caption, msg.caption_entities, msg.reply_markup = caption or None, entities, markup
        self._mark_edited(msg)
        return msg.to_api()

    async def api_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        if params.get("inline_message_id"):
            raise BadRequest("MESSAGE_ID_INVALID")
        chat = self._writable_chat(params.get("chat_id"))
        msg = self._bot_message(chat, params.get("message_id"), "message to edit not found")
        if not msg.from_bot:
            raise BadRequest("message can't be edited")
        markup = validate_reply_markup(params.get("reply_markup"))
        if markup is not None and "inline_keyboard" not in markup:
            raise BadRequest("inline keyboard expected")
        if markup == msg.reply_markup or (not markup and not msg.reply_markup):
            raise BadRequest(NOT_MODIFIED)
        if chat.is_group:
            self._flood_check("editMessageReplyMarkup", chat, cost=self.rate_limiter.config.group_edit_cost)
        msg.reply_markup = markup
        self._mark_edited(msg)
        return msg.to_api()

    def _mark_edited(self, msg: StoredMessage) -> None:
        msg.edit_date = self._now()
        msg.edit_count += 1
        self._touch()

    async def api_deleteMessage(self, params: dict[str, Any]) -> bool:
        chat = self._resolve_chat(params["chat_id"])
        if chat.is_group and chat.bot_status in ("kicked", "left"):
            self._writable_chat(chat.id)
        msg = self._bot_message(chat, params.get("message_id"), "message to delete not found")
        if chat.is_group and not msg.from_bot and chat.bot_status != "administrator":
            raise BadRequest("message can't be deleted")
        msg.deleted = True
        self._touch()
        return True

    async def api_deleteMessages(self, params: dict[str, Any]) -> bool:
        chat = self._resolve_chat(params["chat_id"])
        for message_id in params.get("message_ids") or []:
            msg = self.get_message(chat.id, int(message_id))
            if msg is not None and (msg.from_bot or not chat.is_group or chat.bot_status == "administrator"):
                msg.deleted = True
        self._touch()
        return True

    async def api_copyMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        source_chat = self._resolve_chat(params["from_chat_id"])
        src = self.get_message(source_chat.id, int(params["message_id"]))
        if src is None or src.deleted:
            raise BadRequest("message to copy not found")
        if src.text is None and not any(k in src.content for k in ("document", "photo", "contact")):
            raise BadRequest("message can't be copied")
        chat = self._writable_chat(params["chat_id"])
        caption, caption_entities = src.caption, src.caption_entities
        if params.get("caption") is not None and src.text is None:
            caption, caption_entities = self._format(
                params["caption"], params.get("parse_mode"), params.get("caption_entities"), caption=True
            )
        markup = validate_reply_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat, params)
        self._flood_check("copyMessage", chat)
        content = {k: v for k, v in src.content.items() if k in ("document", "photo", "contact")}
        msg = self._store(
            chat,
            self.bot_user,
            text=src.text,
            entities=list(src.entities),
            caption=caption,
            caption_entities=list(caption_entities),
            reply_markup=markup,
            content=content,
            reply_to=reply_to,
        )
        return {"message_id": msg.message_id}

    async def api_forwardMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        source_chat = self._resolve_chat(params["from_chat_id"])
        src = self.get_message(source_chat.id, int(params["message_id"]))
        if src is None or src.deleted:
            raise BadRequest("message to forward not found")
        chat = self._writable_chat(params["chat_id"])
        self._flood_check("forwardMessage", chat)
        origin = src.content.get("forward_origin")
        if origin is None:
            if source_chat.type == "private" or source_chat.type in ("group", "supergroup"):
                origin = {"type": "user", "date": src.date, "sender_user": src.sender}
            else:
                origin = {
                    "type": "channel",
                    "date": src.date,
                    "chat": source_chat.to_api(),
                    "message_id": src.message_id,
                }
        content = {k: v for k, v in src.content.items() if k in ("document", "photo", "contact")}
        content["forward_origin"] = origin
        msg = self._store(
            chat,
            self.bot_user,
            text=src.text,
            entities=list(src.entities),
            caption=src.caption,
            caption_entities=list(src.caption_entities),
            content=content,
        )
        return msg.to_api()

    async def api_sendChatAction(self, params: dict[str, Any]) -> bool:
        self._writable_chat(params["chat_id"])
        if params.get("action") not in CHAT_ACTIONS:
            raise BadRequest("wrong parameter action in request")
        return True

    async def api_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        query = self._callback_queries.get(str(params["callback_query_id"]))
        if query is None or query.answered or self.clock() - query.created > CALLBACK_QUERY_TTL:
            raise BadRequest(QUERY_TOO_OLD)
        text = params.get("text")
        if isinstance(text, str) and len(text) > 200:
            raise BadRequest("MESSAGE_TOO_LONG")
        query.answered = True
        query.answer = {k: v for k, v in params.items() if k != "callback_query_id"}
        self._touch()
        return True

    async def api_answerInlineQuery(self, params: dict[str, Any]) -> bool:
        query_id = str(params["inline_query_id"])
        query = self._inline_queries.get(query_id)
        if query is None or query.answered or self.clock() - query.created > CALLBACK_QUERY_TTL:
            raise BadRequest(QUERY_TOO_OLD)
        results = params.get("results")
        if not isinstance(results, list):
            raise BadRequest("can't parse JSON encoded inline query results")
        if len(results) > 50:
            raise BadRequest("RESULTS_TOO_MUCH")
        query.answered = True
        self.inline_answers[query_id] = {k: v for k, v in params.items() if k != "inline_query_id"}
        self._touch()
        return True
