"""`josh run VIDEO`: reconstruct a video (or a folder of images) into a self-contained output folder.

Stages (decode, people, scene, bodies, contacts, optimise, refine, outputs) are cached in
`OUT/.josh-cache/`, so a re-run, or a run after a crash or Ctrl-C, resumes after the last finished
stage; a changed setting re-runs its stage and the ones after it. Learned front-ends' outputs can
replace the built-in CPU ones per component (`--people tram:DIR`, `--contacts deco:DIR`,
`--scene pointmaps:FILE`; docs/interop.md); `--official` also writes the result in the official
JOSH layout, so an official input folder goes in and comes out ready for `josh eval`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", type=Path,
                        help="input video file, or a folder of images (DIR/rgb/*.jpg of the official layout, or DIR/*.jpg|png)")  # fmt: skip
    parser.add_argument("-o", "--out", type=Path, default=None, help="output folder (default: <video name>_josh next to the video)")
    clip = parser.add_argument_group("which frames")
    clip.add_argument("--start", type=int, default=0, metavar="S", help="first video frame (default 0)")
    clip.add_argument("--max-frames", type=int, default=None, metavar="N", help="at most N frames (after --stride)")
    clip.add_argument("--stride", type=int, default=1, metavar="K", help="use every K-th frame (default 1)")
    clip.add_argument("--frame-limit", type=int, default=1500, metavar="L",
                      help="refuse to process more than L frames (default 1500; choose a part with the flags above)")  # fmt: skip
    clip.add_argument("--long-side", type=int, default=960, metavar="PX", help="working resolution: longer side in pixels (default 960)")
    clip.add_argument("--fps", type=float, default=None, metavar="F",
                      help="the input's frame rate (default: the video's; 30 for an image folder)")  # fmt: skip
    recon = parser.add_argument_group("reconstruction")
    recon.add_argument("--keyframe-every", type=int, default=5, metavar="M", help="a keyframe every M frames (default 5)")
    recon.add_argument("--focal", type=float, default=None, metavar="PX",
                       help="the camera's focal length in pixels at the video's full resolution, when known "
                            "(calibration; or EXIF: focal mm / sensor width mm x image width); held fixed")
    recon.add_argument("--deterministic", action="store_true",
                       help="repeat bit for bit: structure from motion on one thread (slower on many cores)")
    recon.add_argument("--lock-feet", action="store_true",
                       help="hold the lowest foot still (feet that do not skate, at some cost to the global motion)")
    recon.add_argument("--split-pairs", action=argparse.BooleanOptionalAction, default=None,
                       help="split a pose that mixes two people side by side (their torso halves differ in colour; default on)")
    recon.add_argument("--people-max", type=int, default=4, metavar="P", help="reconstruct at most P people, the most seen (default 4)")
    src = parser.add_argument_group("learned front-ends (default: the built-in CPU ones; docs/interop.md)")
    src.add_argument("--people", default=None, metavar="SOURCE", help="builtin | tram:DIR (TRAM/VIMO SMPL tracks; uses SMPL)")
    src.add_argument("--contacts", default=None, metavar="SOURCE", help="builtin | deco:DIR (DECO contacts; needs --people tram:)")
    src.add_argument("--scene", default=None, metavar="SOURCE", help="builtin | pointmaps:FILE (Pi3/MASt3R/VGGT point maps)")
    src.add_argument("--smpl", type=Path, default=None, metavar="PATH", help="SMPL model files for --people tram: (else $JOSH_SMPL_DIR)")
    parser.add_argument("--official", nargs="?", const="", default=None, type=str, metavar="DIR",
                        help="also write the result in the official JOSH layout (scene.pkl, hps_track_<id>.npy) to DIR "
                             "(default: <input folder>/josh for an image folder, else OUT/josh; "
                             "put it after VIDEO, or write --official=DIR)")  # fmt: skip
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars and no summary")


def default_out(video: Path) -> Path:
    video = video.expanduser()
    if video.name in ("", ".", ".."):  # `josh run .`: name the output after the folder itself
        video = video.resolve()
    return video.with_name(video.stem + "_josh")


def main(args: argparse.Namespace) -> int:
    from rich.console import Console

    from josh.pipeline.official import default_official_dir
    from josh.pipeline.options import RunOptions, Sources
    from josh.pipeline.report import print_summary
    from josh.pipeline.run import run_pipeline

    if not getattr(args, "verbose", False):  # progress bars and the summary say what the logs would
        logging.getLogger("josh").setLevel(logging.WARNING)
        logging.getLogger("anny").setLevel(logging.WARNING)
    sources = Sources.parse(args.people, args.contacts, args.scene)
    out = args.out if args.out is not None else default_out(args.video)
    official = None
    if args.official is not None:
        official = Path(args.official) if args.official else default_official_dir(args.video, out)
    opts = RunOptions(
        video=args.video, out=out, start=args.start, max_frames=args.max_frames, stride=args.stride,
        keyframe_every=args.keyframe_every, people_max=args.people_max, long_side=args.long_side,
        frame_limit=args.frame_limit, sources=sources, smpl_path=args.smpl, fps=args.fps, focal=args.focal, official=official,
        progress=not args.quiet, deterministic=args.deterministic, lock_feet=args.lock_feet,
        split_pairs=args.split_pairs,
    )  # fmt: skip
    err = Console(stderr=True)
    report = run_pipeline(opts, console=err)
    for w in report["warnings"]:
        print(f"josh run: warning: {w}", file=sys.stderr)
    if not args.quiet:
        print_summary(report, Console())
    return 0
