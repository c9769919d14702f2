"""Registers the built-in scorers by importing the modules that define them.

See docs/scorers.md for the table of names, ranges and options.
"""

from __future__ import annotations

from harness.scoring import grounding, labels, overlap, semantic, structured, text

BUILTIN_MODULES = (text, overlap, structured, labels, semantic, grounding)
