"""TrainingExplorer, driven from Python: the controls, Play / Step / Reset, and what the
figure shows afterwards (artist data and the summary line), with compilations counted."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gradviz.compiles import count_compiles  # noqa: E402
from gradviz.live import Architecture, Hyper  # noqa: E402
from gradviz.widgets import TrainingExplorer  # noqa: E402


@pytest.fixture(scope="module")
def explorer():
    return TrainingExplorer(arch=Architecture(depth=4, width=32), steps_per_tick=20)


def test_step_trains_and_the_figure_shows_it(explorer):
    explorer.reset()
    assert explorer.summary.value == "press Play or Step to train"
    for _ in range(10):
        explorer.step()
    a = explorer.artists
    steps, loss = a.train_loss.get_data()
    assert explorer.run.step == 200 and len(steps) == 200 and steps[-1] == 199
    assert loss[-20:].mean() < 0.6 * loss[:5].mean()  # the moons are being learned
    assert explorer.summary.value.startswith("step 200: loss")
    heat = np.asarray(a.heat.get_array())
    assert heat.shape == (4, 200)  # layers x steps
    assert [line.get_visible() for line in a.ratios[:5]] == [True] * 4 + [False]
    probability = np.asarray(a.boundary.get_array())
    assert probability.min() < 0.1 and probability.max() > 0.9  # a boundary formed


def test_play_ticks_step_and_reset_starts_over(explorer):
    explorer.reset()
    explorer.play.value += 1  # what the Play widget does on every tick
    explorer.play.value += 1
    assert explorer.run.step == 40
    explorer.step_button.click()
    assert explorer.run.step == 60
    explorer.reset_button.click()
    assert explorer.run.step == 0 and explorer.history is None
    assert len(explorer.artists.train_loss.get_xdata()) == 0


def test_architecture_resets_and_training_controls_act_mid_run(explorer):
    explorer.reset()
    explorer.step()
    explorer.lr.value = 0.001  # an optimizer control: the run goes on
    explorer.optimizer.value = "momentum"
    explorer.step()
    assert explorer.run.step == 40 and explorer.run.optimizer == "momentum"
    explorer.depth.value = 6  # an architecture control: a new run
    assert explorer.run.step == 0 and explorer.history is None
    explorer.step()
    assert np.asarray(explorer.artists.heat.get_array()).shape == (6, 20)
    explorer.optimizer.value, explorer.lr.value, explorer.depth.value = "adam", 0.01, 4


def test_no_control_recompiles_after_its_first_visit(explorer):
    explorer.step()
    explorer.clipping.value = "by value"
    explorer.step()
    explorer.clipping.value = "off"
    with count_compiles() as log:
        for depth in (1, 12, 32, 4):
            explorer.depth.value = depth
            explorer.step()
        explorer.residual.value = True
        explorer.scale.value = 0.5
        explorer.init.value = "orthogonal"
        for clipping in ("by value", "by global norm", "off"):
            explorer.clipping.value = clipping
            explorer.threshold.value = 0.1
            explorer.lr.value = 0.003
            explorer.weight_decay.value = 0.01
            explorer.step()
        explorer.noise.value = 0.4
        explorer.task.value = "xor"
        explorer.step()
    assert log.count == 0
    explorer.task.value, explorer.noise.value, explorer.residual.value = "moons", 0.2, False
    explorer.init.value, explorer.scale.value, explorer.weight_decay.value = "he", 1.0, 0.0


def test_digits_show_accuracy_and_overflow_is_named(explorer):
    explorer.task.value = "digits"
    explorer.step()
    a = explorer.artists
    assert a.accuracy.get_visible() and not a.boundary.get_visible()
    assert len(a.accuracy.get_xdata()) == 20
    explorer.task.value = "moons"
    explorer.init.value, explorer.scale.value = "gaussian", 10.0
    explorer.optimizer.value, explorer.lr.value = "sgd", 3.0
    explorer.step()
    assert a.overflow.get_visible()
    assert "inf/NaN from step" in explorer.summary.value
    explorer.init.value, explorer.scale.value = "he", 1.0
    explorer.optimizer.value, explorer.lr.value = "adam", 0.01


def test_bad_arguments_get_clear_errors():
    with pytest.raises(ValueError, match="steps_per_tick must be in"):
        TrainingExplorer(steps_per_tick=0)
    with pytest.raises(ValueError, match="depth must be in"):
        TrainingExplorer(arch=Architecture(depth=40))
    with pytest.raises(ValueError, match="optimizer"):
        TrainingExplorer(hyper=Hyper(optimizer="lion"))
    with pytest.raises(ValueError, match="expected one of: moons"):
        TrainingExplorer(task="blobs")
    with pytest.raises(ValueError, match="width must be one of"):
        TrainingExplorer(arch=Architecture(width=48))
