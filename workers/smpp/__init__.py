"""SMPP 3.4 to an Indonesian aggregator (issue 14), through ``smpplib``.

One process holds the bind (``flask --app gateway smpp``, the Procfile's ``smpp:``): ``bind.py``.
Workers hand it what to submit through Redis (``handoff.py``; why in docs/decisions.md,
"SMPP: the bind process and the workers") and record its answers in the outbox as they do for
any provider. ``encoding.py`` turns a text into submit_sm fields (GSM 03.38 or UCS-2, split as
the console counts it); ``receipts.py`` reads delivery receipts; ``status.py`` maps
submit_sm_resp command statuses to sent / slow down / failed.
"""
