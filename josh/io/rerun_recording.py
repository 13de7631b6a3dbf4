"""A rerun recording (.rrd) of a reconstruction: open it with `rerun recording.rrd` (same rerun version).

Entities (world declared right-handed Z up, for the exported frame):
- `world/scene`: scene points with colours (static);
- `world/camera`: camera pose per frame; `world/camera/image`: pinhole with the intrinsics (static)
  and the video frame as JPEG when frames are given; `world/camera_path`: the path so far;
- `world/people/<id>/body`: the full body mesh per frame (triangles and colour logged once, static:
  that halves the file); `world/people/<id>/contacts`: the contact candidates, red and larger where
  the contact probability is above 0.5.
Timelines: `frame` (video frame index) and `time` (seconds).
"""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path
from typing import Iterable

import numpy as np

from josh.errors import InputError
from josh.io.atomic import atomic_path
from josh.io.meshes import evenly_spaced, person_color, person_meshes
from josh.types import Reconstruction

os.environ.setdefault("RERUN_ANALYTICS", "0")  # before rerun is imported: no usage data, ever

CONTACT_COLOR = np.array([230, 30, 30], np.uint8)
CANDIDATE_COLOR = np.array([150, 150, 150], np.uint8)
CAMERA_COLOR = np.array([220, 40, 40], np.uint8)


def write_recording(recon: Reconstruction, body, path: str | Path,
                    frames: Iterable[tuple[int, np.ndarray]] | None = None, *, jpeg_quality: int = 85,
                    max_path_points: int = 256, mesh_batch: int = 32) -> Path:  # fmt: skip
    """Write the recording to `path` atomically.

    `frames`: optional iterable of (frame_index, RGB uint8 (H, W, 3)) video frames, streamed (not
    held); frames of another size with the same aspect ratio are resized to the working resolution.
    `max_path_points` bounds the camera path logged per frame (it is decimated beyond that).
    """
    import rerun as rr

    rec = rr.RecordingStream("josh", recording_id=str(uuid.uuid4()))
    with atomic_path(path) as tmp:
        rec.save(tmp)
        try:
            _log_static(rr, rec, recon, body)
            _log_cameras(rr, rec, recon, max_path_points)
            for index, person in enumerate(recon.people):
                _log_person(rr, rec, recon, body, index, person, mesh_batch)
            if frames is not None:
                _log_video(rr, rec, recon, frames, jpeg_quality)
            rec.flush()
        finally:
            rec.disconnect()  # closes the file sink (writes the footer)
    return Path(path)


def _set_frame(rec, frame: int, fps: float) -> None:
    rec.set_time("frame", sequence=int(frame))
    rec.set_time("time", duration=float(frame) / fps)


def _log_static(rr, rec, recon: Reconstruction, body) -> None:
    rec.log("world", rr.ViewCoordinates.RIGHT_HAND_Z_UP, static=True)
    if len(recon.scene_points):
        rec.log("world/scene", rr.Points3D(np.asarray(recon.scene_points, np.float32),
                                           colors=np.asarray(recon.scene_colors, np.uint8)), static=True)  # fmt: skip
    intr = recon.intrinsics
    rec.log("world/camera/image", rr.Pinhole(image_from_camera=intr.matrix(), resolution=[intr.width, intr.height],
                                             camera_xyz=rr.ViewCoordinates.RDF, image_plane_distance=0.3),
            static=True)  # fmt: skip
    faces = np.asarray(body.faces, np.uint32)
    for index, person in enumerate(recon.people):
        rec.log(f"world/people/{person.person_id}/body",
                rr.Mesh3D.from_fields(triangle_indices=faces, albedo_factor=np.r_[person_color(index), 255]),
                static=True)  # fmt: skip


def _log_cameras(rr, rec, recon: Reconstruction, max_path_points: int) -> None:
    n = len(recon.T_wc)
    centres = np.asarray(recon.T_wc[:, :3, 3], np.float32)
    rec.send_columns(
        "world/camera",
        indexes=[rr.TimeColumn("frame", sequence=np.arange(n)), rr.TimeColumn("time", duration=np.arange(n) / recon.fps)],
        columns=rr.Transform3D.columns(translation=centres, mat3x3=np.asarray(recon.T_wc[:, :3, :3], np.float32)),
    )
    for frame in range(n):
        _set_frame(rec, frame, recon.fps)
        so_far = centres[: frame + 1][evenly_spaced(frame + 1, max_path_points)]
        rec.log("world/camera_path", rr.LineStrips3D([so_far], colors=CAMERA_COLOR))


def _log_person(rr, rec, recon: Reconstruction, body, index: int, person, mesh_batch: int) -> None:
    entity = f"world/people/{person.person_id}"
    frames = np.asarray(person.frames)
    in_contact = np.asarray(person.contacts) > 0.5
    for row, vertices in person_meshes(body, person, np.arange(len(frames)), mesh_batch):
        _set_frame(rec, frames[row], recon.fps)
        rec.log(f"{entity}/body", rr.Mesh3D.from_fields(vertex_positions=vertices))
        rec.log(f"{entity}/contacts", rr.Points3D(
            np.asarray(person.contact_vertices[row], np.float32),
            colors=np.where(in_contact[row, :, None], CONTACT_COLOR, CANDIDATE_COLOR),
            radii=np.where(in_contact[row], 0.02, 0.006).astype(np.float32),
        ))  # fmt: skip
    # hide the person in frames where they are not reconstructed (gaps, after the last frame)
    for frame in sorted(set(frames + 1) - set(frames)):
        if frame < len(recon.T_wc):
            _set_frame(rec, frame, recon.fps)
            rec.log(f"{entity}/body", rr.Mesh3D.from_fields(vertex_positions=np.zeros((0, 3), np.float32)))
            rec.log(f"{entity}/contacts", rr.Points3D(np.zeros((0, 3), np.float32)))


def _log_video(rr, rec, recon: Reconstruction, frames, jpeg_quality: int) -> None:
    from PIL import Image

    size = (recon.intrinsics.width, recon.intrinsics.height)
    for frame, rgb in frames:
        if not 0 <= frame < len(recon.T_wc):
            continue  # the video may be longer than the reconstructed part
        image = Image.fromarray(_check_rgb(rgb, size, frame))
        if image.size != size:
            image = image.resize(size, Image.Resampling.BILINEAR)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=jpeg_quality)
        _set_frame(rec, frame, recon.fps)
        rec.log("world/camera/image", rr.EncodedImage(contents=buffer.getvalue(), media_type="image/jpeg"))


def _check_rgb(rgb, size: tuple[int, int], frame: int) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InputError(f"video frame {frame}: expected RGB uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    h, w = rgb.shape[:2]
    if abs(w / h - size[0] / size[1]) > 0.01 * size[0] / size[1]:
        raise InputError(f"video frame {frame} is {w}x{h}; the reconstruction's frames are {size[0]}x{size[1]} "
                         "(different aspect ratio)")  # fmt: skip
    return rgb
