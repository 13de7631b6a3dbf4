"""Saving, loading and exporting results; every file is written atomically (`josh.io.atomic`).

- `outputs.write_outputs`: everything below into one folder, in the gravity-aligned Z-up world;
- `reconstruction_file`: lossless `.npz` save/load of a `Reconstruction`;
- `people_files`: per-person AMASS-like motion files;
- `scene_export`: scene PLY and a GLB of points, body meshes and cameras;
- `rerun_recording`: an animated rerun `.rrd` recording;
- `meshes`: full body meshes in batches, person colours (shared by the exporters).
"""
