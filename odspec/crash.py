"""The last line of defence: an unexpected exception ends in one line and a saved traceback, never a bare trace."""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import NoReturn

EXIT_INTERNAL = 70  # EX_SOFTWARE


def crash_folders() -> list[Path]:
    """Where traces go: $XDG_STATE_HOME/odspec (or ~/.local/state/odspec), else the temp folder."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return [Path(state) / "odspec", Path(tempfile.gettempdir())]


def write_trace(text: str) -> Path | None:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for folder in crash_folders():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"crash-{stamp}-{os.getpid()}.txt"
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    return None


def report_crash(err: BaseException) -> NoReturn:
    """Print one line naming the bug and where its traceback was written; exit 70."""
    path = write_trace("".join(traceback.format_exception(err)))
    where = f"the full traceback is in {path}" if path else "the traceback could not be saved"
    message = " ".join(str(err).split())[:300]
    print(f"error: internal error: {type(err).__name__}: {message} — this is a bug in odspec; {where}", file=sys.stderr)
    sys.exit(EXIT_INTERNAL)
