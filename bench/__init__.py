"""The benchmarks. The programs, each with ``--help`` (method and figures: docs/benchmarks*.md):

- ``ussd_load.py``: whole USSD caller journeys against the gateway under gunicorn, beside a bare
  Flask endpoint and a one-Redis-round-trip reference under the same gunicorn (``make bench``);
  its parts are in ``ussd/``;
- ``broadcast.py``: a village visit published to 100,000 residents and sent through real RQ
  workers to a fake Africa's Talking; its parts are in ``sms_broadcast/``;
- ``hop_profile.py``: the USSD journeys played straight into the WSGI app, CPU per hop.

Run by those: ``open_loop.py`` (the fixed-rate load generator), ``ussd_load.lua`` (wrk's
script), ``bare_app.py`` and ``floor_app.py`` (the two reference servers). What more than one
benchmark needs (the environment of child processes, a schema of their own, /proc, CPU
accounting) is in ``shared/``; the test suite's ``tests/live_servers.py`` gives the
``redis-server`` of their own and the RQ worker processes.
"""
