"""The ground-plane fallback measured against a truth: people walking past a camera that stands still.

    PYTHONPATH=. python benchmarks/still_camera.py [--seeds 0,1,2,3,4,5] [--people 3] [--focal 560]
        [--sizes ground|prior] [--depth-noise 0.05] [--c1 redescending|linear] [--w-c1 2.0] [--json OUT.json]

A still camera gives SfM nothing to work with, so `josh run` falls back to a ground plane under the
people (`josh.geometry.world_frame.people_ground_plane`), seen by a camera held where it is, at a
guessed focal (`josh.perception.scene.fallback_focal`). demo2 has no still shot and no truth, so
this builds one: a synthetic world (`josh.synth`, flat ground, `SynthConfig.still_camera`) whose
camera stays where it starts while the walkers walk away from it. The people's front-end is simulated as in `josh bench`
(camera-frame bodies with pose, orientation, depth and shape errors, noisy 2D keypoints, contact
labels with flips), at the guessed focal as the real body fit would be; the fallback scene is then
built from those local bodies exactly as the pipeline builds it, and the joint optimisation runs
with the pipeline's settings (one optimisation: the synthetic contact labels stand in for both).

The true focal (`--focal`, px at 960 x 540) is not the guess (0.8 x the long side = 768 px), as on
a real clip. Per seed, for the local bodies (what the front-end gives) and the optimised ones:
- `depth_ratio`: per person, the median over frames of the root's camera-frame depth over the
  true depth; `depth_spread` is the largest minus the smallest across people (0 when everyone is
  placed in one consistent world, whatever its scale) and `scale` their geometric mean;
- `feet_mm`: per person, the median height of the lowest foot vertex over the reconstruction's
  ground (the fallback plane) on the frames the truth has a foot in contact, in millimetres;
- `speed_ratio`: per person, the median walking speed over the true one;
- W-MPJPE / WA-MPJPE (mm, the WHAM protocol, `josh.eval.metrics`) and the focal's error.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from josh.body import load_body_model
from josh.body.protocol import standing_height
from josh.eval import metrics as M
from josh.geometry.world_frame import people_ground_plane
from josh.interop.official_results import people_in_world
from josh.optimize.config import OptimConfig
from josh.perception.one_ground import place_on_one_ground, scaled_track
from josh.perception.scene import empty_correspondences, fallback_focal, ground_plane_scene
from josh.pipeline.stages import optimise
from josh.synth.config import NoiseConfig, SynthConfig
from josh.synth.frontend import simulate_frontends
from josh.synth.generate import generate_world
from josh.synth.truth import GroundTruth
from josh.types import FrontEndInputs, HumanTrack, Intrinsics

SPEED_WINDOW_S = 0.5


def local_bodies_at(humans: list[HumanTrack], focal_true: float, focal_guess: float, body) -> list[HumanTrack]:
    """The tracks as the built-in body fit gives them (`josh.perception.bodyfit`): at `focal_guess`,
    and every person the average adult's stature at the distance that keeps their pixels (a
    person s times larger is s times further along the same rays), so a tall person is too near
    and a short one too far. `josh.synth.frontend` simulates the true size at the true focal."""
    average = standing_height(body, body.default_shape)
    out = []
    for h in humans:
        h = scaled_track(h, average / standing_height(body, h.shape), body)
        t = np.array(h.root_transl, np.float64)
        t[:, 2] *= focal_guess / focal_true  # same pixels: depth (only) follows the focal
        out.append(dataclasses.replace(h, root_transl=t, focal_assumed=float(focal_guess)))
    return out


def fallback_inputs(gt: GroundTruth, humans: list[HumanTrack], body, one_ground: bool = True) -> FrontEndInputs:
    """What the pipeline's ground-plane fallback hands the optimiser (`stages.ground_plane_from_contacts`);
    `one_ground=False`: the people as the body fit sized them (before `josh.perception.one_ground`)."""
    intr = gt.intrinsics
    guess = Intrinsics.centred(fallback_focal(intr.width, intr.height), intr.width, intr.height)
    identity = np.repeat(np.eye(4)[None], gt.n_frames, 0)
    if one_ground:
        humans, plane = place_on_one_ground(humans, body)
    else:
        plane = people_ground_plane(people_in_world(humans, identity, body), body)
    obs, _ = ground_plane_scene(guess, gt.keyframe_ids, stride=int(gt.depth_stride), plane=plane)
    return FrontEndInputs(
        n_frames=gt.n_frames, fps=gt.fps, intrinsics=guess, keyframes=obs,
        keyframe_T_wc=np.repeat(np.eye(4)[None], len(gt.keyframe_ids), 0),
        correspondences=empty_correspondences(), humans=humans, body_model=getattr(body, "name", "anny"),
        frame_T_wc=identity, static_camera=True,
    )  # fmt: skip


def figures(gt: GroundTruth, people, focal: float, body) -> dict:
    """The figures of the module docstring for `people` (PersonResult, in the camera frame)."""
    T_cw = np.linalg.inv(gt.T_wc[0])
    truth = {p.person_id: p for p in gt.people}
    plane = people_ground_plane(people, body)
    per = []
    for p in people:
        true = truth[p.person_id]
        common, ip, it = np.intersect1d(p.frames, true.frames, return_indices=True)
        true_cam = true.root_transl[it] @ T_cw[:3, :3].T + T_cw[:3, 3]
        depth_ratio = float(np.median(p.root_transl[ip, 2] / true_cam[:, 2]))
        lowest = (p.foot_vertices[ip] @ plane[:3]).min(1) - plane[3]
        on_ground = true.contacts[it].any(1)
        per.append({
            "id": int(p.person_id),
            "depth_ratio": depth_ratio,
            "feet_mm": float(1000 * np.median(lowest[on_ground])) if on_ground.any() else None,
            "speed_ratio": _speed(p.root_transl[ip], gt.fps) / _speed(true.root_transl[it], gt.fps),
            "w_mpjpe": float(np.mean(M.w_mpjpe(p.joints[ip], true.joints[it]))),
            "wa_mpjpe": float(np.mean(M.wa_mpjpe(p.joints[ip], true.joints[it]))),
        })  # fmt: skip
    logs = np.log([q["depth_ratio"] for q in per])
    return {
        "focal_err": focal / gt.intrinsics.focal - 1,
        "scale": float(np.exp(logs.mean())),
        "depth_spread": float(np.exp(logs.max() - logs.min()) - 1),
        "people": per,
    }


def _speed(root: np.ndarray, fps: float) -> float:
    """Median horizontal speed over half-second windows (the camera's z is depth, y is down)."""
    step = max(1, int(round(SPEED_WINDOW_S * fps)))
    d = root[step:] - root[:-step]
    return float(np.median(np.linalg.norm(d[:, [0, 2]], axis=1)) * fps / step)


def run_seed(seed: int, people: int, focal: float, noise: NoiseConfig, optim: OptimConfig, body, one_ground: bool = True) -> dict:
    gt = generate_world(SynthConfig(people=people, focal=focal, seed=seed, still_camera=True), body)
    humans = simulate_frontends(gt, noise, body, seed=seed).humans
    humans = [h for h in humans if len(h.frames) >= 10]
    inputs = fallback_inputs(gt, local_bodies_at(humans, focal, fallback_focal(gt.intrinsics.width, gt.intrinsics.height), body), body,
                             one_ground)
    identity = np.repeat(np.eye(4)[None], gt.n_frames, 0)
    local = figures(gt, people_in_world(inputs.humans, identity, body), inputs.intrinsics.focal, body)
    recon = optimise(inputs, body, optim)
    return {"seed": seed, "local": local, "optimised": figures(gt, recon.people, recon.intrinsics.focal, body)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2,3,4,5")
    parser.add_argument("--people", type=int, default=3)
    parser.add_argument("--focal", type=float, default=560.0, help="true focal, px at 960 x 540")
    parser.add_argument("--depth-noise", type=float, default=NoiseConfig.root_depth_noise,
                        help="the people front-end's relative root-depth error (NoiseConfig.root_depth_noise)")
    parser.add_argument("--c1", choices=("redescending", "linear"), default=None)
    parser.add_argument("--w-c1", type=float, default=None)
    parser.add_argument("--sizes", choices=("ground", "prior"), default="ground",
                        help="ground: people scaled onto one ground (the pipeline); prior: as the body fit sized them")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    optim = OptimConfig()
    if args.c1 is not None:
        optim = dataclasses.replace(optim, c1_redescending=args.c1 == "redescending")
    if args.w_c1 is not None:
        optim = dataclasses.replace(optim, w_c1=args.w_c1)
    noise = NoiseConfig(focal_error=0.0, root_depth_noise=args.depth_noise)
    body = load_body_model("anny")
    results = []
    for seed in (int(s) for s in args.seeds.split(",")):
        r = run_seed(seed, args.people, args.focal, noise, optim, body, args.sizes == "ground")
        results.append(r)
        for stage in ("local", "optimised"):
            f = r[stage]
            print(f"seed {seed} {stage:9s} focal {100 * f['focal_err']:+5.1f}% scale {f['scale']:.3f} spread {100 * f['depth_spread']:5.1f}% | "
                  + " | ".join(f"{q['depth_ratio']:.3f} feet {q['feet_mm'] or float('nan'):+6.0f} v {q['speed_ratio']:.2f} "
                               f"W {q['w_mpjpe']:4.0f} WA {q['wa_mpjpe']:4.0f}" for q in f["people"]), flush=True)  # fmt: skip
    summary = {}
    for stage in ("local", "optimised"):
        rows = [r[stage] for r in results]
        people = [q for f in rows for q in f["people"]]
        summary[stage] = {
            "depth_spread_pct": 100 * float(np.median([f["depth_spread"] for f in rows])),
            "abs_feet_mm": float(np.median([abs(q["feet_mm"]) for q in people if q["feet_mm"] is not None])),
            "speed_ratio": float(np.median([q["speed_ratio"] for q in people])),
            "w_mpjpe": float(np.median([q["w_mpjpe"] for q in people])),
            "wa_mpjpe": float(np.median([q["wa_mpjpe"] for q in people])),
            "focal_err_pct": 100 * float(np.median([f["focal_err"] for f in rows])),
        }
        print(stage, json.dumps({k: round(v, 2) for k, v in summary[stage].items()}))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "seeds": results}, indent=1))


if __name__ == "__main__":
    main()
