"""Geometry: similarity alignment and templates, the iBUG landmark table, boxes."""
