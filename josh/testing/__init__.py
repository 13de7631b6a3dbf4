"""Helpers for tests: generated stand-ins for licensed assets (never the assets themselves)."""
