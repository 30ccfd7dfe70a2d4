"""The Flask application: the webhooks machines call, the staff console, the simulator, health
and metrics, and the operator CLI — each part plugged in by its ``init_app``.

``create_app()`` reads the TOML file named by ``GATEWAY_CONFIG``, then ``DATABASE_URL`` and
``REDIS_URL`` from the environment. With neither it runs on the embedded default: SQLite in the
instance folder and an in-process session store — no Redis, nothing to install.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from gateway.config import load_config
from gateway.proxies import ProxyHeaders, parse_trusted_proxies
from gateway.runtime import Runtime
from storage.outages import outages

log = logging.getLogger(__name__)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    if not logging.getLogger().handlers:  # gunicorn, pytest, or a host may have set it up
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        logging.getLogger("alembic").setLevel(logging.WARNING)
    app = Flask(__name__, instance_relative_config=True)
    load_config(app, test_config)

    from gateway.webhooks.auth import check_auth_config

    check_auth_config(list(app.config["WEBHOOK_ALLOWED_IPS"]))
    # The caller's address and scheme: from X-Forwarded-* only when the peer is a proxy we were
    # told to believe (gateway/proxies.py); everyone else's forwarding headers are dropped.
    trusted = parse_trusted_proxies(app.config["TRUSTED_PROXIES"])
    app.wsgi_app = ProxyHeaders(app.wsgi_app, trusted)  # type: ignore[method-assign]

    app.extensions["gateway"] = Runtime(app.config)

    from gateway import cli, console, headers, health, metrics, simulator, webhooks

    @app.errorhandler(HTTPException)
    def plain_http_error(error: HTTPException) -> Response:
        """Machines call this app: answer routing errors (404, 405) with one plain line.
        People's pages (console, simulator) answer in the console's layout."""
        if console.for_people(request.path):
            return console.error_page(error)
        return Response(f"{error.name}\n", status=error.code or 500, mimetype="text/plain")

    @app.errorhandler(Exception)
    def plain_failure(error: Exception) -> Response:
        """Anything unexpected outside the USSD hop (which answers the phone itself): logged,
        and one plain line — never a stack trace to a caller."""
        if isinstance(error, HTTPException):
            return plain_http_error(error)
        if not outages.failed(error):  # Redis or the database down: counted, not a traceback
            log.exception("request failed")
        if console.for_people(request.path):
            return console.unavailable_page()
        return Response("temporarily unavailable, try again\n", status=503, mimetype="text/plain")

    app.register_blueprint(health.bp)
    app.register_blueprint(simulator.bp)
    metrics.init_app(app)
    headers.init_app(app)  # CSP, frame-ancestors, nosniff, Referrer-Policy on every response
    webhooks.init_app(app)  # (its WSGI wrapper goes around the metrics timer)
    console.init_app(app)
    for blueprint in webhooks.BLUEPRINTS:  # machines authenticate with the webhook token
        console.csrf.exempt(blueprint)
    cli.init_app(app)
    from gateway import body_limit

    body_limit.init_app(app)  # outermost: a chunked body over the limit is refused first
    return app
