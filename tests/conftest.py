"""Test settings: kernels run with bounds checking, and the shared real captures."""

import os
import tempfile
from pathlib import Path

# Every array access in a kernel is checked during the tests: an out-of-bounds read
# raises IndexError instead of reading past a packet. Set before Numba is imported;
# the checked builds get their own cache so they never mix with the fast ones.
os.environ.setdefault("NUMBA_BOUNDSCHECK", "1")
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / "kernelkit-numba-boundscheck"))

import pytest  # noqa: E402

from tests.traces import shared_traces  # noqa: E402


@pytest.fixture(scope="session")
def real_traces() -> list[Path]:
    traces = shared_traces()
    if not traces:
        pytest.skip("no real captures: ../shared/traces is absent and KERNELKIT_TRACES is unset")
    return traces
