"""The FaceSwap node's settings, defined once: from a live node, from a saved .nk, to argv.

``FaceSwapSettings`` is plain data. The host builds it from the node in Nuke (``from_values`` with
the knob readers host.py passes), the farm from the saved script (``from_nk``); both then hand
``analyze_argv``/``render_argv`` to the ``faceplate`` executable. Standard library only: this
module runs inside Nuke's own Python too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

from faceplate.nuke.errors import NodeError
from faceplate.nuke.nk_script import NkNode, NkScript, PathLike, hashes_pattern

BUILTIN_MODELS = ("", "default", "classical")  # the menu's choice of "let render pick the best installed"
# The gizmo's knob defaults, for a farm install that reads a script without gizmos/ (a test keeps them equal).
NK_FALLBACKS = {"smoothing": 1.0, "feather": 0.08, "erode": 0.0}


def cache_paths(cache_dir: str, node_name: str) -> dict[str, str]:
    """Where a FaceSwap node keeps its files (one place, used by the host, farm and gizmo)."""
    base = cache_dir.rstrip("/\\")
    return {
        "track": f"{base}/{node_name}.track.json",
        "patch": f"{base}/patch/{node_name}.####.exr",
        "plate": f"{base}/plate/{node_name}.####.exr",
        "source": f"{base}/source/{node_name}.exr",
        "edits": f"{base}/{node_name}.edits.json",
        "thumbs": f"{base}/thumbs/{node_name}",
    }


def find_plate_read(start: Any, klass: Callable[[Any], str], disabled: Callable[[Any], bool],
                    upstream: Callable[[Any], Any], where: str) -> Optional[Any]:
    """The Read feeding a FaceSwap's plate input, as Nuke evaluates it: Dots and disabled nodes pass
    their input 0 through; a disabled Read gives black, which is refused. None: not a plain Read
    (the plate is pre-rendered). The same walk for live nodes (host) and saved scripts (farm)."""
    src = start
    for _ in range(1000):
        if src is None:
            return None
        cls = klass(src)
        if cls == "Read":
            if disabled(src):
                raise NodeError(f"{where}: the plate Read upstream is disabled (Nuke gives black); enable it")
            return src
        if cls in ("Dot", "Input") or disabled(src):
            src = upstream(src)
            continue
        return None
    raise NodeError(f"{where}: the plate input loops; fix the node graph")


@dataclass
class FaceSwapSettings:
    """Everything ``faceplate analyze``/``render`` need from one FaceSwap node; paths absolute."""
    node: str                    # the node's own name (cache files are named after it)
    cache_dir: str
    plate: str                   # #### pattern
    first: int
    last: int
    sources: list[str] = field(default_factory=list)
    model: Optional[str] = None
    targets: Optional[str] = None        # track ids "1,2" or a reference photo
    target_ref: Optional[str] = None     # a photo of the face to follow (analyze)
    smoothing: float = 1.0
    mask: str = "hull"
    erode: float = 0.0
    feather: float = 0.08
    regions: Optional[str] = None
    parser: Optional[str] = None         # a BiSeNet-style parser: analyze's glasses/hair, --mask parser
    colour_match: bool = True
    regrain: bool = True
    layer: Optional[str] = None
    colourspace: Optional[str] = None
    output: str = "comp"
    out_file: Optional[str] = None
    model_sha256: Optional[str] = None
    track_sha256: Optional[str] = None

    @property
    def paths(self) -> dict[str, str]:
        return cache_paths(self.cache_dir, self.node)

    @property
    def track(self) -> str:
        return self.paths["track"]

    @property
    def patch(self) -> str:
        return self.paths["patch"]

    @property
    def frames(self) -> str:
        return f"{self.first}-{self.last}"

    # -- to argv -----------------------------------------------------------------------------
    def analyze_argv(self, exe: Sequence[str], frames: Optional[str] = None) -> list[str]:
        argv = [*exe, "analyze", self.plate, "--frames", frames or self.frames, "-o", self.track]
        if self.target_ref:
            argv += ["--target-face", self.target_ref]
        argv += ["--smoothing", _num(self.smoothing)]
        if self.parser:
            argv += ["--parser", self.parser]
        argv += _plate_options(self)
        return argv

    def render_argv(self, exe: Sequence[str], frames: Optional[str] = None) -> list[str]:
        argv = [*exe, "render", self.plate, "--track", self.track]
        for source in self.sources:
            argv += ["--source", source]
        if self.model:
            argv += ["--model", self.model]
        argv += ["--frames", frames or self.frames]
        if self.out_file:
            argv += ["--out", self.out_file]
        argv += ["--patch", self.patch]
        if self.targets:
            argv += ["--targets", self.targets]
        argv += ["--mask", self.mask, "--erode", _num(self.erode), "--feather", _num(self.feather)]
        if self.regions:
            argv += ["--regions", self.regions]
        if self.parser and self.mask == "parser":
            argv += ["--parser", self.parser]
        argv.append("--colour-match" if self.colour_match else "--no-colour-match")
        argv.append("--regrain" if self.regrain else "--no-regrain")
        return argv + _plate_options(self)

    # -- from knob values ------------------------------------------------------------------------
    @classmethod
    def from_values(cls, node: str, text: Callable[[str], str], number: Callable[[str], float],
                    path: Callable[[str], Optional[str]], plate: str, first: int, last: int,
                    sources: list[str]) -> "FaceSwapSettings":
        """Build from knob readers: ``text(k)`` the string/menu text, ``number(k)`` a float,
        ``path(k)`` an evaluated absolute path or None. The one knob → setting mapping."""
        cache_dir = path("cache_dir")
        if not cache_dir:
            raise NodeError(f"{node}: the cache folder knob is empty; set 'cache folder' on the FaceSwap node")
        model = path("model_file") or text("model").strip()
        target_ref = path("target_ref")
        return cls(
            node=node.rsplit(".", 1)[-1], cache_dir=cache_dir.rstrip("/\\"), plate=hashes_pattern(plate),
            first=int(first), last=int(last), sources=list(sources),
            model=None if model in BUILTIN_MODELS else model,
            targets=target_ref or text("target").strip() or None, target_ref=target_ref,
            smoothing=number("smoothing"), mask=text("mask_mode") or "hull", erode=number("erode"),
            feather=number("feather"), regions=text("regions").strip() or None, parser=path("parser_file"),
            colour_match=bool(number("colour_match")), regrain=bool(number("regrain")),
            layer=text("layer").strip() or None, colourspace=text("colourspace").strip() or None,
            output=text("output") or "comp", out_file=path("out_file"),
            model_sha256=text("model_sha256").strip() or None, track_sha256=text("track_sha256").strip() or None)

    @classmethod
    def from_nk(cls, nk_path: PathLike, node_name: str) -> "FaceSwapSettings":
        """The node's settings in a saved script, resolved as Nuke would on the machine reading it."""
        script = NkScript.load(nk_path)
        node = script.node(node_name)
        where = f"{node_name} in {script.path}"

        def text(knob: str) -> str:
            return script.string(node, knob)

        def number(knob: str) -> float:
            if knob in ("colour_match", "regrain"):
                return float(script.boolean(node, knob, True))
            return script.number(node, knob, default=NK_FALLBACKS.get(knob))

        def path(knob: str) -> Optional[str]:
            return script.file_path(node, knob)

        cache_dir = path("cache_dir")
        if not cache_dir:
            raise NodeError(f"{where}: the cache folder knob is empty; set it in Nuke (FaceSwap > cache folder) "
                            f"and re-save")
        paths = cache_paths(cache_dir, node.name)
        plate, first, last = _nk_plate(script, node, paths["plate"], where)
        return cls.from_values(node.name, text, number, path, plate, first, last,
                               _nk_sources(script, node, paths["source"]))


def _nk_plate(script: NkScript, node: NkNode, prerendered: str, where: str) -> tuple[str, int, int]:
    """The plate pattern and frame range, as the node in Nuke uses them."""
    def upstream(n: NkNode) -> Optional[NkNode]:
        if n.cls == "Input":  # a group's Input node: the group's matching input
            number = int(script.number(n, "number"))
            return n.parent.inputs[number] if n.parent is not None and number < len(n.parent.inputs) else None
        return n.inputs[0] if n.inputs else None

    read = find_plate_read(upstream(node), lambda n: n.cls, lambda n: script.boolean(n, "disable"), upstream,
                           where)
    root_first, root_last = script.frame_range()
    first = int(script.number(node, "frame_first", default=root_first))
    last = int(script.number(node, "frame_last", default=root_last))
    if read is None:
        return prerendered, first, last
    plate = script.file_path(read, "file")
    if not plate:
        raise NodeError(f"{where}: the plate Read {read.name} has no file; set it in Nuke and re-save")
    # clipped to the Read's frames, as the Nuke node does
    first = max(first, int(script.number(read, "first", default=first)))
    last = min(last, int(script.number(read, "last", default=last)))
    return plate, first, last


def _nk_sources(script: NkScript, node: NkNode, wired: str) -> list[str]:
    sources = [x for x in [script.file_path(node, "source_file")] if x]
    sources += [script.resolve(script.tcl(node, line.strip()), f"{node.name}.extra_sources")
                for line in script.string(node, "extra_sources").splitlines() if line.strip()]
    if not sources and len(node.inputs) > 1 and node.inputs[1] is not None:
        sources = [wired]  # the source input: Submit/Render wrote its frame here (WriteSource)
    return sources


def _plate_options(s: FaceSwapSettings) -> list[str]:
    argv = []
    if s.layer:
        argv += ["--layer", s.layer]
    if s.colourspace:
        argv += ["--colourspace", s.colourspace]
    return argv


def _num(v: float) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() else repr(v)

