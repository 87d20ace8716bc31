"""MODEL_ZOO.md lists every config under configs/ except the unit-test ones (configs/tests/)."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_config_is_in_the_model_zoo():
    text = (ROOT / "MODEL_ZOO.md").read_text()
    configs = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "configs").rglob("*.yaml")
                     if p.relative_to(ROOT / "configs").parts[0] != "tests")
    assert configs
    missing = [c for c in configs if f"`{c}`" not in text]
    assert not missing, f"MODEL_ZOO.md does not list {missing}"
