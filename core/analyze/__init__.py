"""The analyze pass: detection, tracking, smoothing and everything that needs the whole shot."""
