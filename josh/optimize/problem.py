"""The static data of one optimisation: front-end inputs as flat, batched torch tensors.

Everything is flattened once here so that each loss is a handful of tensor ops: correspondences as
(M,) arrays, all person-frames of all people as (N,) "rows", contact entries as (E,) arrays,
stillness pairs and smoothness triplets as index arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from josh.geometry.camera import interpolation_weights
from josh.optimize.config import OptimConfig
from josh.optimize.contact import nearest_background_maps
from josh.types import FrontEndInputs

DTYPE = torch.float32


def _t(x, dtype=DTYPE) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x), dtype=dtype)


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
    nb_index: torch.Tensor
    nb_distance: torch.Tensor
    T_init: torch.Tensor  # (K, 4, 4)
    # correspondences (M,)
    kf_a: torch.Tensor
    kf_b: torch.Tensor
    uv_a: torch.Tensor
    uv_b: torch.Tensor
    depth_a: torch.Tensor
    depth_b: torch.Tensor
    match_conf: torch.Tensor
    # people: rows (N,) over all person-frames
    person_ids: list
    n_people: int
    row_person: torch.Tensor
    row_frame: torch.Tensor
    row_left: torch.Tensor  # camera interpolation interval
    row_alpha: torch.Tensor
    row_keyframe: torch.Tensor  # nearest keyframe (contact partner search)
    row_f_assumed: torch.Tensor
    R_init: torch.Tensor  # (N, 3, 3) camera frame
    t_init: torch.Tensor  # (N, 3)
    pose_init: torch.Tensor  # (N, J, 3)
    shape_init: torch.Tensor  # (P, S)
    keypoints2d: torch.Tensor  # (N, 23, 2)
    keypoints_conf: torch.Tensor  # (N, 23)
    contact_prob: torch.Tensor  # (N, C)
    # contact entries (E,) with probability above threshold
    contact_row: torch.Tensor
    contact_vertex: torch.Tensor
    contact_weight: torch.Tensor
    # stillness pairs (consecutive frames, both in contact)
    still_row0: torch.Tensor
    still_row1: torch.Tensor
    still_vertex: torch.Tensor
    still_weight: torch.Tensor
    # smoothness triplets of consecutive rows of one person, with their time steps (s)
    smooth_rows: torch.Tensor  # (Q, 3)
    smooth_dt: torch.Tensor  # (Q, 2)

    @property
    def n_keyframes(self) -> int:
        return int(self.depth.shape[0])

    @property
    def n_rows(self) -> int:
        return int(self.row_person.shape[0])


def build_problem(inputs: FrontEndInputs, config: OptimConfig) -> Problem:
    kfs = inputs.keyframes
    intr = inputs.intrinsics
    nb_index, nb_distance = nearest_background_maps(kfs.background, config.contact_row_weight)
    corr = inputs.correspondences
    humans = inputs.humans

    rows = _people_rows(inputs)
    left, alpha = interpolation_weights(kfs.frame_ids, rows["frame"])
    nearest = np.abs(rows["frame"][:, None] - kfs.frame_ids[None]).argmin(1) if len(rows["frame"]) else np.zeros(0, int)
    contact = _contact_entries(rows, config.contact_threshold)

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
        T_init=_t(inputs.keyframe_T_wc),
        kf_a=torch.as_tensor(corr.kf_a, dtype=torch.long),
        kf_b=torch.as_tensor(corr.kf_b, dtype=torch.long),
        uv_a=_t(corr.uv_a),
        uv_b=_t(corr.uv_b),
        depth_a=_t(corr.depth_a),
        depth_b=_t(corr.depth_b),
        match_conf=_t(corr.conf),
        person_ids=[h.person_id for h in humans],
        n_people=len(humans),
        row_person=torch.as_tensor(rows["person"], dtype=torch.long),
        row_frame=torch.as_tensor(rows["frame"], dtype=torch.long),
        row_left=torch.as_tensor(left, dtype=torch.long),
        row_alpha=_t(alpha),
        row_keyframe=torch.as_tensor(nearest, dtype=torch.long),
        row_f_assumed=_t(rows["f_assumed"]),
        R_init=_t(rows["R"]),
        t_init=_t(rows["t"]),
        pose_init=_t(rows["pose"]),
        shape_init=_t(np.stack([h.shape for h in humans]) if humans else np.zeros((0, 6))),
        keypoints2d=_t(rows["kp"]),
        keypoints_conf=_t(rows["kp_conf"]),
        contact_prob=_t(rows["contact"]),
        **contact,
        **_smooth_triplets(rows["person"], rows["frame"], inputs.fps),
    )


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


def _contact_entries(rows: dict, threshold: float) -> dict:
    prob = rows["contact"]
    on = prob > threshold
    row, vertex = np.nonzero(on)
    # stillness: same person, next frame, same vertex in contact at both
    person, frame = rows["person"], rows["frame"]
    nxt = np.arange(len(person)) + 1
    consecutive = np.zeros(len(person), bool)
    if len(person) > 1:
        consecutive[:-1] = (person[1:] == person[:-1]) & (frame[1:] == frame[:-1] + 1)
    both = on[:-1] & on[1:] & consecutive[:-1, None] if len(person) > 1 else np.zeros((0, prob.shape[1]), bool)
    r0, v0 = np.nonzero(both)
    return dict(
        contact_row=torch.as_tensor(row, dtype=torch.long),
        contact_vertex=torch.as_tensor(vertex, dtype=torch.long),
        contact_weight=_t(prob[row, vertex]),
        still_row0=torch.as_tensor(r0, dtype=torch.long),
        still_row1=torch.as_tensor(nxt[r0] if len(r0) else r0, dtype=torch.long),
        still_vertex=torch.as_tensor(v0, dtype=torch.long),
        still_weight=_t(prob[r0, v0] * prob[r0 + 1, v0] if len(r0) else np.zeros(0)),
    )


def _smooth_triplets(person: np.ndarray, frame: np.ndarray, fps: float, max_gap: int = 5) -> dict:
    """Consecutive rows (i-1, i, i+1) of one person whose frame gaps are at most `max_gap`."""
    if len(person) < 3:
        return dict(smooth_rows=torch.zeros((0, 3), dtype=torch.long), smooth_dt=torch.zeros((0, 2)))
    i = np.arange(1, len(person) - 1)
    same = (person[i - 1] == person[i]) & (person[i + 1] == person[i])
    gap0, gap1 = frame[i] - frame[i - 1], frame[i + 1] - frame[i]
    ok = same & (gap0 <= max_gap) & (gap1 <= max_gap)
    i = i[ok]
    rows = np.stack([i - 1, i, i + 1], 1)
    dt = np.stack([gap0[ok], gap1[ok]], 1) / fps
    return dict(smooth_rows=torch.as_tensor(rows, dtype=torch.long), smooth_dt=_t(dt))
