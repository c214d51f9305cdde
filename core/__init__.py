"""faceplate.core: plates, colour, models, analysis and render. Never imports nuke, Qt or torch."""
from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("faceplate")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
