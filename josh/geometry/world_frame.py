"""The exported world frame: gravity-aligned, Z up, ground at z = 0, origin under the first person.

The optimiser works in the first keyframe's camera frame (OpenCV axes, y down), which is tilted
and has no ground. Users (animators, robotics, metrics on AMASS-like data) want gravity up. This
module estimates that frame from what a reconstruction already holds, and moves a reconstruction
between frames while keeping `Reconstruction.world_align` equal to "internal -> current frame".

Where "up" comes from, strongest evidence first:
1. people: the body's up axis (`BodyModel.up_axis` turned by the world root rotations) gives a
   prior that is roughly right in every frame; the contact vertices refine it when they are spread
   out: a plane through them when they cover an area, or (contacts along one walking line) "up is
   perpendicular to the line" for the pitch while the body prior keeps the roll. The prior alone
   is biased: walkers lean forward (demo2: its bodies' up is 0.9-1.8 degrees off its contacts'
   plane, toward where they walk), which tilts the ground of the whole world;
2. no people: the cameras' -y axes (a handheld camera is held roughly upright), refined by the
   scene points' dominant plane when one lies near that direction.
A contact refinement that disagrees with the body prior by more than `max_refine_angle_deg`, or
contacts that do not lie on one plane (stairs, a slope, bad contacts), are rejected and the prior
is kept: people stand along gravity, slopes do not.

Ground height: in each person-frame with a contact (probability > 0.5) the lowest in-contact vertex
touches the ground, so the ground is the median of those; without contacts, the median over frames
of the lowest foot / contact-candidate vertex; without people, the scene plane or the low end of
the scene points.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import numpy as np

from josh.errors import InputError
from josh.types import PersonResult, Reconstruction

# The canonical up axis of the body models we know, for callers that pass no body model.
BODY_UP_AXES = {"anny": (0.0, 0.0, 1.0), "smpl": (0.0, 1.0, 0.0), "smplx": (0.0, 1.0, 0.0)}

CONTACT_THRESHOLD = 0.5
MIN_CONTACT_POINTS = 10
MIN_SPREAD_M = 0.25  # std of contact positions along a direction that makes it usable
# Contacts of monocular fits scatter 2.5-4 cm about their plane (demo2: 2.8-3.8 cm over 3,400-4,100
# contact points, 95-100% of them inliers); two levels a stair's riser (15-18 cm) apart scatter 7 cm
# or more. Above this the contacts are not one flat ground.
MAX_PLANE_THICKNESS_M = 0.06
# The scatter over the contacts' extent across (a plane) or along (a line) bounds how far it could
# tilt them: a plane that could be tilted more than this by its own scatter is no better than the
# body prior it refines (walkers lean forward 1-2 degrees: demo2's bodies against its contacts).
MAX_SCATTER_TILT_DEG = 4.0
MIN_PLANE_INLIERS = 0.7
MAX_PRIOR_SPREAD_DEG = 30.0  # body/camera up directions farther than this from the consensus are outliers
MAX_CAMERA_TILT_DEG = 30.0  # a handheld camera's -y is within this of up; a wall is far outside


@dataclass
class WorldFrame:
    """An estimated exported frame: `transform` maps the reconstruction's current frame to it."""

    transform: np.ndarray  # (4, 4) rigid
    up_source: str  # which evidence fixed "up"
    ground_source: str  # which evidence fixed z = 0


# ------------------------------------------------------------------------------------ estimate
def estimate_world_frame(recon: Reconstruction, body=None, max_refine_angle_deg: float = 12.0) -> WorldFrame:
    """Gravity-aligned Z-up frame of `recon` (in whatever frame `recon` currently is)."""
    seen = dataclasses.replace(recon, people=[p for p in recon.people if len(p.frames)])
    up, up_source = _estimate_up(seen, _body_up_axis(recon, body), max_refine_angle_deg)
    ground, ground_source = _ground_height(seen, up)
    R = _axes(seen, up)
    reference = seen.people[0].root_transl[0] if seen.people else seen.T_wc[0, :3, 3]
    reference = np.asarray(reference, np.float64)
    origin = reference - (reference @ up - ground) * up  # on the ground, under the reference
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = -R @ origin
    return WorldFrame(T, up_source, ground_source)


def up_direction(recon: Reconstruction, body=None) -> np.ndarray:
    """(3,) the estimated up direction (unit) in `recon`'s internal frame: what a second
    optimisation from the same front-end needs to know which way is down."""
    return estimate_world_frame(to_internal_frame(recon), body).transform[2, :3].copy()


def align_world(recon: Reconstruction, body=None) -> Reconstruction:
    """`recon` moved to its estimated exported frame (idempotent: estimated from the internal frame)."""
    internal = to_internal_frame(recon)
    frame = estimate_world_frame(internal, body)
    aligned = apply_world_transform(internal, frame.transform)
    aligned.metadata["world_frame"] = {"up_source": frame.up_source, "ground_source": frame.ground_source,
                                       "up_axis": "z", "units": "metres"}  # fmt: skip
    return aligned


def _body_up_axis(recon: Reconstruction, body) -> np.ndarray:
    if body is not None:
        return np.asarray(body.up_axis, np.float64)
    if recon.body_model not in BODY_UP_AXES:
        raise InputError(f"unknown body model {recon.body_model!r}: pass the body model to find its up axis")
    return np.asarray(BODY_UP_AXES[recon.body_model])


def _estimate_up(recon: Reconstruction, body_up_axis: np.ndarray, max_refine_deg: float) -> tuple[np.ndarray, str]:
    if recon.people:
        return _people_up(recon.people, body_up_axis, max_refine_deg)
    prior = _robust_mean_direction(-recon.T_wc[:, :3, 1])
    plane = _scene_plane(recon.scene_points, prior, np.cos(np.radians(MAX_CAMERA_TILT_DEG)))
    if plane is not None:
        return plane[0], "scene plane"
    return prior, "camera up"


def _people_up(people: list[PersonResult], body_up_axis: np.ndarray, max_refine_deg: float) -> tuple[np.ndarray, str]:
    """Up from the bodies' up axis, refined by their contacts where those fix it (module doc)."""
    prior = _robust_mean_direction(np.concatenate([p.root_rotmat @ body_up_axis for p in people]))
    contacts = _contact_points(people)
    if len(contacts) >= MIN_CONTACT_POINTS:
        normal, _, spread, line, inlier_fraction = _fit_plane(contacts)
        if spread[2] > MAX_PLANE_THICKNESS_M or inlier_fraction < MIN_PLANE_INLIERS:
            refined, how = None, ""  # contacts on several levels (stairs) or many outliers
        elif _spans(spread[1], spread[2]):
            refined, how = normal * np.sign(normal @ prior), "contact plane"
        elif _spans(spread[0], spread[2]):  # contacts along a line: horizontal direction known
            refined, how = _unit(prior - (prior @ line) * line), "contact line + body up"
        else:
            refined, how = None, ""
        if refined is not None and refined @ prior >= np.cos(np.radians(max_refine_deg)):
            return refined, how
    return prior, "body up"


def _ground_height(recon: Reconstruction, up: np.ndarray) -> tuple[float, str]:
    """Height (along `up`, in the current frame) of the ground."""
    if recon.people:
        return _people_ground_height(recon.people, up)
    plane = _scene_plane(recon.scene_points, up, np.cos(np.radians(5.0)))
    if plane is not None:
        return plane[1], "scene plane"
    if len(recon.scene_points):
        return float(np.quantile(recon.scene_points @ up, 0.05)), "lowest scene points"
    return float(recon.T_wc[0, :3, 3] @ up), "first camera"


def _people_ground_height(people: list[PersonResult], up: np.ndarray) -> tuple[float, str]:
    lowest_in_contact = [lowest_in_contact_heights(p, up) for p in people]
    if sum(map(len, lowest_in_contact)):
        return float(np.median(np.concatenate(lowest_in_contact))), "contact vertices"
    lowest_any = [(np.concatenate([p.contact_vertices, p.foot_vertices], 1) @ up).min(1) for p in people]
    return float(np.median(np.concatenate(lowest_any))), "lowest foot vertices"


def lowest_in_contact_heights(person: PersonResult, up: np.ndarray) -> np.ndarray:
    """Per frame with a contact (probability > 0.5), the height along `up` of the lowest
    in-contact vertex: the point that touches the ground."""
    in_contact = np.asarray(person.contacts) > CONTACT_THRESHOLD
    heights = np.asarray(person.contact_vertices) @ up  # (T, n_contact)
    return np.where(in_contact, heights, np.inf)[in_contact.any(1)].min(1)


def people_ground_plane(people: list[PersonResult], body, max_refine_angle_deg: float = 4.0) -> np.ndarray | None:
    """(4,) the ground under `people` as (n, d) with n.X = d, n = up, in the people's frame; None
    without people. The same evidence as the exported world's ground: the bodies' up refined by
    their contacts, at the height of the lowest in-contact vertices. Unlike a plane fitted to the
    contacts alone it stays level where they do not fix a plane: two or three people, one of
    them placed too near or too far, fit a thin plane tilted by several degrees. So the contacts
    may correct the walkers' lean (1-2 degrees) but not tilt the ground further."""
    people = [p for p in people if len(p.frames)]
    if not people:
        return None
    up, _ = _people_up(people, np.asarray(body.up_axis, np.float64), max_refine_angle_deg)
    height, _ = _people_ground_height(people, up)
    return np.append(up, height)


def _axes(recon: Reconstruction, up: np.ndarray) -> np.ndarray:
    """Rows x, y, z of the exported axes in current coordinates: x = first camera's heading."""
    R0 = recon.T_wc[0, :3, :3]
    for direction in (R0[:, 2], R0[:, 0], np.array([1.0, 0, 0]), np.array([0, 1.0, 0])):
        horizontal = direction - (direction @ up) * up
        if np.linalg.norm(horizontal) > 0.1:
            x = _unit(horizontal)
            return np.stack([x, np.cross(up, x), up])
    raise AssertionError("unreachable: two orthogonal axes cannot both be parallel to up")


# ------------------------------------------------------------------------------------- helpers
def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _spans(extent: float, thickness: float) -> bool:
    """Whether contacts spread `extent` (std, m) in a direction fix the tilt about the crossing
    axis, given their `thickness` (std about their plane)."""
    return extent >= max(MIN_SPREAD_M, thickness / np.tan(np.radians(MAX_SCATTER_TILT_DEG)))


def _robust_mean_direction(vectors: np.ndarray, iterations: int = 3) -> np.ndarray:
    """Mean of unit directions after dropping those far from the consensus (lying, falling)."""
    v = np.asarray(vectors, np.float64).reshape(-1, 3)
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    d = _unit(np.median(v, 0) + 1e-12)
    cos_limit = np.cos(np.radians(MAX_PRIOR_SPREAD_DEG))
    for _ in range(iterations):
        keep = v @ d >= cos_limit
        if not keep.any():
            break
        d = _unit(v[keep].mean(0))
    return d


def _contact_points(people: list[PersonResult]) -> np.ndarray:
    pts = [np.asarray(p.contact_vertices)[np.asarray(p.contacts) > CONTACT_THRESHOLD] for p in people]
    return np.concatenate(pts).astype(np.float64) if pts else np.zeros((0, 3))


def _fit_plane(points: np.ndarray, iterations: int = 3):
    """Least-squares plane, trimming far points: normal, centre, spread (std along the principal
    axes, descending: the last is the plane's thickness), main axis, fraction of points kept."""
    keep = np.ones(len(points), bool)
    for _ in range(iterations):
        centre = points[keep].mean(0)
        evals, evecs = np.linalg.eigh(np.cov((points[keep] - centre).T))
        normal = evecs[:, 0]
        r = (points - centre) @ normal
        mad = np.median(np.abs(r[keep] - np.median(r[keep])))
        new_keep = np.abs(r) <= max(4.0 * 1.4826 * mad, 0.02)
        if new_keep.sum() < MIN_CONTACT_POINTS or (new_keep == keep).all():
            break
        keep = new_keep
    spread = np.sqrt(np.clip(evals[::-1], 0, None))
    return normal, centre, spread, evecs[:, 2], keep.mean()


def _scene_plane(points: np.ndarray, prior: np.ndarray, cos_limit: float, n_hypotheses: int = 256,
                 max_points: int = 4000, min_inlier_fraction: float = 0.15):  # fmt: skip
    """Dominant plane of the scene points with its normal near `prior` (RANSAC, deterministic).

    Returns (normal oriented like prior, height along it) or None. The inlier band is relative to
    the scene's size, because a scene without people has no metric scale.
    """
    pts = np.asarray(points, np.float64)
    if len(pts) < 30:
        return None
    rng = np.random.default_rng(0)
    if len(pts) > max_points:
        pts = pts[rng.choice(len(pts), max_points, replace=False)]
    size = np.median(np.linalg.norm(pts - np.median(pts, 0), axis=1))
    band = 0.02 * size
    triples = pts[rng.integers(0, len(pts), (n_hypotheses, 3))]
    normals = np.cross(triples[:, 1] - triples[:, 0], triples[:, 2] - triples[:, 0])
    norms = np.linalg.norm(normals, axis=1)
    normals = normals / np.maximum(norms, 1e-12)[:, None]
    normals *= np.where(normals @ prior < 0, -1.0, 1.0)[:, None]
    ok = (norms > 1e-12) & (normals @ prior >= cos_limit)
    if not ok.any():
        return None
    normals, anchors = normals[ok], triples[ok, 0]
    offsets = np.abs(pts @ normals.T - (anchors * normals).sum(1))  # (M, H)
    counts = (offsets < band).sum(0)
    best = int(np.argmax(counts))
    if counts[best] < min_inlier_fraction * len(pts):
        return None
    inliers = pts[offsets[:, best] < band]
    centre = inliers.mean(0)
    normal = np.linalg.eigh(np.cov((inliers - centre).T))[1][:, 0]
    normal *= np.sign(normal @ prior)
    if normal @ prior < cos_limit:
        return None
    return normal, float(centre @ normal)


# ------------------------------------------------------------------------------------- transform
def apply_world_transform(recon: Reconstruction, T: np.ndarray) -> Reconstruction:
    """A copy of `recon` with every world quantity moved by the rigid x -> R x + t in `T` (4x4).

    Cameras, scene points, and per person root rotation/translation (the root pivots about its
    joint, so no pivot correction is needed), joints, foot and contact vertices. `world_align`
    becomes T @ world_align, so it still maps the optimiser's internal frame to the new frame.
    Camera-frame data (keyframe depth maps) and contact probabilities are unchanged; arrays that do
    not move are shared with `recon`, not copied.
    """
    T = _check_rigid(T)
    R, t = T[:3, :3], T[:3, 3]
    move = lambda x: _cast_like(np.asarray(x, np.float64) @ R.T + t, x)  # noqa: E731
    people = [
        dataclasses.replace(
            p,
            root_rotmat=_cast_like(R @ np.asarray(p.root_rotmat, np.float64), p.root_rotmat),
            root_transl=move(p.root_transl),
            joints=move(p.joints),
            foot_vertices=move(p.foot_vertices),
            contact_vertices=move(p.contact_vertices),
        )
        for p in recon.people
    ]
    return dataclasses.replace(
        recon,
        T_wc=_cast_like(T @ np.asarray(recon.T_wc, np.float64), recon.T_wc),
        scene_points=move(recon.scene_points),
        people=people,
        world_align=T @ np.asarray(recon.world_align, np.float64),
        metadata=copy.deepcopy(recon.metadata),
    )


def to_internal_frame(recon: Reconstruction) -> Reconstruction:
    """`recon` moved back to the optimiser's internal frame (world_align = identity)."""
    internal = apply_world_transform(recon, rigid_inverse(recon.world_align))
    internal.world_align = np.eye(4)
    return internal


def rigid_inverse(T: np.ndarray) -> np.ndarray:
    T = _check_rigid(T)
    inv = np.eye(4)
    inv[:3, :3] = T[:3, :3].T
    inv[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    return inv


def _check_rigid(T: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    T = np.asarray(T, np.float64)
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        raise InputError(f"world transform must be a finite 4x4 matrix, got shape {T.shape}")
    R = T[:3, :3]
    if (np.abs(R.T @ R - np.eye(3)).max() > tol or np.linalg.det(R) < 0
            or np.abs(T[3] - [0, 0, 0, 1]).max() > tol):  # fmt: skip
        raise InputError("world transform is not rigid (rotation must be orthonormal with det +1)")
    return T


def _cast_like(value: np.ndarray, like) -> np.ndarray:
    dtype = np.asarray(like).dtype
    return value.astype(dtype if np.issubdtype(dtype, np.floating) else np.float64)
