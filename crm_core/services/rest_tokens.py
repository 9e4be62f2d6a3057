"""Inbound webhook tokens of the REST API: admins create and revoke them; a token belongs to one CRM
user and the API acts with exactly that user's rights. The secret is random, shown once, stored as
its sha256 (a leaked database does not leak usable URLs); a lookup compares the hash in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import ensure_utc, utcnow
from crm_core.errors import NotFound, ValidationFailed
from crm_core.models.rest import RestToken
from crm_core.models.users import User
from crm_core.permissions import ensure_admin

SECRET_BYTES = 12  # 16 url-safe characters, as long as Bitrix24's webhook codes
MAX_TITLE = 100


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: RestToken
    secret: str  # shown to the admin once; only its hash is stored


async def create_token(
    session: AsyncSession, actor: User, user_id: int, *, title: str = "", now: datetime | None = None
) -> IssuedToken:
    ensure_admin(actor)
    owner = await session.get(User, user_id)
    if owner is None:
        raise NotFound(user_id=user_id)
    if not owner.is_active:
        raise ValidationFailed("inactive user", field="user", user_id=user_id)
    title = (title or "").strip()
    if len(title) > MAX_TITLE:
        raise ValidationFailed("text too long", field="title", max=MAX_TITLE)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    token = RestToken(
        user_id=owner.id,
        secret_hash=hash_secret(secret),
        title=title,
        created_by_id=actor.id,
        created_at=ensure_utc(now) if now else utcnow(),
    )
    session.add(token)
    await session.flush()
    return IssuedToken(token, secret)


async def list_tokens(session: AsyncSession, actor: User) -> list[RestToken]:
    """The tokens still in force, newest first."""
    ensure_admin(actor)
    rows = await session.scalars(
        select(RestToken).where(RestToken.revoked_at.is_(None)).order_by(RestToken.id.desc())
    )
    return list(rows)


async def revoke_token(
    session: AsyncSession, actor: User, token_id: int, *, now: datetime | None = None
) -> RestToken:
    ensure_admin(actor)
    token = await session.get(RestToken, token_id)
    if token is None:
        raise NotFound(token_id=token_id)
    if token.revoked_at is None:
        token.revoked_at = ensure_utc(now) if now else utcnow()
        await session.flush()
    return token


async def authenticate(session: AsyncSession, user_id: int, secret: str) -> tuple[RestToken, User] | None:
    """The token and its user for a URL's `<user_id>/<secret>`, or None: unknown, revoked, another
    user's secret, or a user no longer active."""
    if not secret or len(secret) > 200:
        return None
    digest = hash_secret(secret)
    token = await session.scalar(select(RestToken).where(RestToken.secret_hash == digest))
    if token is None or token.revoked_at is not None:
        return None
    if not hmac.compare_digest(token.secret_hash, digest) or token.user_id != user_id:
        return None
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        return None
    return token, user
