"""A voice hop's time with its audio cached, and the cost of rendering ahead (issue 13).

On the embedded default (SQLite in a temporary folder, in-process store, the console voice
provider), in-process through the Flask test client: ``voice render`` from cold and again
(nothing to do), then N callers each missing a call, being called back and walking
3 → 0 → 4 → 1 → * by keypad; every hop's wall time (the first 10 hops are warm-up). Then one
sentence no one has rendered yet, as a hop would render it.

Usage: ``.venv/bin/python bench/voice_hop.py [--callers N]`` (needs espeak-ng and sox).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the code next to this script

from sqlalchemy import select

from gateway import create_app
from gateway.runtime import runtime
from storage import migrate
from storage.models import VoiceCall
from storage.regions import import_regions

NUMBER = "+62361000100"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--callers", type=int, default=60)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="voice-bench-"))
    audio = folder / "audio"
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{folder / 'gateway.sqlite3'}",
            "RUN_JOBS_IN_PROCESS": False,
            "VOICE_AUDIO_DIR": str(audio),
            "SMS_QUIET_HOURS": [],
            "VOICE_NUMBER": NUMBER,
            "PUBLIC_BASE_URL": "https://gateway.example",
            "VOICE_CALLBACKS_PER_DAY": 1000,
        }
    )
    rt = runtime(app)
    migrate.upgrade(rt.db.engine)
    with rt.db.begin() as session:
        import_regions(session)
    runner = app.test_cli_runner()
    started = time.perf_counter()
    print("voice render (cold):", runner.invoke(args=["voice", "render"]).output.strip())
    print(f"  wall {time.perf_counter() - started:.1f} s")
    print("voice render (again):", runner.invoke(args=["voice", "render"]).output.strip())
    files = list(audio.glob("*.wav"))
    print(f"cache: {len(files)} files, {sum(f.stat().st_size for f in files) / 1e6:.1f} MB")

    client = app.test_client()
    times: list[float] = []
    for i in range(args.callers):
        phone = f"+628129999{i:04d}"
        client.post(
            "/voice",
            data={
                "isActive": 1,
                "sessionId": f"in-{i}",
                "direction": "Inbound",
                "callerNumber": phone,
                "destinationNumber": NUMBER,
            },
        )
        rt.worker.voice.run()
        with rt.db.begin() as session:
            sid = session.scalars(
                select(VoiceCall.session_id).where(VoiceCall.phone == phone)
            ).one()
        base = {
            "isActive": 1,
            "sessionId": sid,
            "direction": "Outbound",
            "callerNumber": NUMBER,
            "destinationNumber": phone,
        }
        for keys in ("", "3", "0", "4", "1", "*"):
            data = {**base, **({"dtmfDigits": keys} if keys else {})}
            t = time.perf_counter()
            reply = client.post("/voice", data=data)
            times.append(time.perf_counter() - t)
            assert reply.status_code == 200 and b"<Say>" not in reply.data, reply.data
    ms = sorted(t * 1000 for t in times[10:])
    print(
        f"hops with cached audio: {len(ms)}, median {statistics.median(ms):.1f} ms, "
        f"p95 {ms[int(len(ms) * 0.95)]:.1f} ms, max {ms[-1]:.1f} ms"
    )
    t = time.perf_counter()
    rt.voice_audio.ready("id", [f"Kalimat baru untuk mengukur, nomor {time.time_ns()}."])
    print(f"one sentence rendered during a hop: {(time.perf_counter() - t) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
