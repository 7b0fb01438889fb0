"""Everything the CLI prints passes through here: secret values are masked, control characters escaped.

The CLI swaps sys.stdout and sys.stderr for scrubbing streams (`scrubbed_streams`) and the loader of
an environment registers its secrets (`protect`) as soon as it has read them. From then on no write
reaches the terminal with a secret in it, whichever module wrote it, in any of the encodings a
message, a tool or a template can produce (raw, JSON or Python escaped, YAML quoted, base64 once or
twice). Error lines also go through `escape`, so a value cannot draw on the terminal (ANSI escapes)
or forge a line of its own (a newline then `error: ...`).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Iterable
    from typing import Any, TextIO

MASK = "***"
MIN_LENGTH = 3  # shorter values would mask ordinary words

_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def protect(values: Iterable[str]) -> None:
    """Mask these secret values (and their encodings) in everything printed from now on."""
    global _pattern
    import re

    new = {e for v in values if len(v) >= MIN_LENGTH for e in encodings(v)} - _secrets
    if new:
        _secrets.update(new)
        _pattern = re.compile("|".join(re.escape(s) for s in sorted(_secrets, key=len, reverse=True)))


def encodings(secret: str) -> set[str]:
    """The forms a secret takes in messages and manifests: each is masked wherever it appears."""
    import base64
    import json

    import yaml

    raw = secret.encode("utf-8")
    b64 = base64.b64encode(raw)
    forms = {secret, escape(secret), repr(secret)[1:-1], ascii(secret)[1:-1], json.dumps(secret)[1:-1],
             json.dumps(secret, ensure_ascii=False)[1:-1], secret.replace("'", "''"),
             yaml.safe_dump(secret, default_style='"', width=1 << 30, allow_unicode=True).strip()[1:-1],
             b64.decode(), b64.decode().rstrip("="), base64.urlsafe_b64encode(raw).decode().rstrip("="),
             base64.b64encode(b64).decode(), base64.b64encode(b64).decode().rstrip("=")}
    return {form for form in forms if len(form) >= MIN_LENGTH}


def scrub(text: str) -> str:
    return _pattern.sub(MASK, text) if _pattern is not None and text else text


_ESCAPED_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")


def escape(text: str) -> str:
    r"""Control and format characters (ANSI escapes, newlines, bidi overrides) as \xNN or \uNNNN."""
    if text.isprintable():
        return text
    import unicodedata

    def one(ch: str) -> str:
        if unicodedata.category(ch) not in _ESCAPED_CATEGORIES:
            return ch
        return repr(ch)[1:-1] if ch in "\t\n\r" else f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}"

    return "".join(one(ch) for ch in text)


def problem(prefix: str, message: str) -> None:
    """One line on stderr: `prefix: message`, with the message's control characters escaped."""
    print(f"{prefix}: {escape(message)}", file=sys.stderr)


class _Scrubbing:
    """A text stream that masks secrets in every write, and otherwise behaves as the one it wraps."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(scrub(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


class scrubbed_streams:
    """sys.stdout and sys.stderr replaced by scrubbing streams for the duration of a command."""

    def __enter__(self) -> None:
        self.saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Scrubbing(sys.stdout), _Scrubbing(sys.stderr)

    def __exit__(self, *exc: object) -> None:
        sys.stdout, sys.stderr = self.saved


def crash_report(error: BaseException) -> str:
    """Write the full trace (scrubbed) to a private file and return its path, for a one-line message."""
    import tempfile
    import time
    import traceback

    from cluster_init.paths import cache_dir

    text = scrub("".join(traceback.format_exception(error)))
    name = f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    for directory in (os.path.join(cache_dir(), "crashes"),
                      os.path.join(tempfile.gettempdir(), f"cluster-init-crashes-{os.getuid()}")):
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            path = os.path.join(directory, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            return path
        except OSError:
            continue
    return "(nowhere: no writable cache or temporary directory)"

