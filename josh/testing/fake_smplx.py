"""A generated stand-in for the licensed SMPL-X model file, for tests.

`write_fake_smplx(path)` writes an .npz with the keys, shapes and dtypes of the real
`SMPLX_{NEUTRAL,MALE,FEMALE}.npz` that `smplx.SMPLX` loads: v_template (10475, 3), f (20908, 3),
shapedirs (10475, 3, 400) (300 shape + 100 expression directions, the v1.1 layout; v1.0 files have
10 + 10), posedirs (10475, 3, 486), J_regressor (55, 10475) dense, weights (10475, 55),
kintree_table (2, 55), hands_components{l,r} (45, 45), hands_mean{l,r} (45,), hands_coeffs{l,r},
lmk_faces_idx (51,), lmk_bary_coords (51, 3), dynamic_lmk_faces_idx (79, 17),
dynamic_lmk_bary_coords (79, 17, 3), vt / ft, and the joint2num / part2num dicts as object arrays.

The rig is crude but human-like, built by the same generators as `fake_smpl`: SMPL-X's 55 joints
(the 22 body joints at SMPL's adult positions, then jaw, eyes, and 15 finger joints per hand in
SMPL-X's order index, middle, pinky, ring, thumb), Y up, metres; vertices scattered about the
bones and skinned to them; small random shape and pose blend shapes. The vertices smplx names in
`vertex_ids['smplx']` sit where they should: nose, eyes and ears on the head, big toe, small toe
and heel on each sole. So contact-set selection and keypoints work as on the real model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from josh.testing.fake_smpl import (
    _GENDER_SCALE, _JOINTS, _PELVIS, _faces, _kintree, _pin, _place_feet, _regressor, _shapedirs,
    _vertices_and_weights,
)  # fmt: skip

N_VERTICES = 10475
N_FACES = 20908
N_BODY = 22  # pelvis .. right wrist, as in SMPL
FINGERS = ("index", "middle", "pinky", "ring", "thumb")  # SMPL-X's order, 3 joints each
PARENTS = np.array(
    list(range(-1, 0)) + [0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19]
    + [15, 15, 15]  # jaw, left eye, right eye
    + [p for wrist, base in ((20, 25), (21, 40)) for f in range(5) for p in (wrist, base + 3 * f, base + 3 * f + 1)]
)  # fmt: skip
# vertex_ids['smplx']: (heel, big toe, small toe) per foot, and the face keypoints
FOOT_VERTICES = {"left": (8846, 5770, 5780), "right": (8635, 8463, 8474)}
FACE_VERTICES = {"nose": 9120, "leye": 9448, "reye": 9929, "lear": 6, "rear": 616}

# finger bases relative to the wrist (left hand: +x outward), and the step along each finger
_FINGER_BASE = {"index": (0.09, 0.0, 0.025), "middle": (0.095, 0.0, 0.005), "pinky": (0.08, 0.0, -0.035),
                "ring": (0.09, 0.0, -0.015), "thumb": (0.025, -0.01, 0.03)}  # fmt: skip
_FINGER_STEP = {"index": (0.03, 0, 0), "middle": (0.033, 0, 0), "pinky": (0.022, 0, 0), "ring": (0.03, 0, 0),
                "thumb": (0.02, 0, 0.022)}  # fmt: skip


def _skeleton(gender: str) -> np.ndarray:
    head = _JOINTS[15]
    face = [head + (0.0, -0.04, 0.05), head + (0.03, 0.04, 0.07), head + (-0.03, 0.04, 0.07)]
    hands = []
    for wrist, mirror in ((20, 1.0), (21, -1.0)):
        flip = np.array([mirror, 1.0, 1.0])
        for f in FINGERS:
            base = _JOINTS[wrist] + flip * _FINGER_BASE[f]
            hands += [base + k * flip * np.array(_FINGER_STEP[f]) for k in range(3)]
    J = np.concatenate([_JOINTS[:N_BODY], face, hands])
    return J * _GENDER_SCALE[gender] + _PELVIS


def _place_face(V: np.ndarray, W: np.ndarray, J: np.ndarray) -> None:
    head = J[15]
    _pin(V, W, FACE_VERTICES["nose"], head + (0.0, 0.02, 0.10), 15)
    _pin(V, W, FACE_VERTICES["leye"], J[23] + (0.0, 0.0, 0.012), 23)
    _pin(V, W, FACE_VERTICES["reye"], J[24] + (0.0, 0.0, 0.012), 24)
    _pin(V, W, FACE_VERTICES["lear"], head + (0.075, 0.0, 0.0), 15)
    _pin(V, W, FACE_VERTICES["rear"], head + (-0.075, 0.0, 0.0), 15)


def _unit_bary(rng: np.random.Generator, shape) -> np.ndarray:
    b = rng.uniform(0.05, 1.0, (*shape, 3))
    return b / b.sum(-1, keepdims=True)


def fake_smplx_dict(gender: str = "neutral", seed: int = 0, n_shape: int = 300, n_expression: int = 100) -> dict:
    """The contents of a fake SMPL-X .npz (see module doc). `n_shape`, `n_expression` = 10, 10
    gives the smaller v1.0 layout."""
    if gender not in _GENDER_SCALE:
        raise ValueError(f"gender must be one of {sorted(_GENDER_SCALE)}")
    rng = np.random.default_rng(seed)
    J = _skeleton(gender)
    n_joints = len(PARENTS)
    share = np.r_[np.ones(N_BODY), [0.6, 0.1, 0.1], np.full(30, 0.2)]
    radius = np.r_[np.full(N_BODY, 0.04), [0.03, 0.01, 0.01], np.full(30, 0.008)]
    V, W = _vertices_and_weights(J, rng, PARENTS, N_VERTICES, share, radius)
    _place_feet(V, W, J, FOOT_VERTICES)
    _place_face(V, W, J)
    F = _faces(N_FACES, N_VERTICES)
    hands = {}
    for side in "lr":
        hands[f"hands_components{side}"] = np.linalg.qr(rng.normal(size=(45, 45)))[0]
        hands[f"hands_mean{side}"] = 0.1 * rng.normal(size=45)
        hands[f"hands_coeffs{side}"] = 0.3 * rng.normal(size=(1554, 45))
    names = ["pelvis", "left_hip", "right_hip"]  # (a few: the real dicts are informational)
    return {
        "v_template": V.astype(np.float64),
        "f": F.astype(np.int32),
        "shapedirs": _shapedirs(V, n_shape + n_expression, rng).astype(np.float64),
        "posedirs": (1e-3 * rng.normal(size=(N_VERTICES, 3, 9 * (n_joints - 1)))).astype(np.float64),
        "J_regressor": _regressor(V, J).toarray(),
        "weights": W.astype(np.float64),
        "kintree_table": _kintree(PARENTS),
        **hands,
        "lmk_faces_idx": rng.integers(0, N_FACES, 51).astype(np.int64),
        "lmk_bary_coords": _unit_bary(rng, (51,)),
        "dynamic_lmk_faces_idx": rng.integers(0, N_FACES, (79, 17)).astype(np.int64),
        "dynamic_lmk_bary_coords": _unit_bary(rng, (79, 17)),
        "vt": rng.uniform(0, 1, (11313, 2)),
        "ft": rng.integers(0, 11313, (N_FACES, 3)).astype(np.int32),
        "joint2num": np.array({n: i for i, n in enumerate(names)}, dtype=object),
        "part2num": np.array({n: i for i, n in enumerate(names)}, dtype=object),
    }


def write_fake_smplx(path: str | Path, gender: str = "neutral", seed: int = 0, **layout) -> Path:
    """Write a fake `SMPLX_<GENDER>.npz` (uncompressed, like the release) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:  # a file handle: np.savez would append .npz to other names
        np.savez(fh, **fake_smplx_dict(gender, seed, **layout))
    return path


def write_fake_smplx_folder(folder: str | Path, seed: int = 0, genders=("neutral", "male", "female"), **layout) -> Path:
    """`folder/SMPLX_<GENDER>.npz` for each gender, the layout smplx's `model_path` expects."""
    folder = Path(folder)
    for g in genders:
        write_fake_smplx(folder / f"SMPLX_{g.upper()}.npz", g, seed, **layout)
    return folder
