"""Interoperability with the official JOSH folder layout and with dense point-map front-ends.

- `official_inputs`: read `rgb/`, `mask/` (SAM3), `tram/` (VIMO SMPL) and `deco/` into
  `HumanTrack`s, masks and frame lists;
- `official_results`: write a `Reconstruction` as `scene.pkl` + `hps_track_<id>.npy` (and read
  such results back);
- `pointmaps`: a documented `.npz` of per-frame camera-frame point maps (Pi3, MASt3R, VGGT) and
  its adapter to keyframe depth, correspondences, poses and focal.

Formats and recipes: docs/interop.md.
"""
