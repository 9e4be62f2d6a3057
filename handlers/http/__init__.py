"""HTTP entrances (web forms, the REST API): aiohttp routes that call the same crm_core services
as the bot's routers. The composition root (bot/) builds the aiohttp application, serves it and
calls `setup_routes`; each entrance module adds its routes in its own `setup(app)`."""

from __future__ import annotations

import importlib

from aiohttp import web

from crm_core.db import Database
from handlers.context import HandlerOptions

DB_KEY = web.AppKey("crm_db", Database)
OPTIONS_KEY = web.AppKey("crm_options", HandlerOptions)

# One line per entrance module of this package; each has `setup(app: web.Application) -> None`.
HTTP_MODULES: tuple[str, ...] = ("forms", "rest")


def setup_routes(app: web.Application, db: Database, options: HandlerOptions) -> None:
    app[DB_KEY] = db
    app[OPTIONS_KEY] = options
    for name in HTTP_MODULES:
        importlib.import_module(f"{__name__}.{name}").setup(app)
