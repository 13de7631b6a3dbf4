"""SMPL fast partial forward vs smplx's full forward: agreement and speed (CPU).

    PYTHONPATH=. python benchmarks/smpl_forward.py [--model PATH] [--bodies 200 2000]

Without --model it uses a generated SMPL-format file (josh.testing.fake_smpl: same keys, shapes
and dtypes as the real one, random rig), so agreement numbers are about the code path, and speed
numbers are representative (same vertex / joint counts). With --model (a real SMPL file or folder),
both are about the real model. Agreement: max distance over joints, keypoints, contact candidates
and foot vertices, float32 fast path vs float64 smplx, random poses (0.6 rad per axis).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time

import roma
import torch


def _best_of(fn, repeats=5):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="SMPL file or folder (default: a generated stand-in)")
    parser.add_argument("--bodies", type=int, nargs="+", default=[200, 2000])
    args = parser.parse_args()
    torch.manual_seed(0)

    import smplx

    from josh.body import load_body_model
    from josh.testing.fake_smpl import write_fake_smpl_folder

    tmp = tempfile.TemporaryDirectory()
    model = args.model or write_fake_smpl_folder(tmp.name)
    body = load_body_model("smpl", model_path=model)
    with contextlib.redirect_stdout(io.StringIO()):
        full32 = smplx.SMPL(model_path=str(body.model_file), num_betas=10).eval()
    results = {"model": "given" if args.model else "generated stand-in", "threads": torch.get_num_threads()}
    for B in args.bodies:
        P = 2
        shape = torch.randn(P, 10)
        person = torch.arange(B) % P
        R = roma.rotvec_to_rotmat(torch.randn(B, 3))
        t = torch.randn(B, 3) + torch.tensor([0.0, 0.0, 4.0])
        pose = 0.6 * torch.randn(B, 23, 3)

        out = body.forward(body.rest(shape), person, R, t, pose)
        verts, joints = body.smplx_output(shape[person], R, t, pose)
        ref = body.regress(verts, joints)
        err = max(float((getattr(out, k).double() - ref[k]).norm(dim=-1).max()) for k in ref)

        with torch.no_grad():
            fast = _best_of(lambda: body.forward(body.rest(shape), person, R, t, pose))
            transl = t - body.rest_joints(shape[person])[:, 0]
            full = _best_of(lambda: full32(betas=shape[person], global_orient=R[:, None], body_pose=roma.rotvec_to_rotmat(pose),
                                           transl=transl, pose2rot=False))  # fmt: skip
        s = shape.clone().requires_grad_(True)
        q = pose.clone().requires_grad_(True)

        def fast_backward():
            o = body.forward(body.rest(s), person, R, t, q)
            (o.contact_vertices.square().sum() + o.keypoints.square().sum()).backward()

        def full_backward():
            o = full32(betas=s[person], global_orient=R[:, None], body_pose=roma.rotvec_to_rotmat(q), transl=transl, pose2rot=False)
            (o.vertices.square().sum()).backward()

        results[f"B={B}"] = {
            "max_error_mm": round(err * 1000, 6),
            "fast_forward_ms": round(fast * 1000, 2),
            "smplx_full_forward_ms": round(full * 1000, 2),
            "fast_forward_backward_ms": round(_best_of(fast_backward, 3) * 1000, 2),
            "smplx_full_forward_backward_ms": round(_best_of(full_backward, 3) * 1000, 2),
            "rows_skinned": int(len(body.point_vertex_ids)),
        }
    print(json.dumps(results, indent=2))
    tmp.cleanup()


if __name__ == "__main__":
    main()
