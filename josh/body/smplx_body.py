"""SMPL-X (the user's licensed model files) behind the `BodyModel` protocol, through `smplx`.

The same implementation as SMPL (`josh.body.smpl_body.SmplFamilyBody`: file search, fast partial
forward with pose blend shapes, contact sets, keypoints), with SMPL-X's family record:

- files `SMPLX_{NEUTRAL,MALE,FEMALE}.npz` (or .pkl) in the given folder, its `smplx/` subfolder,
  `$JOSH_SMPLX_DIR`, `$JOSH_SMPL_DIR`, or `<JOSH cache>/smplx` (https://smpl-x.is.tue.mpg.de);
- posed: the root and the 21 body joints (n_pose_bones = 21, the same bones and order as SMPL's
  first 21). Jaw, eyes and the 30 finger joints are held at smplx's flat pose (zero rotation,
  `flat_hand_mean=True`, no PCA mean), expression is zero, 10 betas;
- joints: 24 SMPL-compatible joints for the metrics, SMPL-X's 22 body joints then, standing in
  for SMPL's hand joints 22 / 23, the left / right middle-finger base joints (SMPL-X 28 / 43),
  which sit at the knuckles like SMPL's hand joints;
- keypoints: as SMPL, the vertex ones from `smplx.vertex_ids['smplx']` (nose 9120, eyes
  9448 / 9929, ears 6 / 616, big toes 5770 / 8463, small toes 5780 / 8474, heels 8846 / 8635,
  left / right);
- foot-sliding vertices: smplx's heel and big-toe vertices, L heel 8846, L toe 5770, R heel 8635,
  R toe 8463 (the SMPL-X counterparts of SMPL's 3387 / 3216 / 6787 / 6617);
- hands for the contact candidates: the wrist and finger bones (20, 25-39 / 21, 40-54).
"""

from __future__ import annotations

import torch

from josh.body.smpl_body import _REQUIRED_KEYS, SmplFamily, SmplFamilyBody

SMPLX_URL = "https://smpl-x.is.tue.mpg.de"
LEFT_MIDDLE1, RIGHT_MIDDLE1 = 28, 43

SMPLX = SmplFamily(
    name="smplx", label="SMPL-X", url=SMPLX_URL, env_vars=("JOSH_SMPLX_DIR", "JOSH_SMPL_DIR"), subfolder="smplx",
    file_names={g: (f"SMPLX_{g.upper()}.npz", f"SMPLX_{g.upper()}.pkl") for g in ("neutral", "male", "female")},
    required_keys=_REQUIRED_KEYS + ("hands_componentsl", "hands_componentsr", "hands_meanl", "hands_meanr",
                                    "lmk_faces_idx", "lmk_bary_coords"),
    n_vertices=10475, n_joints=55, n_pose_bones=21, joint_ids=tuple(range(22)) + (LEFT_MIDDLE1, RIGHT_MIDDLE1),
    vertex_ids="smplx", foot_vertex_ids=(8846, 5770, 8635, 8463),
    hand_bones={"left": (20, *range(25, 40)), "right": (21, *range(40, 55))},
)  # fmt: skip


class SMPLXBody(SmplFamilyBody):
    """SMPL-X with 10 betas and 21 axis-angle body joints + root; hands, jaw, eyes flat, expression
    zero (see module doc)."""

    family = SMPLX
    name = "smplx"
    n_pose_bones = 21
    pose_bone_names = list(SmplFamilyBody.joint_names[1:22])

    def _build_smplx(self, data):
        import smplx

        return smplx.SMPLX(
            model_path=str(self.model_file), ext=self.model_file.suffix[1:], gender=self.gender,
            num_betas=self.shape_dim, num_expression_coeffs=10, use_pca=False, flat_hand_mean=True,
            use_face_contour=False, dtype=torch.float64,
        )  # fmt: skip

    def _smplx_pose_kwargs(self, batch: int) -> dict:
        zeros = lambda n: torch.zeros(batch, n, dtype=torch.float64)  # noqa: E731
        return {"left_hand_pose": zeros(45), "right_hand_pose": zeros(45), "jaw_pose": zeros(3),
                "leye_pose": zeros(3), "reye_pose": zeros(3), "expression": zeros(10)}  # fmt: skip
