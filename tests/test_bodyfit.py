"""Fitting the body to keypoints recovers a known camera-frame body (pose, depth, shape)."""

from types import SimpleNamespace

import numpy as np
import pytest
import roma
import torch

from josh.perception.bodyfit import BodyFitConfig, fit_bodies

F, CX, CY = 800.0, 479.5, 269.5
CANON_TO_CAM = torch.tensor([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # z up -> -y (image up)


def _walker(body, T=30, seed=0, landmark_size=1.0):
    """A walking body seen by a noisy keypoint front-end whose 3D landmarks are `landmark_size`
    times the body's size (a monocular front-end's skeleton is its own average one)."""
    g = torch.Generator().manual_seed(seed)
    # the average adult's stature (1.70 m) with other proportions: a heavier, more muscular man
    shape = torch.tensor([[0.7, 0.8, 0.5, 0.65, 0.41, 0.5]])
    R = (CANON_TO_CAM @ roma.rotvec_to_rotmat(torch.tensor([0, 0, 0.4]))).expand(T, 3, 3).contiguous()
    t = torch.stack([torch.linspace(-1, 1, T), torch.full((T,), 0.3), torch.full((T,), 5.0)], 1)
    phase = torch.linspace(0, 4 * np.pi, T)
    pose = torch.zeros(T, 19, 3)
    pose[:, 0, 0], pose[:, 3, 0] = 0.4 * torch.sin(phase), -0.4 * torch.sin(phase)
    pose[:, 1, 0], pose[:, 4, 0] = 0.3 * (1 + torch.sin(phase)), 0.3 * (1 - torch.sin(phase))
    kp = body.forward(body.rest(shape), torch.zeros(T, dtype=torch.long), R, t, pose).keypoints
    uv = torch.stack([F * kp[..., 0] / kp[..., 2] + CX, F * kp[..., 1] / kp[..., 2] + CY], -1)
    landmarks = kp - kp[:, [11, 12]].mean(1, keepdim=True)
    conf = torch.full((T, 23), 0.9)
    track = SimpleNamespace(
        track_id=7,
        frames=np.arange(T),
        keypoints2d=(uv + 2 * torch.randn(uv.shape, generator=g)).numpy(),
        keypoints_conf=conf.numpy(),
        landmarks3d=(landmark_size * landmarks + 0.02 * torch.randn(landmarks.shape, generator=g)).numpy(),
    )
    return track, kp, t, shape[0]


def _fitted_keypoints(body, fit) -> torch.Tensor:
    """(T, 23, 3) camera-frame keypoints of a fitted track."""
    f32 = lambda x: torch.as_tensor(x, dtype=torch.float32)  # noqa: E731
    return body.forward(body.rest(f32(fit.shape)[None]), torch.zeros(len(fit.frames), dtype=torch.long),
                        f32(fit.root_rotmat), f32(fit.root_transl), f32(fit.body_pose)).keypoints  # fmt: skip


@pytest.mark.parametrize("landmark_size", [1.0, 0.88])  # 0.88: MediaPipe's skeleton on demo2's adults
def test_fit_recovers_body(body, landmark_size):
    """Pose, depth and stature come back, whatever the size of the front-end's landmarks."""
    from josh.body.protocol import standing_height

    track, kp_true, t_true, shape_true = _walker(body, landmark_size=landmark_size)
    (fit,) = fit_bodies([track], F, CX, CY, body, 30.0, BodyFitConfig(iterations=120))
    assert fit.person_id == 7 and fit.focal_assumed == F
    err = (_fitted_keypoints(body, fit) - kp_true).norm(dim=-1).mean()
    assert err < 0.06, err  # metres, with 2 px / 2 cm input noise
    depth_err = (torch.as_tensor(fit.root_transl[:, 2]) - t_true[:, 2]).abs().mean()
    assert depth_err < 0.15, depth_err
    assert abs(standing_height(body, fit.shape) - standing_height(body, shape_true)) < 0.03


def test_landmark_toes_pitched_down_do_not_pitch_the_foot(body):
    """The landmark front-end's toes are left out (BlazePose's 3D foot is pitched toes-down): with
    the landmarks' toes 8 cm low, the fitted toes stay where the 2D keypoints put them."""
    track, kp_true, _, _ = _walker(body)
    down = CANON_TO_CAM @ torch.tensor([0.0, 0.0, -1.0])  # the body's down, in the camera
    lm = torch.as_tensor(track.landmarks3d).clone()
    lm[:, 17:21] += 0.08 * down
    biased = SimpleNamespace(**{**vars(track), "landmarks3d": lm.numpy()})

    def toe_height_error(config):
        (fit,) = fit_bodies([biased], F, CX, CY, body, 30.0, config)
        kp = _fitted_keypoints(body, fit)
        toes_rel_ankles = kp[:, [17, 18]] - kp[:, [15, 16]]
        true_rel = kp_true[:, [17, 18]] - kp_true[:, [15, 16]]
        return float(((toes_rel_ankles - true_rel) @ down).mean())  # + = toes lower than the truth

    left_out = toe_height_error(BodyFitConfig(iterations=120))
    followed = toe_height_error(BodyFitConfig(iterations=120, landmark_toes=True))
    assert abs(left_out) < 0.015, left_out
    assert followed > left_out + 0.01, (followed, left_out)
