"""The password rule for console log-ins, the same in the console and ``flask users create``:
at least 12 characters, and not one that guessers try first.

"Tried first" means: in the bundled list of common passwords and words (common_passwords.txt:
the most used passwords worldwide and in Indonesia, and the words of this office and place),
one of them dressed up (capitals, digits or symbols before or after, 4 for a, 0 for o, a
word twice), a keyboard or counting run (123456789012, qwertyuiop12), a handful of
characters repeated, or the user's own name. A short list, not a cracking dictionary: it
stops the passwords an attacker guesses in the first few thousand tries, which is what the
log-in throttle leaves them.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

MIN_LENGTH = 12
TOO_SHORT = "A password of 12 characters or more."
TOO_COMMON = "That password is one that guessers try first: choose another."

RUNS = (
    "01234567890",
    "1234567890",
    "abcdefghijklmnopqrstuvwxyz",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "1qaz2wsx3edc4rfv5tgb",
    "qazwsxedcrfvtgbyhn",
    "1q2w3e4r5t6y7u8i9o0p",
    "q1w2e3r4t5y6u7i8o9p0",
)
LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
)


@functools.cache
def common_words() -> frozenset[str]:
    text = (resources.files("gateway") / "common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip().lower()
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    )


def _is_run(text: str) -> bool:
    """Part of a keyboard or counting run, forwards or backwards, possibly wrapping round."""
    if len(text) < 4:
        return False
    return any(text in run * 3 or text in run[::-1] * 3 for run in RUNS)


def _cores(password: str) -> set[str]:
    """The word under the dressing: lower case, digits and symbols around it dropped, then
    with look-alike digits read as letters; a word written twice counts once."""
    lower = password.lower()
    plain = re.sub(r"[^a-z0-9]", "", lower)
    cores = {lower, plain, re.sub(r"^[\W\d_]+|[\W\d_]+$", "", lower)}
    cores |= {core.translate(LEET) for core in set(cores)}
    cores |= {re.sub(r"[^a-z]", "", core) for core in set(cores)}
    for core in set(cores):
        half = len(core) // 2
        if half and core[:half] == core[half:]:
            cores.add(core[:half])
    return {core for core in cores if core}


def password_problem(password: str, username: str = "") -> str | None:
    """None for a good password, else the reason (an English console text)."""
    if len(password) < MIN_LENGTH:
        return TOO_SHORT
    lower = password.lower()
    plain = re.sub(r"[^a-z0-9]", "", lower)
    if len(set(lower)) < 5 or _is_run(plain) or _is_run(re.sub(r"\d+$", "", plain)):
        return TOO_COMMON
    name = re.sub(r"[^a-z0-9]", "", username.lower())
    if len(name) >= 3 and name in plain and len(plain.replace(name, "")) < 6:
        return TOO_COMMON
    words = common_words()
    if any(core in words or _is_run(core) for core in _cores(password)):
        return TOO_COMMON
    return None
