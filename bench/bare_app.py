"""The baseline for ``bench/ussd_load.py``: the cheapest Flask app that answers the USSD webhook.

``POST /ussd`` returns a constant ``CON`` main menu as ``text/plain`` without reading the form,
so serving it costs only gunicorn, WSGI and Flask routing. The benchmark runs it under exactly
the same gunicorn settings as the gateway; the ratio of the two throughputs is what the app's
own work (session store, flow engine, database) costs per hop.

Run it by hand with: ``gunicorn --pythonpath bench bare_app:app``.
"""

from __future__ import annotations

from flask import Flask, Response

# The real main menu (flows/catalogs/id.toml), so both servers send replies of the same size.
MENU = (
    "CON Adminduk Buleleng\n1 Cek status\n2 Minta petugas ke rumah\n"
    "3 Jadwal petugas ke desa\n4 Layanan prioritas\n5 Bahasa/Language\n6 Hubungi kantor"
)

app = Flask(__name__)


@app.post("/ussd")
def ussd() -> Response:
    return Response(MENU, mimetype="text/plain")


@app.get("/healthz")
def healthz() -> Response:
    """Readiness probe, the same path the gateway answers."""
    return Response("ok\n", mimetype="text/plain")
