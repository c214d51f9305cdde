"""Face engine v2 (opt-in with ``render --engine v2``): a source library with performance-matched
selection, the actor's eyes and mouth kept, a matte from both sides, likeness and a 3-D-aware warp;
and the compositing blocks still to be wired in (grain/detail matching, multi-band blending and plate
shading, analyze-side occlusion, smoothing of per-frame estimates). numpy/cv2/scipy only."""
