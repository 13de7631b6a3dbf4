"""Body models behind one protocol: Anny (default, licence-free)."""

from josh.cache import configure as _configure

_configure()

try:  # Anny skins with Warp, which prints a banner on first use; JOSH's output stays quiet
    import warp as _warp

    _warp.config.quiet = True
except ImportError:  # pragma: no cover
    pass

from josh.body.protocol import BodyModel, BodyOutput, RestState  # noqa: E402


def load_body_model(name: str = "anny", dtype=None) -> BodyModel:
    """Construct a body model by name (only "anny" ships; SMPL needs the user's files)."""
    if name == "anny":
        from josh.body.anny_body import AnnyBody

        return AnnyBody() if dtype is None else AnnyBody(dtype=dtype)
    raise ValueError(f"unknown body model {name!r}; available: 'anny'")


__all__ = ["BodyModel", "BodyOutput", "RestState", "load_body_model"]
