"""`josh bench` end to end on a small world, and its error handling."""

import json

import numpy as np
import pytest

from josh.cli import main


@pytest.mark.slow
def test_bench_small_world_writes_table_and_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    args = ["bench", "--people", "1", "--frames", "24", "--keyframes", "6", "--width", "320", "--height", "180",
            "--focal", "256", "--depth-stride", "4", "--methods", "serial,josh", "--json", str(out), "--threads", "1"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "josh" in printed and "serial" in printed and "(truth)" in printed
    data = json.loads(out.read_text())
    assert set(data["methods"]) == {"serial", "josh"}
    keys = {"w_mpjpe", "wa_mpjpe", "pa_mpjpe", "rte", "ate", "jitter", "fs", "ffr", "ffr_005", "cd", "abs_rel",
            "scale_err", "focal_err", "time_s", "peak_mem_mb"}  # fmt: skip
    for method in ("serial", "josh"):
        row = data["methods"][method]
        assert keys <= set(row)
        assert all(np.isfinite(row[k]) for k in keys - {"ffr", "ffr_005"})
        assert row["time_s"] > 0 and row["peak_mem_mb"] > 100
    assert data["config"]["frames"] == 24 and data["config"]["depth_noise"] == 0.02
    assert data["truth"]["jitter"] > 0


def test_bench_rejects_bad_arguments(capsys):
    assert main(["bench", "--methods", "josh,nonsense"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nonsense" in err
    assert main(["bench", "--people", "7"]) == 2
    assert "people" in capsys.readouterr().err
