"""What a `josh run` is asked to do: the clip selection, the output folder, and where each
component's initialisation comes from (built-in CPU front-end, or a learned model's files).

Sources (`--people`, `--contacts`, `--scene`) are `KIND` or `KIND:PATH`:

| component | kinds |
|---|---|
| people   | `builtin` (MediaPipe + tracker + Anny fit), `tram:DIR` (TRAM/VIMO SMPL tracks; SMPL body) |
| contacts | `builtin` (from the bodies, then re-estimated from the reconstruction), `deco:DIR` (DECO) |
| scene    | `builtin` (pycolmap SfM, ground plane on failure), `pointmaps:FILE` (Pi3/MASt3R/VGGT npz) |

All people of one run share one body model: Anny with the built-in people, SMPL with `tram:`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from josh.errors import InputError

SOURCE_KINDS = {
    "people": {"builtin": False, "tram": True},  # kind -> needs a path
    "contacts": {"builtin": False, "deco": True},
    "scene": {"builtin": False, "pointmaps": True},
}
PATH_MUST_BE = {"tram": "folder", "deco": "folder", "pointmaps": "file"}


@dataclass(frozen=True)
class SourceSpec:
    """One component's source: `kind` and, for learned front-ends, the path of their outputs."""

    component: str
    kind: str = "builtin"
    path: Path | None = None

    @property
    def builtin(self) -> bool:
        return self.kind == "builtin"

    def __str__(self) -> str:
        return self.kind if self.path is None else f"{self.kind}:{self.path}"


def parse_source(component: str, text: str | None) -> SourceSpec:
    """`KIND[:PATH]` -> SourceSpec, with a one-line `InputError` for anything wrong."""
    kinds = SOURCE_KINDS[component]
    if text is None or text.strip() == "":
        return SourceSpec(component)
    kind, sep, path = text.strip().partition(":")
    kind = kind.strip().lower()
    choices = ", ".join(k + (":PATH" if needs else "") for k, needs in kinds.items())
    if kind not in kinds:
        raise InputError(f"--{component} {text!r}: unknown source {kind!r}; choose from {choices}")
    if not kinds[kind]:
        if sep and path:
            raise InputError(f"--{component} {text!r}: {kind!r} takes no path")
        return SourceSpec(component, kind)
    if not path.strip():
        raise InputError(f"--{component} {text!r}: {kind!r} needs a path, e.g. --{component} {kind}:/path/to/outputs")
    p = Path(path.strip()).expanduser()
    want = PATH_MUST_BE[kind]
    if not p.exists():
        raise InputError(f"--{component} {text!r}: {p} does not exist")
    if want == "folder" and not p.is_dir():
        raise InputError(f"--{component} {text!r}: {p} is not a folder")
    if want == "file" and not p.is_file():
        raise InputError(f"--{component} {text!r}: {p} is not a file")
    return SourceSpec(component, kind, p.resolve())


@dataclass(frozen=True)
class Sources:
    people: SourceSpec = field(default_factory=lambda: SourceSpec("people"))
    contacts: SourceSpec = field(default_factory=lambda: SourceSpec("contacts"))
    scene: SourceSpec = field(default_factory=lambda: SourceSpec("scene"))

    def __post_init__(self):
        if self.contacts.kind == "deco" and self.people.kind != "tram":
            raise InputError("--contacts deco: needs --people tram: (DECO's rows follow TRAM's tracks)")

    @property
    def body_model(self) -> str:
        """One body model for everyone in the run (TRAM tracks are SMPL parameters)."""
        return "smpl" if self.people.kind == "tram" else "anny"

    @classmethod
    def parse(cls, people: str | None = None, contacts: str | None = None, scene: str | None = None) -> "Sources":
        return cls(parse_source("people", people), parse_source("contacts", contacts), parse_source("scene", scene))

    def describe(self) -> dict[str, str]:
        return {"people": str(self.people), "contacts": str(self.contacts), "scene": str(self.scene)}


@dataclass
class RunOptions:
    """Everything `run_pipeline` needs; the CLI fills it from its flags."""

    video: Path
    out: Path
    start: int = 0  # first video frame
    max_frames: int | None = None  # at most this many frames (after striding)
    stride: int = 1  # every stride-th frame
    keyframe_every: int = 5  # keyframes: every M-th processed frame, and the last one
    people_max: int = 4  # reconstruct at most this many people (the longest tracks)
    long_side: int = 960  # working resolution: the frame's longer side, pixels
    frame_limit: int = 1500  # refuse clips with more frames to process than this
    sources: Sources = field(default_factory=Sources)
    smpl_path: Path | None = None  # SMPL model files for `--people tram:` (else $JOSH_SMPL_DIR)
    fps: float | None = None  # the input's frame rate, overriding the video's (image folders: 30)
    focal: float | None = None  # the camera's focal in pixels of the video's full resolution, if known
    official: Path | None = None  # also write the result in the official layout here (josh.pipeline.official)
    progress: bool = True  # progress bars and the summary on the console
    deterministic: bool = False  # bit-for-bit repeatable: SfM on one thread (`Settings.deterministic`)
    lock_feet: bool = False  # the lowest foot held still in the second optimisation (`Settings.with_locked_feet`)
    split_pairs: bool | None = None  # split poses that mix two people side by side; None: the settings' (on)

    def __post_init__(self):
        self.video = Path(self.video).expanduser()
        self.out = Path(self.out).expanduser()
        self.official = Path(self.official).expanduser() if self.official is not None else None
        checks = [
            (self.fps is None or (math.isfinite(self.fps) and self.fps > 0), "--fps must be a number > 0"),
            (self.focal is None or (math.isfinite(self.focal) and self.focal > 0), "--focal must be a number of pixels > 0"),
            (self.focal is None or self.sources.scene.builtin,
             "--focal is for the built-in scene front-end; point maps bring their own focal"),
            (self.start >= 0, "--start must be >= 0"),
            (self.max_frames is None or self.max_frames >= 1, "--max-frames must be >= 1"),
            (self.stride >= 1, "--stride must be >= 1"),
            (self.keyframe_every >= 1, "--keyframe-every must be >= 1"),
            (self.people_max >= 0, "--people-max must be >= 0"),
            (self.long_side >= 64, "--long-side must be >= 64 pixels"),
            (self.frame_limit >= 3, "--frame-limit must be >= 3"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)
