"""The output rule, in one place: no path a command writes may be one of its inputs or another of
its outputs, and no output file may be a folder. Every command calls ``check_outputs`` before it
writes anything, so a typo (``-o plate.1001.exr``, ``--contact-sheet shot.track.json``, ``--out X
--patch X``) is a one-line error instead of a destroyed input.

Frame patterns (``out.####.exr``) are expanded against the frames being written; paths are
compared after resolving symlinks (the folder is resolved once per pattern, so a million-frame
pattern costs string work, not a million ``realpath`` calls).
"""
from __future__ import annotations

import os
from typing import Iterable, Mapping, Optional, Sequence, Union

from faceplate.core.errors import FaceplateError

PathSpec = Union[None, str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]]]


def _expand(path: Union[str, "os.PathLike[str]"], frames: Optional[Sequence[int]]) -> list[str]:
    """Resolved paths of ``path``: every frame of a ``####`` pattern, else the one path."""
    from faceplate.core.io.frames import _split_placeholder, sequence_path

    text = os.fspath(path)
    folder, _ = os.path.split(os.path.abspath(text))
    real_folder = os.path.realpath(folder)
    if _split_placeholder(text) is None or not frames:
        names = [os.path.basename(text)]
    else:
        names = sorted({os.path.basename(sequence_path(text, f)) for f in frames})
    out = []
    for name in names:
        full = os.path.join(real_folder, name)
        # the file itself may be a symlink to an input (the folder alone is resolved for patterns)
        out.append(os.path.realpath(full) if os.path.islink(full) else full)
    return out


def _as_list(spec: PathSpec) -> list:
    if spec is None:
        return []
    if isinstance(spec, (str, os.PathLike)):
        return [spec]
    return [p for p in spec if p]


def check_outputs(outputs: Mapping[str, PathSpec], inputs: Mapping[str, PathSpec],
                  frames: Optional[Sequence[int]] = None, folders: Iterable[str] = ()) -> None:
    """FaceplateError (exit 2) when an output would overwrite an input or another output.

    ``outputs`` / ``inputs`` map the flag that names them (``--out``, ``PLATE``) to a path, a
    frame pattern or a list of them; patterns are expanded over ``frames``. Outputs whose flag is
    in ``folders`` are output folders: they must not be an existing file or an input. Every other
    output must not be an existing folder.
    """
    folders = set(folders)
    owner: dict[str, str] = {}  # resolved path -> "FLAG path" that claims it
    for flag, spec in inputs.items():
        for path in _as_list(spec):
            for real in _expand(path, frames):
                owner.setdefault(real, f"input {flag} {os.fspath(path)}")
    for flag, spec in outputs.items():
        for path in _as_list(spec):
            text = os.fspath(path)
            if flag in folders:
                if os.path.exists(text) and not os.path.isdir(text):
                    raise FaceplateError(f"{flag} {text}: is a file, not a folder; pass a folder to write into")
            for real in _expand(path, frames):
                if flag not in folders and os.path.isdir(real):
                    raise FaceplateError(f"{flag} {text}: {real} is a folder; pass a file name (nothing was "
                                         f"written)")
                other = owner.get(real)
                if other is not None:
                    raise FaceplateError(f"{flag} {text}: would overwrite {other} ({real}); write it to "
                                         f"another path (nothing was written)")
                owner[real] = f"output {flag} {text}"
