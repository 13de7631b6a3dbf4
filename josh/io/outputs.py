"""All result files of a run, in one call: `write_outputs(recon, body, out_dir)`.

out_dir/
  reconstruction.npz   lossless Reconstruction (josh.io.reconstruction_file), exported frame
  people/<id>.npz      per-person AMASS-like motion (josh.io.people_files)
  scene.ply            coloured scene points
  scene.glb            points, sampled body meshes, camera path and frustums
  recording.rrd        rerun recording (animated bodies, cameras, video frames if given)
  report.json          the caller's report + export timings and sizes (only if a report is given)

Every file is written atomically; report.json is removed first and written last, so it marks a
complete set (a run that fails part-way leaves no report.json).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Iterable

import numpy as np

from josh.geometry.world_frame import align_world
from josh.io.atomic import ensure_writable_dir, write_json
from josh.io.people_files import write_person_files
from josh.io.reconstruction_file import save_reconstruction
from josh.io.rerun_recording import write_recording
from josh.io.scene_export import write_scene_glb, write_scene_ply
from josh.types import Reconstruction

log = logging.getLogger(__name__)


def write_outputs(recon: Reconstruction, body, out_dir: str | Path,
                  frames: Iterable[tuple[int, np.ndarray]] | None = None, report: dict | None = None, *,
                  align: bool = True, bodies_per_person: int = 10,
                  timings: dict[str, float] | None = None) -> dict[str, Path]:  # fmt: skip
    """Write every output file; returns name -> path (names: reconstruction, person_<id>, scene_ply,
    scene_glb, recording, report).

    `align`: move `recon` to the estimated gravity-aligned Z-up world first (from whatever frame it
    is in; `world_align` records the move). `frames`: optional (frame_index, RGB uint8) video frames
    for the recording, streamed. `timings`, if given, is filled with seconds per output.
    """
    out = ensure_writable_dir(out_dir)
    timings = {} if timings is None else timings
    report_path = out / "report.json"
    if report is not None:
        report_path.unlink(missing_ok=True)
    written: dict[str, Path] = {}

    def step(name: str, write):
        start = time.perf_counter()
        result = write()
        timings[name] = time.perf_counter() - start
        return result

    if align:
        recon = step("align", lambda: align_world(recon, body))
    written["reconstruction"] = step("reconstruction", lambda: save_reconstruction(recon, out / "reconstruction.npz"))
    people = step("people", lambda: write_person_files(recon, body, out / "people"))
    written.update({f"person_{pid}": path for pid, path in people.items()})
    written["scene_ply"] = step("scene_ply", lambda: write_scene_ply(recon, out / "scene.ply"))
    written["scene_glb"] = step("scene_glb", lambda: write_scene_glb(recon, body, out / "scene.glb",
                                                                     bodies_per_person=bodies_per_person))  # fmt: skip
    written["recording"] = step("recording", lambda: write_recording(recon, body, out / "recording.rrd", frames))
    log.info("outputs written to %s in %.2f s (%s)", out, sum(timings.values()),
             ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()))  # fmt: skip
    if report is not None:
        files = {name: {"path": str(path.relative_to(out)), "bytes": path.stat().st_size}
                 for name, path in written.items()}  # fmt: skip
        export = {"seconds": dict(timings), "files": files, "world_frame": recon.metadata.get("world_frame")}
        written["report"] = write_json(report_path, {**report, "export": export})
    return written
