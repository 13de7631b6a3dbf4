"""All optimiser settings in one typed object (pycolmap-style options), with documented defaults.

Residual scales (`*_scale`) say what size of error counts as "one unit" for each term, so the
weights compare like with like; the robust penalty is applied to residual / scale.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Phase:
    """One optimisation phase: Adam with a cosine-decayed learning rate."""

    iterations: int
    lr: float
    focal_free: bool  # DESIGN §4: focal frozen in the coarse phase, free in the fine phase
    reprojection: bool  # the scene's 2D reprojection term active (people's keypoints always are)


@dataclass
class OptimConfig:
    # --- schedule ------------------------------------------------------------------------------
    scene_phase: Phase = field(default_factory=lambda: Phase(150, 0.02, True, True))
    """Scene-only initialisation shared by every method (what the scene front-end's own global
    alignment does): cameras, per-keyframe scales and focal from `L_scene` alone."""
    coarse: Phase = field(default_factory=lambda: Phase(200, 0.02, False, False))
    fine: Phase = field(default_factory=lambda: Phase(150, 0.005, True, True))

    # --- term weights (0 disables a term) ------------------------------------------------------
    w_scene3d: float = 5.0  # 3D agreement of matched points (depth-normalised)
    w_scene2d: float = 5.0  # reprojection of partner points into the other keyframe
    w_prior: float = 1.0  # closeness to the front-end's local bodies
    w_smooth: float = 1.0  # world-joint acceleration
    w_keypoints: float = 3.0  # 2D keypoint reprojection
    w_c1: float = 2.0  # contact alignment (the metric anchor)
    w_c2: float = 0.5  # contact stillness
    w_skate: float = 0.0
    """The lowest foot does not slide (`losses.lowest_foot_stillness`). It needs the world's up
    direction (`FrontEndInputs.up`), which only a first reconstruction gives, so the pipeline
    turns it on in the second optimisation (`Settings.refine_skate_weight`)."""

    # --- residual scales -----------------------------------------------------------------------
    scene3d_scale: float = 0.03  # relative 3D disagreement (fraction of depth)
    scene2d_scale: float = 2.0  # px
    match_depth_scale: float = 0.03  # relative depth noise of the front-end at matched pixels
    w_match_depth: float = 1.0
    keypoint_scale: float = 6.0  # px
    smooth_scale: float = 15.0  # m/s^2 of world-joint acceleration
    turn_smooth_scale: float = 10.0
    """rad/s^2 of the root's world angular acceleration (a brisk turn: 90 degrees in half a
    second peaks near 25). The joint term barely sees the root's orientation: the legs and spine
    can turn back against a jittering root and keep most joints still, leaving only the hips
    (11 cm from the root) to shake; on demo2 roots turned at 30-145 rad/s^2 RMS without it."""
    pose_prior_scale: float = 0.15  # rad per bone
    orient_prior_scale: float = 0.1  # rad
    transl_prior_scale: float = 0.15  # fraction of the initial root depth
    shape_prior_scale: float = 0.5  # in units of the body model's `shape_unit` (Anny: 0.1 phenotype)
    c1_scale: float = 0.05  # m
    c2_scale: float = 0.02  # m per frame
    skate_height_scale: float = 0.03
    """m: a foot point this far above the frame's lowest carries e^-1 of the weight of the lowest
    (the scale of a swing foot's clearance: toes pass 1-3 cm over the ground in a stride)."""

    max_correspondences: int = 3000  # scene matches used (uniform subsample); 0 = all
    smooth_max_gap: int = 5  # frames: rows further apart are not tied by temporal terms

    # --- contacts ------------------------------------------------------------------------------
    c1_redescending: bool = True
    """L_c1 uses a redescending penalty (Cauchy): a wrong contact label (a swing foot called
    planted) puts its vertex tens of centimetres off the scene along the ray and must lose its
    pull, not keep a constant one."""
    contact_threshold: float = 0.5  # a candidate is "in contact" when its probability exceeds this
    contact_depth_ratio: float = 0.25  # reject a scene partner whose depth differs more than this
    contact_max_pixels: float = 6.0  # reject partners farther than this (depth-map pixels)
    contact_moves_pose: bool = False
    """Whether contact alignment (L_c1) may bend the body (pose, shape) or only move it (root,
    cameras, scales). Contact labels are the least reliable input (a classifier's per-frame
    guess), and a wrong label fitted through the pose produces a distorted leg; the 2D keypoints
    already say how the body is bent, so by default L_c1 places bodies rather than deforms them.
    Stillness (L_c2) always acts on the pose: a planted foot is held by the leg turning over it."""
    contact_row_weight: float = 3.0
    """The nearest-background search and the fill of the surface behind people weigh vertical
    pixel distance this much more than horizontal: on ground seen by a camera with little roll,
    depth is constant along an image row but changes fast across rows, so a same-row neighbour is
    the better stand-in for the occluded ground."""

    # --- output ----------------------------------------------------------------------------------
    scene_voxel: float = 0.05  # m, voxel size of the exported scene point cloud
    min_scene_conf: float = 0.3
    seed: int = 0
    threads: int = 1
    """torch intra-op threads while optimising (restored afterwards; 0 = leave torch's setting).
    The optimisation is a long chain of small tensor ops: extra threads barely help, and when the
    cores are busy with anything else they spin and wait (measured on 2 cores under load: one
    thread 8 s every time, two threads 11-280 s)."""

    def to_dict(self) -> dict:
        return asdict(self)
