"""SMPL evaluated the way the field's benchmark scripts do it, for ground truth and predictions.

- Model: `smplx.SMPL` from the user's folder (`--smpl DIR` or `$JOSH_SMPL_DIR`) holding
  `SMPL_{NEUTRAL,MALE,FEMALE}.pkl`. The files are licensed and never shipped; tests use the
  generated stand-in of `josh.testing.fake_smpl`.
- Joints: the first 24 of `SMPL(...).joints` (the skeleton from the rest-joint regressor, not the
  45-joint extended set). Vertices: the 6890 mesh vertices.
- Body models (reference/official-josh.md §1.1): gendered GT for EMDB and SLOPER4D, neutral GT for
  RICH; predictions neutral with per-sequence mean betas (the caller averages them).
- Everything runs in float64 (the official scripts use float32; the difference is numerical
  noise far below the metrics' resolution, and float64 lets tests check values to 1e-6).

Full meshes are large (N x 6890 x 3), so they are produced in frame chunks and only when a metric
needs them (PVE, collision rate); joints and the four foot vertices are always returned.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from josh.errors import InputError, SetupError

FOOT_VERTEX_IDS = (3216, 3387, 6617, 6787)  # the field's FS/FFR vertices: left 3216, 3387; right 6617, 6787
PELVIS_JOINTS = (1, 2)  # local metrics centre on the hip midpoint, not joint 0
N_JOINTS = 24
N_BETAS = 10
GENDERS = ("neutral", "male", "female")
SMPL_DIR_ENV = "JOSH_SMPL_DIR"


def normalise_gender(value) -> str:
    """'female' / 'f' / b'male' / 'Neutral' -> one of GENDERS."""
    text = value.decode() if isinstance(value, bytes) else str(value)
    text = text.strip().lower()
    for gender in GENDERS:
        if text and gender.startswith(text[0]):
            return gender
    raise InputError(f"unknown SMPL gender {value!r} (expected male, female or neutral)")


def resolve_smpl_dir(path: str | os.PathLike | None = None) -> Path:
    """The folder with the SMPL model files: `path`, else `$JOSH_SMPL_DIR`; SetupError if absent."""
    where = path if path else os.environ.get(SMPL_DIR_ENV)
    hint = (f"put SMPL_NEUTRAL.pkl, SMPL_MALE.pkl and SMPL_FEMALE.pkl (licensed, from smpl.is.tue.mpg.de) "
            f"in a folder and pass --smpl DIR or set ${SMPL_DIR_ENV}")  # fmt: skip
    if not where:
        raise SetupError(f"SMPL model files are needed for benchmark evaluation: {hint}")
    folder = Path(where).expanduser()
    if not (folder / "SMPL_NEUTRAL.pkl").is_file() and not (folder / "SMPL_NEUTRAL.npz").is_file():
        raise SetupError(f"no SMPL_NEUTRAL.pkl in {folder}: {hint}")
    return folder


def axis_angle_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle -> (..., 3, 3) rotation matrices (float64)."""
    rotvec = np.asarray(rotvec, dtype=np.float64)
    flat = Rotation.from_rotvec(rotvec.reshape(-1, 3)).as_matrix()
    return flat.reshape(*rotvec.shape[:-1], 3, 3)


@dataclass
class SmplParams:
    """Per-frame SMPL parameters of one body, expressed in some frame (world or camera).

    `transl` is the smplx `transl` argument (the root rotation pivots about the rest pelvis
    J0(betas), so `transl` is not the pelvis position: pelvis = transl + J0 when posed).
    """

    global_orient: np.ndarray  # (N, 3, 3)
    body_pose: np.ndarray  # (N, 23, 3, 3)
    betas: np.ndarray  # (N, 10)
    transl: np.ndarray  # (N, 3)
    gender: str = "neutral"

    def __post_init__(self):
        n = len(self.transl)
        self.global_orient = np.asarray(self.global_orient, np.float64).reshape(n, 3, 3)
        self.body_pose = np.asarray(self.body_pose, np.float64).reshape(n, 23, 3, 3)
        self.betas = _ten_betas(np.asarray(self.betas, np.float64).reshape(n, -1))
        self.transl = np.asarray(self.transl, np.float64).reshape(n, 3)
        self.gender = normalise_gender(self.gender)

    @classmethod
    def from_axis_angle(cls, poses_root, poses_body, betas, transl, gender="neutral") -> "SmplParams":
        """From axis-angle root (N,3) and body (N,69) poses; betas (10,) or (N,10)."""
        transl = np.asarray(transl, np.float64).reshape(-1, 3)
        n = len(transl)
        body = np.asarray(poses_body, np.float64).reshape(n, -1)
        if body.shape[1] != 69:
            raise InputError(f"SMPL body pose must have 69 values per frame (23 joints), got {body.shape[1]}")
        betas = np.asarray(betas, np.float64)
        betas = np.broadcast_to(betas.reshape(1, -1), (n, betas.size)) if betas.ndim == 1 or len(betas) == 1 else betas
        return cls(
            axis_angle_to_matrix(np.asarray(poses_root, np.float64).reshape(n, 3)),
            axis_angle_to_matrix(body.reshape(n, 23, 3)),
            betas.reshape(n, -1),
            transl,
            gender,
        )

    def __len__(self) -> int:
        return len(self.transl)

    def take(self, rows) -> "SmplParams":
        return SmplParams(self.global_orient[rows], self.body_pose[rows], self.betas[rows], self.transl[rows],
                          self.gender)  # fmt: skip

    def with_mean_betas(self) -> "SmplParams":
        """The field's prediction convention: one shape per sequence, the mean over its frames."""
        mean = np.repeat(self.betas.mean(axis=0, keepdims=True), len(self), axis=0)
        return SmplParams(self.global_orient, self.body_pose, mean, self.transl, self.gender)

    def transformed(self, T: np.ndarray, rest_pelvis: np.ndarray) -> "SmplParams":
        """The same bodies moved by rigid 4x4 transform(s) T (4,4) or (N,4,4), exactly.

        The root rotates about the rest pelvis J0, so [R|t] <- O^-1 T O [R|t] with O = translate(J0).
        """
        T = np.broadcast_to(np.asarray(T, np.float64), (len(self), 4, 4))
        rot, trans = T[:, :3, :3], T[:, :3, 3]
        j0 = np.asarray(rest_pelvis, np.float64).reshape(-1, 3)
        new_orient = rot @ self.global_orient
        new_transl = np.einsum("nij,nj->ni", rot, self.transl + j0) + trans - j0
        return SmplParams(new_orient, self.body_pose, self.betas, new_transl, self.gender)


def _ten_betas(betas: np.ndarray) -> np.ndarray:
    """SMPL takes 10 shape coefficients: extra ones are dropped, missing ones are zero."""
    if betas.shape[1] >= N_BETAS:
        return np.ascontiguousarray(betas[:, :N_BETAS])
    return np.pad(betas, ((0, 0), (0, N_BETAS - betas.shape[1])))


@dataclass
class SmplOutput:
    joints: np.ndarray  # (N, 24, 3)
    feet: np.ndarray  # (N, 4, 3) the FOOT_VERTEX_IDS vertices
    vertices: np.ndarray | None = None  # (N, 6890, 3) when asked for


class SmplEvaluator:
    """Loads the SMPL models once per gender and evaluates parameter sequences in chunks."""

    def __init__(self, model_dir: str | os.PathLike | None = None, chunk: int = 64):
        self.model_dir = resolve_smpl_dir(model_dir)
        self.chunk = chunk
        self._models = {}

    def model(self, gender: str):
        gender = normalise_gender(gender)
        if gender not in self._models:
            import smplx
            import torch

            if not any((self.model_dir / f"SMPL_{gender.upper()}.{ext}").is_file() for ext in ("pkl", "npz")):
                raise SetupError(f"no SMPL_{gender.upper()}.pkl in {self.model_dir} (needed for {gender} ground truth)")
            try:
                self._models[gender] = smplx.SMPL(model_path=str(self.model_dir), gender=gender, dtype=torch.float64)
            except Exception as exc:  # a corrupt or foreign pickle
                raise SetupError(f"cannot load SMPL_{gender.upper()} from {self.model_dir}: {exc}") from exc
        return self._models[gender]

    @property
    def faces(self) -> np.ndarray:
        return np.asarray(self.model("neutral").faces, dtype=np.int64)

    def rest_pelvis(self, betas: np.ndarray, gender: str = "neutral") -> np.ndarray:
        """J0(betas): joint 0 of the zero-pose body with these betas, no translation (3,)."""
        n = 1
        params = SmplParams(np.eye(3)[None], np.broadcast_to(np.eye(3), (n, 23, 3, 3)),
                            np.asarray(betas, np.float64).reshape(1, -1), np.zeros((1, 3)), gender)  # fmt: skip
        return self.run(params).joints[0, 0]

    def run(self, params: SmplParams, with_vertices: bool = False) -> SmplOutput:
        """Joints (N,24,3), foot vertices (N,4,3) and optionally all vertices, float64."""
        import torch

        model = self.model(params.gender)
        joints, feet, verts = [], [], []
        with torch.no_grad():
            for start in range(0, max(len(params), 1), self.chunk):
                sl = slice(start, start + self.chunk)
                p = params.take(sl)
                if len(p) == 0:
                    break
                out = model(
                    global_orient=torch.from_numpy(p.global_orient[:, None].copy()),
                    body_pose=torch.from_numpy(p.body_pose.copy()),
                    betas=torch.from_numpy(p.betas.copy()),
                    transl=torch.from_numpy(p.transl.copy()),
                    pose2rot=False,
                )
                v = out.vertices.numpy()
                joints.append(out.joints[:, :N_JOINTS].numpy())
                feet.append(v[:, list(FOOT_VERTEX_IDS)])
                if with_vertices:
                    verts.append(v)
        empty = np.zeros((0, N_JOINTS, 3))
        return SmplOutput(
            joints=np.concatenate(joints) if joints else empty,
            feet=np.concatenate(feet) if feet else np.zeros((0, 4, 3)),
            vertices=(np.concatenate(verts) if verts else np.zeros((0, 6890, 3))) if with_vertices else None,
        )
