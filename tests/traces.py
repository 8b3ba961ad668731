"""Where the real captures used by the tests are.

The shared set lives beside the checkout in ``../shared/traces``; more can be
given with ``KERNELKIT_TRACES`` (paths or directories, separated by ``:``).
Nothing here is copied into the repository.
"""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Beside the checkout; a clone elsewhere falls back to the workplace's copy.
SHARED = next(
    (p for p in (REPO.parent / "shared" / "traces", Path("/work/shared/traces")) if p.is_dir()),
    REPO.parent / "shared" / "traces",
)
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".gz", ".zst")


def _captures_in(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in CAPTURE_SUFFIXES and p.is_file())
    return [path] if path.is_file() else []


def shared_traces() -> list[Path]:
    """Every real capture at hand: the shared set, then ``KERNELKIT_TRACES``."""
    found = _captures_in(SHARED)
    for entry in filter(None, os.environ.get("KERNELKIT_TRACES", "").split(":")):
        found += _captures_in(Path(entry))
    return found


def shared_trace(name: str) -> Path:
    """One capture of the shared set by file name; skips the test when absent."""
    import pytest

    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"shared capture {name} is not at {SHARED}")
    return path
