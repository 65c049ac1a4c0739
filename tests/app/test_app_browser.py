"""The web app driven as a user drives it: a real headless Chromium, the page served on 127.0.0.1.

Needs Debian's `chromium` package (Playwright's own browser download cannot work here) and the `app` extra.
"""

import io
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mobilei2v.io.video import read_video
from mobilei2v.pipeline import SHIPPED_MODEL, MobileI2VPipeline

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium", allow_module_level=True)
pytest.importorskip("gradio", reason='the web app needs the app extra: pip install -e ".[app]"')
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="the browser tests need playwright: pip install -e '.[test]'")

from mobilei2v.app.server import serve  # noqa: E402 (needs gradio, checked above)

# Gradio's queue calls pandas in ways pandas 3 deprecates: not this project's to fix.
pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")

ROOT = Path(__file__).parents[2]
# Chromium with nothing that calls out to the network (updates, sync, QUIC probes): only 127.0.0.1 is used.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Generous: a healthy run waits a few seconds at most, but CI may share its 2 cores with other work.
TIMEOUT_MS = 300_000
VIDEO_LOADED = "() => { const v = document.querySelector('#video video'); return v !== null && v.readyState >= 1 }"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def running_app(model_dir, name):
    port = free_port()
    return serve(MobileI2VPipeline.from_pretrained(model_dir), name, "127.0.0.1", port), f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def app_url(tiny_model_dir):
    server, url = running_app(tiny_model_dir, "the tiny test model")
    with server:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


def open_app(page, url):
    page.goto(url)
    page.wait_for_selector("#generate")


def drop_photo(page, path):
    page.locator("#photo input[type=file]").set_input_files(str(path))


def generate_and_wait(page):
    page.click("#generate")
    page.wait_for_function(VIDEO_LOADED)


def test_a_photo_becomes_a_video_that_plays_and_downloads(page, app_url, photo, tmp_path):
    open_app(page, app_url)
    drop_photo(page, photo)
    page.wait_for_selector("#photo img")
    motion = page.locator("#motion input[type=number]")
    motion.fill("3.5")
    motion.press("Enter")
    generate_and_wait(page)

    duration, width, height = page.evaluate(
        "() => { const v = document.querySelector('#video video'); return [v.duration, v.videoWidth, v.videoHeight] }")
    assert duration > 0 and (width, height) == (96, 64)  # the tiny model's size
    assert "total" in page.inner_text("#timings")

    with page.expect_download() as download:
        page.locator("#video").get_by_role("button", name="Download").click()
    assert download.value.suggested_filename == "photo-seed0-motion3.5.mp4"  # the motion set above reached the model
    saved = tmp_path / "video.mp4"
    download.value.save_as(saved)
    frames, _ = read_video(saved)
    assert frames.shape == (17, 64, 96, 3)


def test_a_text_file_named_jpg_gets_a_message_and_the_server_keeps_serving(page, app_url, photo, tmp_path):
    notes = tmp_path / "notes.jpg"
    notes.write_text("these are my notes, not a photo\n")
    open_app(page, app_url)
    drop_photo(page, notes)
    message = "notes.jpg is not an image that can be read"
    page.get_by_text(message).first.wait_for()
    page.click("#generate")  # said again, and no video made
    sync_api.expect(page.get_by_text(message)).to_have_count(2, timeout=TIMEOUT_MS)
    assert page.locator("#video video").count() == 0
    assert "Traceback" not in page.content()

    drop_photo(page, photo)
    generate_and_wait(page)


def test_screenshot_of_the_page_with_the_shipped_model(page):
    """docs/app.png, which the README shows: the shipped model's video of the example cat."""
    server, url = running_app(SHIPPED_MODEL, "the shipped model")
    with server:
        open_app(page, url)
        drop_photo(page, ROOT / "examples" / "cat.jpg")
        page.wait_for_selector("#photo img")
        generate_and_wait(page)
        # Hold the video still on its middle frame, so the picture shows motion and not the input photo.
        page.evaluate("() => { const v = document.querySelector('#video video'); v.pause(); "
                      "v.currentTime = v.duration / 2 }")
        page.wait_for_function("() => document.querySelector('#video video').seeking === false")
        shot = Image.open(io.BytesIO(page.screenshot(full_page=True)))
    assert np.asarray(shot.convert("L")).std() > 10  # a rendered page, not a blank
    # 256 colours keep the PNG small enough for the repository; the page has few beyond the photos'.
    shot.convert("RGB").quantize(256).save(ROOT / "docs" / "app.png", optimize=True)
