"""Render settings: everything besides the inputs that changes the pixels (and their digest)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Optional

from faceplate.core.models.parser import DEFAULT_REGIONS
from faceplate.core.types import MaskMode


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
