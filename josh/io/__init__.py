"""Saving, loading and exporting results; every file is written atomically (`josh.io.atomic`)."""
