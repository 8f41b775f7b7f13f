"""Fonts for rendering test labels: the system's DejaVu, else the copy bundled with matplotlib."""

from __future__ import annotations

from pathlib import Path


def dejavu(name: str = "DejaVuSans-Bold.ttf") -> Path:
    system = Path("/usr/share/fonts/truetype/dejavu") / name
    if system.exists():
        return system
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name
