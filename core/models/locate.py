"""Finding a model by name or path, checking its sha256 and its role.
"""
from __future__ import annotations

import importlib
import os
from importlib import resources
from pathlib import Path

from faceplate.core.errors import ModelError
from faceplate.core.filesystem import sha256_bytes, sha256_file
from faceplate.core.models.contract import ROLES, ModelSource, infer_contract
from faceplate.core.models.manifest import ModelEntry, ModelSlot, registry, slots

MODEL_PATH_ENV = "FACEPLATE_MODEL_PATH"


def model_search_dirs() -> list[Path]:
    """Folders from $FACEPLATE_MODEL_PATH (os.pathsep-separated)."""
    raw = os.environ.get(MODEL_PATH_ENV, "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def _find_by_name(filename: str) -> Path | None:
    # A folder and its direct sub-folders, so a models/<family>/file layout works as is.
    for d in model_search_dirs():
        for candidate in [d / filename, *sorted(d.glob(f"*/{filename}"))]:
            if candidate.is_file():
                return candidate
    return None


def locate(entry: ModelEntry) -> tuple[ModelSource | None, str]:
    """(file path or bytes, a human description of where); (None, where it was looked for) if absent."""
    loc = entry.location
    if loc.startswith("package:"):
        spec = loc[len("package:"):]
        if spec.count(":") == 1:  # module file + attribute holding the bytes
            file_part, attr = spec.split(":")
            module = file_part[:-3].replace("/", ".") if file_part.endswith(".py") else file_part.replace("/", ".")
            try:
                data = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError):
                return None, f"Python package module {module} (pip install the package named in the source)"
            return bytes(data), f"{module}.{attr}"
        package, _, rel = spec.partition("/")
        try:
            path = resources.files(package) / rel
        except ModuleNotFoundError:
            return None, f"Python package {package} (pip install it)"
        return (str(path), str(path)) if path.is_file() else (None, str(path))
    if os.path.isabs(loc):
        return (loc, loc) if os.path.isfile(loc) else (None, loc)
    found = _find_by_name(loc)
    if found is None:
        dirs = ", ".join(str(d) for d in model_search_dirs()) or "(unset)"
        return None, f"{loc} in ${MODEL_PATH_ENV} folders [{dirs}]"
    return str(found), str(found)


def locate_slot(name_or_file: str) -> tuple[ModelSlot | None, str | None]:
    """(slot, file path) for a slot name or file name (``inswapper_128``, ``simswap_224.onnx``); path None when
    the file is not in the $FACEPLATE_MODEL_PATH folders; (None, None) when it names no slot."""
    for slot in slots().values():
        if name_or_file in (slot.name, slot.filename):
            found = _find_by_name(slot.filename)
            return slot, str(found) if found else None
    return None, None


def file_or_slot(name_or_path: str, what: str, hint: str) -> str:
    """``name_or_path`` when it is a file, else the file of the slot it names found in the
    $FACEPLATE_MODEL_PATH folders; a one-line error saying where a missing slot file goes, or naming
    ``what`` was not found and ``hint`` (what to pass instead)."""
    if os.path.isfile(name_or_path):
        return name_or_path
    slot, found = locate_slot(name_or_path)
    if slot is not None and found is None:
        raise slot_missing(slot)
    if found is None:
        raise ModelError(f"{name_or_path}: {what} not found; {hint}")
    return found


def slot_missing(slot: ModelSlot) -> ModelError:
    """Where the slot's file goes, where it comes from and its licence, in one line."""
    dirs = ", ".join(str(d) for d in model_search_dirs()) or "(unset)"
    return ModelError(f"{slot.name}: {slot.filename} is not installed: put it in a folder listed in "
                      f"${MODEL_PATH_ENV} (now {dirs}); it comes from {slot.source}; licence: {slot.licence}")


def _known_file(filename: str) -> ModelEntry | None:
    """The registry entry whose file is called ``filename`` (PFLD_GhostOne_112_1_opt_sim.onnx -> pfld98-ghostone)."""
    for entry in registry().values():
        if not entry.location.startswith("package:") and os.path.basename(entry.location) == filename:
            return entry
    return None


def _sha256(model: ModelSource) -> str:
    return sha256_bytes(model) if isinstance(model, (bytes, bytearray)) else sha256_file(model)


def verify(entry: ModelEntry, model: ModelSource) -> None:
    """Raise ModelError unless the file's sha256 is the entry's."""
    actual = _sha256(model)
    if actual != entry.sha256:
        where = model if isinstance(model, str) else entry.location
        raise ModelError(
            f"{where}: sha256 mismatch for model '{entry.name}' (expected {entry.sha256}, got {actual}): "
            f"the file is corrupt or a different version; replace it with the original from {entry.source}")


def resolve(name_or_path: str, role: str) -> tuple[ModelEntry, ModelSource]:
    """Find a model by registry name or file path; verify sha256 and role. Returns (entry, bytes or path)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    reg = registry()
    if name_or_path in reg:
        entry = reg[name_or_path]
        model, where = locate(entry)
        if model is None:
            raise ModelError(f"model '{entry.name}' not found: looked for {where}; get it from {entry.source} "
                             f"and put it in a folder listed in ${MODEL_PATH_ENV} (licence: {entry.licence})")
        verify(entry, model)
        _check_role(entry, role, where)
        return entry, model
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        known = _known_file(path.name)
        if known is not None and os.sep not in name_or_path:  # a known file by its bare name: the model path
            return resolve(known.name, role)
        if known is not None:
            raise ModelError(f"{name_or_path}: model file not found; check the path, or put {path.name} (model "
                             f"'{known.name}', from {known.source}) in a ${MODEL_PATH_ENV} folder and pass its name")
        if os.sep in name_or_path or path.suffix:
            raise ModelError(f"{name_or_path}: model file not found; check the path")
        raise ModelError(f"{name_or_path}: unknown model name; see `faceplate models list` or pass a file path")
    model = str(path.resolve())
    actual = sha256_file(model)
    for entry in reg.values():
        if entry.sha256 == actual:
            _check_role(entry, role, path.name)
            return entry, model
    same_name = [e for e in reg.values() if os.path.basename(e.location) == path.name]
    if same_name:
        verify(same_name[0], model)  # raises with expected/actual and the fix
    if path.suffix.lower() in (".pth", ".pt", ".ckpt"):
        raise ModelError(f"{path.name}: a PyTorch checkpoint, not an ONNX model; convert it first "
                         f"(faceplate.onnx_export.third_party) and pass the .onnx")
    contract = infer_contract(model)
    # A user file's name is its absolute path, so a track file naming it can be re-resolved later.
    entry = ModelEntry(name=model, role=contract.role, contract=contract, sha256=actual,
                       licence="unknown (user-supplied file)", source=model, location=model, commercial_use=False)
    _check_role(entry, role, path.name)
    return entry, model


def infer_role(name_or_path: str) -> str:
    """The role of a registry name or model file (by sha256, our metadata or its signature)."""
    reg = registry()
    if name_or_path in reg:
        return reg[name_or_path].role
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        raise ModelError(f"{name_or_path}: neither a model name nor a file; see `faceplate models list`")
    actual = sha256_file(path)
    for entry in reg.values():
        if entry.sha256 == actual:
            return entry.role
    same_name = [e for e in reg.values() if os.path.basename(e.location) == path.name]
    if same_name:
        verify(same_name[0], str(path))
    return infer_contract(str(path)).role


_ROLE_HINT = {
    "detector": "a RetinaFace, SCRFD or YuNet detector ONNX",
    "landmarker": "a PFLD-98, 2d106 or FaceMesh-468 landmarker ONNX",
    "recognizer": "an ArcFace (512-d) or MobileFaceNet (128-d) recognizer ONNX",
    "swapper": "a swapper ONNX",
    "parser": "a face-parser ONNX",
}


def _check_role(entry: ModelEntry, role: str, label: str) -> None:
    if entry.role != role:
        raise ModelError(f"{label}: is a {entry.role} ({entry.contract.family}), not a {role}; pass "
                         f"{_ROLE_HINT[role]} or a {role} name from `faceplate models list`")
