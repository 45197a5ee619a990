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


def format_bytes(n: float) -> str:
    """"812 B", "36.0 KB", "48.3 MB", "1.2 GB" (powers of 1000, as disks and downloads count)."""
    for unit in ("B", "KB", "MB"):
        if abs(n) < 1000:
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} GB"
