"""Anny (NAVER, Apache-2.0) behind the `BodyModel` protocol, with fast partial evaluation.

Why a second forward: Anny's own forward runs the full 104-bone chain and skins 13,718 vertices.
The optimiser needs ~200 points per body (joints, keypoints, contact candidates, foot vertices) for
a few hundred bodies per iteration, so this module collapses the rig to the 20 bones we pose
(root + 19) and precomputes, per point, its skinning "moments" about those 20 drivers.

Derivation (Anny's 'local-ref' parameterisation, see `anny.utils.kinematics.forward_kinematic`).
With rest poses P_c = [R_c | h_c], reference orientations U_c and A_c = U_c R_c^T, the posed bone
transform factorises as T_c = F_c o T^ref_c where
  - T^ref_c = [A_c | q_c - A_c h_c] maps the rest mesh to the zero-pose ("reference") mesh, with
    reference heads q_0 = 0, q_c = q_p + A_p (h_c - h_p);
  - F_c = [G_c | t_c] is the pose: F_0 = [D_0 | d_0] (root rotation about the root joint, which
    sits at d_0), and for a child, G_c = G_p D_c, t_c = t_p + (G_p - G_c) q_c (rotation D_c about
    its reference head). Unposed bones inherit F of their nearest posed ancestor ("driver").
A point regressed from vertices, p = sum_v r_v sum_b w_vb T_b(x_v), is then
  p = sum_a G_a m_a + alpha_a t_a over drivers a, with alpha_a = sum_v r_v sum_{b->a} w_vb and
  m_a = sum_{b->a} A_b n_b + (q_b - A_b h_b) k_b,  n_b = sum_v r_v w_vb x_v,  k_b = sum_v r_v w_vb.
n_b is linear in the blendshape coefficients, so its basis is precomputed once (sparse).
"""

from __future__ import annotations

import time

import numpy as np
import roma
import torch

from josh.body.kinematics import LevelChain
from josh.body.protocol import BodyOutput, RestState

# The bones we pose, after the root: legs, spine, neck/head, arms (19 x 3 rotation parameters).
POSE_BONES = (
    "upperleg01.L", "lowerleg01.L", "foot.L",
    "upperleg01.R", "lowerleg01.R", "foot.R",
    "spine05", "spine03", "spine01", "neck01", "head",
    "clavicle.L", "upperarm01.L", "lowerarm01.L", "wrist.L",
    "clavicle.R", "upperarm01.R", "lowerarm01.R", "wrist.R",
)  # fmt: skip

# 24 skeleton joints in SMPL order (pelvis, hips at 1 and 2, ...), so SMPL-style metrics apply.
JOINT_BONES = (
    "root", "upperleg01.L", "upperleg01.R", "spine05", "lowerleg01.L", "lowerleg01.R",
    "spine03", "foot.L", "foot.R", "spine01", "toe3-1.L", "toe3-1.R",
    "neck01", "clavicle.L", "clavicle.R", "head", "upperarm01.L", "upperarm01.R",
    "lowerarm01.L", "lowerarm01.R", "wrist.L", "wrist.R", "finger3-1.L", "finger3-1.R",
)  # fmt: skip

PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions")

# The average adult of Anny's own WHO-calibrated shape distribution
# (`anny.shape_distribution.SimpleShapeDistribution`, morphological ages 20-60, either gender):
# stature 1.70 m. Not all-0.5: age 0.5 lies between Anny's "child" and "young" anchors, a 1.62 m
# teenager, a prior that shrank every fitted adult and with them the metric scale of the world.
ADULT_SHAPE = (0.49, 0.80, 0.35, 0.56, 0.37, 0.50)
# Their spread in that distribution (std; age floored at 0.05: 20-60 years is 0.015, but the
# people in a video may be teenagers or old). Height: 0.08, about 8 cm of stature.
ADULT_SPREAD = (0.30, 0.05, 0.28, 0.33, 0.08, 0.29)


def _subtree(parents: np.ndarray, root: int) -> np.ndarray:
    """Boolean mask of `root` and all its descendants."""
    mask = np.zeros(len(parents), bool)
    mask[root] = True
    for b in range(len(parents)):  # parents precede children in Anny's bone order
        if parents[b] >= 0 and mask[parents[b]]:
            mask[b] = True
    return mask


def _farthest_points(points: np.ndarray, k: int) -> np.ndarray:
    """Indices of k well-spread points (greedy farthest-point sampling, deterministic)."""
    if len(points) <= k:
        return np.arange(len(points))
    chosen = [int(np.argmin(points[:, 1]))]
    dist = np.linalg.norm(points - points[chosen[0]], axis=1)
    for _ in range(k - 1):
        chosen.append(int(np.argmax(dist)))
        dist = np.minimum(dist, np.linalg.norm(points - points[chosen[-1]], axis=1))
    return np.array(sorted(chosen))


def skin_points(G: torch.Tensor, t: torch.Tensor, moments: torch.Tensor, weights: torch.Tensor, person: torch.Tensor):
    """p_bj = sum_a G_ba m_{person(b) j a} + alpha_ja t_ba for B bodies of P people, as two GEMMs.

    G (B, A, 3, 3), t (B, A, 3); moments (P, n, A, 3); weights (n, A). Every body is evaluated
    against every person's moments in one matrix product and the right person picked by a one-hot
    mask: P is small, and one large product (and its backward) is far faster on a CPU than a
    gather of per-body moments followed by B tiny matrix products.
    """
    B, A = G.shape[:2]
    P, n = moments.shape[:2]
    Gx = G.permute(0, 2, 1, 3).reshape(B * 3, A * 3)  # rows (b, k), columns (a, l)
    Y = moments.reshape(P * n, A * 3) @ Gx.T  # ((p, j), (b, k))
    Y = Y.reshape(P, n, B, 3).permute(2, 0, 1, 3)  # (B, P, n, 3)
    mask = torch.nn.functional.one_hot(person, P).to(G.dtype)[:, :, None, None]
    rotated = (Y * mask).sum(1)
    translated = (weights @ t.permute(1, 0, 2).reshape(A, B * 3)).reshape(n, B, 3).permute(1, 0, 2)
    return rotated + translated


def rotate(R: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """R x for rotations (..., 3, 3) and vectors (..., 3), elementwise (no tiny bmm calls)."""
    return (R * x[..., None, :]).sum(-1)


def _per_body(per_person: torch.Tensor, person: torch.Tensor) -> torch.Tensor:
    """Rows of `per_person` (P, ...) for each body (B,), as a one-hot matmul: its backward is a
    matmul too, much faster on CPU than the scatter-add behind fancy indexing."""
    onehot = torch.nn.functional.one_hot(person, per_person.shape[0]).to(per_person.dtype)
    return (onehot @ per_person.reshape(per_person.shape[0], -1)).reshape(-1, *per_person.shape[1:])


class AnnyBody:
    """Anny with 6 phenotype shape parameters and 19 posable bones + root (see module doc)."""

    name = "anny"
    n_pose_bones = len(POSE_BONES)
    shape_dim = len(PHENOTYPES)
    pose_bone_names = list(POSE_BONES)
    joint_names = list(JOINT_BONES)
    up_axis = np.array([0.0, 0.0, 1.0])
    forward_axis = np.array([0.0, -1.0, 0.0])
    default_shape = np.array(ADULT_SHAPE)
    shape_spread = np.array(ADULT_SPREAD)
    shape_bounds = (0.0, 1.0)  # phenotypes are blend weights in [0, 1]
    shape_unit = 0.2
    # Sagittal angles of each leg as (pose bone, axis-angle component, sign): hip and knee
    # flexion and ankle dorsiflexion are + (`josh.body.gait`). Anny's legs bend about their x axes.
    sagittal_legs = {
        side: {"hip": (hip, 0, -1.0), "knee": (hip + 1, 0, 1.0), "ankle": (hip + 2, 0, -1.0)}
        for side, hip in (("left", POSE_BONES.index("upperleg01.L")), ("right", POSE_BONES.index("upperleg01.R")))
    }

    def __init__(self, dtype: torch.dtype = torch.float32):
        import anny
        from anny.keypoints import KeypointsRegressor

        self.dtype = dtype
        start = time.perf_counter()
        model = anny.Anny().to(torch.float64).eval()
        self.model = model
        self.load_seconds = time.perf_counter() - start
        assert list(model.phenotype_labels) == list(PHENOTYPES)
        self._bone_index = {name: i for i, name in enumerate(model.bone_labels)}
        self.parents = np.asarray(model.bone_parents, int)
        self.faces = np.asarray(model.get_triangular_faces().cpu().numpy(), np.int64)

        with torch.no_grad():
            self._build_rig()
            coco = KeypointsRegressor.coco(model)
            self._coco_weights = coco.regression_weights.to(torch.float64)
            self._build_point_sets()
            self._build_moment_basis()

    # ----------------------------------------------------------------------------------------- rig
    def _build_rig(self) -> None:
        m = self.model
        self.drivers = [0] + [self._bone_index[n] for n in POSE_BONES]
        is_driver = np.zeros(m.bone_count, bool)
        is_driver[self.drivers] = True
        slot = {b: i for i, b in enumerate(self.drivers)}
        # nearest posed ancestor (or self) of every bone, as a driver slot
        driver_of = np.zeros(m.bone_count, int)
        for b in range(m.bone_count):
            a = b
            while not is_driver[a]:
                a = self.parents[a]
            driver_of[b] = slot[a]
        self.driver_of_bone = torch.as_tensor(driver_of)
        # parent slot of each driver in the collapsed tree, and processing levels
        self.driver_parent = [-1] + [int(driver_of[self.parents[b]]) for b in self.drivers[1:]]
        self._chain = LevelChain(self.driver_parent)
        self.joint_bones = torch.tensor([self._bone_index[n] for n in JOINT_BONES])
        self.joint_driver = self.driver_of_bone[self.joint_bones]
        # Anny's kinematic chain, for the reference heads q (bones sorted by depth level)
        levels, (local, order, inverse, parent) = m.kinematic_chain_levels, m.kinematic_chain_indices
        self._anny_chain = (levels, order, self.parents)

    # -------------------------------------------------------------------------------- point sets
    def _build_point_sets(self) -> None:
        """Contact candidates, foot-sliding vertices and heel/toe keypoints from rest geometry."""
        m = self.model
        coeffs = self._coefficients(torch.as_tensor(self.default_shape)[None])
        rest = m.get_rest_vertices(coeffs)[0].cpu().numpy()
        dominant = m.vertex_bone_indices.cpu().numpy()[
            np.arange(rest.shape[0]), m.vertex_bone_weights.cpu().numpy().argmax(1)
        ]
        sets: dict[str, np.ndarray] = {}
        foot_ids = []
        for side, tag in (("left", "L"), ("right", "R")):
            foot = np.flatnonzero(_subtree(self.parents, self._bone_index[f"foot.{tag}"])[dominant])
            z = rest[foot, 2]
            sole = foot[z < z.min() + 0.015]
            y = rest[sole, 1]  # body faces -y: toes at small y, heel at large y
            heel = sole[y > y.max() - 0.06]
            toes = sole[y < y.min() + 0.06]
            sets[f"{side}_heel"] = heel[_farthest_points(rest[heel], 6)]
            sets[f"{side}_toes"] = toes[_farthest_points(rest[toes], 6)]
            sets[f"{side}_sole"] = sole[_farthest_points(rest[sole], 12)]
            foot_ids += [int(sole[np.argmax(y)]), int(sole[np.argmin(y)])]
            hand = np.flatnonzero(_subtree(self.parents, self._bone_index[f"wrist.{tag}"])[dominant])
            sets[f"{side}_hand"] = hand[_farthest_points(rest[hand], 8)]
        pelvis = np.isin(dominant, [self._bone_index[b] for b in ("root", "pelvis.L", "pelvis.R")])
        seat = np.flatnonzero(pelvis & (rest[:, 1] > 0.02))
        seat = seat[rest[seat, 2] < np.quantile(rest[seat, 2], 0.4)]
        sets["buttocks"] = seat[_farthest_points(rest[seat], 10)]

        ids = np.unique(np.concatenate(list(sets.values())))
        self.contact_vertex_ids = ids
        self.contact_sets = {k: np.searchsorted(ids, v) for k, v in sets.items()}
        self.foot_vertex_ids = np.array(foot_ids)  # L heel, L toe, R heel, R toe
        self.keypoint_names = list(self._coco_labels())  # COCO-17 + big/small toes + heels

        n_vertices = rest.shape[0]
        onehot = lambda idx: torch.nn.functional.one_hot(torch.as_tensor(idx), n_vertices).to(torch.float64)  # noqa: E731
        self._point_slices = {}
        rows = [self._coco_weights]
        rows.append(onehot(ids))
        rows.append(onehot(self.foot_vertex_ids))
        sizes = [r.shape[0] for r in rows]
        bounds = np.cumsum([0] + sizes)
        self._point_slices = {
            "keypoints": slice(bounds[0], bounds[1]),
            "contact_vertices": slice(bounds[1], bounds[2]),
            "foot_vertices": slice(bounds[2], bounds[3]),
        }
        self._regressor = torch.cat(rows, 0)  # (n_points, V)

    def _coco_labels(self):
        from anny.keypoints import KeypointsRegressor

        return KeypointsRegressor.coco(self.model).labels

    # ---------------------------------------------------------------------------- moment basis
    def _build_moment_basis(self) -> None:
        """Sparse (point, bone) pairs and the blendshape basis of n_b for each pair."""
        m = self.model
        reg = self._regressor.to_sparse_coo().coalesce()
        j, v = reg.indices()
        r = reg.values()
        slots = m.vertex_bone_indices.shape[1]
        bone = m.vertex_bone_indices[v].reshape(-1).long()
        weight = (m.vertex_bone_weights[v] * r[:, None]).reshape(-1)
        point = j[:, None].expand(-1, slots).reshape(-1)
        vert = v[:, None].expand(-1, slots).reshape(-1)
        keep = weight.abs() > 0
        point, vert, bone, weight = point[keep], vert[keep], bone[keep], weight[keep]
        n_bones = m.bone_count
        pair_key = point * n_bones + bone
        pairs, pair_of = torch.unique(pair_key, return_inverse=True)
        n_pairs = pairs.shape[0]
        self.pair_point = pairs // n_bones
        self.pair_bone = pairs % n_bones
        self.pair_driver = self.driver_of_bone[self.pair_bone]
        # S (n_pairs, V) sparse; n_b basis = S @ [template, blendshapes]
        n_vertices = m.template_vertices.shape[0]
        S = torch.sparse_coo_tensor(
            torch.stack([pair_of, vert]), weight, (n_pairs, n_vertices), check_invariants=False
        ).coalesce()
        basis = torch.cat([m.template_vertices[None], m.blendshapes], 0)  # (1+C, V, 3)
        flat = basis.permute(1, 0, 2).reshape(n_vertices, -1)
        self.pair_basis = torch.sparse.mm(S, flat).reshape(n_pairs, basis.shape[0], 3).to(self.dtype)
        self.pair_k = torch.sparse.sum(S, 1).to_dense().to(self.dtype)  # sum_v r w
        # alpha (n_points, n_drivers)
        n_points = self._regressor.shape[0]
        alpha = torch.zeros(n_points, len(self.drivers), dtype=torch.float64)
        alpha.index_put_((self.pair_point, self.pair_driver), self.pair_k.double(), accumulate=True)
        self.point_alpha = alpha.to(self.dtype)
        self.n_points = n_points

    # --------------------------------------------------------------------------------- shape
    def _coefficients(self, shape: torch.Tensor) -> torch.Tensor:
        """Blendshape coefficients (P, C) of phenotype values (P, 6)."""
        m = self.model
        shape = shape.to(torch.float64)
        empty = torch.zeros(shape.shape[0], 0, dtype=torch.float64)
        return m._get_phenotype_blendshape_coefficients(shape, empty, empty)

    def rest(self, shape: torch.Tensor) -> RestState:
        """Shape-dependent rig quantities for P bodies; differentiable w.r.t. `shape` (P, 6)."""
        m = self.model
        coeffs = self._coefficients(shape)  # float64 for a stable Procrustes
        P = coeffs.shape[0]
        heads = m.template_bone_heads[None] + torch.einsum("pc,cbk->pbk", coeffs, m.bone_heads_blendshapes)
        M = m.bone_template_orientation_matrices[None] + torch.einsum(
            "pc,cbij->pbij", coeffs, m.bone_orientation_blendshapes
        )
        R = roma.special_procrustes(M)
        R = torch.cat([torch.eye(3, dtype=R.dtype).expand(P, 1, 3, 3), R[:, 1:]], 1)  # root: identity
        A = m.reference_bone_orientations[None] @ R.transpose(-1, -2)
        A = torch.cat([torch.eye(3, dtype=A.dtype).expand(P, 1, 3, 3), A[:, 1:]], 1)
        q = self._reference_heads(A, heads)
        # moments of each (point, bone) pair, summed into the point's driver
        pb = self.pair_bone
        n = torch.einsum("pc,nck->pnk", torch.cat([torch.ones(P, 1, dtype=coeffs.dtype), coeffs], 1).to(self.dtype), self.pair_basis)
        A_pb = A.index_select(1, pb).to(self.dtype)
        q_pb = q.index_select(1, pb).to(self.dtype)
        h_pb = heads.index_select(1, pb).to(self.dtype)
        offset = q_pb - (A_pb @ h_pb[..., None])[..., 0]
        pair_moment = (A_pb @ n[..., None])[..., 0] + offset * self.pair_k[None, :, None]
        moments = torch.zeros(P, self.n_points * len(self.drivers), 3, dtype=self.dtype)
        moments = moments.index_add(1, self.pair_point * len(self.drivers) + self.pair_driver, pair_moment)
        return RestState(
            joint_heads=q[:, self.drivers].to(self.dtype),
            joint_offsets=q[:, self.joint_bones].to(self.dtype),
            point_moments=moments.reshape(P, self.n_points, len(self.drivers), 3),
            point_weights=self.point_alpha,
        )

    def _reference_heads(self, A: torch.Tensor, heads: torch.Tensor) -> torch.Tensor:
        """q_0 = 0, q_c = q_p + A_p (h_c - h_p), level by level down Anny's chain."""
        levels, order, parents = self._anny_chain
        parents_t = torch.as_tensor(parents)
        q = torch.zeros_like(heads)
        for first, last in levels[1:]:
            bones = order[first:last]
            par = parents_t[bones]
            step = (A[:, par] @ (heads[:, bones] - heads[:, par])[..., None])[..., 0]
            q = q.index_copy(1, bones, q[:, par] + step)
        return q

    # ------------------------------------------------------------------------------- forward
    def pose_drivers(self, rest: RestState, person, root_rotmat, root_transl, body_pose):
        """Rotation G (B, 20, 3, 3) and translation t (B, 20, 3) of every driver."""
        B = root_rotmat.shape[0]
        D = roma.rotvec_to_rotmat(body_pose.to(self.dtype))
        local = torch.cat([torch.eye(3, dtype=self.dtype).expand(B, 1, 3, 3), D], 1)
        heads = _per_body(rest.joint_heads, person)  # (B, 20, 3); the root's head is the origin
        return self._chain.pose(root_rotmat.to(self.dtype), root_transl.to(self.dtype), local, heads)

    def forward(self, rest: RestState, person, root_rotmat, root_transl, body_pose) -> BodyOutput:
        """Joints, keypoints, contact candidates and foot vertices of B bodies.

        `person` (B,) indexes the P bodies of `rest`; root_rotmat (B,3,3), root_transl (B,3),
        body_pose (B,19,3) axis-angle.
        """
        G, t = self.pose_drivers(rest, person, root_rotmat, root_transl, body_pose)
        points = skin_points(G, t, rest.point_moments, rest.point_weights, person)
        jd = self.joint_driver
        joints = rotate(G.index_select(1, jd), _per_body(rest.joint_offsets, person)) + t.index_select(1, jd)
        s = self._point_slices
        return BodyOutput(  # slices are views: no copies
            joints=joints,
            keypoints=points[:, s["keypoints"]],
            contact_vertices=points[:, s["contact_vertices"]],
            foot_vertices=points[:, s["foot_vertices"]],
        )

    # ---------------------------------------------------------------------------------- mesh
    def delta_transforms(self, root_rotmat, root_transl, body_pose) -> torch.Tensor:
        """Anny's (B, 104, 4, 4) 'local-ref' delta transforms for our parameters."""
        B = root_rotmat.shape[0]
        delta = torch.eye(4, dtype=torch.float64).repeat(B, self.model.bone_count, 1, 1)
        delta[:, 0, :3, :3] = root_rotmat.double()
        delta[:, 0, :3, 3] = root_transl.double()
        delta[:, self.drivers[1:], :3, :3] = roma.rotvec_to_rotmat(body_pose.double())
        return delta

    def mesh(self, shape, root_rotmat, root_transl, body_pose) -> torch.Tensor:
        """Full posed mesh (B, 13718, 3) through Anny's own forward (export, tests)."""
        m = self.model
        shape = torch.as_tensor(shape, dtype=torch.float64).reshape(-1, self.shape_dim)
        with torch.no_grad():
            out = m.forward(
                pose_parameters=self.delta_transforms(root_rotmat, root_transl, body_pose),
                phenotype_kwargs=shape,
            )
        return out["vertices"].to(self.dtype)

    def regress(self, vertices: torch.Tensor) -> dict[str, torch.Tensor]:
        """The protocol's points from a full mesh (B, V, 3): the reference for tests."""
        pts = torch.einsum("jv,bvk->bjk", self._regressor.to(vertices.dtype), vertices)
        return {k: pts[:, s] for k, s in self._point_slices.items()}
