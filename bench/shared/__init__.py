"""What more than one benchmark needs: where things are and what child processes get
(``basics``), a PostgreSQL schema of a run's own (``schema``), reading /proc (``procfs``), and
CPU accounting with the wait for an idle machine (``cpu``)."""
