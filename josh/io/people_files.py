"""Per-person motion files `people/<id>.npz` in an AMASS-like layout.

One file per person, plain numpy arrays (no pickle), in the exported world frame of the
reconstruction it came from (Z up, ground at z = 0, metres, seconds, radians). T = number of frames
in which the person is reconstructed.

| key | shape | meaning |
|---|---|---|
| `mocap_framerate` | () float | video frame rate (frames per second) |
| `frame_ids` | (T,) int | video frame index of each row |
| `timestamps` | (T,) float | `frame_ids / mocap_framerate`, seconds |
| `trans` | (T, 3) | world position of the root joint (pelvis) |
| `root_orient` | (T, 3) | world root orientation, axis-angle; it pivots about the root joint |
| `poses` | (T, 3 + 3 * n_pose_bones) | `root_orient` then the body pose, axis-angle per bone |
| `pose_bone_names` | (n_pose_bones,) str | bone of each 3-column group of `poses` after the root |
| `betas`, `shape` | (shape_dim,) | the body model's shape parameters (Anny: 6 phenotypes in [0, 1]) |
| `shape_names` | (shape_dim,) str | name of each shape parameter (Anny: gender, age, muscle, ...) |
| `body_model` | () str | body model name ("anny") |
| `joints` | (T, 24, 3) | world joint positions (SMPL joint order), `joint_names` (24,) |
| `contacts` | (T, n_contact) | probability that each contact-candidate vertex touches the scene |
| `contact_vertex_ids` | (n_contact,) int | mesh vertex id of each contact candidate |
| `contact_set_<name>` | (k,) int | columns of `contacts` in a named set (left_heel, right_toes, ...) |
| `up_axis`, `units` | () str | "z" and "metres" |
| `world_align` | (4, 4) | internal optimiser frame -> this file's frame |

Differences from AMASS/SMPL: `trans` is the root joint itself (in SMPL it is an offset added to the
shape-dependent pelvis), and the pose bones are the body model's (Anny: 19 posable bones + root),
not SMPL's 23. With the body model, `body.mesh(shape, rotvec_to_rotmat(root_orient), trans,
poses[:, 3:].reshape(T, -1, 3))` reproduces the mesh.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import roma
import torch

from josh.body.anny_body import PHENOTYPES
from josh.io.atomic import atomic_path
from josh.types import PersonResult, Reconstruction

SHAPE_NAMES = {"anny": PHENOTYPES}


def person_motion_arrays(person: PersonResult, recon: Reconstruction, body) -> dict[str, np.ndarray]:
    """The arrays of one person's file (see the module docstring for the layout)."""
    T = len(person.frames)
    root_orient = roma.rotmat_to_rotvec(torch.as_tensor(np.asarray(person.root_rotmat, np.float64))).numpy()
    body_pose = np.asarray(person.body_pose, np.float64).reshape(T, -1)
    shape = np.asarray(person.shape)
    arrays = {
        "mocap_framerate": np.array(float(recon.fps)),
        "frame_ids": np.asarray(person.frames),
        "timestamps": np.asarray(person.frames) / float(recon.fps),
        "trans": np.asarray(person.root_transl),
        "root_orient": root_orient,
        "poses": np.concatenate([root_orient, body_pose], 1),
        "pose_bone_names": np.array(getattr(body, "pose_bone_names", [])),
        "betas": shape,
        "shape": shape,
        "shape_names": np.array(SHAPE_NAMES.get(body.name, [])),
        "body_model": np.array(body.name),
        "joints": np.asarray(person.joints),
        "joint_names": np.array(body.joint_names),
        "contacts": np.asarray(person.contacts),
        "contact_vertex_ids": np.asarray(body.contact_vertex_ids),
        "up_axis": np.array("z"),
        "units": np.array("metres"),
        "world_align": np.asarray(recon.world_align, np.float64),
    }
    arrays.update({f"contact_set_{name}": np.asarray(ids) for name, ids in body.contact_sets.items()})
    return arrays


def write_person_files(recon: Reconstruction, body, folder: str | Path) -> dict[int, Path]:
    """`folder/<id>.npz` for every person, each written atomically; person id -> path."""
    folder = Path(folder)
    paths = {}
    for person in recon.people:
        path = folder / f"{person.person_id}.npz"
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **person_motion_arrays(person, recon, body))
        paths[person.person_id] = path
    return paths
