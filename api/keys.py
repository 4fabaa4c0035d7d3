"""Typed application keys (``web.AppKey``) for what the ingress holds for its lifetime."""

from __future__ import annotations

import redis.asyncio as aioredis
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from api.auth import Authenticator
from infra.config import Settings
from infra.redis.cursor_secret import CursorKey
from infra.redis.dispatcher import CommandDispatcher

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
REDIS = web.AppKey("redis", aioredis.Redis)
DISPATCHER = web.AppKey("dispatcher", CommandDispatcher)
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
CURSOR_KEY = web.AppKey("cursor_key", CursorKey)
