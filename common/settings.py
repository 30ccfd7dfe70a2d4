"""Settings shared by every part: the web app, the workers, the operator CLI.

Sources, later wins: these defaults, the TOML file named by ``GATEWAY_CONFIG``, then the
environment for secrets and the Procfile convention. Keys are flat and upper-case, as Flask keeps
them; ``config.example.toml`` documents each one.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

DEFAULTS: dict[str, Any] = {
    # Storage and queue. Empty: the embedded default (SQLite in the instance folder,
    # in-process session store and jobs, no Redis).
    "DATABASE_URL": "",
    "REDIS_URL": "",
    # Connections: short timeouts so that while Redis or the database is down a caller gets
    # the polite END at once instead of waiting; pools that give back what they hand out.
    "REDIS_SOCKET_TIMEOUT_SECONDS": 0.5,  # a reply on the LAN takes well under a millisecond
    "REDIS_CONNECT_TIMEOUT_SECONDS": 0.25,
    "REDIS_HEALTH_CHECK_SECONDS": 10,  # a connection idle this long is PINGed before use
    "REDIS_MAX_CONNECTIONS": 100,  # per process
    "DATABASE_POOL_SIZE": 5,  # connections kept open per process and pool (it has two)
    "DATABASE_MAX_OVERFLOW": 10,  # more opened under a burst, closed when given back
    "DATABASE_POOL_TIMEOUT_SECONDS": 1.0,  # wait for a free connection, then fail the request
    "DATABASE_CONNECT_TIMEOUT_SECONDS": 2,  # PostgreSQL only; libpq's smallest useful value
    "OUTAGE_LOG_SECONDS": 10,  # while a dependency is down: one log line per interval
    # USSD
    "USSD_SERVICE_CODE": "*123#",
    "USSD_RESUME_MINUTES": 10,  # a dropped session can be resumed this long
    "USSD_PROFILE_CACHE_DAYS": 7,  # how long a caller's language/village stay cached
    "LOOKUP_FAILURES_PER_HOUR": 5,  # enumeration guard on request-number look-ups
    # Wrong birth years one request number takes per local day, from whatever phones, before
    # it answers no more look-ups from phones other than the applicant's until the next day
    # (its applicant is told once by SMS).
    "LOOKUP_WRONG_YEARS_PER_NUMBER": 3,
    "SESSION_LOG_FLUSH_SECONDS": 5,  # each web process writes a batch of the session log
    # SMS: provider
    "SMS_PROVIDER": "console",  # console (logs and marks sent) | africastalking | smpp | android
    "AT_USERNAME": "",
    "AT_API_KEY": "",
    "AT_SENDER_ID": "",  # alphanumeric sender id or short code; empty: the account default
    "AT_BASE_URL": "",  # empty: the SDK's own; set for a proxy or the test server
    # SMPP 3.4 to an aggregator (SMS_PROVIDER = "smpp"): one process holds the bind
    # (`flask --app gateway smpp`); workers hand it their send calls through Redis.
    "SMPP_HOST": "",
    "SMPP_PORT": 2775,
    "SMPP_SYSTEM_ID": "",
    "SMPP_PASSWORD": "",  # from the environment
    "SMPP_SYSTEM_TYPE": "",
    "SMPP_SOURCE_ADDR": "",  # the registered sender name, or a number
    "SMPP_SOURCE_TON": 5,  # 5: alphanumeric (a sender name); 1: international number
    "SMPP_SOURCE_NPI": 0,  # 0 with TON 5; 1 (ISDN) with a number
    "SMPP_WINDOW": 10,  # submit_sm without their submit_sm_resp, at most
    "SMPP_RATE_PER_SECOND": 0,  # submit_sm per second (the aggregator's limit); 0: none
    "SMPP_ENQUIRE_LINK_SECONDS": 30,  # keep-alive on an idle bind
    "SMPP_SPLIT": "udh",  # long texts: "udh" (concatenated parts) or "payload" (message_payload)
    "SMPP_GSM_PACKED": False,  # GSM 03.38 packed 7-bit (some SMSCs want it; most do not)
    "SMPP_RECIPIENTS_PER_CALL": 500,  # recipients a worker hands the bind at once
    "SMPP_SUBMIT_TIMEOUT_SECONDS": 60,  # a worker waits this (plus the rate's time) for answers
    "SMPP_REBIND_MIN_SECONDS": 1,  # back-off between binds after a drop: doubles up to the max
    "SMPP_REBIND_MAX_SECONDS": 60,
    "SMPP_RECEIPT_IDS_DECIMAL": False,  # receipts' text ids in decimal, submit_sm_resp's in hex
    # An office Android phone running "SMS Gateway for Android" (SMS_PROVIDER = "android", or
    # a route's provider): local-server mode is the phone's address in the office LAN
    # (http://192.168.1.20:8080), cloud mode https://api.sms-gate.app/3rdparty/v1.
    "ANDROID_BASE_URL": "",
    "ANDROID_USERNAME": "",  # from the environment: the app's user name
    "ANDROID_PASSWORD": "",  # from the environment
    "ANDROID_SIGNING_KEY": "",  # from the environment: the app's webhook signing key
    "ANDROID_RATE_PER_MINUTE": 20,  # what the SIM may send (carriers limit a SIM); 0: no limit
    # Routing (workers/routing.py): an ordered list of providers per destination prefix, e.g.
    # [{ prefix = "+62", providers = ["smpp", "android"] }, { providers = ["africastalking"] }].
    # Empty: SMS_PROVIDER for every number.
    "SMS_ROUTES": [],
    "SMS_FAILOVER_AFTER_SECONDS": 120,  # failing this long without a success: the next provider
    "SMS_FAILOVER_PROBE_SECONDS": 30,  # then one call this often tries the failed one again
    # Voice (issue 13): a missed call to VOICE_NUMBER gets a free call back speaking the menus.
    "VOICE_NUMBER": "",  # the Africa's Talking voice number (+E.164) we call back from
    # What an inbound call gets: "callback" (rejected at no cost, then called back), "answer"
    # (the menus at once, at the caller's cost), "sms" (rejected, the help text by SMS), "off".
    "VOICE_INBOUND": "callback",
    "VOICE_PROVIDER": "console",  # console (logs the call; the simulator plays it) | africastalking
    "AT_VOICE_BASE_URL": "",  # empty: the SDK's voice host; set for a proxy or the test server
    "PUBLIC_BASE_URL": "",  # e.g. https://adminduk.example.id: prompt URLs Africa's Talking fetches
    "VOICE_CALLBACKS_PER_DAY": 3,  # call-backs to one number per local day, at most
    "VOICE_RETRY_MINUTES": 5,  # a call-back not answered is tried once more after this
    "VOICE_DIGIT_TIMEOUT_SECONDS": 10,  # silence on a prompt this long: repeated once, then bye
    "VOICE_STUCK_AFTER_MINUTES": 15,  # a placed call with no word from the provider: not answered
    "VOICE_RENDER_BUDGET_SECONDS": 0.8,  # a hop waits at most this for missing audio
    "VOICE_AUDIO_DIR": "",  # empty: voice/ in the instance folder (rendered prompts, by hash)
    "ESPEAK_COMMAND": "espeak-ng",
    "SOX_COMMAND": "sox",
    # SMS: sending
    "SMS_BATCH_SIZE": 500,  # messages per send job
    "SMS_MAX_RECIPIENTS_PER_CALL": 100,  # per provider request (same text), unless it has its own
    "SMS_RATE_PER_SECOND": 0,  # shared by all workers; 0: no throttle
    "SMS_MAX_ATTEMPTS": 5,  # then a message is failed, with its last error kept
    "SMS_RETRY_INTERVALS": [10, 60, 300],  # seconds between retries of a failed send job
    "SMS_QUIET_HOURS": ["21:00", "07:00"],  # WITA; non-urgent messages wait; [] to disable
    "SMS_STUCK_AFTER_SECONDS": 300,  # a message 'sending' this long is taken back (worker died)
    "SMS_REQUEUE_AFTER_SECONDS": 600,  # queued, enqueued, still not sent: enqueue again
    "SWEEP_INTERVAL_SECONDS": 30,
    # A delivery report for an id no message of ours has is kept this long (its send call may
    # still be returning), then dropped by the sweep and counted in /metrics.
    "DELIVERY_REPORTS_UNMATCHED_MINUTES": 60,
    "SMS_PRICE_PER_SEGMENT": 350,  # for cost estimates shown to staff
    "SMS_CURRENCY": "IDR",
    # SMS: reminders, conversations, loop guard
    "REMINDER_DAYS_BEFORE": [3, 1],
    "REMINDER_HOUR": 7,  # WITA
    "SMS_CONVERSATION_MINUTES": 30,
    "SMS_LOOP_GUARD": "5/10 minutes",  # more inbound than this from one number: stop replying
    "SMS_REPLIES_PER_HOUR": 30,  # automatic replies to one number, whatever it texts
    "RQ_QUEUE": "outbox",
    # Without REDIS_URL: run send jobs and the sweep in a thread of the web process.
    "RUN_JOBS_IN_PROCESS": True,
    # Staff log-ins (gateway/console/throttle.py): failed log-ins over a moving window.
    "LOGIN_FAILURE_MINUTES": 15,
    "LOGIN_FAILURES_PER_USER": 5,  # a user name from one address
    "LOGIN_FAILURES_PER_ADDRESS": 30,  # an address, whatever the names (an office router)
    "LOGIN_FAILURES_PER_USER_ALL": 50,  # a user name from all addresses together
    # Webhook authentication (docs/product.md): a shared secret and/or a source-IP allow-list.
    "WEBHOOK_TOKEN": "",
    "WEBHOOK_ALLOWED_IPS": [],
    # The proxies whose X-Forwarded-For/-Proto are believed: networks, and "unix" for a peer
    # on a unix socket (nginx in front of gunicorn's socket: ["unix"]). Empty: nobody's.
    "TRUSTED_PROXIES": [],
    # The phone simulator: "auto" (open on the embedded default, staff-only with Redis), or
    # true/false.
    "SIMULATOR_PUBLIC": "auto",
    # Outside the embedded default the simulator may only play these numbers (the office's own
    # test SIMs), so nobody can read a resident's SMS or act as a resident through it. None by
    # default: a made-up number may belong to a real subscriber.
    "SIMULATOR_NUMBERS": [],
    # The office residents are sent to (common/office.py): shown by "Hubungi kantor" (USSD),
    # BANTUAN (SMS), the priority screen and "ready for collection". A text residents read is a
    # string, or a table by language ({"id": ..., "en": ...}).
    "OFFICE_NAME": "Disdukcapil Kab. Buleleng",
    "OFFICE_ADDRESS": "Kantor Disdukcapil, Singaraja",
    "OFFICE_PHONE": "(0362) 000000",
    "OFFICE_HOURS": {"id": "Sen-Jum 08.00-15.00", "en": "Mon-Fri 08:00-15:00"},
    "PRIORITY_COUNTER": {"id": "loket 1 dekat pintu masuk", "en": "desk 1 by the entrance"},
    # When a resident who asked to be called back hears from staff (the SMS and the screen).
    "CALLBACK_PROMISE": {"id": "dalam 1 hari kerja", "en": "within 1 working day"},
    # What to bring to collect a ready document, by document type (storage/vocab.py DOC_TYPES).
    "PICKUP_BRING": {
        "ktp": {"id": "tanda terima, KTP lama", "en": "receipt, old ID card"},
        "kk": {"id": "tanda terima, KK lama", "en": "receipt, old family card"},
        "birth_cert": {"id": "tanda terima, KK", "en": "receipt, family card"},
        "death_cert": {"id": "tanda terima, KK", "en": "receipt, family card"},
        "kia": {"id": "tanda terima, KK", "en": "receipt, family card"},
        "move": {"id": "tanda terima, KTP-el", "en": "receipt, ID card"},
    },
    # Si Melik: forms and documents reach the village office this many days before the visit.
    "VISIT_FORMS_DAYS_BEFORE": 2,
    # Flask
    "SECRET_KEY": "",
    "MAX_CONTENT_LENGTH": 64 * 1024,  # no webhook body is anywhere near this
}

# Environment variables that override the file (secrets and the Procfile convention).
ENV_OVERRIDES = (
    "DATABASE_URL",
    "REDIS_URL",
    "WEBHOOK_TOKEN",
    "SECRET_KEY",
    "AT_USERNAME",
    "AT_API_KEY",
    "SMPP_PASSWORD",
    "ANDROID_USERNAME",
    "ANDROID_PASSWORD",
    "ANDROID_SIGNING_KEY",
    "PUBLIC_BASE_URL",
)


def load_settings(test_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults, then ``test_config`` if given, else the GATEWAY_CONFIG file and environment."""
    settings = dict(DEFAULTS)
    if test_config is not None:
        settings.update(test_config)
        return settings
    path = os.environ.get("GATEWAY_CONFIG")
    if path:
        with Path(path).open("rb") as f:
            settings.update(tomllib.load(f))
    for name in ENV_OVERRIDES:
        if os.environ.get(name):
            settings[name] = os.environ[name]
    return settings


def default_sqlite_url(folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'gateway.sqlite3'}"
