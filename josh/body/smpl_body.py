"""SMPL and SMPL-X (the user's licensed model files) behind the `BodyModel` protocol, through `smplx`.

The models are never shipped or downloaded: `find_model_file` looks for the user's files (an
explicit path, an environment variable, or the JOSH cache) and says where to put them when they
are missing. Both models share one implementation (`SmplFamilyBody`), parameterised by a
`SmplFamily` record (file names, skeleton size, posed bones, vertex ids); `SMPLBody` is SMPL and
`josh.body.smplx_body.SMPLXBody` is SMPL-X.

Parameters follow the protocol, not smplx: `root_transl` is the position of the root joint (the
pelvis, joint 0), about which the root rotation pivots. smplx's `transl` is an offset added after
posing, so the two differ by the rest pelvis J0(betas):  root_transl = transl + J0(betas)
(`transl_to_root` / `root_to_transl`; official-josh.md §6.3).

Fast partial evaluation (DESIGN §3). The losses need 24 joints and ~100 vertices, so `forward`
runs the kinematic chain and linear blend skinning restricted to those vertex rows, *including*
the pose blend shapes (their basis restricted to the same rows is small: 9 n_pose_bones x 3n).
With G_a, p_a the posed rotation and position of joint a, J_a the rest joints, W the skinning
weights and delta_v the pose-blend-shape offset of vertex v:
    x_v = sum_a W_va (G_a (v_shaped + delta_v - J_a) + p_a)
        = (sum_a W_va G_a) (v_shaped + delta_v) + sum_a W_va (p_a - G_a J_a),
which is smplx's LBS exactly, evaluated for ~60-100 rows instead of the whole mesh.
Joints beyond the posed ones (SMPL-X's jaw, eyes and fingers) are held at identity rotation: each
moves rigidly with its nearest posed ancestor q, G_a = G_q, p_a = p_q + G_q (J_a - J_q), and adds
nothing to the pose blend shapes (R - I = 0). Agreement with smplx's full forward is at float32
round-off (tests/test_smpl_body.py, tests/test_smplx_body.py).

Keypoints (23, COCO-17 then big toe, small toe, heel; the same names as Anny):
- nose, eyes, ears, toes and heels are mesh vertices, the ids smplx itself uses for its extra
  joints (`smplx.vertex_ids[...]`; for SMPL 'smplh': nose 332, eyes 2800 / 6260, ears 583 / 4071,
  big toes 3216 / 6617, small toes 3226 / 6624, heels 3387 / 6787, left / right);
- shoulders, elbows, wrists, hips, knees, ankles are skeleton joints 16/17, 18/19, 20/21,
  1/2, 4/5, 7/8 (the same indices in SMPL and SMPL-X). SMPL's hip joints sit a few cm medial of
  where COCO annotators mark hips; the 2D keypoint loss is robust and weighted, so this is
  accepted rather than patched with vertices.

Contact candidates are chosen from the loaded model's own rest geometry (dominant skinning bone,
height, front/back), so they work for any file of the family, including the generated test models.
The SMPL foot-sliding vertices are the field's [3216, 3387, 6617, 6787] (official-josh.md §1.4),
stored in the protocol's order L heel, L toe, R heel, R toe = [3387, 3216, 6787, 6617].
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import roma
import torch

from josh.body.anny_body import _farthest_points, _per_body
from josh.body.protocol import BodyOutput, RestState
from josh.errors import SetupError

ENV_VAR = "JOSH_SMPL_DIR"
SMPL_URL = "https://smpl.is.tue.mpg.de"

JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hand", "right_hand",
)  # fmt: skip

# keypoint name -> ("vertex", smplx vertex-id name) or ("joint", index into the 24 output joints)
KEYPOINT_SOURCES = (
    ("nose", ("vertex", "nose")), ("left_eye", ("vertex", "leye")), ("right_eye", ("vertex", "reye")),
    ("left_ear", ("vertex", "lear")), ("right_ear", ("vertex", "rear")),
    ("left_shoulder", ("joint", 16)), ("right_shoulder", ("joint", 17)),
    ("left_elbow", ("joint", 18)), ("right_elbow", ("joint", 19)),
    ("left_wrist", ("joint", 20)), ("right_wrist", ("joint", 21)),
    ("left_hip", ("joint", 1)), ("right_hip", ("joint", 2)),
    ("left_knee", ("joint", 4)), ("right_knee", ("joint", 5)),
    ("left_ankle", ("joint", 7)), ("right_ankle", ("joint", 8)),
    ("left_big_toe", ("vertex", "LBigToe")), ("right_big_toe", ("vertex", "RBigToe")),
    ("left_small_toe", ("vertex", "LSmallToe")), ("right_small_toe", ("vertex", "RSmallToe")),
    ("left_heel", ("vertex", "LHeel")), ("right_heel", ("vertex", "RHeel")),
)  # fmt: skip

_REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")

# bones whose vertices form each body region, for the contact candidates (same in SMPL and SMPL-X)
_FOOT_BONES = {"left": (7, 10), "right": (8, 11)}
_SEAT_BONES = (0, 1, 2)
_SET_SIZES = {"heel": 6, "toes": 6, "sole": 12, "hand": 8, "buttocks": 10}


@dataclass(frozen=True)
class SmplFamily:
    """What differs between SMPL and SMPL-X; everything else is `SmplFamilyBody`."""

    name: str  # the body-model name ("smpl", "smplx")
    label: str  # for messages ("SMPL", "SMPL-X")
    url: str  # where the user registers and downloads the files
    env_vars: tuple[str, ...]  # folders to search, in order, when no path is given
    subfolder: str  # folders may hold the files directly or in this subfolder; also the cache folder
    file_names: dict  # gender -> accepted file names (the first is the one messages suggest)
    required_keys: tuple[str, ...]
    n_vertices: int
    n_joints: int  # joints of the model's skeleton
    n_pose_bones: int  # posed joints after the root (the first ones in the skeleton)
    joint_ids: tuple[int, ...]  # the 24 SMPL-compatible output joints, as skeleton indices
    vertex_ids: str  # key of `smplx.vertex_ids` for the keypoint vertices
    foot_vertex_ids: tuple[int, ...]  # L heel, L toe, R heel, R toe
    hand_bones: dict  # side -> skeleton joints whose vertices make up the hand


SMPL = SmplFamily(
    name="smpl", label="SMPL", url=SMPL_URL, env_vars=(ENV_VAR,), subfolder="smpl",
    file_names={  # file names the SMPL downloads use, per gender (smplx's name first)
        "neutral": ("SMPL_NEUTRAL.pkl", "basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl", "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"),
        "male": ("SMPL_MALE.pkl", "basicmodel_m_lbs_10_207_0_v1.1.0.pkl", "basicModel_m_lbs_10_207_0_v1.0.0.pkl"),
        "female": ("SMPL_FEMALE.pkl", "basicmodel_f_lbs_10_207_0_v1.1.0.pkl", "basicModel_f_lbs_10_207_0_v1.0.0.pkl"),
    },
    required_keys=_REQUIRED_KEYS, n_vertices=6890, n_joints=24, n_pose_bones=23, joint_ids=tuple(range(24)),
    vertex_ids="smplh", foot_vertex_ids=(3387, 3216, 6787, 6617),  # the field's FS set
    hand_bones={"left": (20, 22), "right": (21, 23)},
)  # fmt: skip
FOOT_VERTEX_IDS = np.array(SMPL.foot_vertex_ids)


# ------------------------------------------------------------------------------- model files
def _search_dirs(family: SmplFamily, model_path) -> list[Path]:
    if model_path is not None:
        return [Path(model_path).expanduser()]
    from josh.cache import cache_dir

    dirs = [Path(os.environ[v]).expanduser() for v in family.env_vars if os.environ.get(v)]
    return dirs + [cache_dir() / family.subfolder]


def find_model_file(family: SmplFamily, model_path=None, gender: str = "neutral") -> Path:
    """The user's model file: `model_path` (a file or a folder), else the family's environment
    variables, else `<JOSH cache>/<subfolder>`. Folders may hold the file directly or in a
    `<subfolder>/` subfolder (smplx's `models/smpl`, `models/smplx` layout)."""
    if gender not in family.file_names:
        raise SetupError(f"{family.label} gender must be one of {sorted(family.file_names)}, not {gender!r}")
    tried = []
    for root in _search_dirs(family, model_path):
        if root.is_file():
            return root
        for folder in (root, root / family.subfolder):
            for name in family.file_names[gender]:
                if (folder / name).is_file():
                    return folder / name
        tried.append(str(root))
    first = family.file_names[gender][0]
    env = " or ".join(f"${v}" for v in family.env_vars)
    raise SetupError(
        f"{family.label} model file ({first}) not found in {', '.join(tried) or 'nowhere'}. "
        f"{family.label} is licensed by MPI and never shipped with JOSH: register at {family.url}, download the "
        f"{family.label} model files and put {first} in a folder named by {env} (or pass its path)"
    )


def find_smpl_file(model_path: str | os.PathLike | None = None, gender: str = "neutral") -> Path:
    """The user's SMPL model file (see `find_model_file`)."""
    return find_model_file(SMPL, model_path, gender)


def load_model_dict(family: SmplFamily, path: Path):
    """The model file's arrays (a dict for .pkl, a lazy mapping for .npz), checked against the
    family, with a clear error for foreign or chumpy-based files."""
    try:
        if path.suffix == ".npz":
            data = np.load(path)  # lazy: arrays are read on access
        else:
            with open(path, "rb") as fh:
                data = pickle.load(fh, encoding="latin1")
    except ModuleNotFoundError as exc:
        raise SetupError(
            f"{path} stores {exc.name} objects (the original SMPL 1.0 release uses chumpy); "
            f"`pip install chumpy` or convert the file to plain numpy arrays"
        ) from exc
    except Exception as exc:
        raise SetupError(f"cannot read {family.label} model file {path}: {exc}") from exc
    label = f"{family.label} model ({family.n_vertices} vertices, {family.n_joints} joints expected)"
    if not hasattr(data, "keys") or any(k not in data for k in family.required_keys):
        raise SetupError(f"{path} is not an {label}: needs keys {', '.join(family.required_keys)}")
    if np.shape(data["v_template"]) != (family.n_vertices, 3) or np.shape(data["kintree_table"])[-1] != family.n_joints:
        raise SetupError(f"{path} is not an {label}")
    return data


def load_smpl_dict(path: Path) -> dict:
    """The SMPL pickle as a dict (see `load_model_dict`)."""
    return load_model_dict(SMPL, Path(path))


def _sole(rest: np.ndarray, foot: np.ndarray, bin_size: float = 0.02, band: float = 0.015) -> np.ndarray:
    """The underside of a foot: per 2 cm slice along the foot (z), the vertices within 1.5 cm of
    that slice's lowest one, and no higher than 5 cm above the foot's lowest point (robust to a
    sole that is not level in the rest pose)."""
    y, z = rest[foot, 1], rest[foot, 2]
    bins = np.floor((z - z.min()) / bin_size).astype(int)
    lowest = np.full(bins.max() + 1, np.inf)
    np.minimum.at(lowest, bins, y)
    return foot[(y < lowest[bins] + band) & (y < y.min() + 0.05)]


def _matmul3(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Batched 3x3 products as a broadcast sum: much faster than bmm for many tiny matrices on
    CPU, forward and backward."""
    return (A[..., :, :, None] * B[..., None, :, :]).sum(-2)


def _matvec3(A: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return (A * x[..., None, :]).sum(-1)


def _posed_ancestor(parents: np.ndarray, n_posed: int) -> np.ndarray:
    """For each joint, itself if it is posed (index < n_posed), else its nearest posed ancestor."""
    anc = np.arange(len(parents))
    for a in range(n_posed, len(parents)):  # parents come before children
        q = parents[a]
        anc[a] = q if q < n_posed else anc[q]
    return anc


# ------------------------------------------------------------------------------------- model
class SmplFamilyBody:
    """An smplx-family body with 10 betas and `n_pose_bones` axis-angle joints + root (see module
    doc). Subclasses set `family` and build the smplx module (`_build_smplx`)."""

    family: SmplFamily
    joint_names = list(JOINT_NAMES)
    keypoint_names = [name for name, _ in KEYPOINT_SOURCES]
    up_axis = np.array([0.0, 1.0, 0.0])
    forward_axis = np.array([0.0, 0.0, 1.0])
    shape_dim = 10
    default_shape = np.zeros(10)
    shape_bounds = (-5.0, 5.0)  # betas are in units of the shape space's standard deviations
    shape_unit = 1.0
    shape_spread = np.ones(10)  # betas are in units of the shape space's standard deviations

    def __init__(self, model_path=None, gender: str = "neutral", dtype: torch.dtype = torch.float32):
        from smplx.vertex_ids import vertex_ids

        fam = self.family
        self.dtype = dtype
        self.gender = gender
        self.model_file = find_model_file(fam, model_path, gender)
        data = load_model_dict(fam, self.model_file)
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a note about 10 betas
                self.smplx_model = self._build_smplx(data).eval()
        except Exception as exc:
            raise SetupError(f"smplx cannot build {fam.label} from {self.model_file}: {exc}") from exc
        m = self.smplx_model
        self.faces = np.asarray(m.faces_tensor.numpy(), np.int64)
        self.parents = m.parents.numpy().copy()
        self._ancestor = _posed_ancestor(self.parents, fam.n_pose_bones + 1)
        self._held = np.arange(fam.n_pose_bones + 1, fam.n_joints)  # joints kept at identity rotation
        self._joint_ids = torch.as_tensor(fam.joint_ids)
        self._v_template = m.v_template  # (V, 3) float64
        self._shapedirs = m.shapedirs  # (V, 3, 10)
        self._weights = m.lbs_weights  # (V, n_joints)
        J_reg = m.J_regressor  # (n_joints, V)
        self._J_template = J_reg @ self._v_template
        self._J_dirs = torch.einsum("jv,vkc->jkc", J_reg, self._shapedirs)
        ids = vertex_ids[fam.vertex_ids]
        self._keypoint_vertex_ids = {name: int(ids[key]) for name, (kind, key) in KEYPOINT_SOURCES if kind == "vertex"}
        self.foot_vertex_ids = np.array(fam.foot_vertex_ids)
        with torch.no_grad():
            self._build_contact_sets()
            self._build_point_rows()

    def _build_smplx(self, data):
        """The smplx module (float64, 10 betas) for `self.model_file`, whose arrays are `data`."""
        raise NotImplementedError

    def _smplx_pose_kwargs(self, batch: int) -> dict:
        """Extra smplx forward arguments that hold the unposed parts (none for SMPL)."""
        return {}

    # ------------------------------------------------------------------------- point sets
    def _build_contact_sets(self) -> None:
        """Heel/toe/sole, hand and buttock candidates from the rest mesh (Y up, facing +Z)."""
        rest = self._v_template.numpy()
        dominant = self._weights.numpy().argmax(1)
        sets: dict[str, np.ndarray] = {}
        for side in ("left", "right"):
            sole = _sole(rest, np.flatnonzero(np.isin(dominant, _FOOT_BONES[side])))
            z = rest[sole, 2]
            heel = sole[z < z.min() + 0.06]
            toes = sole[z > z.max() - 0.06]
            sets[f"{side}_heel"] = heel[_farthest_points(rest[heel], _SET_SIZES["heel"])]
            sets[f"{side}_toes"] = toes[_farthest_points(rest[toes], _SET_SIZES["toes"])]
            sets[f"{side}_sole"] = sole[_farthest_points(rest[sole], _SET_SIZES["sole"])]
            hand = np.flatnonzero(np.isin(dominant, self.family.hand_bones[side]))
            sets[f"{side}_hand"] = hand[_farthest_points(rest[hand], _SET_SIZES["hand"])]
        seat_region = np.flatnonzero(np.isin(dominant, _SEAT_BONES))
        pelvis_z = float(self._J_template[0, 2])
        behind = seat_region[rest[seat_region, 2] < pelvis_z - 0.02]
        if len(behind) < _SET_SIZES["buttocks"]:  # unusual geometry: the rearmost region vertices
            behind = seat_region[np.argsort(rest[seat_region, 2])[: 4 * _SET_SIZES["buttocks"]]]
        seat = behind[rest[behind, 1] < np.quantile(rest[behind, 1], 0.4)]
        sets["buttocks"] = seat[_farthest_points(rest[seat], _SET_SIZES["buttocks"])]

        ids = np.unique(np.concatenate(list(sets.values())))
        self.contact_vertex_ids = ids
        self.contact_sets = {k: np.searchsorted(ids, v) for k, v in sets.items()}

    def _build_point_rows(self) -> None:
        """The vertex rows `forward` skins: keypoint vertices, contact candidates, foot vertices."""
        kp_vertices = np.array(list(self._keypoint_vertex_ids.values()))
        rows = np.concatenate([kp_vertices, self.contact_vertex_ids, self.foot_vertex_ids])
        bounds = np.cumsum([0, len(kp_vertices), len(self.contact_vertex_ids), len(self.foot_vertex_ids)])
        self._slices = {
            "keypoint_vertices": slice(bounds[0], bounds[1]),
            "contact_vertices": slice(bounds[1], bounds[2]),
            "foot_vertices": slice(bounds[2], bounds[3]),
        }
        self.point_vertex_ids = rows
        idx = torch.as_tensor(rows)
        d = self.dtype
        self._rows_template = self._v_template[idx].to(d)  # (n, 3)
        self._rows_shapedirs = self._shapedirs[idx].to(d)  # (n, 3, 10)
        self._rows_weights = self._weights[idx].to(d)  # (n, n_joints)
        V = self._v_template.shape[0]
        posedirs = self.smplx_model.posedirs.reshape(-1, V, 3)  # (9 (n_joints - 1), V, 3)
        posedirs = posedirs[: 9 * self.n_pose_bones]  # held joints have R - I = 0: no blend shapes
        self._rows_posedirs = posedirs[:, idx].reshape(posedirs.shape[0], -1).to(d)  # (9 n_pose_bones, 3n)
        self._J_template_d = self._J_template.to(d)
        self._J_dirs_d = self._J_dirs.to(d)
        # keypoints: gather from [output joints (24), keypoint vertices] in keypoint order
        kv_names = list(self._keypoint_vertex_ids)
        order = [src[1] if src[0] == "joint" else 24 + kv_names.index(name) for name, src in KEYPOINT_SOURCES]
        self._keypoint_gather = torch.as_tensor(order)

    # ------------------------------------------------------------------------- shape
    def rest_joints(self, shape: torch.Tensor) -> torch.Tensor:
        """Rest-pose skeleton joints J(betas) (..., n_joints, 3)."""
        shape = torch.as_tensor(shape, dtype=self.dtype)
        return self._J_template_d + torch.einsum("...c,jkc->...jk", shape, self._J_dirs_d)

    def pelvis(self, shape) -> np.ndarray:
        """Rest pelvis J0(betas) (..., 3) in float64: the pivot of the root rotation."""
        shape = torch.as_tensor(np.asarray(shape, np.float64))
        J0 = self._J_template[0] + torch.einsum("...c,kc->...k", shape, self._J_dirs[0])
        return J0.numpy()

    def transl_to_root(self, shape, transl) -> np.ndarray:
        """smplx `transl` (..., 3) -> root joint position (..., 3) for betas `shape` (..., 10)."""
        return np.asarray(transl, np.float64) + self.pelvis(shape)

    def root_to_transl(self, shape, root_transl) -> np.ndarray:
        """Root joint position -> smplx `transl` (the inverse of `transl_to_root`)."""
        return np.asarray(root_transl, np.float64) - self.pelvis(shape)

    def rest(self, shape: torch.Tensor) -> RestState:
        """Per-person rest joints J(betas) and rest-shaped vertex rows.

        The skinning moments of a row about the joints are W_na (v_n - J_a); `forward` expands
        them on the fly (W v and W J), which is cheaper than gathering a (B, n, n_joints, 3)
        tensor per body. So `point_moments` holds the rest-shaped rows v_n as (P, n, 1, 3) and
        `point_weights` their skinning weights W (n, n_joints); `joint_heads` are all skeleton
        joints, `joint_offsets` the 24 output joints.
        """
        shape = shape.to(self.dtype)
        J = self.rest_joints(shape)  # (P, n_joints, 3)
        v_shaped = self._rows_template + torch.einsum("pc,nkc->pnk", shape, self._rows_shapedirs)
        return RestState(joint_heads=J, joint_offsets=J[:, self._joint_ids], point_moments=v_shaped[:, :, None, :],
                         point_weights=self._rows_weights)  # fmt: skip

    # ------------------------------------------------------------------------- forward
    def pose_joints(self, rest: RestState, person, root_rotmat, root_transl, body_pose):
        """Posed joint rotations G (B, n_joints, 3, 3) and positions p (B, n_joints, 3), the body
        pose's rotation matrices (B, n_pose_bones, 3, 3) and the rest joints of each body."""
        J = _per_body(rest.joint_heads, person)
        R = roma.rotvec_to_rotmat(body_pose.to(self.dtype))
        n = self.n_pose_bones + 1
        G = [root_rotmat.to(self.dtype)] + [None] * (n - 1)
        p = [root_transl.to(self.dtype)] + [None] * (n - 1)
        for a in range(1, n):  # the skeleton lists parents before children
            q = self.parents[a]
            G[a] = _matmul3(G[q], R[:, a - 1])
            p[a] = p[q] + _matvec3(G[q], J[:, a] - J[:, q])
        G, p = torch.stack(G, 1), torch.stack(p, 1)
        if len(self._held):  # held joints move rigidly with their nearest posed ancestor
            anc = torch.as_tensor(self._ancestor[self._held])
            G_held = G[:, anc]
            p_held = p[:, anc] + _matvec3(G_held, J[:, self._held] - J[:, anc])
            G, p = torch.cat([G, G_held], 1), torch.cat([p, p_held], 1)
        return G, p, R, J

    def forward(self, rest: RestState, person, root_rotmat, root_transl, body_pose) -> BodyOutput:
        """Joints, keypoints, contact candidates and foot vertices of B bodies (see module doc).

        `person` (B,) indexes the P bodies of `rest`; root_rotmat (B,3,3), root_transl (B,3) the
        root joint position, body_pose (B, n_pose_bones, 3) axis-angle.
        """
        G, p, R, J = self.pose_joints(rest, person, root_rotmat, root_transl, body_pose)
        B, nJ = G.shape[:2]
        pose_feature = (R - torch.eye(3, dtype=self.dtype)).reshape(B, -1)  # (B, 9 n_pose_bones), smplx's order
        delta = (pose_feature @ self._rows_posedirs).reshape(B, -1, 3)  # pose blend shapes
        v_posed = _per_body(rest.point_moments[:, :, 0], person) + delta  # (B, n, 3)
        W = rest.point_weights  # (n, n_joints)
        G_rows = torch.einsum("na,bak->bnk", W, G.reshape(B, nJ, 9)).reshape(B, -1, 3, 3)  # sum_a W_na G_a
        offset = torch.einsum("na,bak->bnk", W, p - _matvec3(G, J))  # sum_a W_na (p_a - G_a J_a)
        points = _matvec3(G_rows, v_posed) + offset
        s = self._slices
        joints = p[:, self._joint_ids]
        keypoints = torch.cat([joints, points[:, s["keypoint_vertices"]]], 1)[:, self._keypoint_gather]
        return BodyOutput(
            joints=joints,
            keypoints=keypoints,
            contact_vertices=points[:, s["contact_vertices"]],
            foot_vertices=points[:, s["foot_vertices"]],
        )

    # ---------------------------------------------------------------------------- mesh
    def smplx_output(self, shape, root_rotmat, root_transl, body_pose):
        """smplx's own full forward (float64) for our parameters: vertices (B, V, 3) and the 24
        output joints, with smplx `transl` = root_transl - J0(shape)."""
        f64 = lambda x: torch.as_tensor(x, dtype=torch.float64)  # noqa: E731
        R = f64(root_rotmat).reshape(-1, 3, 3)
        B = R.shape[0]
        shape = f64(shape).reshape(-1, self.shape_dim).expand(B, -1)
        J0 = self._J_template[0] + shape @ self._J_dirs[0].T
        transl = f64(root_transl).reshape(B, 3) - J0
        with torch.no_grad():  # axis-angle: smplx.SMPLX's pose2rot=False path mis-orders rotation matrices
            out = self.smplx_model(
                betas=shape, global_orient=roma.rotmat_to_rotvec(R), transl=transl,
                body_pose=f64(body_pose).reshape(B, -1), **self._smplx_pose_kwargs(B),
            )  # fmt: skip
        return out.vertices, out.joints[:, self._joint_ids]

    def mesh(self, shape, root_rotmat, root_transl, body_pose) -> torch.Tensor:
        """Full posed mesh (B, V, 3) through smplx (export, tests)."""
        return self.smplx_output(shape, root_rotmat, root_transl, body_pose)[0].to(self.dtype)

    def regress(self, vertices: torch.Tensor, joints: torch.Tensor) -> dict[str, torch.Tensor]:
        """The protocol's points from smplx's full output (vertices (B, V, 3), joints (B, 24, 3)):
        the reference the fast path is tested against."""
        keypoints = [
            vertices[:, self._keypoint_vertex_ids[name]] if kind == "vertex" else joints[:, key]
            for name, (kind, key) in KEYPOINT_SOURCES
        ]
        return {
            "joints": joints,
            "keypoints": torch.stack(keypoints, 1),
            "contact_vertices": vertices[:, self.contact_vertex_ids],
            "foot_vertices": vertices[:, self.foot_vertex_ids],
        }


class SMPLBody(SmplFamilyBody):
    """SMPL with 10 betas and 23 axis-angle body joints + root (see module doc)."""

    family = SMPL
    name = "smpl"
    n_pose_bones = 23
    pose_bone_names = list(JOINT_NAMES[1:])

    def _build_smplx(self, data):
        import smplx
        from smplx.utils import Struct

        return smplx.SMPL(model_path=str(self.model_file), data_struct=Struct(**data), gender=self.gender,
                          num_betas=self.shape_dim, dtype=torch.float64)  # fmt: skip
