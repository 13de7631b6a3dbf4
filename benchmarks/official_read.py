"""Time reading a generated 1,000-frame official JOSH input folder (target: under 10 s).

    PYTHONPATH=. python benchmarks/official_read.py [--frames 1000] [--people 3] [--size 640 360]

The folder (rgb/ jpgs, mask/ png + SAM3 json with RLE masks, tram/ and deco/ per track) and a
generated SMPL model file are written to a temporary folder first (not timed). Timed: the whole
`read_official_folder` (frame list, SAM3 detections, TRAM -> HumanTracks with box re-alignment,
DECO -> contact probabilities), then decoding every person mask (png union) and every SAM3 RLE.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--people", type=int, default=3)
    parser.add_argument("--size", type=int, nargs=2, default=(640, 360), metavar=("W", "H"))
    args = parser.parse_args()

    from josh.body import load_body_model
    from josh.interop.official_inputs import read_official_folder
    from josh.testing.fake_official import write_fake_official_folder
    from josh.testing.fake_smpl import write_fake_smpl_folder

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        write_fake_official_folder(tmp / "seq", n_frames=args.frames, n_people=args.people, size=tuple(args.size))
        body = load_body_model("smpl", model_path=write_fake_smpl_folder(tmp / "smpl"))
        t_make = time.perf_counter() - t0

        t0 = time.perf_counter()
        inputs = read_official_folder(tmp / "seq", body, working_size=(args.size[0] // 2, args.size[1] // 2))
        t_read = time.perf_counter() - t0

        t0 = time.perf_counter()
        covered = sum(int(inputs.masks[i].sum()) for i in range(inputs.n_frames))
        t_png = time.perf_counter() - t0
        t0 = time.perf_counter()
        n_instances = sum(len(inputs.masks.instances(i)) for i in range(inputs.n_frames))
        t_rle = time.perf_counter() - t0

    result = {
        "frames": inputs.n_frames,
        "tracks": len(inputs.tracks),
        "track_rows": int(sum(len(t.human.frames) for t in inputs.tracks)),
        "image_size": list(args.size),
        "read_official_folder_s": round(t_read, 3),
        "all_union_masks_png_s": round(t_png, 3),
        "all_instance_masks_rle_s": round(t_rle, 3),
        "instances_decoded": n_instances,
        "mask_pixels": covered,
        "fixture_generation_s": round(t_make, 3),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
