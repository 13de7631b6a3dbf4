"""`josh run ... --official [DIR]`: the run's result also in the official JOSH layout.

    DIR/scene.pkl              cameras of every input frame, keyframe depth, intrinsics
    DIR/hps_track_<id>.npy     per person, SMPL in the TRAM dict layout (SMPL-bodied runs only)

(`josh.interop.official_results` says what the files hold.) With an official input folder,
`josh run SEQ --people tram:SEQ --contacts deco:SEQ --official` writes `SEQ/josh/`, exactly
where the official evaluation scripts and `josh eval` look for a sequence's result.

Frame indices are the input's, not the clip's (`on_video_frames`): `frame` and `img_idx` count
`rgb/` images, and `pred_cam` has a camera for every input frame, also with `--start`/`--stride`.

Safety: the layout is written into a hidden folder beside DIR and renamed into place at the end of
the outputs stage; an earlier DIR is replaced only then, and as a whole. DIR may not be (or hold)
the input or the output folder, and an existing DIR must hold nothing but official result files:
a mistyped DIR must never cost the user a folder.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np

from josh.errors import InputError, OutputError
from josh.io.atomic import ensure_writable_dir

RESULT_FILE = re.compile(r"^(scene\.pkl|hps_track_-?\d+\.npy)$")


def default_official_dir(video: Path, out: Path) -> Path:
    """Where `--official` writes when given no folder: `<input>/josh` for an image-folder input (an
    official folder then holds its result where the official evaluation scripts look), else
    `OUT/josh`."""
    from josh.interop.official_results import RESULT_DIR

    video = Path(video).expanduser()
    return (video if video.is_dir() else Path(out).expanduser()) / RESULT_DIR


def check_official_dir(opts) -> None:
    """Refuse an `--official` folder whose replacement could lose data (module doc), before any
    stage runs; its parent must be writable."""
    target = Path(opts.official).expanduser().resolve()
    for what, other in (("the output folder", opts.out), ("the input", opts.video)):
        other = Path(other).expanduser().resolve()
        if target == other or target in other.parents:
            raise InputError(f"--official {opts.official}: writing there would replace {what} ({other}); "
                             "choose another folder")  # fmt: skip
    if target.exists():
        if not target.is_dir():
            raise OutputError(f"--official {opts.official}: {target} is not a folder")
        others = sorted(p.name for p in target.iterdir() if not RESULT_FILE.match(p.name))
        if others:
            raise InputError(f"--official {opts.official}: {target} holds files that are not an official result "
                             f"({others[0]}{', ...' if len(others) > 1 else ''}); choose a new or empty folder")  # fmt: skip
    ensure_writable_dir(target.parent)


def staging_dir(target: Path) -> Path:
    """The hidden folder beside `target` its new contents are written to (same file system)."""
    target = Path(target)
    return target.with_name(f".{target.name}.staging-{os.getpid()}")


def write_official(run, recon, clip, folder: Path) -> dict:
    """Write `recon` (clip frames) in the official layout into `folder`; returns the report entry.

    SMPL-bodied runs write every person's track; others (Anny) write `scene.pkl` alone, with a
    warning. With `--people tram:`, the official input folder is the `source` (original image
    size, SAM3 boxes, keyframe colours from `rgb/`); otherwise the clip's frames give the colours.
    """
    from josh.interop.official_results import on_video_frames, write_official_layout

    shutil.rmtree(folder, ignore_errors=True)
    n_video = int(clip.video_info["frames"])
    video_recon = on_video_frames(recon, clip.video_frames, n_video)
    scene_only = recon.body_model != "smpl"
    if scene_only and recon.people:
        run.warnings.append(f"--official: {recon.body_model} bodies have no SMPL parameters, so {run.opts.official} "
                            "holds scene.pkl only (cameras and scene); reconstruct with --people tram: for SMPL tracks")  # fmt: skip
    source = _official_source(run, clip)
    original = (int(clip.video_info["width"]), int(clip.video_info["height"]))
    rgb = None if source is not None else _keyframe_images(clip, recon.keyframe_ids)
    written = write_official_layout(video_recon, folder, None if scene_only else run.body, source=source,
                                    original_size=original, keyframe_rgb=rgb, scene_only=scene_only)  # fmt: skip
    outside = len(video_recon.T_wc) - clip.n_frames
    if outside:
        run.notes.append(f"--official: pred_cam covers all {len(video_recon.T_wc)} input frames; the cameras of the "
                         f"{outside} outside the clip are interpolated between clip frames, or held beyond its ends")  # fmt: skip
    return {"path": str(Path(run.opts.official).expanduser().resolve()), "files": sorted(p.name for p in written),
            "tracks": 0 if scene_only else len(recon.people), "frames": len(video_recon.T_wc),
            "clip_frames": clip.n_frames, "source": str(source.root) if source is not None else None}  # fmt: skip


def _official_source(run, clip):
    """The official input folder the TRAM tracks came from, read at the clip's working size, or
    None (other people sources, or a TRAM folder without its `rgb/` frames: a note says so)."""
    from josh.interop.official_inputs import TRAM_DIR, read_official_folder, split_root

    people = run.opts.sources.people
    if people.kind != "tram":
        return None
    root, _ = split_root(people.path, TRAM_DIR)
    try:
        return read_official_folder(root, run.body, working_size=(clip.width, clip.height))
    except InputError as exc:
        run.notes.append(f"--official: boxes from the projected bodies, not SAM3 ({exc})")
        return None


def _keyframe_images(clip, keyframe_ids):
    """The clip's keyframe images at working resolution (K, H, W, 3) uint8, decoded once more."""
    wanted = {int(k) for k in keyframe_ids}
    images = {i: rgb for i, rgb in clip.frames() if i in wanted}
    if len(images) != len(wanted):
        return None
    return np.stack([images[int(k)] for k in keyframe_ids])
