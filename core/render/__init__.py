"""The render pass: per frame, faces swapped by an engine, matted, regrained and composited."""
