"""instflow tests run their tiny models on one torch thread (tensors this small lose more to thread sync than they
gain); the fixture itself is the one of the IFR tests."""
import importlib.util
import pathlib

_spec = importlib.util.spec_from_file_location("_ifr_conftest", pathlib.Path(__file__).parents[1] / "ifr" / "conftest.py")
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
single_torch_thread = _mod.single_torch_thread
