"""The field schema (crm_core.fields) in a chat: the reading context of a person, field labels."""

from __future__ import annotations

from crm_core.fields import Field, FieldContext, label_of
from crm_core.models.users import User
from handlers.context import HandlerOptions
from handlers.texts import Translator


def field_context(
    user: User | None, options: HandlerOptions | None, language: str | None = None
) -> FieldContext:
    """How this person's typed values are read: their language and timezone, the phone region."""
    region = options.phone_region if options is not None else None
    if user is None:
        return FieldContext.of(language, options.default_timezone if options else None, region=region)
    return FieldContext.of(language or user.language, user.timezone, region=region)


def field_label(tr: Translator, field: Field | str) -> str:
    """A field's label in the reader's language (the schema holds the message id)."""
    label = field.label if isinstance(field, Field) else label_of(field)
    return tr(label)
