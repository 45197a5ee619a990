"""Quantities as people read them."""

from __future__ import annotations


def format_duration(seconds: float | None) -> str:
    """"42 s", "3 min 07 s", "2 h 05 min"; "—" when unknown (an ETA before the pace is known)."""
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def format_minutes(minutes: float) -> str:
    """"1 minute", "6 minutes", "2.5 minutes"."""
    return f"{minutes:g} minute" + ("" if minutes == 1 else "s")


def format_passes(passes: float, unit: bool = True) -> str:
    """Passes over a dataset with the precision that keeps a small figure honest: "0.04 passes",
    "1.6 passes", "212 passes" (no "0.0 passes" for 0.04)."""
    number = f"{passes:,.0f}" if passes >= 10 else f"{passes:.1f}" if passes >= 1 else f"{passes:.2g}"
    return f"{number} pass{'' if number == '1.0' else 'es'}" if unit else number


GB = 1e9  # the app counts memory as it counts files (format_bytes): in powers of 1000, the planner included


def format_bytes(n: float) -> str:
    """"812 B", "36.0 KB", "48.3 MB", "1.2 GB": every size of a file or of text the app states.

    Powers of 1000 (1 MB = 1,000,000 bytes), as disks and downloads count. Gradio's upload widget counts
    in powers of 1024 under the same names (a 1.3 MB file is "1.2 MB" there), so the app's upload widgets
    hide that figure (ui/app.py's PAGE_CSS) and the status beside them states the size in this one way."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} TB"
