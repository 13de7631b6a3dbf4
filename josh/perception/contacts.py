"""Contact probabilities of the body's contact candidates, per frame.

Two estimates (DESIGN §5):
- `initial_contacts`: from the local body alone. Along the body's own "up" axis, the candidates
  near the lowest foot point carry the weight (standing and walking: the stance foot);
- `contacts_from_reconstruction`: after a first joint optimisation, from the reconstruction
  itself: a candidate is in contact when it is close to the scene and nearly still in the world.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree

from josh.types import HumanTrack, Reconstruction

FOOT_SETS = ("left_heel", "left_toes", "left_sole", "right_heel", "right_toes", "right_sole")
STANCE_MARGIN = 0.03  # m: foot candidates this close to the lowest foot point carry the weight


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _foot_candidates(body) -> np.ndarray:
    return np.unique(np.concatenate([body.contact_sets[s] for s in FOOT_SETS]))


@torch.no_grad()
def initial_contacts(track: HumanTrack, body, margin: float = STANCE_MARGIN, softness: float = 0.01) -> np.ndarray:
    """(T, n_contact) probabilities: foot candidates within `margin` of the lowest foot point."""
    T = len(track.frames)
    f32 = lambda x: torch.as_tensor(x, dtype=torch.float32)  # noqa: E731
    out = body.forward(body.rest(f32(track.shape)[None]), torch.zeros(T, dtype=torch.long),
                       f32(track.root_rotmat), f32(track.root_transl), f32(track.body_pose))  # fmt: skip
    up = (f32(track.root_rotmat) @ f32(body.up_axis))[:, None, :]  # body up in the camera frame
    height = (out.contact_vertices * up).sum(-1).numpy()  # (T, n_contact)
    feet = _foot_candidates(body)
    lowest = height[:, feet].min(1, keepdims=True)
    prob = np.zeros_like(height)
    prob[:, feet] = _sigmoid((margin - (height[:, feet] - lowest)) / softness)
    return prob


def contacts_from_reconstruction(
    recon: Reconstruction, body, max_distance: float = 0.08, max_speed: float = 0.35
) -> list[np.ndarray]:
    """Per person (T, n_contact) probabilities from world geometry: near the scene and still.

    Speed is measured over the neighbouring frames (m/s, real time steps); hands and buttocks
    are included, so sitting or leaning is picked up when the scene supports it.
    """
    tree = cKDTree(recon.scene_points) if len(recon.scene_points) else None
    result = []
    for person in recon.people:
        X = person.contact_vertices  # (T, C, 3)
        T = len(X)
        if tree is None or T < 2:
            result.append(person.contacts.copy())
            continue
        dist, _ = tree.query(X.reshape(-1, 3), k=1)
        dist = dist.reshape(T, -1)
        t = person.frames / recon.fps
        step = np.linalg.norm(np.diff(X, axis=0), axis=-1) / np.diff(t)[:, None]
        speed = np.empty_like(dist)
        speed[0], speed[-1] = step[0], step[-1]
        speed[1:-1] = np.minimum(step[:-1], step[1:])
        near = _sigmoid((max_distance - dist) / 0.02)
        still = _sigmoid((max_speed - speed) / 0.1)
        result.append(np.clip(near * still, 0.0, 1.0))
    return result
