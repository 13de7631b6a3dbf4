"""A generated stand-in for the licensed SMPL model file, for tests.

`write_fake_smpl(path)` writes a pickle with the keys, shapes and dtypes of the real
`SMPL_{NEUTRAL,MALE,FEMALE}.pkl` (v_template, f, weights, posedirs, shapedirs, J_regressor as a
scipy sparse matrix, kintree_table, J, ...), filled with a crude but valid human-like rig: 24 joints
at roughly adult positions (Y up, metres, SMPL's joint order and tree), vertices scattered around
the bones and skinned to them, a joint regressor that recovers the joints from nearby vertices,
small random shape and pose blend shapes. The foot-sliding vertices of the field's protocol
(heels 3387 / 6787, big toes 3216 / 6617, left / right, as in the real model) are placed on the
soles. `smplx.SMPL` loads it like the real file, so every loading and evaluation code path runs
without the licensed data.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import scipy.sparse

N_VERTICES = 6890
N_FACES = 13776
N_JOINTS = 24
PARENTS = np.array([-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21])
FOOT_VERTICES = {"left": (3387, 3216), "right": (6787, 6617)}  # (heel, big toe) per foot, as in real SMPL

# Rest joint positions (x = body's left, y = up, z = forward), pelvis-relative, metres.
_JOINTS = np.array([
    [0.00, 0.00, 0.00], [0.07, -0.09, 0.00], [-0.07, -0.09, 0.00], [0.00, 0.11, -0.02],
    [0.11, -0.47, 0.00], [-0.11, -0.47, 0.00], [0.00, 0.24, 0.00], [0.09, -0.87, -0.04],
    [-0.09, -0.87, -0.04], [0.00, 0.29, 0.02], [0.12, -0.93, 0.08], [-0.12, -0.93, 0.08],
    [0.00, 0.51, -0.01], [0.08, 0.42, 0.00], [-0.08, 0.42, 0.00], [0.00, 0.58, 0.05],
    [0.19, 0.45, -0.02], [-0.19, 0.45, -0.02], [0.45, 0.43, -0.04], [-0.45, 0.43, -0.04],
    [0.70, 0.44, -0.03], [-0.70, 0.44, -0.03], [0.78, 0.43, -0.04], [-0.78, 0.43, -0.04],
])  # fmt: skip
_PELVIS = np.array([-0.0017, -0.2233, 0.0282])  # where SMPL's template puts the pelvis
_GENDER_SCALE = {"neutral": 1.0, "male": 1.05, "female": 0.95}


def _skeleton(gender: str) -> np.ndarray:
    return _JOINTS * _GENDER_SCALE[gender] + _PELVIS


def _vertices_and_weights(J: np.ndarray, rng: np.random.Generator, parents: np.ndarray = PARENTS,
                          n_vertices: int = N_VERTICES, share=None, radius=None):
    """Vertices scattered around each bone segment (joint -> first child), skinned to it.
    `share` (per joint) splits the vertices between bones (default: evenly), `radius` (per joint)
    is the spread about the bone (default 4 cm)."""
    n_joints = len(parents)
    children = {j: np.flatnonzero(parents == j) for j in range(n_joints)}
    share = np.ones(n_joints) if share is None else np.asarray(share, float)
    radius = np.full(n_joints, 0.04) if radius is None else np.asarray(radius, float)
    per_joint = np.floor(n_vertices * share / share.sum()).astype(int)
    per_joint[: n_vertices - per_joint.sum()] += 1
    verts, bone = [], []
    for j in range(n_joints):
        end = J[children[j][0]] if len(children[j]) else J[j] + 0.6 * (J[j] - J[parents[j]])
        s = rng.uniform(0, 1, per_joint[j])[:, None]
        radial = rng.normal(0, 1, (per_joint[j], 3))
        verts.append(J[j] + s * (end - J[j]) + radius[j] * radial)
        bone.append(np.full(per_joint[j], j))
    V, bone = np.concatenate(verts), np.concatenate(bone)
    W = np.zeros((n_vertices, n_joints))
    W[np.arange(n_vertices), bone] = 0.8
    parent = np.where(parents[bone] >= 0, parents[bone], bone)
    W[np.arange(n_vertices), parent] += 0.2
    return V, W


def _pin(V: np.ndarray, W: np.ndarray, vertex: int, position, bone: int) -> None:
    """Put `vertex` at `position`, rigidly skinned to `bone`."""
    V[vertex] = position
    W[vertex] = 0.0
    W[vertex, bone] = 1.0


def _place_feet(V: np.ndarray, W: np.ndarray, J: np.ndarray, foot_vertices=FOOT_VERTICES) -> None:
    """Heel and big-toe vertices (and small toe, when given) on the sole of each foot."""
    for side, ids in foot_vertices.items():
        ankle, foot = (7, 10) if side == "left" else (8, 11)
        sole_y = J[foot, 1] - 0.04
        outward = 0.03 if side == "left" else -0.03  # +x is the body's left
        _pin(V, W, ids[0], [J[ankle, 0], sole_y, J[ankle, 2] - 0.05], foot)
        _pin(V, W, ids[1], [J[foot, 0], sole_y, J[foot, 2] + 0.07], foot)
        if len(ids) > 2:
            _pin(V, W, ids[2], [J[foot, 0] + outward, sole_y, J[foot, 2] + 0.05], foot)


def _regressor(V: np.ndarray, J: np.ndarray, k: int = 12) -> scipy.sparse.csc_matrix:
    """Each joint as an affine combination of k nearby vertices that reproduces it exactly."""
    rows, cols, vals = [], [], []
    for j in range(len(J)):
        near = np.argsort(np.linalg.norm(V - J[j], axis=1))[:k]
        A = np.vstack([V[near].T, np.ones(k)])  # 4 x k: sum w v = J, sum w = 1
        w = np.linalg.lstsq(A, np.append(J[j], 1.0), rcond=None)[0]
        rows += [j] * k
        cols += near.tolist()
        vals += w.tolist()
    return scipy.sparse.csc_matrix((vals, (rows, cols)), shape=(len(J), len(V)))


def _faces(n_faces: int, n_vertices: int) -> np.ndarray:
    """Valid but meaningless triangles: faces wrap around the vertex list, with different
    neighbours on each lap."""
    i = np.arange(n_faces)
    lap = i // n_vertices
    return np.stack([i % n_vertices, (i + 1 + lap) % n_vertices, (i + 3 + 2 * lap) % n_vertices], 1)


def _shapedirs(V: np.ndarray, n_dirs: int, rng: np.random.Generator) -> np.ndarray:
    """Direction 0 ~ stature, 1 ~ width, the rest small random offsets."""
    shapedirs = np.zeros((len(V), 3, n_dirs))
    shapedirs[:, 1, 0] = 0.03 * (V[:, 1] - V[:, 1].mean())
    shapedirs[:, 0, 1] = 0.02 * V[:, 0]
    shapedirs[:, :, 2:] = 0.002 * rng.normal(size=(len(V), 3, n_dirs - 2))
    return shapedirs


def _kintree(parents: np.ndarray) -> np.ndarray:
    return np.stack([np.where(parents < 0, 4294967295, parents), np.arange(len(parents))]).astype(np.int64)


def fake_smpl_dict(gender: str = "neutral", seed: int = 0, num_betas: int = 10) -> dict:
    """The contents of a fake SMPL pickle (see module doc)."""
    if gender not in _GENDER_SCALE:
        raise ValueError(f"gender must be one of {sorted(_GENDER_SCALE)}")
    rng = np.random.default_rng(seed)
    J = _skeleton(gender)
    V, W = _vertices_and_weights(J, rng)
    _place_feet(V, W, J)
    faces = _faces(N_FACES, N_VERTICES)
    shapedirs = _shapedirs(V, num_betas, rng)
    kintree = _kintree(PARENTS)
    return {
        "v_template": V.astype(np.float64),
        "f": faces.astype(np.uint32),
        "weights": W.astype(np.float64),
        "posedirs": (1e-3 * rng.normal(size=(N_VERTICES, 3, 207))).astype(np.float64),
        "shapedirs": shapedirs.astype(np.float64),
        "J_regressor": _regressor(V, J),
        "J_regressor_prior": _regressor(V, J),
        "weights_prior": W.astype(np.float64),
        "kintree_table": kintree,
        "J": J.astype(np.float64),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
        "vert_sym_idxs": np.arange(N_VERTICES, dtype=np.int64),
    }


def write_fake_smpl(path: str | Path, gender: str = "neutral", seed: int = 0) -> Path:
    """Write a fake `SMPL_<GENDER>.pkl` (pickle protocol 2, like the original) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(fake_smpl_dict(gender, seed), fh, protocol=2)
    return path


def write_fake_smpl_folder(folder: str | Path, seed: int = 0) -> Path:
    """`folder/SMPL_{NEUTRAL,MALE,FEMALE}.pkl`, the layout smplx's `model_path` expects."""
    folder = Path(folder)
    for g in ("neutral", "male", "female"):
        write_fake_smpl(folder / f"SMPL_{g.upper()}.pkl", g, seed)
    return folder
