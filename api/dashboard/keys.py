"""Typed keys of the dashboard sub-application and of its requests."""

from __future__ import annotations

from aiohttp import web

from api.dashboard.live import LiveFeed
from domain.ratelimit import Buckets
from infra.redis.dashboard_sessions import DashboardSessions, Session

FEED = web.AppKey("dashboard_feed", LiveFeed)
SESSIONS = web.AppKey("dashboard_sessions", DashboardSessions)
SIGNIN_BUCKETS = web.AppKey("dashboard_signin_buckets", Buckets)
SESSION = web.RequestKey("dashboard_session", Session) if hasattr(web, "RequestKey") else "scimgate.dashboard.session"
