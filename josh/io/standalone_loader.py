"""Load a JOSH `reconstruction.npz` with numpy only (no JOSH needed).

`josh run` copies this file next to its results as `load_reconstruction.py`:

    from load_reconstruction import load
    rec = load("reconstruction.npz")
    rec["T_wc"]            # (N, 4, 4) camera-to-world of every frame (OpenCV camera axes)
    rec["intrinsics"]      # {"focal", "cx", "cy", "width", "height"} in pixels
    rec["scene_points"]    # (M, 3) metres, world Z up, ground at z = 0
    rec["people"][i]       # {"person_id", "frames", "root_rotmat", "root_transl", "body_pose",
                           #  "shape", "joints", "foot_vertices", "contact_vertices", "contacts"}
    rec["metadata"]        # settings, losses, warnings, video frame of each frame ("video_frames")

Inside JOSH, `josh.io.reconstruction_file.load_reconstruction` gives the same as dataclasses.
Run `python load_reconstruction.py [reconstruction.npz]` for a one-screen summary.
"""

from __future__ import annotations

import json
import sys

import numpy as np

FORMAT_NAME = "josh-reconstruction"


def load(path: str = "reconstruction.npz") -> dict:
    """Every array and header field of a JOSH reconstruction file, as a dict."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    if str(arrays.get("josh_format", np.array("")).item()) != FORMAT_NAME:
        raise ValueError(f"{path} is not a JOSH reconstruction file")
    header = json.loads(str(arrays.pop("header").item()))
    rec = {k: v for k, v in arrays.items() if "/" not in k}
    rec.update(fps=header["fps"], intrinsics=header["intrinsics"], depth_stride=header["depth_stride"],
               body_model=header["body_model"], metadata=header["metadata"])  # fmt: skip
    rec["people"] = []
    for pid in header["person_ids"]:
        prefix = f"person_{pid}/"
        person = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
        rec["people"].append({"person_id": pid, **person})
    return rec


def _summary(rec: dict) -> str:
    lines = [f"{len(rec['T_wc'])} frames at {rec['fps']:.2f} fps, focal {rec['intrinsics']['focal']:.1f} px, "
             f"{len(rec['scene_points'])} scene points, body model {rec['body_model']}"]  # fmt: skip
    for p in rec["people"]:
        lines.append(f"  person {p['person_id']}: {len(p['frames'])} frames ({p['frames'][0]}..{p['frames'][-1]})")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - a convenience for users
    print(_summary(load(sys.argv[1] if len(sys.argv) > 1 else "reconstruction.npz")))
