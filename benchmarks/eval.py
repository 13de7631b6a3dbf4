"""Time `josh eval` on benchmark-sized fixture sequences (generated SMPL stand-in, no licensed data).

    python benchmarks/eval.py [--frames 1200] [--keyframe-step 5]

Writes an EMDB sequence and a SLOPER4D sequence of `--frames` frames with exact predictions in the
official layout (SLOPER4D with a 288x512 depth map every `--keyframe-step` frames and a 0.3 M-point
lidar map), runs `josh eval` on each in a child process and prints its wall time and peak memory
(RSS of the evaluation alone, not of the fixture writing).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from josh.eval.datasets import emdb, sloper4d
from josh.eval.sequence import rigid_inverse
from josh.eval.smpl_eval import SmplEvaluator
from josh.testing import eval_fixtures as F
from josh.testing.fake_smpl import write_fake_smpl_folder

K = np.array([[1000.0, 0.0, 960.0], [0.0, 1000.0, 540.0], [0.0, 0.0, 1.0]])


def _cameras(n: int) -> np.ndarray:
    t = np.arange(n) / 30.0
    centres = np.stack([0.5 * t, 0.05 * np.sin(3 * t), 0.3 * t], axis=1)
    return F.camera_track(centres, 0.2 * np.sin(0.5 * t))


def _run(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS [GB] of `josh <argv>` in a child process."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "josh.cli", *argv], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"josh eval failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2


def bench_emdb(root: Path, smpl_dir: Path, n: int) -> tuple[float, float]:
    smpl = SmplEvaluator(smpl_dir)
    c2w = _cameras(n)
    F.write_emdb_sequence(root, "P0", "00_bench", F.walking_body(n), rigid_inverse(c2w), K, gender="male",
                          width=1920, height=1080)  # fmt: skip
    (ref,) = emdb.find_sequences(root)
    gt = emdb.load_sequence(ref, smpl)
    params = F.camera_frame_params(gt.body, gt.w2c, SmplEvaluator(smpl_dir))
    F.write_official_prediction(root / ref.prediction_dirs[0], c2w, params, np.arange(n))
    return _run(["eval", "--dataset", "emdb", "--root", str(root), "--smpl", str(smpl_dir)])


def bench_sloper4d(root: Path, smpl_dir: Path, n: int, step: int) -> tuple[float, float]:
    smpl = SmplEvaluator(smpl_dir)
    c2w = _cameras(n)
    rng = np.random.default_rng(0)
    ground = np.stack([rng.uniform(-20, 20, 300_000), np.full(300_000, 1.6), rng.uniform(-5, 40, 300_000)], 1)
    F.write_sloper4d_sequence(root, "seq001_bench", F.walking_body(n), rigid_inverse(c2w), gender="neutral",
                              intrinsics=(599.6, 599.5, 971.6, 540.3), dist=(0.003, -0.003, -0.001, 0.004, 0.0),
                              width=1920, height=1080, scene_points=ground)  # fmt: skip
    (ref,) = sloper4d.find_sequences(root)
    gt = sloper4d.load_sequence(ref, smpl)
    keyframes = np.arange(0, n, step)
    depth = np.full((len(keyframes), 288, 512), 4.0, np.float32)
    scene = {"depth_hw": depth, "conf_hw": np.ones_like(depth), "img_idx": keyframes.tolist(),
             "intrinsics": np.array([[300.0, 0, 256], [0, 300.0, 144], [0, 0, 1]], np.float32)}  # fmt: skip
    F.write_official_prediction(root / ref.name, c2w, F.camera_frame_params(gt.body, gt.w2c, smpl), np.arange(n),
                                scene)  # fmt: skip
    return _run(["eval", "--dataset", "sloper4d", "--root", str(root), "--smpl", str(smpl_dir)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1200)
    parser.add_argument("--keyframe-step", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        smpl_dir = write_fake_smpl_folder(tmp / "smpl")
        emdb_wall, emdb_peak = bench_emdb(tmp / "emdb", smpl_dir, args.frames)
        sloper_wall, sloper_peak = bench_sloper4d(tmp / "sloper4d", smpl_dir, args.frames, args.keyframe_step)
    n_key = len(range(0, args.frames, args.keyframe_step))
    print(f"josh eval, {args.frames} frames: EMDB {emdb_wall:.1f} s (peak RSS {emdb_peak:.2f} GB); "
          f"SLOPER4D with {n_key} keyframes of 288x512 {sloper_wall:.1f} s (peak RSS so far {sloper_peak:.2f} GB)")


if __name__ == "__main__":
    main()
