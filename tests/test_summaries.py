"""gradviz.summaries: the one-line texts under the figures, from hand-made results."""

from types import SimpleNamespace

import numpy as np

from gradviz.flow import gain_per_layer
from gradviz.summaries import (
    completeness_summary,
    critical_band,
    flow_explorer_summary,
    isometry_summary,
    overflow_message,
    rnn_summary,
    steps_summary,
)


def rnn_stats(signal, forward=None, backward=None):
    return SimpleNamespace(signal_norm=np.asarray(signal, np.float32),
                           first_nonfinite_forward=forward, first_nonfinite_backward=backward)


def test_gain_per_layer_is_the_geometric_mean_factor():
    signal = 3.0 * 0.5 ** np.arange(10)[::-1]  # doubles going forward: halves going back
    assert np.isclose(gain_per_layer(signal), 0.5)
    assert gain_per_layer(np.float32([2.0, 1.0])).dtype == np.float32  # its dtype, kept


def test_rnn_summary_speaks_of_steps_and_its_numbers():
    text = rnn_summary(rnn_stats(0.5 ** np.arange(50)[::-1]), "vanilla", 0.9)
    assert text == ("vanilla RNN, recurrent scale 0.90: going back one step the gradient "
                    "shrinks 0.50x; step 1 gets 1.8e-15 of step 50's gradient.")
    bad = rnn_summary(rnn_stats([np.inf, 1.0], backward=1), "gru", 2.0)
    assert bad == "gru RNN, recurrent scale 2.00: overflow (gradients inf/NaN from step 1 down)."
    assert "layer" not in bad
    assert overflow_message(rnn_stats([1.0]), "step") == ""


def test_flow_explorer_summary_names_the_fixed_point_when_far_from_it():
    stats = SimpleNamespace(signal_norm=np.float64([4.0, 2.0, 1.0]), dead_fraction=np.zeros(3),
                            first_nonfinite_forward=None, first_nonfinite_backward=None)
    near = flow_explorer_summary(stats, 2.0, np.float64([4.0, 2.0, 1.0]), 1.0, 0.0)
    assert near == ("Going back one layer, the signal grows 2.00x; layer 1 gets 4.0e+00 "
                    "of layer 3's signal. Mean-field theory: 2.00x per layer. "
                    "(sigma_w = 1.00, sigma_b = 0.00)")
    far = flow_explorer_summary(stats, 2.0, np.float64([9.0, 3.0, 1.0]), 1.0, 0.0)
    assert "at the fixed point q*" in far and "3.00x per layer over these 3 layers" in far
    assert "Mean-field" not in flow_explorer_summary(stats, None, None, 1.0, 0.0)


def test_critical_band_matches_the_power_law_at_depth_50():
    assert np.isclose(1 - critical_band(50), 50 ** (-1 / 98))
    assert round(1 - critical_band(50), 2) == 0.96


def test_isometry_steps_and_completeness_lines():
    assert isometry_summary("tanh", 3, {"orthogonal": np.array([2.0, 1.0])}) == (
        "tanh, depth 3: orthogonal: largest 2, smallest 1, largest/smallest 2.")
    assert "round-off rules" in steps_summary("float64", 1e-9, 1e-6, 1e-5, 1e-10, 1e-6)
    assert "truncation rules" in steps_summary("float64", 1e-2, 1e-4, 1e-5, 1e-10, 1e-6)
    assert "the best step" in steps_summary("float32", 1e-3, 1e-4, 1e-3, 1e-4, 1e-3)
    text = completeness_summary(4, 2.0, ["left", "gauss-legendre"], [1e-3, 1e-15])
    assert text == ("4 steps; f(x) - f(baseline) = 2.000; |completeness error|: "
                    "left 1.0e-03, gauss-legendre <2e-12.")


def clip_point(diverged_value):
    from gradviz.experiments import ClipPoint

    loss = {"none": np.array([1.0, np.inf, np.nan]), "value": np.array([1.0, 0.5, 0.25]),
            "global norm": np.array([1.0, 0.6, 0.3])}
    nonfinite = {name: ~np.isfinite(values) for name, values in loss.items()}
    methods = ("value", "global norm")
    return ClipPoint(1.0, loss, nonfinite, {"none": 1, "value": diverged_value,
                                            "global norm": None},
                     dict.fromkeys(methods, 2), {"value": 2, "global norm": 3},
                     dict.fromkeys(methods, 1), {"value": 3.0, "global norm": 1.0},
                     {"value": 12.0, "global norm": 0.0}, 5.0)


def test_clip_outcome_says_how_each_run_went():
    from gradviz.summaries import clip_outcome, clip_summary

    point = clip_point(None)
    assert clip_outcome(point, "none") == "diverged at step 1 (inf/NaN first at step 1)"
    assert clip_outcome(point, "global norm") == "loss 0.3 after 3 steps, clipped 2 of 3 steps"
    assert clip_outcome(point, "value") == ("loss 0.25 after 3 steps, clipped 2 of its 2 "
                                            "finite steps")
    assert clip_outcome(clip_point(1), "value") == ("diverged at step 1, clipped 1 of the 2 "
                                                     "steps up to it")
    text = clip_summary(point, 0.01)
    assert text.startswith("Threshold 1: no clipping: diverged at step 1")
    assert "norm 5 unclipped, 1 by global norm (0° from the gradient" in text
    assert text.endswith("3 by value (12° from the gradient).")
