"""Installed package versions, for manifests: read from each distribution's metadata header.

`importlib.metadata.version` parses a distribution's whole METADATA file as an e-mail message,
long description included (torch's and transformers' are tens of kilobytes): about 1 ms a
package, a dozen of them before a run's first request. The version is a header line near the
top, so only the header lines are looked at here.
"""

from __future__ import annotations

from importlib import metadata

HEADER_LINES = 64  # the core metadata fields come before the long description


def installed_version(name: str) -> str | None:
    """The installed version of distribution `name`, or None when it is not installed."""
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    for line in text.split("\n", HEADER_LINES)[:HEADER_LINES]:
        if line.startswith("Version:"):
            return line.removeprefix("Version:").strip()
        if not line.strip():
            break  # the headers end at the first blank line
    return dist.version  # an unusual layout: let importlib.metadata parse it
