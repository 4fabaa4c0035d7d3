"""The dashboard's HTML: the sign-in form, the page shell and error pages (no inline script).

Everything variable is HTML-escaped; the page's data comes from ``/dashboard/api/…`` and the event
stream, read by ``static/dashboard.js``. No token ever appears in a page.
"""

from __future__ import annotations

from html import escape

from aiohttp import web

from domain.viewers import Viewer

STATIC = "/dashboard/static"


def _document(title: str, body: str, *, scripts: tuple[str, ...] = ()) -> str:
    tags = "".join(f'<script type="module" src="{STATIC}/{name}"></script>' for name in scripts)
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{escape(title)} · scimgate</title><link rel=\"icon\" href=\"data:,\">"
        f'<link rel="stylesheet" href="{STATIC}/vendor/uPlot.min.css">'
        f'<link rel="stylesheet" href="{STATIC}/dashboard.css">{tags}</head>'
        f"<body>{body}</body></html>"
    )


def html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def signin_page(csrf: str, error: str | None = None, status: int = 200) -> web.Response:
    alert = f'<p class="alert" role="alert">{escape(error)}</p>' if error else ""
    body = f"""
<main class="signin">
  <h1><span class="brand">scimgate</span> ops dashboard</h1>
  <p class="muted">Sign in with an operator token (every organization) or an organization's API token
  (that organization only). The token is checked once and never stored: your session is a random id.</p>
  {alert}
  <form method="post" action="/dashboard/signin" autocomplete="off">
    <input type="hidden" name="csrf" value="{escape(csrf)}">
    <label for="token">Token</label>
    <input id="token" name="token" type="password" required maxlength="512" autofocus spellcheck="false"
      autocomplete="off">
    <button type="submit">Sign in</button>
  </form>
</main>"""
    return html(_document("Sign in", body), status)


def dashboard_page(viewer: Viewer, csrf: str) -> web.Response:
    if viewer.is_operator:
        who = f"Operator <strong>{escape(viewer.name)}</strong> · every organization"
    else:
        who = (f"Organization <strong>{escape(viewer.name)}</strong> · {escape(viewer.role)} token · "
               "this organization only")
    scope = "operator" if viewer.is_operator else "organization"
    body = f"""
<header class="top">
  <h1><span class="brand">scimgate</span> ops</h1>
  <span id="live" class="live off" title="Live updates">connecting…</span>
  <span class="who">{who}</span>
  <form method="post" action="/dashboard/signout" class="signout">
    <input type="hidden" name="csrf" value="{escape(csrf)}">
    <button type="submit">Sign out</button>
  </form>
</header>
<main id="app" data-scope="{scope}" data-org="{escape(viewer.org_id or '')}">
  <section class="tiles" id="tiles"></section>
  <section class="row">
    <div class="card wide"><h2>Writes and errors per minute <small>last hour</small></h2><div id="chart"></div></div>
    <div class="card"><h2>By IdP <small>last hour</small></h2><div id="idps" class="bars"></div>
      <h2 class="scope-operator">Busiest organizations <small>last hour</small></h2>
      <div id="busy" class="bars scope-operator"></div></div>
  </section>
  <section class="card"><h2>Organization health <small>last 24 h, from the provisioning log</small></h2>
    <table id="health"><thead><tr><th>State</th><th>Organization</th><th>Last IdP contact</th>
    <th>Requests 24 h</th><th>Failed</th><th>Error rate</th><th>Why</th></tr></thead><tbody></tbody></table>
    <button id="health-more" class="link" hidden>More organizations</button></section>
  <section class="card"><h2>Latest events <small id="events-note">live</small></h2>
    <table id="events"><thead><tr><th>Time</th><th>Organization</th><th>IdP</th><th>Action</th><th>Outcome</th>
    <th>Resource</th><th>Request id</th></tr></thead><tbody></tbody></table></section>
  <section class="card"><h2>Search the provisioning log</h2>
    <form id="search" class="search">
      <input name="user" placeholder="user: id, userName or externalId">
      <input name="team" placeholder="team: id or name">
      <input name="action" placeholder="action (scim:user:create)">
      <select name="outcome"><option value="">any outcome</option><option>applied</option><option>unchanged</option>
        <option>rejected</option><option>expired</option><option>refused</option></select>
      <input name="idp" placeholder="IdP (okta, entra…)">
      <input name="request_id" placeholder="request id">
      <input name="since" placeholder="since (24h, 7d, ISO time)">
      <input name="until" placeholder="until (ISO time)">
      <input name="org" placeholder="organization id" class="scope-operator">
      <button type="submit">Search</button>
    </form>
    <p id="search-note" class="muted"></p>
    <table id="results"><thead><tr><th>Time</th><th>Organization</th><th>Action</th><th>Outcome</th>
    <th>Resource</th><th>Summary</th></tr></thead><tbody></tbody></table>
    <button id="results-more" class="link" hidden>Older entries</button>
  </section>
  <aside id="detail" class="detail" hidden><button id="detail-close" class="link">Close</button>
    <div id="detail-body"></div></aside>
</main>"""
    return html(_document("Dashboard", body, scripts=("dashboard.js",)))


def error_page(status: int, message: str) -> web.Response:
    body = f"""<main class="signin"><h1>{status}</h1><p>{escape(message)}</p>
<p><a href="/dashboard">Back to the dashboard</a></p></main>"""
    return html(_document(f"Error {status}", body), status)
