"""`josh eval` end to end on fixture folders: tables written, errors as one stderr line."""

import json

import numpy as np
import pytest

from josh.cli import main
from josh.eval.sequence import rigid_inverse
from josh.eval.smpl_eval import SmplEvaluator
from josh.testing import eval_fixtures as F
from josh.testing.fake_smpl import write_fake_smpl_folder

K = np.array([[40.0, 0.0, 32.0], [0.0, 40.0, 24.0], [0.0, 0.0, 1.0]])


@pytest.fixture(scope="module")
def smpl_dir(tmp_path_factory):
    return write_fake_smpl_folder(tmp_path_factory.mktemp("smpl"))


def _emdb_folder(root, smpl_dir, n=24):
    """Two EMDB sequences with exact predictions in the official layout, one without a prediction."""
    from josh.eval.datasets import emdb

    smpl = SmplEvaluator(smpl_dir)
    c2w = F.camera_track(np.stack([np.linspace(0, 1, n), np.zeros(n), np.zeros(n)], 1), np.linspace(0, 0.4, n))
    for i, seq in enumerate(["09_outdoor_walk", "12_outdoor_run", "99_no_prediction"]):
        F.write_emdb_sequence(root / "data", f"P{i}", seq, F.walking_body(n, seed=i), rigid_inverse(c2w), K)
    for ref in emdb.find_sequences(root / "data")[:2]:
        gt = emdb.load_sequence(ref, smpl)
        F.write_official_prediction(root / "results" / ref.name, c2w, F.camera_frame_params(gt.body, gt.w2c, smpl),
                                    np.arange(n))  # fmt: skip


def test_eval_writes_markdown_and_json(tmp_path, smpl_dir, capsys):
    _emdb_folder(tmp_path, smpl_dir)
    code = main(["eval", "--dataset", "emdb", "--root", str(tmp_path / "data"), "--pred", str(tmp_path / "results"),
                 "--smpl", str(smpl_dir), "--out", str(tmp_path / "tables")])  # fmt: skip
    assert code == 0
    report = json.loads((tmp_path / "tables" / "eval_emdb.json").read_text())
    assert [s["name"] for s in report["sequences"]] == ["P0_09_outdoor_walk", "P1_12_outdoor_run"]
    assert "no prediction" in report["skipped_sequences"]["P2_99_no_prediction"]
    overall = report["overall"]
    assert overall["w_mpjpe"]["value"] == pytest.approx(0.0, abs=1e-6)
    assert overall["w_mpjpe"]["count"] == 48 and overall["w_mpjpe"]["averaging"] == "frames"
    assert overall["ate"]["value"] == pytest.approx(0.0, abs=1e-9) and overall["ate"]["count"] == 2
    assert report["protocol"]["ate_stat"] == "mean" and report["protocol"]["fps"] == 30.0
    markdown = (tmp_path / "tables" / "eval_emdb.md").read_text()
    assert "| W-MPJPE100 | 0.0 | mm | frames | 48 |" in markdown
    assert "P1_12_outdoor_run" in markdown and "## Skipped sequences" in markdown
    assert not list((tmp_path / "tables").glob(".*"))  # no temporary files left behind


def test_frame_weighted_overall_differs_from_the_sequence_mean(tmp_path, smpl_dir):
    from josh.eval.protocol import DatasetResult, SequenceResult
    from josh.eval.report import overall

    a = SequenceResult("a", 3, "smpl", "", per_frame={"mpjpe": np.array([1.0, 2.0, 3.0])}, per_sequence={"ate": 1.0})
    b = SequenceResult("b", 1, "smpl", "", per_frame={"mpjpe": np.array([10.0])}, per_sequence={"ate": 3.0})
    out = overall(DatasetResult("emdb", [a, b], {}))
    assert out["mpjpe"]["value"] == 4.0 and out["mpjpe"]["count"] == 4  # not (2 + 10) / 2
    assert out["ate"]["value"] == 2.0 and out["ate"]["count"] == 2


def test_missing_root_is_one_line_and_exit_2(tmp_path, capsys):
    code = main(["eval", "--dataset", "emdb", "--root", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "is not a folder" in err


def test_missing_smpl_files_say_where_to_put_them(tmp_path, smpl_dir, capsys, monkeypatch):
    monkeypatch.delenv("JOSH_SMPL_DIR", raising=False)
    _emdb_folder(tmp_path, smpl_dir, n=6)
    code = main(["eval", "--dataset", "emdb", "--root", str(tmp_path / "data"), "--pred", str(tmp_path / "results")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "JOSH_SMPL_DIR" in err


def test_nothing_to_evaluate_still_writes_the_report_and_exits_2(tmp_path, smpl_dir, capsys):
    n = 6
    c2w = F.camera_track(np.zeros((n, 3)), np.zeros(n))
    F.write_emdb_sequence(tmp_path / "data", "P0", "01", F.walking_body(n), rigid_inverse(c2w), K)
    (tmp_path / "results").mkdir()
    code = main(["eval", "--dataset", "emdb", "--root", str(tmp_path / "data"), "--pred", str(tmp_path / "results"),
                 "--smpl", str(smpl_dir)])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "no sequence could be evaluated" in err[-1]
    assert (tmp_path / "results" / "eval_emdb.json").is_file()


@pytest.mark.slow
def test_sloper4d_run_reports_reconstruction_metrics(tmp_path, smpl_dir):
    """The official layout end to end, predictions inside the dataset folders (no --pred)."""
    from josh.eval.datasets import sloper4d

    smpl = SmplEvaluator(smpl_dir)
    n = 25
    c2w = F.camera_track(np.stack([np.linspace(0, 1, n), np.zeros(n), np.zeros(n)], 1), np.zeros(n))
    ground = np.stack(np.meshgrid(np.arange(-3, 3, 0.25), [1.6], np.arange(1, 8, 0.25)), -1).reshape(-1, 3)
    F.write_sloper4d_sequence(tmp_path, "seq002_football", F.walking_body(n), rigid_inverse(c2w), gender="neutral",
                              scene_points=ground)  # fmt: skip
    (ref,) = sloper4d.find_sequences(tmp_path)
    gt = sloper4d.load_sequence(ref, smpl)
    depth = np.full((2, 6, 8), 3.0)
    scene = {"depth_hw": depth, "conf_hw": np.ones_like(depth), "img_idx": [0, 20],
             "intrinsics": np.array([[4.0, 0, 4.0], [0, 4.0, 3.0], [0, 0, 1]])}  # fmt: skip
    F.write_official_prediction(tmp_path / ref.name, c2w, F.camera_frame_params(gt.body, gt.w2c, smpl),
                                np.arange(n), scene)  # fmt: skip
    code = main(["eval", "--dataset", "sloper4d", "--root", str(tmp_path), "--smpl", str(smpl_dir)])
    assert code == 0
    report = json.loads((tmp_path / "eval_sloper4d.json").read_text())
    metrics = report["sequences"][0]["metrics"]
    assert {"cd", "ffr", "cr@4", "ate", "pve", "rte"} <= set(metrics)
    assert metrics["rte"] == pytest.approx(0.0, abs=1e-9) and metrics["ate"] == pytest.approx(0.0, abs=1e-9)
    assert report["overall"]["cd"]["averaging"] == "sequences"
    assert "depth" in report["sequences"][0]["skipped_metrics"]  # no per-frame scans in this fixture
