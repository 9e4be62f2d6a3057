"""A Bitrix24-compatible REST API (the subset integrations use), as inbound webhooks:
`/rest/<user_id>/<token>/<method>[.json]`, GET query strings or POST JSON / form bodies with
PHP-style brackets. A token belongs to a CRM user and acts with exactly that user's rights; each
token has a request rate (Bitrix24's leaky bucket) past which calls get 503 QUERY_LIMIT_EXCEEDED.

Modules: params (PHP-style parameters), protocol (response and error shapes), calls (registry, one
call), entities (crm.lead/deal/contact/company.*), meta (crm.status.list, crm.category.list,
profile), activities (crm.activity.*, crm.timeline.comment.add), batch, limiter."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from crm_core.services import rest_tokens
from handlers.http import DB_KEY, OPTIONS_KEY
from handlers.http.rest import activities, entities, meta  # noqa: F401 - they register their methods
from handlers.http.rest.batch import run_batch
from handlers.http.rest.calls import run_method
from handlers.http.rest.limiter import LIMITER_KEY, TokenLimiter
from handlers.http.rest.params import parse_json, parse_query, php_parse
from handlers.http.rest.protocol import (
    Clock,
    RestError,
    Result,
    bad_argument,
    invalid_credentials,
    method_not_found,
    no_auth,
    query_limit,
)

log = logging.getLogger(__name__)


def setup(app: web.Application) -> None:
    options = app[OPTIONS_KEY]
    if LIMITER_KEY not in app:  # the composition root may have set one shared by all processes
        app[LIMITER_KEY] = TokenLimiter(options.rest_rate_per_second, options.rest_burst)
    for path, handler in (
        ("/rest/{user_id}/{secret}/{method}", webhook),
        ("/rest/{method}", without_credentials),
    ):
        app.router.add_route("GET", path, handler)
        app.router.add_route("POST", path, handler)


def _answer(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


async def without_credentials(request: web.Request) -> web.Response:
    return _answer(no_auth().body(), no_auth().status)


async def _params(request: web.Request) -> dict[str, Any]:
    params = parse_query(request.query_string)
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            params.update(parse_json(await request.read()))
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            params.update(php_parse((k, v) for k, v in form.items() if isinstance(v, str)))
        else:
            body = await request.read()
            if body.strip():  # a JSON body sent without its content type (curl -d '{...}')
                params.update(parse_json(body))
    return params


async def webhook(request: web.Request) -> web.Response:
    clock = Clock()
    db = request.app[DB_KEY]
    options = request.app[OPTIONS_KEY]
    name = request.match_info["method"].strip().lower()
    if name.endswith(".json"):
        name = name[: -len(".json")]
    try:
        raw_user = request.match_info["user_id"]
        if not raw_user.isdigit() or len(raw_user) > 12:
            raise invalid_credentials()
        async with db.unit_of_work() as session:
            found = await rest_tokens.authenticate(session, int(raw_user), request.match_info["secret"])
        if found is None:
            raise invalid_credentials()
        token, user = found
        if not await request.app[LIMITER_KEY].allow(token.id):
            raise query_limit()
        if not name:
            raise method_not_found()
        try:
            params = await _params(request)
        except RestError:
            raise
        except Exception as exc:  # noqa: BLE001 - a body we cannot read is the caller's fault
            raise bad_argument(f"Cannot read the request: {exc}") from None

        async def run(method_name: str, method_params: dict[str, Any]) -> Result:
            return await run_method(db, user.id, method_name, method_params, options.phone_region)

        result = await (run_batch(params, run) if name == "batch" else run(name, params))
    except RestError as exc:
        return _answer(exc.body(), exc.status)
    except Exception:
        # Logged with its stack (a bug of ours); the caller gets Bitrix24's answer to it.
        log.exception("REST method %s failed", name)
        return _answer({"error": "INTERNAL_SERVER_ERROR", "error_description": "Internal server error"}, 500)
    body: dict[str, Any] = {"result": result.result}
    if result.next is not None:
        body["next"] = result.next
    if result.total is not None:
        body["total"] = result.total
    body["time"] = clock.block()
    return _answer(body)
