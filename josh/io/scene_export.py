"""Static scene files: coloured points as PLY, and a GLB of points, bodies and the camera path.

Both are written in the reconstruction's current frame (the exported Z-up world after
`align_world`). The GLB is a still: trimesh writes no glTF animation, so people appear as body
meshes at a few sampled frames (the rerun recording has the animation).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh

from josh.io.atomic import atomic_path
from josh.io.meshes import evenly_spaced, person_color, person_meshes
from josh.types import Reconstruction

CAMERA_COLOR = np.array([220, 40, 40, 255], np.uint8)


def write_scene_ply(recon: Reconstruction, path: str | Path) -> Path:
    """Scene points with their colours as binary little-endian PLY (x y z float, red green blue alpha uchar)."""
    points = np.asarray(recon.scene_points, np.float64).reshape(-1, 3)
    if len(points) == 0:  # e.g. a scene-only run whose SfM failed; trimesh cannot export an empty cloud
        data = EMPTY_PLY
    else:
        data = trimesh.PointCloud(points, colors=_rgba(recon.scene_colors)).export(file_type="ply", encoding="binary")
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


EMPTY_PLY = (b"ply\nformat binary_little_endian 1.0\nelement vertex 0\nproperty float x\nproperty float y\n"
             b"property float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\n"
             b"property uchar alpha\nend_header\n")  # fmt: skip


def build_scene_glb(recon: Reconstruction, body, bodies_per_person: int = 10, n_frustums: int = 5,
                    frustum_depth: float = 0.3) -> trimesh.Scene:  # fmt: skip
    """The trimesh scene of `write_scene_glb`. Geometry names:

    `scene_points`; `camera_path`; `camera_<frame>` (frustums at `n_frustums` evenly spaced frames);
    `person_<id>_frame_<frame>` (full body meshes at `bodies_per_person` evenly spaced frames of
    each person, one colour per person). `frustum_depth` is the frustum length in metres.
    """
    scene = trimesh.Scene()
    if len(recon.scene_points):
        scene.add_geometry(trimesh.PointCloud(recon.scene_points, colors=_rgba(recon.scene_colors)),
                           geom_name="scene_points")  # fmt: skip
    centres = recon.T_wc[:, :3, 3]
    if len(centres) >= 2:
        scene.add_geometry(_lines([centres], CAMERA_COLOR), geom_name="camera_path")
    for frame in evenly_spaced(len(recon.T_wc), n_frustums):
        segments = camera_frustum_segments(recon.T_wc[frame], recon.intrinsics, frustum_depth)
        scene.add_geometry(_lines(list(segments), CAMERA_COLOR), geom_name=f"camera_{frame}")
    faces = np.asarray(body.faces)
    for index, person in enumerate(recon.people):
        material = trimesh.visual.material.PBRMaterial(
            baseColorFactor=np.r_[person_color(index), 255], metallicFactor=0.0, roughnessFactor=0.8
        )
        rows = evenly_spaced(len(person.frames), bodies_per_person)
        for row, vertices in person_meshes(body, person, rows):
            mesh = trimesh.Trimesh(vertices, faces, process=False,
                                   visual=trimesh.visual.TextureVisuals(material=material))  # fmt: skip
            scene.add_geometry(mesh, geom_name=f"person_{person.person_id}_frame_{int(person.frames[row])}")
    return scene


def write_scene_glb(recon: Reconstruction, body, path: str | Path, **options) -> Path:
    """Write `build_scene_glb(recon, body, **options)` as binary glTF (.glb, with vertex normals so
    bodies shade smoothly) atomically."""
    data = build_scene_glb(recon, body, **options).export(file_type="glb", include_normals=True)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def camera_frustum_segments(T_wc: np.ndarray, intrinsics, depth: float) -> np.ndarray:
    """(8, 2, 3) world line segments: centre to the 4 image corners at `depth`, and the image rectangle."""
    w, h = intrinsics.width, intrinsics.height
    corners_px = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
    rays = np.c_[(corners_px - [intrinsics.cx, intrinsics.cy]) / intrinsics.focal, np.ones(4)]
    corners = (depth * rays) @ T_wc[:3, :3].T + T_wc[:3, 3]
    centre = T_wc[:3, 3]
    spokes = [(centre, c) for c in corners]
    rim = [(corners[i], corners[(i + 1) % 4]) for i in range(4)]
    return np.array(spokes + rim)


def _lines(polylines: list[np.ndarray], color: np.ndarray) -> trimesh.path.Path3D:
    """One Path3D of several polylines (each (n, 3)), in one colour."""
    entities, vertices, offset = [], [], 0
    for line in polylines:
        line = np.asarray(line, np.float64)
        entities.append(trimesh.path.entities.Line(np.arange(offset, offset + len(line))))
        vertices.append(line)
        offset += len(line)
    path = trimesh.path.Path3D(entities=entities, vertices=np.concatenate(vertices), process=False)
    path.colors = np.repeat(np.asarray(color, np.uint8)[None], len(entities), 0)
    return path


def _rgba(colors: np.ndarray) -> np.ndarray:
    colors = np.asarray(colors, np.uint8).reshape(-1, 3)
    return np.c_[colors, np.full(len(colors), 255, np.uint8)]
