"""The parts of the broadcast benchmark (``bench/broadcast.py``): ``stage`` (the schema,
Redis, the fake provider and fresh workers for each scenario, CPU by role), ``processes`` (the
fake provider and the RQ workers as processes), ``memory`` (peak RSS by role), ``planner``
(the process that publishes the visit and enqueues the jobs), ``scenarios`` (A, B, C) and
``results`` (the table, the verdict, JSON)."""
