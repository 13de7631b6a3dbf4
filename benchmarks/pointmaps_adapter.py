"""Time the point-map adapter at a realistic size: 21 keyframes of 512x288 maps, 960x540 frames.

    PYTHONPATH=. python benchmarks/pointmaps_adapter.py [--keyframes 21]

The maps are ray-cast from the synthetic plane + box scene (josh.testing.pointmap_scene) along a
walking camera path, so the recovered poses can be checked against the truth. Timed: the whole
`scene_from_pointmaps` with poses from the file (Pi3 / VGGT case) and with poses from images
(SIFT + PnP, MASt3R-without-matches case; map scales perturbed per keyframe).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keyframes", type=int, default=21)
    args = parser.parse_args()

    from josh.interop.pointmaps import scene_from_pointmaps, validate_pointmaps
    from josh.testing.pointmap_scene import PlaneAndBox, look

    K, map_size, frame_size, focal = args.keyframes, (512, 288), (960, 540), 420.0
    scene = PlaneAndBox(box_min=(-1.0, 0.5, 6.0), box_max=(0.5, 1.5, 7.5))
    poses = np.stack([look(0.01 * k, 0.2, [0.05 * k, 0.0, 0.12 * k]) for k in range(K)])
    points, conf, rgb = (np.stack(x) for x in zip(*[scene.render(T, focal, map_size) for T in poses]))
    frame_ids = np.arange(K) * 5
    rel = np.linalg.inv(poses[0]) @ poses
    results = {"keyframes": K, "map_size": map_size, "frame_size": frame_size}
    cases = {
        "file_poses": {"points": points, "conf": conf, "T_wc": poses, "frame_ids": frame_ids},
        "sift_pnp": {"points": points * np.linspace(1.0, 1.5, K)[:, None, None, None], "conf": conf, "rgb": rgb,
                     "frame_ids": frame_ids},  # fmt: skip
    }
    for name, arrays in cases.items():
        pm = validate_pointmaps(arrays)
        t0 = time.perf_counter()
        est = scene_from_pointmaps(pm, image_size=frame_size)
        seconds = time.perf_counter() - t0
        results[name] = {
            "seconds": round(seconds, 3),
            "correspondences": len(est.correspondences),
            "focal_error_pct": round(100 * abs(est.intrinsics.focal * map_size[0] / frame_size[0] - focal) / focal, 4),
            "max_centre_error_m": round(float(np.abs(est.keyframe_T_wc[:, :3, 3] - rel[:, :3, 3]).max()), 4),
            "unposed_keyframes": est.stats["unposed_keyframes"],
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
