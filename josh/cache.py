"""Where JOSH keeps built assets (Anny's model cache, Warp kernels).

Anny builds a ~0.8 GB cache on first construction (~90 s). It is built once at set-up
(`josh setup`) into the project cache folder; every later construction loads it in < 1 s.
`ANNY_CACHE_DIR` must be set before `anny` is imported, so `configure()` runs on import of
`josh.body`.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Root of JOSH's caches: `$JOSH_CACHE_DIR`, else `~/.cache/josh`."""
    return Path(os.environ.get("JOSH_CACHE_DIR", Path.home() / ".cache" / "josh")).expanduser()


def configure() -> None:
    """Point Anny and Warp at JOSH's cache unless the user chose their own folders."""
    os.environ.setdefault("ANNY_CACHE_DIR", str(cache_dir() / "anny"))
    os.environ.setdefault("WARP_CACHE_PATH", str(cache_dir() / "warp"))
