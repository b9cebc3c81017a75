"""Commands: histogram, objects, obj."""
