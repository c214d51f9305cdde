"""Which output frames are already complete (``--resume``), and clearing stale temp files.

A frame counts as complete only when its header carries the expected provenance AND every pixel
decodes: a file cut short (a full disk, a copy killed half way) has an intact header but missing
chunks, and a header-only check would skip it for ever.

Temp files (core/filesystem.atomic_path) carry their writer's ``p<pid>@<host>`` in the name. At
start-up a render removes only temps whose writer is gone: on this host, a pid that no longer
runs; on another host (a shared farm disk), a temp untouched for ``STALE_SECONDS``. A re-queued
task started beside a live one therefore never deletes the live one's temp; both finish with an
atomic rename, and the frame ends as one complete file either way.
"""
from __future__ import annotations

import glob
import os
import re
import time
from typing import Optional

from faceplate.core.filesystem import temp_owner

# A writer rewrites its temp continuously; one untouched this long belongs to a dead process.
STALE_SECONDS = 600.0

_OWNER = re.compile(r"\.p(\d+)@([A-Za-z0-9_-]+)\.[^.]*\.tmp")


def _header(path: str) -> Optional[dict]:
    """Header attributes of an existing output whose pixels all decode, or None."""
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
        # the full read: a truncated file has its header but not every chunk
        pixels = inp.read_image(0, 0, 0, spec.nchannels, "half")
        if pixels is None or inp.has_error:
            inp.geterror()
            return None
        return attrs
    finally:
        inp.close()


def output_complete(path: Optional[str], expected: dict) -> bool:
    """True when ``path`` is a fully readable EXR carrying exactly the ``expected`` provenance attributes."""
    if path is None:
        return True
    attrs = _header(path)
    if attrs is None:
        return False
    return all(str(attrs.get(k)) == str(v) for k, v in expected.items())


def _writer_gone(tmp: str, host_pid: tuple[str, str], now: float) -> bool:
    match = _OWNER.search(os.path.basename(tmp))
    if match is None:  # no owner in the name (an older faceplate): only by age
        return now - os.path.getmtime(tmp) > STALE_SECONDS
    pid, host = int(match.group(1)), match.group(2)
    if host != host_pid[1]:
        return now - os.path.getmtime(tmp) > STALE_SECONDS
    if str(pid) == host_pid[0]:
        return False  # this process's own (an earlier render in the same process still writing)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _remove_stale_temps(final: str) -> None:
    """Delete temp files of this exact frame whose writer is gone (atomic_path's naming)."""
    folder, name = os.path.split(os.path.abspath(final))
    stem, suffix = os.path.splitext(name)
    me = temp_owner()[1:].split("@", 1)
    now = time.time()
    for tmp in glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(stem)}.*.tmp{suffix}")):
        try:
            if _writer_gone(tmp, (me[0], me[1]), now):
                os.remove(tmp)
        except FileNotFoundError:  # its writer renamed or removed it meanwhile
            pass
