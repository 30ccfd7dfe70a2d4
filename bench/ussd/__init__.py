"""The parts of the USSD benchmarks (``bench/ussd_load.py``, ``bench/hop_profile.py``), in the
order a run uses them: ``population`` (the database and its callers), ``journeys`` (what each
caller keys in), ``plan_files`` (the journeys as the load generators read them), ``servers``
(gunicorn), ``runs`` (one load generator's result), ``generators`` (wrk and the open loop),
``rounds`` (warm-up, alternating rounds, light load), ``recovery`` (a Redis restart under
load), ``summary`` (rounds merged, the verdict) and ``report`` (tables and JSON)."""
