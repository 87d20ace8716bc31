"""Learning test of the InstMove README (reduced model, synthetic generator, fixed evaluation set): the trained
predictor beats copy-last and linear extrapolation. Slow (minutes on 2 cores); the cheap smoke test is in
test_instmove_training.py."""
import pytest
import torch

from projects.instmove.model import InstMoveNet
from projects.instmove.synthetic import (copy_last, eval_set, evaluate_predictors, linear_extrapolation,
                                         model_predictor, train_on_synthetic)

from instmove_testutils import reduced_cfg


def _learned_iou(step2: str, iterations: int) -> tuple[float, float, float]:
    torch.manual_seed(0)
    net = InstMoveNet(reduced_cfg())
    train_on_synthetic(net, iterations=iterations, seed=0, step2_trainable=step2)
    ev = eval_set()
    return (evaluate_predictors(ev, model_predictor(net)), evaluate_predictors(ev, copy_last),
            evaluate_predictors(ev, linear_extrapolation))


@pytest.mark.slow
def test_lmc_style_step2_beats_baselines_after_300_iterations():
    model, copy, linear = _learned_iou("all_but_memory", 300)
    assert model > copy + 0.10 and model > linear + 0.02


@pytest.mark.slow
def test_paper_step2_matches_linear_after_400_iterations():
    model, copy, linear = _learned_iou("matching_encoder", 400)
    assert model > copy + 0.08 and model >= linear - 0.01
