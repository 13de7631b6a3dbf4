"""`run_pipeline`: the stages of `josh.pipeline.stages` in order, each cached, then the outputs.

Order of checks, so a failed run never harms an earlier one: the video must exist and the output
folder (and the `--official` folder's parent) must be writable (and not in use by another run: a
lock) before anything else; stage results go to `OUT/.josh-cache/` only when a stage finishes;
output files are written into a staging folder inside OUT and moved into place at the very end:
the `--official` folder first, `report.json` last (it marks a complete set, and is removed first
when a new set replaces an old one).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from josh.errors import InputError
from josh.geometry.world_frame import up_direction
from josh.io.atomic import ensure_writable_dir, replace_dir, write_json
from josh.optimize.config import OptimConfig, Phase
from josh.perception.bodyfit import BodyFitConfig
from josh.perception.people import PeopleOptions
from josh.perception.scene import SceneConfig
from josh.perception.sfm import focal_ambiguity
from josh.perception.sway import SwayOptions
from josh.perception.swing_prior import SwingPriorOptions
from josh.pipeline import stages
from josh.perception.video import FOLDER_FPS
from josh.pipeline.cache import StageCache, file_identity, folder_identity, input_identity, stage_key
from josh.pipeline.official import check_official_dir, staging_dir, write_official
from josh.pipeline.options import RunOptions
from josh.pipeline.report import plausibility
from josh.profiling import measure, release_free_memory

log = logging.getLogger(__name__)

STAGES = ("decode", "people", "scene", "bodies", "contacts", "optimise", "refine", "outputs")
# Bump a stage's number when its code changes what it computes, to retire its old cache entries
# (and, through the keys, those of every later stage).
STAGE_VERSIONS = {"decode": 2, "people": 4, "scene": 8, "bodies": 5, "contacts": 2, "optimise": 5, "refine": 9}
STAGING_PREFIX = ".josh-staging-"
OUTPUT_FILES = ("reconstruction.npz", "scene.ply", "scene.glb", "recording.rrd", "load_reconstruction.py")
REPORT = "report.json"
LOCKED_FEET_WEIGHT = 2.0  # `OptimConfig.w_skate` under `--lock-feet` (docs/demo2.md "Holding the lowest foot still")


def _focal_held(phase: Phase) -> Phase:
    """An optimiser phase that leaves the focal where it is."""
    return dataclasses.replace(phase, focal_free=False)


@dataclass
class Settings:
    """Settings of the stages (defaults: the front-ends' own)."""

    people: PeopleOptions = field(default_factory=PeopleOptions)
    scene: SceneConfig = field(default_factory=SceneConfig)
    pointmaps: Any = None  # josh.interop.pointmaps.PointMapConfig (default when None)
    bodyfit: BodyFitConfig = field(default_factory=BodyFitConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    refine_still_weight: float = 5.0
    """`OptimConfig.w_c2` of the second optimisation. Its foot contacts are what the video shows
    planted (`josh.perception.contacts.contacts_from_video`), trusted more than the first
    estimate's guess from the fitted legs (`optim.w_c2`). Measured on demo2: at 0.5 the feet the
    video shows planted still slid 19-30 mm per frame; at 5, 3-4 mm."""

    swing_prior: SwingPriorOptions | None = field(default_factory=SwingPriorOptions)
    """The second optimisation's local bodies swing their legs as walkers do on the swings the
    video shows (`josh.perception.swing_prior`); None keeps the body fit's legs. Measured on
    demo2 (same cached scene): lowest-foot sliding 23.0 / 28.0 / 17.5 / 27.1 mm without,
    14.7 / 28.0 / 17.2 / 24.1 with; jitter within 0.2, speeds within 0.06."""

    sway: SwayOptions | None = None
    """With options, where the video shows no foot planted the second optimisation plants the
    foot the pelvis's sideways sway says carries the walker (`josh.perception.sway`). Off by
    default: on demo2 it cut one walker's lowest-foot sliding from 28.0 to 20.7 mm but slowed him
    to 0.78 m/s and put his jitter at 15.5, and a walker with poor plant labels rose over a jitter of 15 (docs/demo2.md)."""

    refine_skate_weight: float = 0.0
    """`OptimConfig.w_skate` of the second optimisation: the lowest foot does not slide, with the
    first reconstruction's up direction; 0, the default, turns it off. It trades the people's
    global motion for still feet (measured, docs/demo2.md "Holding the lowest foot still"):
    `with_locked_feet` for users who need feet that do not skate (animation)."""

    def optim_for(self, scene_source: str) -> OptimConfig:
        """The joint optimisation's settings for a scene from `scene_source`. On an SfM scene the
        scene-only phase holds the focal at SfM's: SfM's bundle adjustment fits it to every
        feature track, where that phase sees a sample of matches on densified depth, along which
        a narrow view hardly constrains it. The fine phase still frees it, with the people.
        Measured (docs/demo2.md): on a portrait crop of demo2 the free scene phase took SfM's
        871 px to 738 (truth about 909) and the camera path to 4.4 m (4.9 m on the full view);
        held, the run ends at 863 px and 4.9 m. On demo2 and its landscape variants the focal
        moves by under 0.2% either way."""
        if scene_source != "sfm":
            return self.optim
        return dataclasses.replace(self.optim, scene_phase=_focal_held(self.optim.scene_phase))

    def refine_optim(self, scene_source: str) -> OptimConfig:
        return dataclasses.replace(self.optim_for(scene_source), w_c2=self.refine_still_weight, w_skate=self.refine_skate_weight)

    def with_locked_feet(self, weight: float = LOCKED_FEET_WEIGHT) -> "Settings":
        """The lowest foot held still in the second optimisation (`--lock-feet`)."""
        return dataclasses.replace(self, refine_skate_weight=weight)

    def with_split_pairs(self, split: bool = True) -> "Settings":
        """Whether poses that mix two people side by side are re-detected as two (on by default;
        `--no-split-pairs`)."""
        return dataclasses.replace(self, people=dataclasses.replace(self.people, split_pairs=split))

    def deterministic(self) -> "Settings":
        """Settings under which a run repeats bit for bit. SfM's bundle adjustment on several threads
        sums in a varying order (seeds are fixed already): on demo2 two runs gave 53,057 and 52,884
        dense points, focals of 512.4 and 511.4 px and camera paths of 4.92 and 4.83 m; on one
        thread its stage took 33 s instead of 24-28 s on 2 cores."""
        return dataclasses.replace(self, scene=dataclasses.replace(self.scene, num_threads=1))

    def with_known_focal(self, focal_px: float) -> "Settings":
        """The focal (px at working resolution) held: SfM maps at it without a search and the
        optimiser never frees it."""
        optim = dataclasses.replace(self.optim, scene_phase=_focal_held(self.optim.scene_phase),
                                    coarse=_focal_held(self.optim.coarse), fine=_focal_held(self.optim.fine))  # fmt: skip
        return dataclasses.replace(self, scene=dataclasses.replace(self.scene, focal_known=float(focal_px)), optim=optim)


class StageProgress:
    """One progress bar per stage (rich, on stderr), or nothing when disabled."""

    def __init__(self, console=None, enabled: bool = True):
        self.console = console
        self.enabled = enabled and console is not None

    @contextlib.contextmanager
    def bar(self, name: str, total: int | None):
        if not self.enabled:
            yield lambda n: None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        columns = [SpinnerColumn(), TextColumn(f"{name:<9}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
        done = [0]

        def advance(n: int) -> None:
            done[0] = n
            progress.update(task, completed=n)

        with Progress(*columns, console=self.console, transient=False) as progress:
            task = progress.add_task(name, total=total)
            try:
                yield advance
            except BaseException:  # a failed stage leaves no bar: its error is the one line shown
                progress.remove_task(task)
                raise
            end = total if total is not None else max(done[0], 1)  # unknown length: what was done
            progress.update(task, completed=end, total=end)


class Run:
    """One `josh run`: options, settings, cache, timings and the lazily loaded body model."""

    def __init__(self, opts: RunOptions, settings: Settings, cache: StageCache, progress: StageProgress):
        self.opts, self.settings, self.cache, self.progress = opts, settings, cache, progress
        self.seconds: dict[str, float] = {}
        self.peak_mem_mb: dict[str, float] = {}  # per computed stage: the process's peak while it ran
        self.cached: list[str] = []
        self.warnings: list[str] = []
        self.notes: list[str] = []
        self._body = None
        self.tracks: list = []  # the people's final HumanTracks (2D keypoints), for the report
        self.t0 = time.perf_counter()

    @property
    def body(self):
        if self._body is None:
            from josh.body import load_body_model

            name = self.opts.sources.body_model
            self._body = load_body_model(name, model_path=self.opts.smpl_path) if name == "smpl" else load_body_model(name)
        return self._body

    def body_identity(self) -> dict:
        name = self.opts.sources.body_model
        return {"name": name, "model_path": str(self.opts.smpl_path) if self.opts.smpl_path else os.environ.get("JOSH_SMPL_DIR")} \
            if name == "smpl" else {"name": name}  # fmt: skip

    def stage(self, name: str, key: str, compute: Callable[[Callable[[int], None]], Any], total: int | None = None):
        """The cached result of stage `name` under `key`, or `compute(progress)` stored under it."""
        start = time.perf_counter()
        hit = self.cache.load(name, key)
        if hit is not None:
            self.seconds[name] = time.perf_counter() - start
            self.cached.append(name)
            log.debug("%s: cached (%s)", name, key)
            return hit[0]
        with self.progress.bar(name, total) as advance, measure() as memory:
            value = compute(advance)
        self.peak_mem_mb[name] = memory.peak_mem_mb
        release_free_memory()
        seconds = time.perf_counter() - start
        self.cache.save(name, key, value, info={"seconds": seconds})
        self.seconds[name] = time.perf_counter() - start
        return value


def settings_for(opts: RunOptions, settings: Settings) -> Settings:
    """`settings` with the run's switches applied (`--deterministic`, `--lock-feet`,
    `--[no-]split-pairs`; a switch left unset keeps what `settings` say)."""
    if opts.deterministic:
        settings = settings.deterministic()
    if opts.lock_feet:
        settings = settings.with_locked_feet()
    if opts.split_pairs is not None:
        settings = settings.with_split_pairs(opts.split_pairs)
    return settings


def run_pipeline(opts: RunOptions, settings: Settings | None = None, console=None) -> dict:
    """Reconstruct `opts.video` into `opts.out`; returns the report (also in OUT/report.json)."""
    from josh.perception.video import check_input

    settings = settings_for(opts, settings or Settings())
    check_input(opts.video)
    if opts.official is not None:
        check_official_dir(opts)
    out = ensure_writable_dir(opts.out)
    progress = StageProgress(console, opts.progress)
    with measure() as total, StageCache(out) as cache:
        run = Run(opts, settings, cache, progress)
        recon, scene, clip, people = _reconstruct(run)
        report = _write_outputs(run, recon, scene, clip, people, out, total)
        cache.prune()
    return report


def official_identity(path: Path, sub: str) -> list[dict]:
    """Cache identity of an official folder's TRAM or DECO outputs (`sub`: "tram" or "deco"): the
    folders their reader reads, never the whole root (results written into it are no new input)."""
    from josh.interop.official_inputs import input_folders

    return [folder_identity(p) for p in input_folders(path, sub)]


def _versioned_key(stage: str, settings: dict, upstream=()) -> str:
    """`stage_key` with the stage's code version (`STAGE_VERSIONS`) among its settings."""
    return stage_key(stage, {**settings, "v": STAGE_VERSIONS[stage]}, upstream)


def scene_warnings(scene) -> list[str]:
    """What the user must know about a scene estimate: a fallback, an undetermined focal, frames
    SfM misplaced."""
    warnings = []
    if scene.source == "ground_plane":
        camera = "a still camera" if scene.camera_static else "a camera that starts static"
        warnings.append(f"structure from motion failed ({scene.stats.get('sfm_failure', 'unknown reason')}): "
                        f"the scene is a ground plane under the people's contacts, seen from {camera}; "
                        "the focal is guessed (a phone's main camera), and depths and speeds along the view follow it")  # fmt: skip
    elif amb := focal_ambiguity(scene.stats.get("focal_attempts", [])):
        warnings.append(f"the video hardly determines the focal: structure from motion fits {amb['focal_min']:.0f} to "
                        f"{amb['focal_max']:.0f} px about equally well (a narrow view, or a camera that hardly turns); "
                        "the metric scale and speeds follow the focal")  # fmt: skip
    if jumped := scene.stats.get("jump_frames"):
        warnings.append(f"structure from motion placed {len(jumped)} frames (from frame {jumped[0]}) apart from the camera's "
                        "path; their cameras are interpolated or held from the others, so motion there is unreliable")  # fmt: skip
    return warnings


def _reconstruct(run: Run):
    opts, settings, src = run.opts, run.settings, run.opts.sources
    k_decode = _versioned_key("decode", {"video": input_identity(opts.video), "start": opts.start, "stride": opts.stride,
                                         "max_frames": opts.max_frames, "long_side": opts.long_side, "fps": opts.fps})  # fmt: skip
    clip = run.stage("decode", k_decode, lambda adv: stages.decode(opts, adv))
    stages.check_frame_limit(clip.n_frames, opts)  # also when the clip comes from the cache
    if opts.focal is not None:  # given at full resolution; the stages work at the clip's
        run.settings = settings = settings.with_known_focal(opts.focal * clip.width / int(clip.video_info["width"]))
    if opts.video.is_dir() and opts.fps is None:
        run.notes.append(f"an image folder has no frame rate: {FOLDER_FPS:g} fps assumed (set it with --fps)")

    if src.people.kind == "tram":
        people_settings = {"tram": official_identity(src.people.path, "tram"), "deco": official_identity(
                           src.contacts.path, "deco") if src.contacts.kind == "deco" else None,
                           "body": run.body_identity()}  # fmt: skip
        compute_people = lambda adv: stages.people_tram(clip, src.people, src.contacts, run.body, opts.people_max)  # noqa: E731
    else:
        people_settings = {"options": settings.people}
        compute_people = lambda adv: stages.people_builtin(clip, settings.people, opts.people_max, adv)  # noqa: E731
    k_people = _versioned_key("people", {**people_settings, "people_max": opts.people_max}, [k_decode])
    people = run.stage("people", k_people, compute_people, total=clip.n_frames)
    if people.n_people == 0:
        found = people.stats.get("found", 0)
        why = f"{found} found, --people-max 0" if found and opts.people_max == 0 else "no person found"
        run.warnings.append(f"no person reconstructed ({why}): the result is the scene and the camera only (no metric scale)")
    run.notes.extend(people.stats.get("notes", []))

    keyframes = clip.keyframes(opts.keyframe_every)
    if src.scene.kind == "pointmaps":
        from josh.interop.pointmaps import PointMapConfig

        pm_config = settings.pointmaps or PointMapConfig()
        scene_settings = {"pointmaps": file_identity(src.scene.path), "config": pm_config}
        compute_scene = lambda adv: stages.scene_pointmaps(clip, src.scene, people, pm_config)  # noqa: E731
    else:
        scene_settings = {"config": settings.scene, "keyframes": keyframes.tolist()}
        compute_scene = lambda adv: stages.scene_builtin(clip, keyframes, people, settings.scene, adv)  # noqa: E731
    k_scene = _versioned_key("scene", scene_settings, [k_decode, k_people])
    scene = run.stage("scene", k_scene, compute_scene, total=clip.n_frames)
    run.warnings.extend(scene_warnings(scene))

    k_bodies = _versioned_key("bodies", {"config": settings.bodyfit, "body": run.body_identity()},
                         [k_people, k_scene])  # fmt: skip
    humans = run.stage("bodies", k_bodies, lambda adv: stages.fit_local_bodies(people, scene, run.body, clip.fps, settings.bodyfit))

    k_contacts = _versioned_key("contacts", {"source": str(src.contacts)}, [k_bodies])
    humans = run.stage("contacts", k_contacts, lambda adv: stages.first_contacts(humans, run.body, src.contacts))

    def assemble(tracks):
        scene_for_people, tracks = stages.ground_plane_from_contacts(scene, tracks, run.body, people)
        return stages.front_end_inputs(clip, scene_for_people, tracks, src.body_model)

    optim = settings.optim_for(scene.source)
    k_opt = _versioned_key("optimise", {"config": optim}, [k_scene, k_contacts])
    recon = run.stage("optimise", k_opt, lambda adv: stages.optimise(assemble(humans), run.body, optim))

    if src.contacts.builtin and humans:
        refine_config = settings.refine_optim(scene.source)
        k_refine = _versioned_key("refine", {"config": refine_config, "swing_prior": settings.swing_prior, "sway": settings.sway}, [k_opt])

        def refine(adv):
            tracks, notes = stages.contacts_from_result(humans, recon, run.body, settings.swing_prior, settings.sway)
            inputs = assemble(tracks)
            if refine_config.w_skate > 0:
                inputs = dataclasses.replace(inputs, up=up_direction(recon, run.body))
            return {"recon": stages.optimise(inputs, run.body, refine_config), "notes": notes, "humans": tracks}

        refined = run.stage("refine", k_refine, refine)
        recon, humans = refined["recon"], refined["humans"]
        run.notes.extend(refined["notes"])
    run.tracks = list(humans)
    run.warnings.extend(w for w in recon.metadata.get("warnings", []) if w not in run.warnings)
    # the scene the optimiser saw (for the fallback: the plane under the final contacts), for the report
    used_scene = stages.ground_plane_from_contacts(scene, humans, run.body, people)[0] if humans else scene
    return recon, used_scene, clip, people


# ------------------------------------------------------------------------------------------ outputs
def _write_outputs(run: Run, recon, scene, clip, people, out: Path, total) -> dict:
    from josh.geometry.world_frame import align_world
    from josh.io.outputs import write_outputs

    start = time.perf_counter()
    with run.progress.bar("outputs", None), measure() as memory:
        recon.metadata.update(video=clip.video, video_frames=clip.video_frames.tolist(), sources=run.opts.sources.describe())
        aligned = align_world(recon, run.body)
        staging = Path(out) / f"{STAGING_PREFIX}{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        official_staging = staging_dir(run.opts.official) if run.opts.official is not None else None
        try:
            timings: dict[str, float] = {}
            written = write_outputs(aligned, run.body, staging, frames=clip.frames(), report=None, align=False,
                                    timings=timings)  # fmt: skip
            written["loader"] = _write_loader(staging)
            official = write_official(run, aligned, clip, official_staging) if official_staging is not None else None
            figures = plausibility(aligned, run.body, run.tracks)
            run.seconds["outputs"] = time.perf_counter() - start
            run.peak_mem_mb["outputs"] = memory.peak_mem_mb  # the peak so far: the report is written within this stage
            report = _report(run, aligned, scene, clip, people, out, figures, total)
            report["export"] = {"seconds": timings, "world_frame": aligned.metadata.get("world_frame"),
                                "files": {k: {"path": str(p.relative_to(staging)), "bytes": p.stat().st_size}
                                          for k, p in written.items()}}  # fmt: skip
            report["official"] = official
            write_json(staging / REPORT, report)
            if official_staging is not None:  # before OUT's report.json: that marks a complete set
                replace_dir(official_staging, run.opts.official)
            promote(staging, Path(out))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if official_staging is not None:
                shutil.rmtree(official_staging, ignore_errors=True)
    return report


def _write_loader(folder: Path) -> Path:
    """A numpy-only loader next to the results, so the folder is usable without JOSH."""
    from josh.io import standalone_loader
    from josh.io.atomic import write_text

    return write_text(folder / "load_reconstruction.py", Path(standalone_loader.__file__).read_text())


def promote(staging: Path, out: Path) -> None:
    """Move a complete output set from `staging` into `out`: report.json removed first and moved
    last, `people/` replaced as a whole (no stale person files from an earlier run)."""
    (out / REPORT).unlink(missing_ok=True)
    for name in OUTPUT_FILES:
        if (staging / name).exists():
            os.replace(staging / name, out / name)
    if (staging / "people").is_dir():
        replace_dir(staging / "people", out / "people")
    os.replace(staging / REPORT, out / REPORT)


def _report(run: Run, recon, scene, clip, people, out: Path, figures: dict, total) -> dict:
    import josh

    st = scene.stats
    scene_info = {
        "source": scene.source,
        "points": int(len(recon.scene_points)),
        "keyframes": int(len(scene.keyframes.frame_ids)),
        "correspondences": int(len(scene.correspondences)),
        "sfm_points": int(len(scene.points)),
        "registered_frames": st.get("registered_frames"),
        "reprojection_error": st.get("reprojection_error"),
        "camera_model": scene.camera_model,
        "focal_init_px": float(scene.intrinsics.focal),
        "seconds": st.get("timing", {}),
    }
    if st.get("skeleton_jumps"):  # mappings passed over: their camera paths jumped
        scene_info["skeleton_jumps"] = st["skeleton_jumps"]
    if scene.source == "ground_plane":
        scene_info["sfm_failure"] = st.get("sfm_failure", "unknown")
        scene_info["ground_points"] = st.get("ground_points")
    return {
        "josh_version": josh.__version__,
        "video": clip.video,
        "out": str(out),
        "total_s": time.perf_counter() - run.t0,
        "peak_mem_mb": total.peak_mem_mb,  # the peak so far, read while the run goes on
        "stages": dict(run.seconds),
        "stage_peak_mem_mb": dict(run.peak_mem_mb),  # stages computed in this run (not cached ones)
        "cached_stages": list(run.cached),
        "frames": clip.n_frames,
        "fps": clip.fps,
        "video_frames": {"first": int(clip.video_frames[0]), "last": int(clip.video_frames[-1]), "stride": clip.stride,
                         "video_total": int(clip.video_info["frames"]), "video_fps": float(clip.video_info["fps"])},  # fmt: skip
        "working_size": [clip.width, clip.height],
        "focal_px": float(recon.intrinsics.focal),
        "focal_source": focal_source(run.opts, scene),
        "body_model": recon.body_model,
        "sources": run.opts.sources.describe(),
        "scene": scene_info,
        "camera": figures["camera"],
        "people_found": people.stats.get("found", people.n_people),
        "people": figures["people"],
        "warnings": list(run.warnings),
        "notes": list(run.notes),
    }


def focal_source(opts: RunOptions, scene) -> str:
    """Where the focal came from: "given" (--focal), "sfm" (refined by the joint optimisation),
    "pointmaps", or "guess" (the ground-plane fallback's phone-camera guess, refined)."""
    if opts.focal is not None:
        return "given"
    return {"ground_plane": "guess"}.get(scene.source, scene.source)


def load_report(out: str | os.PathLike) -> dict:
    import json

    path = Path(out) / REPORT
    if not path.is_file():
        raise InputError(f"no {REPORT} in {out}: not a complete josh run output")
    return json.loads(path.read_text())


__all__ = ["Settings", "run_pipeline", "promote", "load_report", "STAGES"]
