"""Atomic writes and file hashing: nothing a killed process leaves behind is half-written."""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import tempfile
from pathlib import Path
from typing import Iterator, Union

PathLike = Union[str, "os.PathLike[str]"]


@contextlib.contextmanager
def atomic_path(final_path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``final_path``; rename it into place only on success.

    The temp file keeps the final suffix (OpenImageIO picks the format from it) and lives in
    the same directory so the rename is atomic. On any exception the temp file is removed and
    an existing ``final_path`` is left untouched.
    """
    final = Path(final_path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        # the owner (pid@host) is in the name: a re-queued render of the same frame removes only
        # temps whose writer is gone (core/render/resume.py), never a live one's
        fd, tmp_name = tempfile.mkstemp(prefix=f".{final.stem}.{temp_owner()}.", suffix=f".tmp{final.suffix}",
                                        dir=final.parent)
    except OSError as exc:  # a user's bad output path: one line naming it, not a traceback
        from faceplate.core.errors import FaceplateError
        raise FaceplateError(f"{final}: cannot write there ({exc.strerror or exc}); choose a writable "
                             f"output folder") from None
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates 0600; outputs must be readable by the rest of the farm, as open() would make them.
    os.chmod(tmp, 0o666 & ~_current_umask())
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, final)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):  # disk full, a folder in the way, permissions: one line, no traceback
            from faceplate.core.errors import FaceplateError
            raise FaceplateError(f"{final}: cannot write ({exc.strerror or exc}); free disk space or choose "
                                 f"another output path") from None
        raise


def temp_owner() -> str:
    """``p<pid>@<host>``: who writes a temp file (host sanitised to [A-Za-z0-9_-])."""
    host = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:64] or "host"
    return f"p{os.getpid()}@{host}"


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(final_path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``final_path`` atomically."""
    with atomic_path(final_path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(final_path: PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``final_path`` atomically."""
    atomic_write_bytes(final_path, text.encode("utf-8"))


def sha256_file(path: PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()
