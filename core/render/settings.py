"""Render settings: everything besides the inputs that changes the pixels (and their digest)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Optional

from faceplate.core.models.parser import DEFAULT_REGIONS
from faceplate.core.types import MaskMode

MAX_ERODE = 1.0    # |--erode| in face sizes
MAX_FEATHER = 1.0  # --feather in face sizes


@dataclass
class RenderSettings:
    model: Optional[str] = None              # None -> classical engine
    mask: MaskMode = "hull"                  # hull | aligned | parser
    erode: float = 0.0                       # face-size units (negative grows)
    feather: float = 0.08                    # face-size units
    forehead: float = 0.3                    # brow lift, fraction of brow-to-chin height
    regions: tuple[str, ...] = DEFAULT_REGIONS
    parser: Optional[str] = None             # parser model for --mask parser
    colour_match: bool = True
    regrain: bool = True
    targets: Optional[list[int]] = None      # track ids; None = every track
    resume: bool = False
    colourspace: Optional[str] = None        # plate colourspace (None: the track file's, else scene_linear)
    ocio_config: Optional[str] = None
    queue_depth: int = 2                     # frames buffered between compute and writer
    engine: str = "classical"                # classical | v2 (core/face/engine.py)
    likeness: float = 0.5                    # v2: source proportions strength
    source_features: float = 1.0             # v2: share of an eye/mouth from the source where its state matches

    def validate(self) -> None:
        """FaceplateError for a setting out of its range (checked before any frame is read).

        Erode and feather are bounded because the matte kernels grow with them: ``--erode=-100``
        would dilate by a hundred face sizes (a hang), and no real matte needs more than one.
        """
        from faceplate.core.errors import FaceplateError
        for flag, value, lo, hi in (("--erode", self.erode, -MAX_ERODE, MAX_ERODE),
                                    ("--feather", self.feather, 0.0, MAX_FEATHER),
                                    ("--likeness", self.likeness, 0.0, 1.0),
                                    ("--source-features", self.source_features, 0.0, 1.0)):
            if not (math.isfinite(value) and lo <= value <= hi):
                raise FaceplateError(f"{flag} {value:g}: must be a number from {lo:g} to {hi:g} (face sizes for "
                                     f"--erode/--feather, e.g. --erode 0.02 --feather 0.08)")

    def digest(self, extra: str = "") -> str:
        """Hash of the settings that change pixels (stored in the header; --resume compares it).

        File paths (model, parser, OCIO config) are left out: they differ between farm machines
        while the files' hashes (provenance, ``extra``) are what matter for the pixels.
        """
        skip = ("resume", "queue_depth", "targets", "model", "parser", "ocio_config")
        if self.engine == "classical":  # v2 settings do not change the classical engine's pixels
            skip += ("engine", "likeness", "source_features")
        keep = {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}
        keep["targets"] = sorted(self.targets) if self.targets else None
        keep["extra"] = extra
        return hashlib.sha256(json.dumps(keep, sort_keys=True, default=list).encode()).hexdigest()
