"""InstMove tests run their tiny models on one torch thread: with tensors this small, thread synchronisation costs more
than it saves (about 5x on the shared 2-core machine). The previous setting is restored after each module."""
import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def single_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
