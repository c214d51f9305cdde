"""Which output frames are already complete (``--resume``), and clearing stale temp files.
"""
from __future__ import annotations

import glob
import os
from typing import Optional


def _header(path: str) -> Optional[dict]:
    """Header attributes of an existing output, or None if it is not a readable EXR."""
    import OpenImageIO as oiio

    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        return None
    inp = oiio.ImageInput.open(path)
    if inp is None:
        oiio.geterror()
        return None
    try:
        spec = inp.spec()
        attrs = {a.name: a.value for a in spec.extra_attribs}
        attrs["__size__"] = (spec.width, spec.height, spec.nchannels)
        return attrs
    finally:
        inp.close()


def output_complete(path: Optional[str], expected: dict) -> bool:
    """True when ``path`` is a readable EXR carrying exactly the ``expected`` provenance attributes."""
    if path is None:
        return True
    attrs = _header(path)
    if attrs is None:
        return False
    return all(str(attrs.get(k)) == str(v) for k, v in expected.items())


def _remove_stale_temps(final: str) -> None:
    """Delete temp files a killed writer of this exact frame left behind (atomic_path's naming)."""
    folder, name = os.path.split(os.path.abspath(final))
    stem, suffix = os.path.splitext(name)
    for tmp in glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(stem)}.*.tmp{suffix}")):
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass
