"""Reading and writing: frame patterns, plates (sequences and video), EXR, stills, the track file."""
