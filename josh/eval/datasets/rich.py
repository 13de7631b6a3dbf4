"""RICH reader, in the per-sequence layout the official JOSH evaluation reads.

The public release (rich_toolkit README) ships `images/<split>/<seq>/cam_<cc>/<frame:05d>_<cc>.<ext>`,
SMPL-X bodies `bodies/<split>/<seq>/<frame:05d>/<subject>.pkl` and the scene scans
`scan_calibration/<scene>/...`. The JOSH scripts expect one camera per sequence folder:
  - `<root>/<seq>/images/<frame>_<anything>` - the video frames, sorted by name; the frame
    index is the position in that order;
  - `<root>/<seq>/<frame>/*_smpl.pkl` - GT for the frames that have such a folder, keys `global_orient`
    (3,) axis-angle, `body_pose` (69,), `betas` (10,), `transl` (3,), used as given (already in the
    camera / scan frame, no per-frame cameras);
  - `scan_calibration/<scene>/scan_camcoord.ply` - the scene scan in the same frame, looked up in
    `<root>/` and in the parent of `<root>` (the official `data/RICH` + `data/scan_calibration`).
The SMPL (not SMPL-X) per-frame files are what the official scripts read; who converts the release's
SMPL-X fits to them could not be verified. GT uses the neutral model; 30 fps. The scene id is the
sequence-name prefix before the first '_'; only the first sequence of each scene is used for the
reconstruction metrics (official).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from josh.errors import InputError
from josh.eval.datasets.base import DatasetRules, SequenceRef, read_pickle, read_ply_points, require_keys
from josh.eval.sequence import GroundTruthSequence
from josh.eval.smpl_eval import SmplEvaluator, SmplParams

RULES = DatasetRules(
    name="rich",
    fps=30.0,
    local_metrics=False,
    accel_on="global",
    rte_uses_gt_camera_transl=False,
    ate_stat=None,
    skip_if_camera_track_incomplete=False,
    recon="rich",
)


def scene_id(name: str) -> str:
    return name.split("_")[0]


def find_sequences(root: Path) -> list[SequenceRef]:
    refs, seen_scenes = [], set()
    for folder in sorted(p for p in Path(root).iterdir() if (p / "images").is_dir()):
        scene = scene_id(folder.name)
        refs.append(SequenceRef(name=folder.name, path=folder, prediction_dirs=[folder.name],
                                tags={"scene": scene, "first_of_scene": scene not in seen_scenes}))  # fmt: skip
        seen_scenes.add(scene)
    return refs


def _scan_path(root: Path, scene: str) -> Path | None:
    for base in (root, root.parent):
        path = base / "scan_calibration" / scene / "scan_camcoord.ply"
        if path.is_file():
            return path
    return None


def load_sequence(ref: SequenceRef, smpl: SmplEvaluator) -> GroundTruthSequence:
    images = sorted(p.name for p in (ref.path / "images").iterdir() if not p.name.startswith("."))
    frame_ids, rows = [], []
    for index, image_name in enumerate(images):
        gt_dir = ref.path / image_name.split("_")[0]
        if not gt_dir.is_dir():
            continue
        files = sorted(gt_dir.glob("*_smpl.pkl"))
        if not files:
            continue
        data = read_pickle(files[0])
        require_keys(data, ["global_orient", "body_pose", "betas", "transl"], str(files[0]))
        frame_ids.append(index)
        rows.append([np.asarray(data[k], dtype=np.float64).reshape(-1)
                     for k in ("global_orient", "body_pose", "betas", "transl")])  # fmt: skip
    if not rows:
        raise InputError(f"{ref.path}: no GT frames (<frame>/*_smpl.pkl next to images/)")
    orient, pose, betas, transl = (np.stack(col) for col in zip(*rows))
    body = SmplParams.from_axis_angle(orient, pose, betas, transl, "neutral")
    out = smpl.run(body)
    root = ref.path.parent
    scan = _scan_path(root, scene_id(ref.name))
    notes = []
    if not ref.tags.get("first_of_scene", True):
        notes.append(f"not the first sequence of scene {scene_id(ref.name)}: no reconstruction metrics (official)")
    return GroundTruthSequence(
        dataset=RULES.name,
        name=ref.name,
        fps=RULES.fps,
        frame_ids=np.asarray(frame_ids, dtype=np.int64),
        body=body,
        joints=out.joints,
        feet=out.feet,
        valid=np.ones(len(frame_ids), dtype=bool),
        w2c=None,
        n_video_frames=len(images),
        camera=None,
        scene_points=(lambda: read_ply_points(scan)) if scan else None,
        evaluate_ate=False,
        evaluate_recon=bool(ref.tags.get("first_of_scene", True)),
        notes=notes,
        source=ref.path,
    )
