import json

import pytest
import torch

from mobilei2v.data.clips_csv import write_rows
from mobilei2v.data.latent_cache import LatentCache
from mobilei2v.io.video import fit_frames, frames_to_video, read_video
from mobilei2v.models.registry import load
from mobilei2v.models.vae import encode_video


@pytest.fixture
def scored_csv(bikes_cut, bad_videos, tmp_path):
    """Four real clips with motion scores, one without, and a 10-frame clip."""
    rows = [{**row, "flow": f"{1.5 + i:.4f}"} for i, row in enumerate(bikes_cut[0].rows[:5])]
    rows[4]["flow"] = ""
    rows.append({"video_path": str(bad_videos["short"]), "flow": "2.0"})
    return write_rows(tmp_path / "scored.csv", rows)


def test_encode_caches_video_and_reference_latents(cli, scored_csv, tiny_vae_dir, tmp_path):
    cache = tmp_path / "cache"
    code, out, err = cli("data", "encode", scored_csv, "-o", cache, "--vae", tiny_vae_dir,
                         "--height", 64, "--width", 96, "--shard-size", 3)
    assert code == 0, err
    assert "encoded 4 clips" in out and "clips/s" in out and "encoding" in err  # the progress bar
    assert "skipped 1 (no motion score" in out and "skipped 1 (shorter than 17 frames)" in out
    index = json.loads((cache / "index.json").read_text())
    assert (index["height"], index["width"], index["num_frames"]) == (64, 96, 17)
    assert index["vae_config"]["latent_channels"] == 16
    assert sorted(p.name for p in cache.glob("*.safetensors")) == ["shard-00000.safetensors", "shard-00001.safetensors"]

    latents = LatentCache(cache)
    assert len(latents) == 4
    clip = latents[1]
    assert clip["video"].shape == (16, 3, 2, 3) and clip["video"].dtype == torch.float32
    assert clip["reference"].shape == (16, 1, 2, 3)
    assert clip["motion_score"].item() == pytest.approx(2.5)
    # The reference latent is frame 0 encoded alone, as the pipeline encodes an input image.
    frames, _ = read_video(latents.clips[1]["video_path"], max_frames=1)
    expected = encode_video(load("vae", tiny_vae_dir), frames_to_video(fit_frames(frames, 64, 96)))[0]
    torch.testing.assert_close(clip["reference"], expected)
    assert not torch.allclose(clip["video"][:, 1:2], clip["reference"])  # later frames are other latents


def test_a_rerun_encodes_only_new_clips(cli, scored_csv, bikes_cut, tiny_vae_dir, tmp_path):
    cache = tmp_path / "cache"
    args = ("--vae", tiny_vae_dir, "--height", 64, "--width", 64)
    assert cli("data", "encode", scored_csv, "-o", cache, *args)[0] == 0
    first = (cache / "shard-00000.safetensors").read_bytes()
    code, out, _ = cli("data", "encode", scored_csv, "-o", cache, *args)
    assert code == 0 and "encoded 0 clips" in out and "4 were already in the cache" in out

    more = write_rows(tmp_path / "more.csv", [{**row, "flow": "1.0"} for row in bikes_cut[0].rows[:6]])
    code, out, _ = cli("data", "encode", more, "-o", cache, *args)
    assert code == 0 and "encoded 2 clips" in out
    assert len(LatentCache(cache)) == 6 and (cache / "shard-00000.safetensors").read_bytes() == first
    assert [c["shard"] for c in LatentCache(cache).clips][-2:] == ["shard-00001.safetensors"] * 2

    code, _, err = cli("data", "encode", more, "-o", cache, "--vae", tiny_vae_dir, "--height", 64, "--width", 96)
    assert code == 2 and "width" in err and "new folder" in err


@pytest.mark.parametrize(("extra", "message"), [
    (("--height", 60, "--width", 64), "multiple of 8"),
    (("--height", 64, "--width", 64, "--frames", 16), "8k+1"),
])
def test_bad_sizes_are_refused_before_any_work(cli, scored_csv, tiny_vae_dir, tmp_path, extra, message):
    code, _, err = cli("data", "encode", scored_csv, "-o", tmp_path / "cache", "--vae", tiny_vae_dir, *extra)
    assert code == 2 and message in err
    assert not (tmp_path / "cache" / "index.json").exists()


def test_a_folder_that_is_not_a_vae_is_refused(cli, scored_csv, tmp_path):
    code, _, err = cli("data", "encode", scored_csv, "-o", tmp_path / "cache", "--vae", tmp_path,
                       "--height", 64, "--width", 64)
    assert code == 2 and "not a VAE folder" in err


def test_a_latent_crop_is_the_same_window_of_every_frame_and_the_reference(cli, scored_csv, tiny_vae_dir, tmp_path):
    from mobilei2v.models.geometry import LatentGeometry
    from mobilei2v.training.datasets import CachedLatentDataset

    cache = tmp_path / "cache"
    assert cli("data", "encode", scored_csv, "-o", cache, "--vae", tiny_vae_dir, "--height", 96, "--width", 128)[0] == 0
    whole = CachedLatentDataset(str(cache), LatentGeometry(32, 8, 16))[0]
    torch.manual_seed(0)
    crops = [CachedLatentDataset(str(cache), LatentGeometry(32, 8, 16), crop=2)[0] for _ in range(8)]
    windows = set()
    for crop in crops:
        assert crop["latents"].shape == (16, 3, 2, 2) and crop["reference_latent"].shape == (16, 1, 2, 2)
        # where the crop came from: the same window in the clip and in its reference
        found = [(top, left) for top in range(2) for left in range(3)
                 if torch.equal(crop["latents"], whole["latents"][..., top:top + 2, left:left + 2])
                 and torch.equal(crop["reference_latent"], whole["reference_latent"][..., top:top + 2, left:left + 2])]
        assert found
        windows.update(found)
    assert len(windows) > 1  # random windows
    with pytest.raises(ValueError, match="larger than the cached clips"):
        CachedLatentDataset(str(cache), LatentGeometry(32, 8, 16), crop=4)


def test_each_clip_has_its_camera_move_and_a_rerun_measures_those_an_older_cache_lacks(cli, scored_csv, tiny_vae_dir,
                                                                                      tmp_path):
    from mobilei2v.measures.motion import camera_motion

    cache = tmp_path / "cache"
    args = ("--vae", tiny_vae_dir, "--height", 64, "--width", 64)
    assert cli("data", "encode", scored_csv, "-o", cache, *args)[0] == 0
    latents = LatentCache(cache)
    assert latents.has_camera
    frames, _ = read_video(latents.clips[0]["video_path"], max_frames=17)
    torch.testing.assert_close(latents[0]["camera"], torch.from_numpy(camera_motion(fit_frames(frames, 64, 64))))

    index = json.loads((cache / "index.json").read_text())
    for clip in index["clips"][1:3]:
        del clip["camera"]  # as a cache made before camera moves were recorded
    (cache / "index.json").write_text(json.dumps(index))
    assert not LatentCache(cache).has_camera
    shards = {p.name: p.read_bytes() for p in cache.glob("*.safetensors")}
    code, out, _ = cli("data", "encode", scored_csv, "-o", cache, *args)
    assert code == 0 and "encoded 0 clips" in out and "measured the camera move of 2 of them" in out
    again = LatentCache(cache)
    assert again.has_camera and {p.name: p.read_bytes() for p in cache.glob("*.safetensors")} == shards
    torch.testing.assert_close(again[1]["camera"], latents[1]["camera"])


def test_guides_are_frame_0_filmed_along_each_clips_move_and_a_rerun_adds_those_a_cache_lacks(
        cli, scored_csv, tiny_vae_dir, tmp_path):
    from mobilei2v.data.camera import clip_moves, guide_clip
    from mobilei2v.models.geometry import LatentGeometry
    from mobilei2v.training.datasets import CachedLatentDataset

    args = ("--vae", tiny_vae_dir, "--height", 64, "--width", 64)
    guided = tmp_path / "guided"
    assert cli("data", "encode", scored_csv, "-o", guided, *args, "--guides")[0] == 0
    latents = LatentCache(guided)
    assert latents.has_guides
    clip, entry = latents[2], latents.clips[2]
    frames, _ = read_video(entry["video_path"], max_frames=17)
    frames = fit_frames(frames, 64, 64)
    move = clip_moves(torch.tensor([entry["camera"]]), torch.tensor([entry["motion_score"]]), 64, 64)[0]
    expected = encode_video(load("vae", tiny_vae_dir), frames_to_video(guide_clip(frames[0], move, 17)))[0]
    torch.testing.assert_close(clip["guide"], expected)
    assert clip["guide"].shape == clip["video"].shape

    plain = tmp_path / "plain"  # a cache made without guides gets them from a re-run, its shards untouched
    assert cli("data", "encode", scored_csv, "-o", plain, *args)[0] == 0
    assert not LatentCache(plain).has_guides
    with pytest.raises(ValueError, match="without a guide.*--guides"):
        CachedLatentDataset(str(plain), LatentGeometry(32, 8, 16), guide=True)
    shards = {p.name: p.read_bytes() for p in plain.glob("shard-*.safetensors")}
    code, out, _ = cli("data", "encode", scored_csv, "-o", plain, *args, "--guides")
    assert code == 0 and "encoded the guides of 4 of them" in out
    assert {p.name: p.read_bytes() for p in plain.glob("shard-*.safetensors")} == shards
    torch.testing.assert_close(LatentCache(plain)[2]["guide"], clip["guide"])

    torch.manual_seed(0)
    item = CachedLatentDataset(str(guided), LatentGeometry(32, 8, 16), crop=1, guide=True)[2]
    window = [(top, left) for top in range(2) for left in range(2)
              if torch.equal(clip["video"][:, :, top:top + 1, left:left + 1], item["latents"])]
    assert len(window) == 1  # the guide is cut at the same window as the clip
    top, left = window[0]
    torch.testing.assert_close(item["guide"], clip["guide"][:, :, top:top + 1, left:left + 1])
