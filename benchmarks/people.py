"""Measure the people front-end on a video: wall time (median of runs), tracks, coverage.

    python benchmarks/people.py [VIDEO] [--runs 3] [--render DIR --render-every 10]

VIDEO defaults to $JOSH_DEMO_VIDEO or /work/shared/data/demo2.mp4. Wall time covers decoding,
detection and tracking of every frame. `--render` writes annotated PNGs (boxes, keypoints,
track ids, masks) to check identities by eye; they are for looking at, not for committing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np


PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40)]


def render(frame: np.ndarray, result, frame_id: int, path: str) -> None:
    import cv2

    img = frame.copy()
    s = result.mask_stride
    H, W = img.shape[:2]
    k = list(result.frame_ids).index(frame_id)
    union = np.kron(result.union_masks[k], np.ones((s, s), bool))[:H, :W]
    img[union] = (0.6 * img[union] + 0.4 * np.array([255, 255, 255])).astype(np.uint8)
    from josh.perception.people import SKELETON

    colours = PALETTE
    for tr in result.tracks:
        rows = np.flatnonzero(tr.frames == frame_id)
        if not len(rows):
            continue
        r = rows[0]
        col = colours[tr.track_id % len(colours)]
        m = np.kron(tr.masks[r], np.ones((s, s), bool))[:H, :W]
        img[m] = (0.5 * img[m] + 0.5 * np.array(col)).astype(np.uint8)
        x1, y1, x2, y2 = tr.boxes[r].astype(int)
        cv2.rectangle(img, (x1, y1), (x2, y2), col, 2 if tr.detected[r] else 1)
        kp, kc = tr.keypoints2d[r], tr.keypoints_conf[r]
        for a, b in SKELETON:
            if kc[a] > 0.3 and kc[b] > 0.3:
                cv2.line(img, tuple(int(round(x)) for x in kp[a]), tuple(int(round(x)) for x in kp[b]), col, 2)
        for (u, v), c in zip(kp, kc):
            if c > 0.3:
                cv2.circle(img, (int(round(u)), int(round(v))), 3, col, -1)
        label = f"id {tr.track_id}" + ("" if tr.detected[r] else " (filled)")
        cv2.putText(img, label, (x1, max(y1 - 6, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.6, col, 2)
    cv2.putText(img, f"frame {frame_id}", (10, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 0, 0), 2)
    cv2.imwrite(path, cv2.cvtColor(img, cv2.COLOR_RGB2BGR))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video", nargs="?", default=os.environ.get("JOSH_DEMO_VIDEO", "/work/shared/data/demo2.mp4"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--long-side", type=int, default=960)
    ap.add_argument("--max-frames", type=int, default=None)
    ap.add_argument("--render", default=None, help="folder for annotated PNGs")
    ap.add_argument("--render-every", type=int, default=10)
    args = ap.parse_args()

    from josh.perception.people import detect_people
    from josh.perception.video import iter_frames

    times, result = [], None
    for _ in range(args.runs):
        t0 = time.perf_counter()
        result = detect_people(iter_frames(args.video, long_side=args.long_side, max_frames=args.max_frames))
        times.append(time.perf_counter() - t0)
    n = len(result.frame_ids)
    print(f"{n} frames at {result.image_size[0]}x{result.image_size[1]}: wall {[round(t, 1) for t in times]} s, "
          f"median {statistics.median(times):.1f} s ({1000 * statistics.median(times) / n:.0f} ms/frame)")  # fmt: skip
    print(f"detections/frame {result.stats['detections_per_frame']:.2f}, dropped {result.stats['dropped_tracks']}, "
          f"person pixels {100 * result.stats['person_pixel_fraction']:.1f}%")  # fmt: skip
    for tr in result.tracks:
        h = np.median(tr.boxes[:, 3] - tr.boxes[:, 1])
        cx = np.median((tr.boxes[:, 0] + tr.boxes[:, 2]) / 2)
        print(f"  id {tr.track_id:2d}: frames {tr.frames[0]:3d}-{tr.frames[-1]:3d} ({len(tr.frames):3d} = "
              f"{100 * len(tr.frames) / n:3.0f}% of the video, {tr.detected.sum():3d} detected), "
              f"median box height {h:4.0f} px, centre x {cx:4.0f}, mean conf {tr.keypoints_conf[tr.detected].mean():.2f}")  # fmt: skip
    if args.render:
        os.makedirs(args.render, exist_ok=True)
        for fid, frame in iter_frames(args.video, long_side=args.long_side, max_frames=args.max_frames):
            if fid % args.render_every == 0:
                render(frame, result, fid, os.path.join(args.render, f"people_{fid:04d}.png"))
        print(f"annotated frames in {args.render}")


if __name__ == "__main__":
    main()
