"""The static data of one optimisation: front-end inputs as flat, batched torch tensors.

Everything is flattened once here so that each loss is a handful of dense tensor ops:
- correspondences as (M,) arrays;
- all person-frames of all people as (N,) "rows", ordered by person then frame, so temporal terms
  are slices of neighbouring rows (`row_next_ok` says where a neighbour is the same person);
- contacts as flat (row, candidate) entry indices into the (N * C) contact vertices, and
  stillness pairs as an entry and the same candidate one row later;
- keyframe lookups as one-hot matrices: `onehot @ table` gathers per-keyframe quantities, and its
  backward is a matmul too (index gathers backpropagate through slow scatter-adds on a CPU).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from josh.geometry.camera import interpolate_poses, interpolation_weights
from josh.optimize.config import OptimConfig
from josh.optimize.contact import fill_occluded_depth, nearest_background_maps, surface_normals
from josh.types import Correspondences, FrontEndInputs

DTYPE = torch.float32


def _t(x, dtype=DTYPE) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x), dtype=dtype)


def onehot(index: np.ndarray, n: int) -> torch.Tensor:
    """(len(index), n) one-hot rows (float), for gathers by matmul."""
    out = torch.zeros(len(index), max(n, 1), dtype=DTYPE)
    if len(index):
        out[torch.arange(len(index)), torch.as_tensor(np.asarray(index), dtype=torch.long)] = 1.0
    return out


@dataclass
class Problem:
    n_frames: int
    fps: float
    f_init: float
    cx: float
    cy: float
    width: int
    height: int
    keyframe_ids: np.ndarray
    # keyframe observations (K, h, w)
    depth: torch.Tensor
    conf: torch.Tensor
    background: torch.Tensor
    stride: float
    nb_index: torch.Tensor  # (K, h, w) nearest background pixel (flat index) of every pixel
    nb_distance: torch.Tensor
    contact_depth: torch.Tensor  # (K, h, w) depth with people filled by the surface behind them
    contact_normal: torch.Tensor  # (K, h, w, 3) that surface's unit normal (camera frame)
    T_init: torch.Tensor  # (K, 4, 4)
    # correspondences (M,)
    corr_a: torch.Tensor  # (M, K) one-hot keyframe of each end
    corr_b: torch.Tensor
    uv_a: torch.Tensor
    uv_b: torch.Tensor
    depth_a: torch.Tensor
    depth_b: torch.Tensor
    match_conf: torch.Tensor
    # people: rows (N,) over all person-frames
    person_ids: list
    row_person: torch.Tensor  # (N,) person index
    row_frame: torch.Tensor  # (N,) frame index
    row_interval: torch.Tensor  # (N, max(K-1, 1)) one-hot keyframe interval holding the frame
    row_alpha: torch.Tensor  # (N,) fraction along that interval
    row_f_assumed: torch.Tensor  # (N,) focal the body front-end assumed
    row_delta_R: torch.Tensor  # (N, 3, 3) the front-end camera's deviation from the keyframe interpolation
    row_delta_c: torch.Tensor  # (N, 3) ... and its centre offset (front-end scale, camera axes)
    frame_delta_R: torch.Tensor  # (n_frames, 3, 3) the same for every frame (for the output)
    frame_delta_c: torch.Tensor  # (n_frames, 3)
    R_init: torch.Tensor  # (N, 3, 3) camera frame
    t_init: torch.Tensor  # (N, 3)
    pose_init: torch.Tensor  # (N, J, 3)
    shape_init: torch.Tensor  # (P, S)
    keypoints2d: torch.Tensor  # (N, 23, 2)
    keypoints_conf: torch.Tensor  # (N, 23)
    contact_prob: torch.Tensor  # (N, C) as the front-end gave it
    # contact entries (E,): (row, candidate) pairs above the threshold, as flat indices row * C + c,
    # each looked up in the two keyframes around its frame (weights 1 - alpha and alpha, so the
    # scene partner changes smoothly as frames pass from one keyframe to the next)
    contact_entry: torch.Tensor
    contact_entry_weight: torch.Tensor  # (E,) probability x keyframe blend weight
    contact_entry_key: torch.Tensor  # (E, K) one-hot keyframe searched
    contact_entry_key_index: torch.Tensor  # (E,)
    # stillness pairs (E2,): the same candidate in contact in rows i and i+1 (same person, next frame)
    still_entry: torch.Tensor  # flat index of (i, c); its partner is still_entry + C
    still_weight: torch.Tensor  # (E2,) product of the two probabilities
    row_next_ok: torch.Tensor  # (N-1,) rows i and i+1 are the same person, at most `max_gap` frames apart
    row_adjacent: torch.Tensor  # (N-1,) rows i and i+1 are the same person on consecutive frames
    row_dt: torch.Tensor  # (N-1,) seconds between rows i and i+1
    # the lowest foot's stillness (`losses.lowest_foot_stillness`): needs the world's up direction
    up: torch.Tensor | None  # (3,) unit vector, or None when the inputs do not know it
    feet: torch.Tensor  # (F,) the contact candidates on the feet (columns of the contact vertices)
    static_camera: bool = False  # the cameras are held at their initial poses

    @property
    def n_keyframes(self) -> int:
        return int(self.depth.shape[0])

    @property
    def n_rows(self) -> int:
        return int(self.row_person.shape[0])

    @property
    def n_people(self) -> int:
        return len(self.person_ids)

    @property
    def n_correspondences(self) -> int:
        return int(self.uv_a.shape[0])


def build_problem(inputs: FrontEndInputs, config: OptimConfig, feet: np.ndarray | None = None) -> Problem:
    """`feet`: the body model's contact candidates on the feet (`foot_candidates(body)`), for the
    terms on the feet as a whole."""
    kfs = inputs.keyframes
    intr = inputs.intrinsics
    K = kfs.n_keyframes
    background = kfs.background & (kfs.depth > 0)
    nb_index, nb_distance = nearest_background_maps(background, config.contact_row_weight)
    filled = fill_occluded_depth(kfs.depth, background, config.contact_row_weight)
    corr = _subsample(inputs.correspondences, config.max_correspondences, config.seed)
    rows = _people_rows(inputs)
    left, alpha = interpolation_weights(kfs.frame_ids, rows["frame"]) if K else (np.zeros(0, int), np.zeros(0))
    frame_dR, frame_dc = _frame_deviations(inputs)
    prob = rows["contact"]
    C = prob.shape[1]
    on = prob > config.contact_threshold
    entry_row, entry_c, entry_key, entry_blend = _contact_entries(on, left, alpha, K)
    next_ok, dt = _neighbours(rows["person"], rows["frame"], inputs.fps, config.smooth_max_gap)
    adjacent = next_ok & (np.diff(rows["frame"]) == 1) if len(next_ok) else next_ok
    still_row, still_c = np.nonzero(on[:-1] & on[1:] & adjacent[:, None]) if len(prob) > 1 else (np.zeros(0, int),) * 2

    return Problem(
        n_frames=inputs.n_frames,
        fps=inputs.fps,
        f_init=float(intr.focal),
        cx=float(intr.cx),
        cy=float(intr.cy),
        width=intr.width,
        height=intr.height,
        keyframe_ids=np.asarray(kfs.frame_ids),
        depth=_t(kfs.depth),
        conf=_t(kfs.conf),
        background=torch.as_tensor(kfs.background) & (_t(kfs.depth) > 0),
        stride=float(kfs.stride),
        nb_index=torch.as_tensor(nb_index),
        nb_distance=torch.as_tensor(nb_distance),
        contact_depth=_t(filled),
        contact_normal=_t(surface_normals(filled, intr.focal, intr.cx, intr.cy, kfs.stride)),
        T_init=_t(inputs.keyframe_T_wc),
        corr_a=onehot(corr.kf_a, K),
        corr_b=onehot(corr.kf_b, K),
        uv_a=_t(corr.uv_a).reshape(-1, 2),
        uv_b=_t(corr.uv_b).reshape(-1, 2),
        depth_a=_t(corr.depth_a),
        depth_b=_t(corr.depth_b),
        match_conf=_t(corr.conf),
        person_ids=[h.person_id for h in inputs.humans],
        row_person=torch.as_tensor(rows["person"], dtype=torch.long),
        row_frame=torch.as_tensor(rows["frame"], dtype=torch.long),
        row_interval=onehot(left, K - 1),
        row_alpha=_t(alpha),
        row_f_assumed=_t(rows["f_assumed"]),
        row_delta_R=frame_dR[rows["frame"]],
        row_delta_c=frame_dc[rows["frame"]],
        frame_delta_R=frame_dR,
        frame_delta_c=frame_dc,
        R_init=_t(rows["R"]),
        t_init=_t(rows["t"]),
        pose_init=_t(rows["pose"]),
        shape_init=_t(np.stack([h.shape for h in inputs.humans]) if inputs.humans else np.zeros((0, 6))),
        keypoints2d=_t(rows["kp"]),
        keypoints_conf=_t(rows["kp_conf"]),
        contact_prob=_t(prob),
        contact_entry=torch.as_tensor(entry_row * C + entry_c, dtype=torch.long),
        contact_entry_weight=_t(prob[entry_row, entry_c] * entry_blend),
        contact_entry_key=onehot(entry_key, K),
        contact_entry_key_index=torch.as_tensor(entry_key, dtype=torch.long),
        still_entry=torch.as_tensor(still_row * C + still_c, dtype=torch.long),
        still_weight=_t(prob[still_row, still_c] * prob[still_row + 1, still_c]),
        row_next_ok=torch.as_tensor(next_ok),
        row_adjacent=torch.as_tensor(adjacent),
        row_dt=_t(dt),
        up=_unit(inputs.up),
        feet=torch.as_tensor(np.zeros(0, np.int64) if feet is None else np.asarray(feet), dtype=torch.long),
        static_camera=bool(inputs.static_camera),
    )


def _unit(v) -> torch.Tensor | None:
    if v is None:
        return None
    v = np.asarray(v, np.float64).reshape(3)
    return _t(v / np.linalg.norm(v))


def _frame_deviations(inputs: FrontEndInputs) -> tuple[torch.Tensor, torch.Tensor]:
    """Per frame, the front-end camera relative to the interpolation of its keyframe cameras:
    T_t = interp(T_keys)(t) * D_t. Identity where the front-end has no pose for a frame."""
    n = inputs.n_frames
    dR, dc = torch.eye(3, dtype=DTYPE).repeat(n, 1, 1), torch.zeros(n, 3, dtype=DTYPE)
    T = inputs.frame_T_wc
    if T is None or inputs.keyframes.n_keyframes == 0:
        return dR, dc
    keys = inputs.keyframes.frame_ids
    left, alpha = interpolation_weights(keys, np.arange(n))
    T_key = torch.as_tensor(inputs.keyframe_T_wc, dtype=torch.float64)
    R_i, c_i = interpolate_poses(T_key[:, :3, :3], T_key[:, :3, 3], torch.as_tensor(left), torch.as_tensor(alpha))
    T = torch.as_tensor(np.asarray(T, np.float64))
    known = torch.isfinite(T).all(-1).all(-1)
    R_d = R_i.transpose(-1, -2) @ T[:, :3, :3]
    c_d = (R_i.transpose(-1, -2) @ (T[:, :3, 3] - c_i)[..., None])[..., 0]
    dR[known], dc[known] = R_d[known].to(DTYPE), c_d[known].to(DTYPE)
    return dR, dc


def _contact_entries(on: np.ndarray, left: np.ndarray, alpha: np.ndarray, K: int):
    """(row, candidate) pairs in contact, once per keyframe around the row's frame, with the
    blend weight of that keyframe; weights below 1e-6 (frames on a keyframe) are dropped."""
    row, c = np.nonzero(on)
    if K == 1:
        return row, c, np.zeros(len(row), int), np.ones(len(row))
    a = alpha[row]
    rows, cs = np.concatenate([row, row]), np.concatenate([c, c])
    keys = np.concatenate([left[row], np.minimum(left[row] + 1, K - 1)])
    blend = np.concatenate([1 - a, a])
    keep = blend > 1e-6
    return rows[keep], cs[keep], keys[keep], blend[keep]


def _subsample(corr: Correspondences, budget: int, seed: int) -> Correspondences:
    """At most `budget` correspondences, drawn uniformly (so their spread over the images and
    keyframe pairs is kept): beyond a few hundred per keyframe, more matches add time, not accuracy."""
    n = len(corr)
    if budget <= 0 or n <= budget:
        return corr
    keep = np.sort(np.random.default_rng(seed).choice(n, budget, replace=False))
    return Correspondences(*(getattr(corr, f.name)[keep] for f in fields(Correspondences)))


def _people_rows(inputs: FrontEndInputs) -> dict:
    humans = inputs.humans
    if not humans:
        return dict(person=np.zeros(0, int), frame=np.zeros(0, int), f_assumed=np.zeros(0),
                    R=np.zeros((0, 3, 3)), t=np.zeros((0, 3)), pose=np.zeros((0, 19, 3)),
                    kp=np.zeros((0, 23, 2)), kp_conf=np.zeros((0, 23)), contact=np.zeros((0, 0)))  # fmt: skip
    cat = lambda name: np.concatenate([getattr(h, name) for h in humans])  # noqa: E731
    return dict(
        person=np.concatenate([np.full(len(h.frames), p) for p, h in enumerate(humans)]),
        frame=cat("frames").astype(int),
        f_assumed=np.concatenate([np.full(len(h.frames), h.focal_assumed) for h in humans]),
        R=cat("root_rotmat"),
        t=cat("root_transl"),
        pose=cat("body_pose"),
        kp=cat("keypoints2d"),
        kp_conf=cat("keypoints_conf"),
        contact=cat("contact_prob"),
    )


def _neighbours(person: np.ndarray, frame: np.ndarray, fps: float, max_gap: int):
    """Whether row i+1 continues row i's person within `max_gap` frames, and the time step (s)."""
    if len(person) < 2:
        return np.zeros(0, bool), np.zeros(0)
    gap = np.diff(frame)
    ok = (person[1:] == person[:-1]) & (gap >= 1) & (gap <= max_gap)
    return ok, np.where(ok, gap, 1) / fps
