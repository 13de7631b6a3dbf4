"""Where JOSH keeps built assets (Anny's model cache, Warp kernels, the MediaPipe pose bundle).

Anny builds a ~0.8 GB cache on first construction (~90 s). It is built once at set-up
(`josh setup`) into the cache folder; every later construction loads it in < 1 s.
`ANNY_CACHE_DIR` must be set before `anny` is imported, so `configure()` runs on import of
`josh.body`.

The folder is `$JOSH_CACHE_DIR` if set; else, in a source checkout, the project's own `.cache/`
(what `scripts/setup.sh` fills); else `~/.cache/josh`.
"""

from __future__ import annotations

import os
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """Root of JOSH's caches (see module doc)."""
    if os.environ.get("JOSH_CACHE_DIR"):
        return Path(os.environ["JOSH_CACHE_DIR"]).expanduser()
    if (_CHECKOUT / "pyproject.toml").is_file():
        return _CHECKOUT / ".cache"
    return Path.home() / ".cache" / "josh"


def configure() -> None:
    """Point Anny and Warp at JOSH's cache unless the user chose their own folders."""
    os.environ.setdefault("ANNY_CACHE_DIR", str(cache_dir() / "anny"))
    os.environ.setdefault("WARP_CACHE_PATH", str(cache_dir() / "warp"))
