"""`josh run` on clips of another kind made from one clip: does the reconstruction follow what was done to it?

    PYTHONPATH=. python benchmarks/clip_variants.py VIDEO [--variants original,half_rate,slow_motion,portrait]
        [--out /tmp/josh_variants] [--deterministic] [--no-split-pairs]

Each variant is made with PyAV in the output folder (never committed), then reconstructed from nothing:
- `original`: the clip as it is (re-encoded at 960 px on the long side, like the others);
- `half_rate`: every other frame at half the frame rate. The same motion in real time: speeds and
  the camera path should match the original's;
- `slow_motion`: every frame shown twice at the original frame rate, so everything moves at half
  speed and the camera stands still every other frame: speeds should halve, statures and the
  camera path should not change;
- `repeat_every_4th`: every 4th frame shown twice, at 1.25 x the frame rate (what a 24 -> 30 fps
  conversion does to a clip): the same motion in real time, with a stutter;
- `mirrored`: every frame flipped left to right. Nothing about the world changes but its
  handedness: every figure should match the original's (re-encoded the same way), and a
  difference points at a left/right mix-up (keypoint sides, a body's left and right legs);
- `portrait`: the middle 9:16 of the picture (a narrow view: the focal is poorly determined);
- `frozen`: the first frame held for 1.5 s (a tripod shot of people standing still): SfM sees no
  motion and falls back to a ground plane; the camera should stay put above it, people stand
  still on it, and the focal is a guess.
Per variant: frames, focal (px at the variant's working resolution), camera path, and per
person frames, stature, speed, both foot-sliding figures, far-contact shares and jitter.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

VARIANTS = ("original", "half_rate", "slow_motion", "repeat_every_4th", "mirrored", "portrait", "frozen")
FROZEN_FRAMES = 45


def variant_frames(video: Path, variant: str):
    """(a function giving the variant's RGB frames, streamed at working resolution, frame rate)."""
    from josh.perception.video import iter_frames, probe
    from josh.testing.videos import even_size

    fps = probe(video).fps
    if variant == "original":
        return lambda: (even_size(rgb) for _, rgb in iter_frames(video)), fps
    if variant == "half_rate":
        return lambda: (even_size(rgb) for _, rgb in iter_frames(video, stride=2)), fps / 2
    if variant == "slow_motion":
        return lambda: (even_size(rgb) for _, rgb in iter_frames(video) for _ in range(2)), fps
    if variant == "repeat_every_4th":
        return lambda: (even_size(rgb) for i, rgb in iter_frames(video) for _ in range(2 if i % 4 == 3 else 1)), fps * 1.25
    if variant == "mirrored":
        return lambda: (even_size(np.ascontiguousarray(rgb[:, ::-1])) for _, rgb in iter_frames(video)), fps
    if variant == "portrait":
        def crop(rgb):
            h, w = rgb.shape[:2]
            width = int(h * 9 / 16) // 2 * 2
            return np.ascontiguousarray(rgb[:, (w - width) // 2 : (w - width) // 2 + width])

        return lambda: (even_size(crop(rgb)) for _, rgb in iter_frames(video, long_side=None)), fps
    if variant == "frozen":
        return lambda: (even_size(rgb) for _, rgb in iter_frames(video, max_frames=1) for _ in range(FROZEN_FRAMES)), fps
    raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")


def make_variant(video: Path, variant: str, dst: Path) -> Path:
    from josh.testing.videos import write_h264

    frames, fps = variant_frames(video, variant)
    return write_h264(dst, frames, fps)


def summary(report: dict) -> dict:
    keys = ("frames", "height_m", "speed_mps", "speed_footprints_mps", "fs_mm", "fs_planted_mm", "contact_far_005",
            "contact_far_020", "jitter")
    r2 = lambda x: None if x is None else round(float(x), 3)  # noqa: E731
    return {
        "frames": report["frames"], "total_s": r2(report["total_s"]), "focal_px": r2(report["focal_px"]),
        "camera_path_m": r2(report["camera"]["path_m"]), "scene": report["scene"].get("source"),
        "people": [{"id": p["id"], **{k: r2(p.get(k)) for k in keys}} for p in report["people"]],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", type=Path, default=Path("/tmp/josh_variants"))
    parser.add_argument("--deterministic", action="store_true", help="runs that repeat bit for bit (josh run --deterministic)")
    parser.add_argument("--split-pairs", action=argparse.BooleanOptionalAction, default=True,
                        help="split poses that mix two people (default on, as josh run)")
    args = parser.parse_args()

    from josh.pipeline.options import RunOptions
    from josh.pipeline.run import Settings, run_pipeline

    args.out.mkdir(parents=True, exist_ok=True)
    # every clip before any run: after a run in the same process, x264 encodes the same frames to
    # other bytes (measured: not from threads or CPU affinity), and SfM on a clip can hinge on
    # compression noise (the half-rate clip: focal 518 or 418 px)
    clips = {variant: make_variant(args.video, variant, args.out / f"{variant}.mp4") for variant in args.variants.split(",")}
    settings = Settings().with_split_pairs(args.split_pairs)
    results = {}
    for variant, clip in clips.items():
        out = args.out / variant
        shutil.rmtree(out, ignore_errors=True)
        results[variant] = summary(run_pipeline(RunOptions(clip, out, progress=False, deterministic=args.deterministic), settings))
        print(json.dumps({variant: results[variant]}), flush=True)
    (args.out / "variants.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
