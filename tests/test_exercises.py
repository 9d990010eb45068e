import numpy as np
import pytest

from gradviz import exercises
from gradviz.exercises import base, ch1, ch2


def test_vanishing_depth_is_where_the_ratio_crosses():
    ratios = ch1._sigmoid_ratios()
    depth = ch1._vanishing_depth()
    assert ratios[depth - 1] < 1e-10 <= ratios[depth - 2]
    assert exercises.check("ch1_vanishing_depth", depth).correct
    assert exercises.check("ch1_vanishing_depth", depth + 1).correct  # off by one is fine
    wrong = exercises.check("ch1_vanishing_depth", depth + 10)
    assert not wrong.correct and "Hint" in wrong.message and str(depth) not in wrong.message


def test_which_view_vanishes():
    views = ch1._relu_bias_views()
    # the bias holds the activations level going up, so the weight gradient shrinks with
    # the signal (section 3's linear net, whose activations shrank, kept it level)
    assert views["signal"] < 1e-3 and views["weight_grad"] < 1e-3
    assert 0.5 < views["activations"] < 2
    assert ch1._shrinks(views) == "both"
    assert exercises.check("ch1_which_view_vanishes", " Both ").correct
    for wrong in ("signal", "weight_grad", "neither"):  # "signal": section 3's answer
        assert not exercises.check("ch1_which_view_vanishes", wrong).correct


def test_gru_bias_is_checked_by_measuring():
    threshold = ch1._gru_threshold_bias()
    assert ch1._gru_ratio(threshold) >= 0.01 > ch1._gru_ratio(threshold - 0.05)
    assert 0.0 < threshold < 3.0  # bias 0 vanishes, bias 3 keeps the gradient
    assert exercises.check("ch1_gru_bias", threshold + 0.2).correct
    assert exercises.check("ch1_gru_bias", threshold - 0.2).correct
    wrong = exercises.check("ch1_gru_bias", 3.0)  # works, but is not the smallest
    assert not wrong.correct and f"{threshold:.2f}" not in wrong.message
    assert not exercises.check("ch1_gru_bias", 0.0).correct
    assert not exercises.check("ch1_gru_bias", 1.5).correct  # the middle of section 6's [0, 3]
    assert ch1._gru_ratio(3.0) > 100 * ch1._gru_ratio(0.0)
    # the explorer's bias slider moves in steps of 0.25: its first value that keeps 1% is
    # accepted
    on_slider = np.ceil(threshold / 0.25) * 0.25
    assert ch1._gru_ratio(on_slider) >= 0.01 and exercises.check("ch1_gru_bias", on_slider)


def test_no_answer_and_bad_answers():
    for name in exercises.EXERCISES:
        feedback = exercises.check(name, None)
        assert not feedback and feedback.message.startswith("No answer yet")
        # the hint waits until asked for: a saved notebook shows no hint under a question
        assert exercises.hint(name) not in feedback.message
        assert f"For a hint: gv.exercises.hint({name!r})" in feedback.message
    assert "Could not read" in exercises.check("ch1_vanishing_depth", "deep").message
    with pytest.raises(ValueError, match="unknown exercise 'ch9'; expected one of: ch1_"):
        exercises.check("ch9", 1)
    assert np.isfinite(ch1._gru_ratio(1.0))


def test_chapter_2_exercises_measure_their_answers():
    import jax
    import optax

    from gradviz import theory

    critical = ch2._critical_tanh()
    assert 1.0 < critical < 2.0
    assert float(theory.signal_gain_per_layer(critical, ch2.CRITICAL_BIAS, "tanh")) == \
        pytest.approx(1, abs=1e-3)
    assert exercises.check("ch2_critical_tanh", critical * 1.04).correct
    assert not exercises.check("ch2_critical_tanh", 1.0).correct
    # chapter 3 prints the critical sigma_w at sigma_b = 0.3: that is not this answer
    at_ch3_bias = float(theory.critical_sigma_w(0.3, "tanh"))
    assert not exercises.check("ch2_critical_tanh", round(at_ch3_bias, 3)).correct

    layer = ch2._overflow_layer()
    assert 40 < layer < 60  # 6 ** layer passes float32's 3.4e38 near log(3.4e38) / log(6)
    assert exercises.check("ch2_overflow_layer", layer).correct
    assert not exercises.check("ch2_overflow_layer", 64).correct

    angle = ch2._clip_angle()
    g = ch2.heavy_tailed_gradient()["W"]
    flat = np.ravel(np.asarray(g, np.float64))
    by_hand = np.clip(flat, -ch2.CLIP_VALUE, ch2.CLIP_VALUE)  # clipping by value, by hand
    cosine = by_hand @ flat / (np.linalg.norm(by_hand) * np.linalg.norm(flat))
    assert angle == pytest.approx(np.degrees(np.arccos(cosine)), abs=1e-3)
    assert 30 < angle < 80  # a large turn, and not chapter 2's printed angles (<= 46)
    by_norm = np.ravel(optax.clip_by_global_norm(ch2.CLIP_VALUE).update({"W": g}, ())[0]["W"])
    assert np.degrees(np.arccos(min(1.0, float(by_norm @ flat / (np.linalg.norm(by_norm)
                                                                  * np.linalg.norm(flat)))))) \
        < 0.1  # by norm: no turn
    assert exercises.check("ch2_clip_direction", round(angle, 1)).correct
    assert exercises.check("ch2_clip_direction", angle + 1.9).correct
    for wrong in (0.0, 45.0, angle + 3):  # 0: by norm's; 45: the clip explorer's
        assert not exercises.check("ch2_clip_direction", wrong).correct
    assert "Could not read" in exercises.check("ch2_clip_direction", "global norm").message
    assert jax.numpy.allclose(optax.clip(1.0).update({"w": jax.numpy.array([3.0, 0.1])}, ())[0]
                              ["w"], jax.numpy.array([1.0, 0.1]))  # by value: turned


def test_every_chapter_lists_its_exercises_once_and_the_registry_keeps_them_all():
    from gradviz.exercises import base, ch3, ch3b, ch4, ch5

    chapters = {"ch1": ch1, "ch2": ch2, "ch3": ch3, "ch3b": ch3b, "ch4": ch4, "ch5": ch5}
    names = [e.name for module in chapters.values() for e in module.EXERCISES]
    assert names == list(exercises.EXERCISES)  # in chapter order, none lost, none twice
    for prefix, module in chapters.items():
        assert all(e.name.startswith(prefix + "_") for e in module.EXERCISES)
    with pytest.raises(ValueError, match="two exercises are called 'ch1_gru_bias'"):
        base.registry(ch1.EXERCISES, [exercises.EXERCISES["ch1_gru_bias"]])


# ------------------------------------------------------------------ coding exercises

def _square_cases():
    rng = np.random.default_rng(0)
    return [{"x": rng.normal(size=3)}, {"x": np.array([0.0, -2.0])}]


SQUARE = base.CodeExercise(
    name="toy_square", task="square(x) returns x**2, elementwise.", hint="Multiply.",
    reference=lambda x: x**2, cases=_square_cases, because="x**2 it is.")


def test_a_right_function_passes_every_input():
    feedback = base.judge_code(SQUARE, lambda x: x * x)
    assert feedback and feedback.message == "Right on all 2 inputs: x**2 it is."
    import jax.numpy as jnp
    assert base.judge_code(SQUARE, lambda x: jnp.square(jnp.asarray(x, jnp.float32)))


def test_an_untouched_stub_is_not_attempted_yet_without_an_error():
    def stub(x):
        ...

    def raises(x):
        raise NotImplementedError

    for function in (stub, raises):
        feedback = base.judge_code(SQUARE, function)
        assert not feedback and feedback.message.startswith("Not attempted yet")
        assert SQUARE.task in feedback.message
    assert base.judge_code(SQUARE, None).message.startswith("No answer yet")

    def no_return(x):
        x**2  # noqa: B018 (the learner forgot `return`)

    assert "a `return` is missing" in base.judge_code(SQUARE, no_return).message
    assert base.judge_code(SQUARE, 4).message.startswith("Expected a function, got a number")


def test_a_wrong_function_is_told_the_input_expected_and_got():
    feedback = base.judge_code(SQUARE, lambda x: 2 * x)
    assert not feedback
    assert feedback.message.startswith("On input x=[")
    assert "expected [" in feedback.message and "got [" in feedback.message
    assert "gv.exercises.hint('toy_square')" in feedback.message
    # the first case passes with abs (all x squared are >= 0), the second is caught
    shape = base.judge_code(SQUARE, lambda x: (x**2)[:, None])
    assert "expected shape (3,), got shape (3, 1)" in shape.message
    raised = base.judge_code(SQUARE, lambda x: x.nope)
    assert "your function raised AttributeError" in raised.message
    form = base.judge_code(SQUARE, lambda x: (x**2, x))
    assert "expected an array of shape (3,), got a tuple of 2" in form.message


def test_a_function_that_changes_its_inputs_in_place_is_judged_on_what_it_returns():
    def right_in_place(x):
        x *= x  # changes the caller's array
        return x

    def wrong_in_place(x):
        x += 1.0
        return x  # x + 1: wrong, however the reference then reads x
    assert base.judge_code(SQUARE, right_in_place)
    assert not base.judge_code(SQUARE, wrong_in_place)


def test_a_list_is_read_as_the_tuple_or_array_the_reference_returns():
    two = base.CodeExercise(
        name="toy_two", task="two(a) returns (a.sum(), a * 2).", hint="",
        reference=lambda a: (a.sum(), a * 2), cases=lambda: [{"a": np.arange(3.0)}],
        because="")
    assert base.judge_code(two, lambda a: [a.sum(), list(a * 2)])
    assert "got a list of 3" in base.judge_code(two, lambda a: [a.sum(), a, a]).message


def test_a_large_input_is_shown_by_its_shape():
    big = base.CodeExercise(name="toy_big", task="", hint="", reference=lambda w: w.sum(),
                            cases=lambda: [{"w": np.ones((32, 32))}], because="")
    message = base.judge_code(big, lambda w: 0.0).message
    assert "w=<array of shape (32, 32)>" in message and len(message) < 200


def test_outputs_with_several_parts_are_compared_part_by_part():
    pair = base.CodeExercise(
        name="toy_pair", task="pair(a) returns {'sum': a.sum(), 'max': a.max()}.", hint="",
        reference=lambda a: {"sum": a.sum(), "max": a.max()},
        cases=lambda: [{"a": np.arange(4.0)}], because="")
    assert base.judge_code(pair, lambda a: {"max": a.max(), "sum": a.sum()})
    wrong = base.judge_code(pair, lambda a: {"max": a.max(), "sum": a.mean()})
    assert "expected in ['sum'] 6, got 1.5" in wrong.message
    close = base.judge_code(pair, lambda a: {"max": a.max(), "sum": a.sum() + 1e-4})
    assert "expected in ['sum'] 6, got 6.0001" in close.message  # digits enough to differ
    keys = base.judge_code(pair, lambda a: {"total": a.sum(), "max": a.max()})
    assert "expected a dict with keys ['max', 'sum'], got a dict with keys" in keys.message


def test_every_coding_exercise_accepts_its_reference_and_reports_a_stub():
    code = [e for e in exercises.EXERCISES.values() if isinstance(e, base.CodeExercise)]
    for exercise in code:
        assert exercises.check(exercise.name, exercise.reference), exercise.name

        def stub(*args):
            ...

        assert exercises.check(exercise.name, stub).message.startswith("Not attempted yet")


def test_a_reveal_prints_nothing_until_clicked_and_fails_loudly():
    from gradviz.claims import ClaimFailed, claim
    from gradviz.widgets.reveals import Reveal, reveal

    shown = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("gradviz.widgets.reveals.display", shown.append)
        with reveal("Show the answer"):
            print("42")
            claim("the answer is positive", True)
    (button,) = shown
    assert isinstance(button, Reveal) and button.output.outputs == ()
    assert "Show the answer: a button" in repr(button)
    button.button.click()
    assert button.output.outputs[0]["text"] == "42\n✓ the answer is positive\n"
    assert button.button.disabled
    with pytest.raises(ClaimFailed), reveal("Show"):
        claim("one is two", False)
    with pytest.raises(ValueError, match="label must say"):
        Reveal("", "text")
