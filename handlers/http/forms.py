"""`POST /forms/<form-key>`: a website's form creates a lead (crm_core/services/forms.py).

JSON, application/x-www-form-urlencoded or multipart/form-data. Answers: 201 with the lead's id,
404 unknown or revoked key, 413 body over FORM_MAX_BYTES (411 when a body has no length), 415 other
content types, 422 with a reason per field, 429 over FORM_RATE_PER_MINUTE from one address (with
Retry-After). CORS is open so that a page may post with fetch().
"""

from __future__ import annotations

import logging
import math
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField

from crm_core.errors import ValidationFailed
from crm_core.services import forms as forms_service
from handlers.http import DB_KEY, OPTIONS_KEY
from handlers.http.bodies import read_json, scrubbed

log = logging.getLogger(__name__)

# The composition root may set a limiter shared by all processes before setup(); else one per process.
LIMITER_KEY = web.AppKey("forms_limiter", forms_service.SubmissionLimiter)
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def setup(app: web.Application) -> None:
    if LIMITER_KEY not in app:
        app[LIMITER_KEY] = forms_service.AddressLimiter(app[OPTIONS_KEY].form_rate_per_minute)
    app.router.add_post("/forms/{key}", submit)
    app.router.add_route("OPTIONS", "/forms/{key}", preflight)


def _answer(status: int, body: dict[str, Any], **headers: str) -> web.Response:
    return web.json_response(body, status=status, headers={**CORS, **headers})


def _error(status: int, error: str, **extra: Any) -> web.Response:
    return _answer(status, {"ok": False, "error": error, **extra})


async def preflight(request: web.Request) -> web.Response:
    return web.Response(status=204, headers=CORS)


def client_address(request: web.Request, trust_forwarded: bool) -> str:
    if trust_forwarded:
        forwarded = request.headers.get("X-Forwarded-For", "")
        last = forwarded.split(",")[-1].strip()
        if last:
            return last[:64]
    return (request.remote or "unknown")[:64]


async def _read_body(request: web.Request) -> dict[str, Any] | None:
    """The submitted fields, or None when the body is not an object of fields."""
    if request.content_type == "application/json":
        try:
            body = read_json(await request.read() or b"null")
            return scrubbed(body) if isinstance(body, dict) else None
        except (ValueError, ValidationFailed):  # not JSON; nested past any form's fields
            return None
    form = await request.post()
    fields: dict[str, Any] = {}
    for key, value in form.items():
        if isinstance(value, FileField):
            continue  # files are not lead fields
        fields.setdefault(key, value)  # a repeated field: the first value
    return scrubbed(fields)


async def submit(request: web.Request) -> web.Response:
    options = request.app[OPTIONS_KEY]
    address = client_address(request, options.trust_forwarded)
    wait = await request.app[LIMITER_KEY].acquire(address)
    if wait is not None:
        seconds = str(math.ceil(wait))
        return _answer(
            429,
            {"ok": False, "error": "too_many_requests", "retry_after": int(seconds)},
            **{"Retry-After": seconds},
        )
    length = request.content_length
    if length is None and request.body_exists:
        return _error(411, "length_required")
    if length is not None and length > options.form_max_bytes:
        return _error(413, "body_too_large", max_bytes=options.form_max_bytes)
    if request.content_type not in ("application/json", *FORM_TYPES):
        return _error(415, "unsupported_media_type", accepted=["application/json", *FORM_TYPES])
    db = request.app[DB_KEY]
    async with db.unit_of_work() as session:
        form = await forms_service.active_form(session, request.match_info["key"])
        if form is None:
            return _error(404, "unknown_form")
        data = await _read_body(request)
        if data is None:
            return _error(422, "invalid_body", errors={"body": "not_an_object"})
        try:
            submission = forms_service.read_submission(data, region=options.phone_region)
        except forms_service.FormInvalid as exc:
            return _error(422, "invalid_fields", errors=exc.errors)
        lead = await forms_service.submit(
            session, form, submission, address=address, region=options.phone_region
        )
        lead_id = lead.id
        repeat = bool(lead.is_return_customer)
    log.info("form %s made lead %s", form.id, lead_id)
    return _answer(201, {"ok": True, "lead_id": lead_id, "repeat": repeat})
