"""The exported world: a reconstruction built Z-up, moved by a random rigid motion, comes back Z-up."""

import dataclasses

import numpy as np
import pytest
import torch

from josh.errors import InputError
from josh.geometry.world_frame import (
    align_world,
    apply_world_transform,
    estimate_world_frame,
    people_ground_plane,
    rigid_inverse,
    to_internal_frame,
)
from josh.testing.reconstruction import random_rigid, synthetic_reconstruction


def _tilt_deg(R: np.ndarray) -> float:
    """Angle between the true up (world z) and the exported z, for true world -> exported R."""
    return float(np.degrees(np.arccos(np.clip(R[2, 2], -1.0, 1.0))))


def _recover(body, seed, **kw):
    """(estimated frame, true world -> exported transform, reconstruction in the exported frame)."""
    recon, world_to_internal = synthetic_reconstruction(body, world_to_internal=random_rigid(seed), seed=seed, **kw)
    frame = estimate_world_frame(recon, body)
    return frame, frame.transform @ world_to_internal, apply_world_transform(recon, frame.transform)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_walkers_are_brought_back_to_z_up(body, seed):
    frame, world_to_exported, exported = _recover(body, seed, n_frames=30, root_tilt_deg=1.0)
    assert frame.up_source == "contact plane" and frame.ground_source == "contact vertices"
    assert _tilt_deg(world_to_exported) < 1.0
    ground = exported.scene_points[:300]  # the generator puts the first 300 points on the ground
    assert np.abs(np.median(ground[:, 2])) < 0.01
    # origin under the first person's first position; x along the first camera's heading
    assert np.allclose(exported.people[0].root_transl[0, :2], 0.0, atol=1e-9)
    heading = exported.T_wc[0, :3, 2]
    assert abs(heading[1]) < 1e-9 and heading[0] > 0
    # the feet stand on z = 0 (the generator puts each body's lowest sole vertex on the ground)
    lowest = exported.people[0].contact_vertices[..., 2].min(axis=1)
    assert np.abs(np.median(lowest)) < 0.01


def test_leaning_walkers_with_scattered_contacts_are_levelled_by_their_contacts(body):
    """Walkers lean forward, so their bodies' up is off gravity; their contacts, scattered as a
    monocular fit's are (3.5 cm), still lie on one ground and must set the world's up."""
    for seed in (7, 8):
        frame, world_to_exported, _ = _recover(body, seed, n_frames=60, lean_deg=2.0, contact_noise_m=0.035)
        assert frame.up_source == "contact plane"
        assert _tilt_deg(world_to_exported) < 0.5


def test_one_walker_uses_the_contact_line_and_body_up(body):
    frame, world_to_exported, _ = _recover(body, 3, n_frames=30, n_people=1, root_tilt_deg=1.0)
    assert frame.up_source == "contact line + body up"
    assert _tilt_deg(world_to_exported) < 1.0 and abs(world_to_exported[2, 3]) < 0.01
    # scattered contacts of one walker: their few centimetres across the line must not tilt the world
    frame, world_to_exported, _ = _recover(body, 3, n_frames=60, n_people=1, root_tilt_deg=1.0, contact_noise_m=0.035)
    assert frame.up_source == "contact line + body up"
    assert _tilt_deg(world_to_exported) < 1.0


def test_without_contacts_body_up_and_lowest_feet(body):
    frame, world_to_exported, _ = _recover(body, 4, n_frames=30, root_tilt_deg=1.0, with_contacts=False)
    assert (frame.up_source, frame.ground_source) == ("body up", "lowest foot vertices")
    assert _tilt_deg(world_to_exported) < 1.0 and abs(world_to_exported[2, 3]) < 0.01


def test_without_people_scene_plane_corrects_the_camera_pitch(body):
    frame, world_to_exported, _ = _recover(body, 5, n_frames=10, n_people=0)
    assert frame.up_source == "scene plane"
    assert _tilt_deg(world_to_exported) < 1.0 and abs(world_to_exported[2, 3]) < 0.01
    # without scene points only the (pitched, 12 degrees) camera -y remains: a coarse estimate
    frame, world_to_exported, _ = _recover(body, 5, n_frames=10, n_people=0, n_scene_points=0)
    assert frame.up_source == "camera up"
    assert 8.0 < _tilt_deg(world_to_exported) < 16.0


def test_contacts_on_a_slope_do_not_tilt_the_world(body):
    """People climbing (stairs/slope) stand upright: gravity is their up, not the contacts' plane."""
    frame, world_to_exported, _ = _recover(body, 6, n_frames=30, slope_deg=25.0)
    assert frame.up_source == "body up"
    assert _tilt_deg(world_to_exported) < 0.5


def test_people_ground_plane_is_the_ground_they_stand_on(body):
    recon, world_to_internal = synthetic_reconstruction(body, n_frames=30, world_to_internal=random_rigid(9), seed=9)
    plane = people_ground_plane(recon.people, body)
    up = world_to_internal[:3, :3] @ [0.0, 0.0, 1.0]
    assert np.degrees(np.arccos(np.clip(plane[:3] @ up, -1, 1))) < 1.0
    ground = recon.scene_points[:300]  # the generator's ground points, moved into the internal frame
    assert np.abs(ground @ plane[:3] - plane[3]).max() < 0.01
    assert people_ground_plane([], body) is None


def test_people_ground_plane_stays_level_when_the_people_disagree(body):
    """Few people whose contacts disagree in height (a monocular depth error lifts one of them
    25 cm; the fallback scene of a static camera) fix no plane: a plane through their contacts
    tilts the ground and can put the camera under it. Their bodies' up keeps it level."""
    from josh.perception.scene import fit_ground_plane

    recon, world_to_internal = synthetic_reconstruction(body, n_frames=30, n_people=3, world_to_internal=random_rigid(4), seed=4)
    up = world_to_internal[:3, :3] @ [0.0, 0.0, 1.0]
    lifted = dataclasses.replace(recon.people[2], contact_vertices=recon.people[2].contact_vertices + 0.25 * up)
    people = [*recon.people[:2], lifted]
    plane = people_ground_plane(people, body)
    assert np.degrees(np.arccos(np.clip(plane[:3] @ up, -1, 1))) < 1.0
    contacts = np.concatenate([p.contact_vertices[p.contacts > 0.5] for p in people])
    tilted = fit_ground_plane(contacts)
    assert np.degrees(np.arccos(np.clip(abs(tilted[:3] @ up), -1, 1))) > 2.0  # what the old fallback did


def test_apply_moves_bodies_consistently_and_round_trips(body):
    recon, _ = synthetic_reconstruction(body, n_frames=6)
    T1, T2 = random_rigid(10), random_rigid(11)
    moved = apply_world_transform(apply_world_transform(recon, T1), T2)
    assert np.allclose(moved.world_align, T2 @ T1)
    # the moved root parameters pose the body where the moved joints are (root pivots about its joint)
    p = moved.people[1]
    rest = body.rest(torch.as_tensor(p.shape, dtype=torch.float32)[None])
    out = body.forward(rest, torch.zeros(len(p.frames), dtype=torch.long), torch.as_tensor(p.root_rotmat, dtype=torch.float32),
                       torch.as_tensor(p.root_transl, dtype=torch.float32), torch.as_tensor(p.body_pose))  # fmt: skip
    assert np.abs(out.joints.numpy() - p.joints).max() < 1e-4
    assert np.abs(out.contact_vertices.numpy() - p.contact_vertices).max() < 1e-4
    # dtypes are kept and the input is not modified
    assert p.joints.dtype == recon.people[1].joints.dtype
    assert np.array_equal(recon.world_align, np.eye(4))
    back = to_internal_frame(moved)
    assert np.array_equal(back.world_align, np.eye(4))
    assert np.allclose(back.T_wc, recon.T_wc, atol=1e-9)
    assert np.allclose(back.scene_points, recon.scene_points, atol=1e-9)
    assert np.allclose(back.people[0].root_rotmat, recon.people[0].root_rotmat, atol=1e-6)
    assert np.allclose(back.people[0].joints, recon.people[0].joints, atol=1e-5)


def test_align_world_is_idempotent_and_recorded(body):
    recon, _ = synthetic_reconstruction(body, n_frames=12)
    once = align_world(recon, body)
    twice = align_world(once, body)
    assert np.allclose(once.world_align, twice.world_align, atol=1e-9)
    assert np.allclose(once.people[0].joints, twice.people[0].joints, atol=1e-5)
    assert once.metadata["world_frame"]["up_axis"] == "z"
    assert np.allclose(once.world_align @ rigid_inverse(once.world_align), np.eye(4))


def test_non_rigid_transform_is_refused(body):
    recon, _ = synthetic_reconstruction(body, n_frames=4, n_people=1)
    with pytest.raises(InputError, match="not rigid"):
        apply_world_transform(recon, np.diag([2.0, 2.0, 2.0, 1.0]))


def test_a_person_without_frames_is_ignored(body):
    recon, world_to_internal = synthetic_reconstruction(body, n_frames=12, world_to_internal=random_rigid(7))
    p = recon.people[0]
    empty = dataclasses.replace(p, person_id=99, frames=p.frames[:0], root_rotmat=p.root_rotmat[:0],
                                root_transl=p.root_transl[:0], body_pose=p.body_pose[:0], joints=p.joints[:0],
                                foot_vertices=p.foot_vertices[:0], contact_vertices=p.contact_vertices[:0],
                                contacts=p.contacts[:0])  # fmt: skip
    with_empty = dataclasses.replace(recon, people=[empty] + recon.people)
    assert np.allclose(estimate_world_frame(with_empty, body).transform, estimate_world_frame(recon, body).transform)
