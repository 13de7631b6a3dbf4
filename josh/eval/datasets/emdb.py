"""EMDB reader (Kaufmann et al. 2023; the public release's `dataset.md` documents the format).

Layout: `<root>/P<k>/<sequence>/P<k>_<sequence>_data.pkl` (public release) or a flat
`<root>/<folder>/*_data.pkl` (the official JOSH evaluation's `data/EMDB2/<folder>`); any depth is
accepted. Keys relied on, all documented in the release:
  - `gender` ("male" / "female" / "neutral"), `name`, `n_frames`, `emdb1`, `emdb2` (bool flags);
  - `good_frames_mask` (n_frames,) bool: frames where the person is visible (the only frames
    evaluated);
  - `smpl`: `poses_root` (n,3), `poses_body` (n,69) axis-angle, `trans` (n,3), `betas` (10,),
    world frame;
  - `camera`: `intrinsics` (3,3), `extrinsics` (n,4,4) world-to-camera, `width`, `height`.
Not verified against a real file here (the data are licensed): that `extrinsics` are w2c is stated by
the JOSH evaluation facts (§1.2), not by the release's table.

Predictions are looked up as `<pred>/<folder relative to root>/josh/` and `<pred>/<name>/josh/`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from josh.errors import InputError
from josh.eval.datasets.base import DatasetRules, SequenceRef, read_pickle, require_keys
from josh.eval.sequence import CameraModel, GroundTruthSequence
from josh.eval.smpl_eval import SmplEvaluator, SmplParams

RULES = DatasetRules(
    name="emdb",
    fps=30.0,
    local_metrics=True,
    accel_on="camera",
    rte_uses_gt_camera_transl=False,
    ate_stat="mean",
    skip_if_camera_track_incomplete=True,
    recon=None,
)


def find_sequences(root: Path) -> list[SequenceRef]:
    refs = []
    for pkl in sorted(Path(root).rglob("*_data.pkl")):
        name = pkl.name[: -len("_data.pkl")]
        rel = pkl.parent.relative_to(root).as_posix()
        candidates = [c for c in dict.fromkeys([rel, name, pkl.parent.name]) if c and c != "."]
        refs.append(SequenceRef(name=name, path=pkl, prediction_dirs=candidates))
    return refs


def subset_tags(ref: SequenceRef) -> dict:
    """The release's `emdb1` / `emdb2` flags (reads the annotation file)."""
    data = read_pickle(ref.path)
    return {k: bool(data.get(k, False)) for k in ("emdb1", "emdb2")} if isinstance(data, dict) else {}


def load_sequence(ref: SequenceRef, smpl: SmplEvaluator) -> GroundTruthSequence:
    data = read_pickle(ref.path)
    where = str(ref.path)
    require_keys(data, ["gender", "n_frames", "good_frames_mask", "camera", "smpl"], where)
    require_keys(data["smpl"], ["poses_root", "poses_body", "trans", "betas"], f"{where} ['smpl']")
    require_keys(data["camera"], ["intrinsics", "extrinsics"], f"{where} ['camera']")
    n = int(data["n_frames"])
    s, cam = data["smpl"], data["camera"]
    body = SmplParams.from_axis_angle(s["poses_root"], s["poses_body"], np.asarray(s["betas"]).reshape(-1),
                                      s["trans"], data["gender"])  # fmt: skip
    valid = np.asarray(data["good_frames_mask"], dtype=bool).reshape(-1)
    w2c = np.asarray(cam["extrinsics"], dtype=np.float64)
    if len(body) != n or len(valid) != n or w2c.shape != (n, 4, 4):
        raise InputError(f"{where}: n_frames={n} but smpl has {len(body)} frames, good_frames_mask {len(valid)}, "
                         f"extrinsics {w2c.shape}")  # fmt: skip
    out = smpl.run(body)
    K = np.asarray(cam["intrinsics"], dtype=np.float64).reshape(3, 3)
    camera = CameraModel(K, int(cam.get("width", round(2 * K[0, 2]))), int(cam.get("height", round(2 * K[1, 2]))))
    return GroundTruthSequence(
        dataset=RULES.name,
        name=str(data.get("name", ref.name)),
        fps=RULES.fps,
        frame_ids=np.arange(n),
        body=body,
        joints=out.joints,
        feet=out.feet,
        valid=valid,
        w2c=w2c,
        n_video_frames=n,
        camera=camera,
        evaluate_recon=False,
        source=ref.path,
    )
