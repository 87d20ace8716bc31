"""ISVOS tests run their tiny models on one torch thread (``one_torch_thread`` in tests/conftest.py)."""
import pytest


@pytest.fixture(autouse=True, scope="module")
def _single_thread(one_torch_thread):
    yield
