"""Chapter 3, fixes: batch norm on a batch of two, the singular values of an orthogonal
linear net, and what weight decay does on a step without gradient.
"""

import jax
import numpy as np
import optax

from gradviz.activations import linear
from gradviz.data import digits
from gradviz.exercises.base import Exercise
from gradviz.isometry import jacobian_spectra
from gradviz.models import first_layer, init_mlp


def ch3_bn_batch_two() -> float:
    """The mean |z_hat| of a batch-normalised first layer on a batch of 2 digits."""
    params = init_mlp(jax.random.PRNGKey(1), 64, 32, 2, 10, init="xavier")
    _, z_hat = first_layer(digits(2).x, params["W_in"], params["b_in"], phi=linear, norm="batch")
    return float(np.mean(np.abs(z_hat)))


def ch3_isometry_top() -> float:
    """The largest singular value of a 40-layer linear orthogonal net with gain 1.05."""
    return float(jacobian_spectra(jax.random.PRNGKey(0), 32, 40, "linear", "orthogonal",
                                  1.05).at(40)[0])


def ch3_weight_decay_factor() -> float:
    """w_after / w_before for one step of add_decayed_weights(0.01) + sgd(0.1), zero gradient."""
    optimizer = optax.chain(optax.add_decayed_weights(0.01), optax.sgd(0.1))
    params = {"W": np.full((3,), 2.0, np.float32)}
    zero = {"W": np.zeros((3,), np.float32)}
    updates, _ = optimizer.update(zero, optimizer.init(params), params)
    return float(optax.apply_updates(params, updates)["W"][0] / params["W"][0])


EXERCISES = [
    Exercise(
        name="ch3_bn_batch_two",
        question="A batch-normalised layer gets a batch of two examples: what is |z_hat|, "
                 "the absolute value of every normalised pre-activation?",
        hint="Batch norm computes, for each unit, (z - mean) / std over the batch. With two "
             "numbers a and b, what are the mean and the standard deviation?",
        truth=ch3_bn_batch_two,
        accepts=lambda answer, truth: abs(float(answer) - truth) <= 0.01,
        because=lambda truth: f"measured {truth:.4f}: the two values sit at mean ± std, so "
                              "each normalises to +1 or -1 (short of 1 only by the eps under "
                              "the square root). The layer keeps one bit per unit.",
    ),
    Exercise(
        name="ch3_isometry_top",
        question="A linear network of 40 square layers with orthogonal weights of gain 1.05: "
                 "what is the largest singular value of its input-output Jacobian?",
        hint="Each orthogonal layer multiplies the length of every vector by its gain. What "
             "does a product of 40 of them do? Check with gv.flow.jacobian_spectra(key, 32, "
             "40, 'linear', 'orthogonal', 1.05).at(40).",
        truth=ch3_isometry_top,
        accepts=lambda answer, truth: abs(float(answer) - truth) <= 0.02 * truth,
        because=lambda truth: f"{truth:.3f} = 1.05^40, and so is the smallest: every "
                              "singular value is the same (dynamical isometry, scaled).",
    ),
    Exercise(
        name="ch3_weight_decay_factor",
        question="SGD with learning rate 0.1 after optax.add_decayed_weights(0.01): on a step "
                 "where the loss gradient is exactly 0, by what factor is every weight "
                 "multiplied?",
        hint="add_decayed_weights(wd) adds wd * w to the gradient; SGD then subtracts "
             "lr times that. Write w_new in terms of w.",
        truth=ch3_weight_decay_factor,
        accepts=lambda answer, truth: abs(float(answer) - truth) <= 1e-5,
        because=lambda truth: f"{truth:.4f} = 1 - lr * wd: each step shrinks every weight "
                              "by the same fraction, whatever the loss says.",
    ),
]
