"""Forward kinematics of a rotation-driven skeleton, batched by tree depth.

Every posed bone c has a skinning transform x -> G_c x + t_c acting on rest-pose points, with
    G_c = G_p D_c,    t_c = t_p + (G_p - G_c) q_c
for parent p, local rotation D_c and rest joint (rotation centre) q_c; the root takes its
orientation and the position of its joint directly (G_0 = R_root, t_0 = root_position - R_root q_0,
with q_0 = 0 when the root joint is the origin of the rest frame). This is the same recursion for
Anny's "local-ref" bones and for SMPL's joints, so both body models share it.

Bones of equal depth are posed together (one batched matmul per level instead of one per bone):
a 20-bone Anny rig has 7 levels, SMPL's 24 joints have 9.
"""

from __future__ import annotations

import numpy as np
import torch


def matmul3(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """A @ B for batches of 3x3 matrices, elementwise: on a CPU, batched GEMM calls on 3x3 blocks
    cost more in dispatch than the 27 multiply-adds they do."""
    return (A[..., :, :, None] * B[..., None, :, :]).sum(-2)


class LevelChain:
    """The tree of `parents` (parents[0] = -1, parents precede children) grouped by depth."""

    def __init__(self, parents):
        parents = np.asarray(parents, int)
        n = len(parents)
        depth = np.zeros(n, int)
        for i in range(1, n):
            depth[i] = depth[parents[i]] + 1
        self.levels: list[torch.Tensor] = []  # bone indices of each level (level 0 = the root)
        self.parent_slot: list[torch.Tensor] = []  # position of each bone's parent in the previous level
        position = np.zeros(n, int)
        for d in range(depth.max() + 1):
            bones = np.flatnonzero(depth == d)
            position[bones] = np.arange(len(bones))
            self.levels.append(torch.as_tensor(bones))
            self.parent_slot.append(torch.as_tensor(position[parents[bones]] if d else np.zeros(0, int)))
        order = np.concatenate([lv.numpy() for lv in self.levels])
        self.restore = torch.as_tensor(np.argsort(order))  # level-concatenated order -> bone order
        self.n_bones = n

    def pose(self, root_R: torch.Tensor, root_t: torch.Tensor, local_R: torch.Tensor, centres: torch.Tensor):
        """Skinning rotations G (B, n, 3, 3) and translations t (B, n, 3).

        root_R (B, 3, 3), root_t (B, 3): the root's transform; local_R (B, n, 3, 3): D_c of every
        bone (row 0 ignored); centres (B, n, 3): rest rotation centres q_c.
        """
        # index_select (backward: index_add) rather than fancy indexing (backward: a slow index_put)
        pick = lambda x, idx: x.index_select(1, idx)  # noqa: E731
        G_levels, t_levels = [root_R[:, None]], [root_t[:, None]]
        for bones, slot in zip(self.levels[1:], self.parent_slot[1:]):
            G_p, t_p = pick(G_levels[-1], slot), pick(t_levels[-1], slot)
            G_c = matmul3(G_p, pick(local_R, bones))
            t_c = t_p + ((G_p - G_c) * pick(centres, bones)[..., None, :]).sum(-1)
            G_levels.append(G_c)
            t_levels.append(t_c)
        return pick(torch.cat(G_levels, 1), self.restore), pick(torch.cat(t_levels, 1), self.restore)
