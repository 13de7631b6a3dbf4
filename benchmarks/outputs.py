"""Sizes and write times of every output file for a 100-frame, 2-person reconstruction.

    JOSH_CACHE_DIR=.cache python benchmarks/outputs.py [--frames 100] [--out /tmp/josh-bench-outputs]

The reconstruction is synthetic (josh.testing.reconstruction: zero-pose Anny walkers) with
realistic array sizes: working resolution 960x540, one keyframe every 3 frames with 68x120 depth
maps, 40k scene points. Video frames for the recording come from demo2.mp4 when it is present
($JOSH_DEMO_VIDEO or /work/shared/data/demo2.mp4), else from random noise (which compresses worse).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--people", type=int, default=2)
    parser.add_argument("--bodies-per-person", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "josh-bench-outputs")
    args = parser.parse_args()

    from josh.body import load_body_model
    from josh.io.outputs import write_outputs
    from josh.testing.reconstruction import synthetic_reconstruction
    from josh.types import Intrinsics

    body = load_body_model("anny")
    recon, _ = synthetic_reconstruction(body, n_frames=args.frames, n_people=args.people, n_scene_points=30000)
    rng = np.random.default_rng(0)
    K = len(recon.keyframe_ids)
    recon = dataclasses.replace(
        recon,
        intrinsics=Intrinsics.centred(800.0, 960, 540),
        depth_stride=8.0,
        keyframe_depth=rng.uniform(1, 20, (K, 68, 120)).astype(np.float32),
        keyframe_background=rng.random((K, 68, 120)) > 0.2,
    )
    video = Path(os.environ.get("JOSH_DEMO_VIDEO", "/work/shared/data/demo2.mp4"))
    if video.exists():
        from josh.perception.video import iter_frames

        frames, source = iter_frames(video, long_side=960, max_frames=args.frames), video.name
    else:
        frames = ((i, rng.integers(0, 256, (540, 960, 3), dtype=np.uint8)) for i in range(args.frames))
        source = "random noise"

    decode = {"seconds": 0.0}
    timings: dict[str, float] = {}
    start = time.perf_counter()
    written = write_outputs(recon, body, args.out, frames=_timed(frames, decode), report={"bench": "outputs"},
                            timings=timings,
                            bodies_per_person=args.bodies_per_person)  # fmt: skip
    total = time.perf_counter() - start
    print(f"{args.frames} frames, {args.people} people, {len(recon.scene_points)} scene points, "
          f"video frames from {source}, {os.cpu_count()} CPU cores")  # fmt: skip
    print(f"{'file':<28}{'MB':>9}")
    for name, path in written.items():
        print(f"{path.relative_to(args.out).as_posix():<28}{path.stat().st_size / 1e6:>9.2f}")
    print(f"{'step':<28}{'seconds':>9}")
    for name, seconds in timings.items():
        print(f"{name:<28}{seconds:>9.2f}")
    print(f"{'  of which video decode':<28}{decode['seconds']:>9.2f}")
    print(f"{'total':<28}{total:>9.2f}")


def _timed(iterable, clock: dict):
    """Yield from `iterable`, adding the time spent producing items to clock['seconds']."""
    iterator = iter(iterable)
    while True:
        start = time.perf_counter()
        try:
            item = next(iterator)
        except StopIteration:
            return
        finally:
            clock["seconds"] += time.perf_counter() - start
        yield item


if __name__ == "__main__":
    main()
