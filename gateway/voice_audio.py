"""Every sentence a voice call says, as an audio file we serve (issue 13): Africa's Talking's
``Say`` speaks English only, so Indonesian is synthesized here with ``espeak-ng`` and played.

A sentence is rendered once, to ``VOICE_AUDIO_DIR/<hash>.wav`` (8 kHz mono 16-bit PCM,
telephone quality), where the hash covers the language's voice, the synthesizer settings and
the text; it is served from ``/voice/audio/<hash>.wav`` and cached by anyone for a year (the
name changes when the content does). ``flask --app gateway voice render`` renders every fixed
sentence and every district and village name ahead; a hop that finds a sentence missing waits
at most VOICE_RENDER_BUDGET_SECONDS for it, and past that Africa's Talking's ``Say`` stands in
while the rendering finishes for the next caller.

A prompt staff recorded (the console's prompts page) wins over the synthesizer: the upload is
converted and level-normalised with ``sox``, kept under the hash of its own content, and
``recorded/<prompt key>`` names it (the key: a hash of the language and the sentence).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

RENDER_VERSION = "1"  # change it when the settings below change: every file renders anew
SPEED_WPM = 140  # a little slower than espeak's default: older listeners, phone lines
SAMPLE_RATE = 8000
HASH = re.compile(r"^[0-9a-f]{32}$")
MAX_SENTENCE = 600
RENDER_TIMEOUT_SECONDS = 20


class AudioError(RuntimeError):
    """The synthesizer is missing or failed."""


class PromptAudio:
    def __init__(
        self,
        folder: Path,
        voices: Mapping[str, str],
        *,
        espeak: str = "espeak-ng",
        sox: str = "sox",
        budget_seconds: float = 0.8,
    ) -> None:
        self.folder = folder
        self.voices = dict(voices)  # language code → espeak-ng voice
        self.espeak = espeak
        self.sox = sox
        self.budget = budget_seconds
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="voice-render")
        self._rendering: dict[str, Future[Path]] = {}
        self._lock = threading.Lock()

    # Names

    def name(self, language: str, text: str) -> str:
        voice = self.voices.get(language, language)
        seed = f"{RENDER_VERSION}|{voice}|{SPEED_WPM}|{SAMPLE_RATE}|{text}"
        return hashlib.sha256(seed.encode()).hexdigest()[:32]

    def path(self, name: str) -> Path | None:
        """The file of ``name`` if it is a name of ours and rendered; None otherwise."""
        if not HASH.match(name):
            return None
        path = self.folder / f"{name}.wav"
        return path if path.is_file() else None

    @staticmethod
    def prompt_key(language: str, text: str) -> str:
        return hashlib.sha256(f"{language}|{text}".encode()).hexdigest()[:32]

    def recorded(self, language: str, text: str) -> str | None:
        """The file name of the staff recording of this sentence, if there is one."""
        try:
            name = (self.folder / "recorded" / self.prompt_key(language, text)).read_text().strip()
        except OSError:
            return None
        return name if self.path(name) is not None else None

    def record(self, language: str, text: str, upload: bytes, suffix: str) -> str:
        """Make ``upload`` (a phone's WAV, OGG, AMR, FLAC — MP3 if sox reads it) the audio of
        this sentence: telephone quality, level brought up to just under full scale."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "recorded").mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.folder, prefix=".record-") as tmp:
            source, out = Path(tmp) / f"upload{suffix}", Path(tmp) / "out.wav"
            source.write_bytes(upload)
            self._to_telephone(source, out)
            name = hashlib.sha256(out.read_bytes()).hexdigest()[:32]
            text_file = Path(tmp) / "text.txt"
            text_file.write_text(f"{language}\n{text}\n", encoding="utf-8")
            os.replace(text_file, self.folder / f"{name}.txt")
            os.replace(out, self.folder / f"{name}.wav")
            pointer = Path(tmp) / "pointer"
            pointer.write_text(name)
            os.replace(pointer, self.folder / "recorded" / self.prompt_key(language, text))
        return name

    def forget_recording(self, language: str, text: str) -> bool:
        """Back to the synthesizer's voice for this sentence."""
        try:
            (self.folder / "recorded" / self.prompt_key(language, text)).unlink()
        except FileNotFoundError:
            return False
        return True

    # Rendering

    def ready(self, language: str, sentences: Iterable[str]) -> dict[str, str | None]:
        """Each sentence's file name (a staff recording, else the synthesizer's), rendering
        what is missing; a sentence still rendering when the budget runs out maps to None
        (the hop says it with ``Say`` instead)."""
        names: dict[str, str | None] = {}
        waiting: dict[str, Future[Path]] = {}
        for sentence in sentences:
            recording = self.recorded(language, sentence)
            if recording is not None:
                names[sentence] = recording
                continue
            name = self.name(language, sentence)
            if (self.folder / f"{name}.wav").is_file():
                names[sentence] = name
            else:
                waiting[sentence] = self._submit(language, sentence, name)
        if waiting:
            wait(waiting.values(), timeout=self.budget)
            for sentence, future in waiting.items():
                ok = future.done() and future.exception() is None
                names[sentence] = self.name(language, sentence) if ok else None
        return names

    def _submit(self, language: str, sentence: str, name: str) -> Future[Path]:
        with self._lock:
            future = self._rendering.get(name)
            if future is None or (future.done() and future.exception() is not None):
                future = self._pool.submit(self.render, language, sentence)
                self._rendering[name] = future
                future.add_done_callback(lambda _f: self._forget(name))
            return future

    def _forget(self, name: str) -> None:
        with self._lock:
            self._rendering.pop(name, None)

    def render(self, language: str, text: str) -> Path:
        """Synthesize ``text`` (if not done already) and return its file."""
        name = self.name(language, text)
        target = self.folder / f"{name}.wav"
        if target.is_file():
            return target
        if not text.strip() or len(text) > MAX_SENTENCE:
            raise AudioError("nothing to say, or too much for one prompt")
        self.folder.mkdir(parents=True, exist_ok=True)
        voice = self.voices.get(language, language)
        with tempfile.TemporaryDirectory(dir=self.folder, prefix=".render-") as tmp:
            raw, out = Path(tmp) / "raw.wav", Path(tmp) / "out.wav"
            self._run(
                [self.espeak, "-v", voice, "-s", str(SPEED_WPM), "-w", str(raw), "--stdin"],
                text,
            )
            if shutil.which(self.sox):
                # telephone quality, and the level brought up to just under full scale
                self._to_telephone(raw, out)
            else:
                out = raw  # espeak-ng's own 22 kHz: larger, played all the same
            # What it says, beside it: for staff (which prompt is this?) and tests.
            text_file = Path(tmp) / "text.txt"
            text_file.write_text(f"{language}\n{text}\n", encoding="utf-8")
            os.replace(text_file, self.folder / f"{name}.txt")
            os.replace(out, target)  # whole or not at all: never half a file served
        return target

    def text_of(self, name: str) -> tuple[str, str] | None:
        """The language and sentence a rendered file says, if known."""
        if not HASH.match(name):
            return None
        try:
            language, text = (
                (self.folder / f"{name}.txt").read_text(encoding="utf-8").split("\n", 1)
            )
        except (OSError, ValueError):
            return None
        return language, text.rstrip("\n")

    def _to_telephone(self, source: Path, out: Path) -> None:
        """Any audio sox reads as 8 kHz mono 16-bit WAV, normalised to -1 dBFS."""
        command = [self.sox, str(source), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16"]
        self._run([*command, str(out), "gain", "-n", "-1"], None)

    def _run(self, command: list[str], text: str | None) -> None:
        try:
            subprocess.run(
                command,
                input=text.encode() if text is not None else None,
                check=True,
                capture_output=True,
                timeout=RENDER_TIMEOUT_SECONDS,
            )
        except FileNotFoundError as error:
            missing = command[0]
            raise AudioError(f"{missing} is not installed (apt-get install {missing})") from error
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            stderr = getattr(error, "stderr", b"") or b""
            raise AudioError(f"{command[0]} failed: {stderr[:200]!r}") from error

    def in_background(self, work: Callable[[], Any]) -> None:
        """Run ``work`` on the rendering threads (a failure is logged, not raised)."""

        def run() -> None:
            try:
                work()
            except Exception:
                log.exception("rendering voice prompts ahead failed")

        self._pool.submit(run)

    def close(self, wait: bool = False) -> None:
        """Stop rendering (``wait``: for what is running to finish)."""
        self._pool.shutdown(wait=wait, cancel_futures=True)


def voices_of(catalogs: Mapping[str, Any]) -> dict[str, str]:
    """The espeak-ng voice of each language: its catalog's locale ("id", "en"); a language
    espeak-ng does not know (Basa Bali) is recorded by staff instead."""
    return {code: str(catalog.locale) for code, catalog in catalogs.items()}
