"""Background work: RQ jobs and the SMS providers they call.

Workers depend on ``storage`` only (never on ``gateway``). The outbox sender, reminders and
broadcasts arrive with the messaging issue; until then the USSD journeys only *record* what must
be sent (outbox rows and subscriptions, written in the same transaction as their cause), so
nothing is lost while there is no sender.
"""
