"""Files the target writes hold personal data: create them readable by the owner only."""

from __future__ import annotations

import os
from pathlib import Path


def private_path(path: str | os.PathLike[str]) -> Path:
    """Make the parent directory (0700 when we create it) and the file (0600); return it."""
    target = Path(path).expanduser()
    parent = target.parent
    if not parent.exists():
        parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    fd = os.open(target, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
    os.close(fd)
    os.chmod(target, 0o600)
    return target
