"""Settings of a synthetic benchmark world (`SynthConfig`) and of the simulated front-ends
(`NoiseConfig`). Every field is a command-line flag of `josh bench` (`--terrain`, `--depth-noise`..)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

TERRAINS = ("flat", "steps", "slope")


@dataclass
class SynthConfig:
    """The ground-truth world: terrain, people, clip length, camera.

    - terrain: "flat" (z = 0), "steps" (4-5 risers of ~0.15 m with ~0.45 m treads across the
      walkers' path, then a landing) or "slope" (an 8-12 degree incline along the walking direction).
    - people: number of walkers, 0..3 (with 0 the camera still walks the same path).
    - frames: clip length in frames; fps: frame rate (the walk and the camera run in real time).
    - keyframes: number of keyframes, evenly spaced, first and last frame included (clamped to
      `frames`).
    - width, height: image size in pixels; focal: true focal length in pixels. The default, 0.8 x
      width, is a phone main camera (~26 mm equivalent, 64 degree horizontal field of view).
    - depth_stride: keyframe depth maps have (height // stride, width // stride) pixels; depth
      pixel (i, j) is centred on image pixel ((j + 0.5) stride - 0.5, (i + 0.5) stride - 0.5).
    - seed: the only source of randomness; the same config gives bit-identical output.
    - still_camera: the camera stays at its first pose (a tripod shot) while the walkers walk away
      from it; SfM has nothing to work with there, so it tests the ground-plane fallback's path.
    """

    terrain: str = "flat"
    people: int = 2
    frames: int = 100
    fps: float = 30.0
    keyframes: int = 20
    width: int = 960
    height: int = 540
    focal: float = 768.0
    depth_stride: int = 8
    seed: int = 0
    still_camera: bool = False

    def validate(self) -> "SynthConfig":
        if self.terrain not in TERRAINS:
            raise ValueError(f"terrain must be one of {TERRAINS}, got {self.terrain!r}")
        if not 0 <= self.people <= 3:
            raise ValueError(f"people must be 0..3, got {self.people}")
        if self.frames < 2 or self.keyframes < 2:
            raise ValueError("need at least 2 frames and 2 keyframes")
        if self.fps <= 0 or self.focal <= 0 or self.width < 16 or self.height < 16:
            raise ValueError("fps, focal and image size must be positive (image at least 16 px)")
        if self.depth_stride < 1 or self.height // self.depth_stride < 2 or self.width // self.depth_stride < 2:
            raise ValueError("depth_stride too large for the image")
        return self

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class NoiseConfig:
    """Error modes of the simulated front-ends, each modelled on what the real models do.

    Scene (MASt3R / Pi3 style point maps, MASt3R-SfM style matching):

    - global_scale_range = 3.0: the whole scene (depths and initial camera translations) is in an
      unknown scale g, log-uniform in [1/r, r]. SfM and MASt3R-style global alignment fix the scale
      arbitrarily; "metric" point-map heads (Pi3X, metric MASt3R) are routinely 20-50% off in the
      wild. Only the people (through contact) can make the scene metric.
    - depth_scale_range = 2.0: on top of that, each keyframe's depth has its own unknown scale
      s_k, log-uniform in [1/r, r]. Point-map networks predict depth only up to scale,
      independently per view or per window; a factor-2 spread is what one sees between windows
      before global alignment.
    - depth_noise = 0.02: per-pixel multiplicative noise (std, fraction of depth). Pi3/MASt3R reach
      AbsRel ~0.03-0.06 on video-depth benchmarks *after* per-frame scale alignment, of which
      pixel-level noise is the smaller, high-frequency part.
    - depth_distortion = 0.03: amplitude of a smooth low-frequency multiplicative warp of each depth
      map (1 + a g(u, v), |g| <= 1): the remaining, spatially correlated part of that AbsRel
      (networks bend planes slightly, more towards the image borders).
    - match_pixel_noise = 1.0 px: std of the matched pixel positions. Dense matchers work at ~512 px
      and are upsampled to the image, so ~1 px at 960 px width.
    - match_outliers = 0.05: fraction of correspondences replaced by wrong matches. Reciprocal
      nearest-neighbour matching with a confidence threshold keeps few outliers; 5% is typical for
      textured outdoor scenes with moving people.
    - matches_per_pair = 200, match_max_gap = 5: pixels sampled per keyframe pair and the largest
      keyframe-index gap matched. ~85 pairs x ~160 visible matches = 10-20k correspondences for
      the default clip (the optimiser's per-iteration cost scales with it); MASt3R-SfM likewise
      matches each keyframe with its temporal neighbours (a sparse pair graph).
    - camera_rot_noise_deg = 1.0, camera_trans_noise = 0.05: the front-end's camera of every frame
      = truth relative to frame 0, composed with a smooth random drift (rms angle in degrees, std
      per axis in true metres, converted to the front-end scale; low frequencies, 0.1-0.6 Hz, zero
      at frame 0). Visual odometry and SfM errors accumulate and are correlated between nearby
      frames; over short clips they reach ~0.5-1 degree and a few cm of ATE.
    - camera_frame_noise_deg = 0.05: independent per-frame rotation noise on top (feature
      localisation noise of frame-to-frame tracking).
    - focal_error = 0.2: initial focal = true (1 + e), e ~ U(-0.2, 0.2). Focal estimated from point
      maps or taken from EXIF-less video defaults is routinely 10-20% off.

    Bodies (VIMO / TRAM style per-person regressors, ViTPose-like 2D keypoints):

    - pose_noise_deg = 5.0, pose_jitter_deg = 1.5: local joint rotations get a per-track bias
      (std per axis, degrees) plus per-frame jitter. Regressors reach PA-MPJPE ~40-50 mm, i.e.
      joint rotation errors of ~5-10 degrees that persist over a track; temporal models (VIMO)
      keep frame-to-frame jitter small.
    - root_rot_noise_deg = 4.0: rms angle of the camera-frame root orientation error: half a
      per-track bias, half a smooth drift (0.2-1 Hz); global orientation is the least accurate
      body parameter.
    - root_depth_noise = 0.05: rms multiplicative error of the root depth along the viewing ray,
      on top of the focal coupling (root depth proportional to the focal the regressor assumed):
      half a per-track bias, half a smooth drift (0.2-1 Hz). Metric depth from apparent body size
      is typically 5-10% off, and temporal regressors (VIMO, WHAM) output smooth trajectories, so
      their depth error wanders with pose and viewpoint over fractions of a second rather than
      flickering frame to frame.
    - shape_noise = 0.05: std of the shape (phenotype, units of [0, 1]) error: a few cm of height.
    - size_to_average = 0.0: the share of each person's difference in stature from the average
      adult that the front-end misses, with their distance moved so that their pixels stay. One
      view cannot tell size from distance: the built-in front-end's fit gives everybody the
      average adult (1.0), and regressors trained with a shape prior pull statures toward the
      mean. 0 by default so that the suite's figures stay comparable across sessions; the
      `no_sizes` ablation shows what it costs (README).
    - keypoint_noise_px = 3.0: std of 2D keypoint positions; 2D detectors are within a few px at
      ~1000 px resolution.
    - contact_flip = 0.1: probability that a per-frame contact label of a body part (heel, toes,
      sole, hands, buttocks) is flipped; DECO-style contact classifiers get foot contact during
      walking right ~90% of the time, with errors that affect a whole part at once.
    """

    global_scale_range: float = 3.0
    depth_scale_range: float = 2.0
    depth_noise: float = 0.02
    depth_distortion: float = 0.03
    match_pixel_noise: float = 1.0
    match_outliers: float = 0.05
    matches_per_pair: int = 200
    match_max_gap: int = 5
    camera_rot_noise_deg: float = 1.0
    camera_trans_noise: float = 0.05
    camera_frame_noise_deg: float = 0.05
    focal_error: float = 0.2
    pose_noise_deg: float = 5.0
    pose_jitter_deg: float = 1.5
    root_rot_noise_deg: float = 4.0
    root_depth_noise: float = 0.05
    shape_noise: float = 0.05
    size_to_average: float = 0.0
    keypoint_noise_px: float = 3.0
    contact_flip: float = 0.1

    @classmethod
    def none(cls) -> "NoiseConfig":
        """No error at all: every scale 1, every noise 0."""
        zero = {f.name: 0.0 for f in fields(cls) if f.type in ("float", float)}
        zero.update(depth_scale_range=1.0, global_scale_range=1.0)
        return cls(**zero)

    def to_dict(self) -> dict:
        return asdict(self)
