"""Shared fixtures: one body model per test session (construction loads Anny's cache)."""

import pytest


@pytest.fixture(scope="session")
def body():
    from josh.body import load_body_model

    return load_body_model("anny")
