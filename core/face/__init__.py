"""Face engine v2 (opt-in with ``render --engine v2``): a source library with performance-matched
selection, the actor's eyes and mouth kept, a matte from both sides, likeness and a 3-D-aware warp.
Its compositing lives in the stage rooms: occlusion and estimate smoothing in analyze (appearance,
occlusion, temporal), shading, multi-band blending, detail and grain in render (finish, blend, grain).
numpy/cv2/scipy only."""
