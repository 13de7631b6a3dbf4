"""Body models behind one protocol: Anny (default, licence-free), SMPL and SMPL-X (the user's files)."""

from josh.cache import configure as _configure

_configure()

try:  # Anny skins with Warp, which prints a banner on first use; JOSH's output stays quiet
    import warp as _warp

    _warp.config.quiet = True
    _warp.config.log_level = _warp.LOG_ERROR  # the banner and "no CUDA driver" are info/warnings
except ImportError:  # pragma: no cover
    pass

from josh.body.protocol import BodyModel, BodyOutput, RestState  # noqa: E402


def load_body_model(name: str = "anny", dtype=None, model_path=None, gender: str = "neutral") -> BodyModel:
    """Construct a body model by name.

    "anny" ships with JOSH. "smpl" and "smplx" need the user's licensed model files: `model_path`
    (a file or a folder), else `$JOSH_SMPL_DIR` (SMPL-X: `$JOSH_SMPLX_DIR`, then `$JOSH_SMPL_DIR`),
    else `<JOSH cache>/smpl` (`/smplx`); a `SetupError` says where to put them when they are missing.
    """
    kwargs = {} if dtype is None else {"dtype": dtype}
    if name == "anny":
        from josh.body.anny_body import AnnyBody

        return AnnyBody(**kwargs)
    if name == "smpl":
        from josh.body.smpl_body import SMPLBody

        return SMPLBody(model_path=model_path, gender=gender, **kwargs)
    if name == "smplx":
        from josh.body.smplx_body import SMPLXBody

        return SMPLXBody(model_path=model_path, gender=gender, **kwargs)
    raise ValueError(f"unknown body model {name!r}; available: 'anny', 'smpl', 'smplx'")


__all__ = ["BodyModel", "BodyOutput", "RestState", "load_body_model"]
