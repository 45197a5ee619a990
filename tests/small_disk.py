"""A real small filesystem for disk-full tests: a tmpfs of a few megabytes, filled to a chosen free space.

A synthetic `OSError(ENOSPC)` hides how the writers really fail: safetensors and torch.save raise their
own error types on a full disk, not OSError (issue 24). Mounting needs root (CAP_SYS_ADMIN); the tests
run as root, in CI as here. RLIMIT_FSIZE would need no mount but gives EFBIG (file too large), another
error than a full disk, so it would not test the same thing.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

CHUNK = 1 << 20


class SmallDisk:
    def __init__(self, path: Path, megabytes: int = 16):
        self.path, self.filler = Path(path), Path(path) / "filler"
        self.path.mkdir(parents=True, exist_ok=True)
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(self.path)],
                                 capture_output=True, text=True)
        if mounted.returncode:
            raise AssertionError(f"Could not mount a {megabytes} MB tmpfs at {self.path} (the disk-full tests "
                                 f"need root, as CI has): {mounted.stderr.strip()}")

    def free_bytes(self) -> int:
        stats = os.statvfs(self.path)
        return stats.f_bavail * stats.f_frsize

    def fill(self, leave: int) -> None:
        """Fill the disk completely, then give back `leave` bytes (rounded down to whole blocks)."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            while True:
                try:
                    os.write(fd, b"\0" * CHUNK)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
            size = os.fstat(fd).st_size
            os.ftruncate(fd, max(0, size - leave))
        finally:
            os.close(fd)

    def empty(self) -> None:
        """Space is freed: the filler goes."""
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        subprocess.run(["umount", "--lazy", str(self.path)], check=True)
