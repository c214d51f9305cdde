"""`faceplate sample [DIR]`: a small scene-linear EXR plate and a source face to try the tools on.

Made at run time from photos that the installed insightface wheel carries (no download, no
shared assets): its group photo ``t1.jpg`` moves along a slow smooth path (translation + slight
zoom) over 24 frames of 1024x576 half-float EXR with an extra ``depth.Z`` layer; scikit-image's
``astronaut.png`` (installed with insightface, which depends on it: a 512x512 colour NASA portrait,
public domain) becomes ``source.png`` (a person who is not in the plate, her face about the size of
the plate's faces). Deterministic, so re-running rewrites identical files (atomically).
"""
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from typing import Optional

from faceplate.core.errors import FaceplateError

WIDTH, HEIGHT = 1024, 576


FIRST_FRAME = 1001


FRAME_COUNT = 24
MAX_COUNT = 10_000  # the sample is a demo plate: more frames is a typo


PATTERN = "plate.####.exr"


SOURCE = "source.png"


SAMPLE_VERSION = "2"  # 2: colour astronaut source (1: 112-px greyscale crop)


DEFAULT_DIR = "sample"


OUT_DIR = "out"  # where the printed next command writes (the README's first command)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "sample", help="write a small sample EXR plate (and a source face) to try faceplate on",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=("Write a 24-frame 1024x576 half-float scene-linear EXR plate (the insightface wheel's "
                     "group photo of six people on a slow move, plus a depth.Z layer) and source.png (a "
                     "colour portrait of someone else, from scikit-image) into DIR: no download, no shared "
                     "assets. Prints the swap command to run next."),
        epilog="example:\n  faceplate sample sample\n  faceplate swap sample/plate.####.exr --source "
               "sample/source.png --engine v2 --frames 1001-1024 --out out/swap.####.exr --contact-sheet out/contact.png")
    parser.add_argument("dir", nargs="?", default=DEFAULT_DIR, metavar="DIR",
                        help=f"output folder (default: {DEFAULT_DIR})")
    parser.add_argument("--count", type=int, default=FRAME_COUNT, metavar="N",
                        help=f"number of frames, numbered from {FIRST_FRAME} (default: {FRAME_COUNT})")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    info = make_sample(args.dir, frames=args.count)
    first, last = info["frames"][0], info["frames"][-1]
    print(f"wrote {len(info['frames'])} frames {info['pattern']} ({WIDTH}x{HEIGHT} half float, scene-linear "
          f"{info['colourspace']}, layers RGBA + depth.Z) and {info['source']}")
    print("next:")
    print(f"  {next_command(args.dir, first, last)}")
    return 0


def next_command(directory: str, first: int, last: int) -> str:
    """The swap to run after ``faceplate sample DIR``: the README's first command (paths as the user typed
    DIR), writing frames, track file and contact sheet into ./out."""
    def join(*parts: str) -> str:
        return "/".join(p.rstrip("/") for p in parts)  # shell-style: the README's paths on every OS
    return (f"faceplate swap {join(directory, PATTERN)} --source {join(directory, SOURCE)} --engine v2 "
            f"--frames {first}-{last} "
            f"--out {join(OUT_DIR, 'swap.####.exr')} --contact-sheet {join(OUT_DIR, 'contact.png')}")


def _package_data(package: str, relative: str) -> Path:
    """Path of a data file inside an installed package, found without importing it (imports are heavy)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FaceplateError(f"the sample needs the {package} package: pip install {package}")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise FaceplateError(f"{relative} not found in the installed {package} package ({path}); "
                             f"reinstall it: pip install --force-reinstall {package}")
    return path


def package_image(name: str) -> Path:
    """Path of an image shipped inside the installed insightface wheel (``data/images/NAME``)."""
    return _package_data("insightface", f"data/images/{name}")


def source_photo() -> Path:
    """scikit-image's astronaut.png (Eileen Collins, NASA, public domain): 512x512 colour, face ~95 px."""
    return _package_data("skimage", "data/astronaut.png")


def _read_rgb(path: Path) -> np.ndarray:
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FaceplateError(f"cannot read {path}; reinstall the package that ships it")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _camera(t: float, src_w: int, src_h: int) -> np.ndarray:
    """2x3 affine for normalised time t in [0, 1]: eased pan and a ~6% push-in, always covering the frame."""
    import numpy as np

    ease = 0.5 - 0.5 * np.cos(np.pi * t)  # zero velocity at both ends: a smooth move
    scale = max(WIDTH / src_w, HEIGHT / src_h) * (1.08 + 0.06 * ease)
    slack_x = src_w * scale - WIDTH
    slack_y = src_h * scale - HEIGHT
    # Pan left to right while drifting down a little; stay inside the photo (no edge repeats).
    tx = -slack_x * (0.25 + 0.5 * ease)
    ty = -slack_y * (0.1 + 0.15 * ease)
    return np.array([[scale, 0.0, tx], [0.0, scale, ty]], dtype=np.float64)


def _expand_highlights(linear: np.ndarray) -> np.ndarray:
    """Monotonic lift above 0.6 so bright areas exceed 1.0 like a real scene-linear plate (1.0 -> 1.5);
    skin and mid-tones stay as photographed."""
    import numpy as np

    over = np.maximum(linear - 0.6, 0.0)
    return linear + 3.125 * over * over


def make_sample(directory: str, frames: int = FRAME_COUNT, colour=None) -> dict:
    """Write the sample plate and source image into ``directory``; returns what was written."""
    import cv2
    import numpy as np
    from faceplate.core.colour import ColourPipeline
    from faceplate.core.filesystem import atomic_path
    from faceplate.core.io.exr import write_exr
    from faceplate.core.types import PlateFrame, Window

    if not 1 <= frames <= MAX_COUNT:  # bounded before anything is allocated or written
        raise FaceplateError(f"--count {frames}: must be from 1 to {MAX_COUNT} frames")
    from faceplate.core.io.outputs import check_outputs
    check_outputs({"DIR": directory}, {}, folders=("DIR",))
    out_dir = Path(directory).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    colour = colour or ColourPipeline()
    photo = _read_rgb(package_image("t1.jpg")).astype(np.float32) / 255.0
    src_h, src_w = photo.shape[:2]
    window = Window(0, 0, WIDTH - 1, HEIGHT - 1)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    frame_numbers = list(range(FIRST_FRAME, FIRST_FRAME + frames))
    for i, number in enumerate(frame_numbers):
        t = i / max(frames - 1, 1)
        matrix = _camera(t, src_w, src_h)
        srgb = cv2.warpAffine(photo, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_CUBIC,
                              borderMode=cv2.BORDER_REPLICATE)
        linear = _expand_highlights(colour.to_linear(np.clip(srgb, 0.0, 1.0)))
        # Depth: a floor-to-wall gradient (metres) that shifts with the push-in, just to be a real extra layer.
        depth = (2.0 + 3.0 * (1.0 - yy / HEIGHT) + 0.002 * xx - 0.3 * t).astype(np.float32)
        pixels = np.dstack([linear, np.ones((HEIGHT, WIDTH, 1), np.float32), depth[..., None]])
        # Through half once so the in-memory frame equals what the file holds.
        pixels[..., :4] = pixels[..., :4].astype(np.float16).astype(np.float32)
        plate = PlateFrame(pixels=pixels, channels=("R", "G", "B", "A", "depth.Z"),
                           channel_formats=("half", "half", "half", "half", "float"), rgb=(0, 1, 2),
                           data_window=window, display_window=window, pixel_aspect=1.0,
                           metadata={"compression": "zip", "framesPerSecond": (24, 1),
                                     "oiio:ColorSpace": colour.plate_colourspace},
                           frame=number)
        plate.metadata_types["framesPerSecond"] = _rational_type()
        write_exr(str(out_dir / PATTERN.replace("####", f"{number:04d}")), plate,
                  extra_metadata={"faceplate/sample": SAMPLE_VERSION,
                                  "faceplate/colourspace": colour.plate_colourspace})
    source_path = out_dir / SOURCE
    with atomic_path(source_path) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(_read_rgb(source_photo()), cv2.COLOR_RGB2BGR)):
            raise FaceplateError(f"cannot write {source_path}; check the folder is writable")
    return {"dir": str(out_dir), "pattern": str(out_dir / PATTERN), "frames": frame_numbers,
            "source": str(source_path), "colourspace": colour.plate_colourspace}


def _rational_type():
    import OpenImageIO as oiio

    return oiio.TypeDesc("rational2i")


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(prog="faceplate")
    register(parser.add_subparsers())
    args = parser.parse_args(["sample"] + list(argv or []))
    return args.func(args)
