"""`josh setup`: build every cache once, so no run and no test pays for it (or downloads anything).

- Anny's model cache (~0.8 GB, ~90 s the first time) and Warp's compiled skinning kernel;
- the MediaPipe multi-person pose bundle (built from the models in the mediapipe 0.10.21 wheel,
  which is downloaded from PyPI once; see `josh.perception.pose_models`).

Everything goes under `$JOSH_CACHE_DIR` (default `~/.cache/josh`).
"""

from __future__ import annotations

import argparse
import time

from josh.cache import cache_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--skip-pose", action="store_true", help="do not build the MediaPipe pose bundle")


def main(args: argparse.Namespace) -> int:
    print(f"josh setup: caches in {cache_dir()}")
    start = time.perf_counter()
    from josh.body import load_body_model

    body = load_body_model("anny")
    print(f"  Anny body model ready ({body.load_seconds:.1f} s)")
    if not args.skip_pose:
        from josh.perception.pose_models import ensure_pose_bundle

        path = ensure_pose_bundle()
        print(f"  MediaPipe pose bundle: {path}")
    print(f"josh setup: done in {time.perf_counter() - start:.0f} s")
    return 0
