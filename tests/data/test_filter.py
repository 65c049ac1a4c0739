import csv

from mobilei2v.data.clips_csv import write_rows


def row(name, **scores):
    return {"video_path": f"/clips/{name}.mp4", "text": "", "num_frames": "17", "height": "64", "width": "64",
            **scores}


def test_paper_thresholds_and_counts_per_rule(cli, tmp_path):
    rows = [
        row("good", flow="3.0", recon_psnr="35", clarity="50"),
        row("edge-clarity", flow="0.2", recon_psnr="32.5", clarity="40"),  # clarity >= 40 keeps 40
        row("still", flow="0.1", recon_psnr="35", clarity="50"),  # flow must be > 0.1
        row("fast", flow="6.5", recon_psnr="35", clarity="50"),  # ... and < 6.5
        row("lossy", flow="3.0", recon_psnr="32", clarity="50"),  # PSNR must be > 32
        row("blurry-lossy", flow="3.0", recon_psnr="20", clarity="12"),
        row("unscored", flow="", recon_psnr="", clarity=""),
    ]
    in_csv = write_rows(tmp_path / "scored.csv", rows)
    code, out, err = cli("data", "filter", in_csv, "-o", tmp_path / "kept.csv")
    assert code == 0, err
    with open(tmp_path / "kept.csv", newline="") as f:
        kept = [r["video_path"] for r in csv.DictReader(f)]
    assert kept == ["/clips/good.mp4", "/clips/edge-clarity.mp4"]
    lines = out.splitlines()
    assert "0.1 < flow < 6.5: dropped 3 (1 had no score)" in lines
    assert "32 < recon_psnr: dropped 3 (1 had no score)" in lines
    assert "40 <= clarity: dropped 2 (1 had no score)" in lines
    assert "70 <= dover: not applied (no such column)" in lines
    assert "kept 2 of 7 rows (5 dropped); wrote" in out


def test_thresholds_are_options_and_dover_scores_are_used_when_present(cli, tmp_path):
    rows = [row("a", flow="8", dover="75"), row("b", flow="8", dover="60"), row("c", flow="3", dover="90")]
    in_csv = write_rows(tmp_path / "scored.csv", rows)
    code, out, _ = cli("data", "filter", in_csv, "-o", tmp_path / "kept.csv", "--flow-max", 10)
    assert code == 0
    with open(tmp_path / "kept.csv", newline="") as f:
        assert [r["video_path"] for r in csv.DictReader(f)] == ["/clips/a.mp4", "/clips/c.mp4"]
    assert "70 <= dover: dropped 1" in out and "recon_psnr: not applied" in out
