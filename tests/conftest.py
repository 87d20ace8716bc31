"""Shared fixtures. Tests run on CPU, offline, on the built-in synthetic data."""
import os

import pytest
import torch
from detectron2.data import DatasetCatalog

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs CUDA: no GPU on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for the module (tiny models: thread synchronisation costs more than it saves); the
    previous setting is restored afterwards. Method test folders make it autouse in their conftest."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def register():
    """Register record lists under temporary names; removed after the test."""
    names = []

    def _register(name, records):
        DatasetCatalog.register(name, lambda: records)
        names.append(name)
        return name

    yield _register
    for n in names:
        DatasetCatalog.remove(n)
