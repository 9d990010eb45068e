"""Chapter 3, fixes: how far batch norm can push one example of a small batch, the singular
values of an orthogonal linear net, what weight decay does through Adam, and two functions
to write: batch norm's forward pass, and one step of SGD with momentum and weight decay.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gradviz.activations import linear
from gradviz.exercises.base import CodeExercise, Exercise
from gradviz.isometry import jacobian_spectra
from gradviz.models import NORM_EPS, first_layer

BN_BATCH = 5  # the batch size of the small-batch exercise


def ch3_bn_small_batch() -> float:
    """The largest |z_hat| batch norm gives one example of a batch of BN_BATCH: measured on
    a unit where that example is an outlier and the others coincide (the extreme case)."""
    z = np.zeros((BN_BATCH, 1))
    z[0] = 1000.0  # one outlier; its normalised value does not depend on how far out
    return float(np.max(np.abs(batch_norm_reference(z))))


def ch3_isometry_top() -> float:
    """The largest singular value of a 40-layer linear orthogonal net with gain 1.05."""
    return float(jacobian_spectra(jax.random.PRNGKey(0), 32, 40, "linear", "orthogonal",
                                  1.05).at(40)[0])


def ch3_weight_decay_adam() -> float:
    """w_after / w_before for w = 2: the first step of add_decayed_weights(0.01) + adam(0.1)
    on a zero loss gradient."""
    optimizer = optax.chain(optax.add_decayed_weights(0.01), optax.adam(0.1))
    params = {"W": np.full((3,), 2.0, np.float32)}
    zero = {"W": np.zeros((3,), np.float32)}
    updates, _ = optimizer.update(zero, optimizer.init(params), params)
    return float(optax.apply_updates(params, updates)["W"][0] / params["W"][0])


# ------------------------------------------------------------------ coding exercises


def batch_norm_reference(z):
    """gradviz's batch norm (no learned gain or shift) on z: (batch, units) -> (batch, units),
    in float64: a first layer with identity weights, zero bias, linear units."""
    with jax.enable_x64(True):
        z = jnp.asarray(z, jnp.float64)
        units = z.shape[1]
        _, z_hat = first_layer(z, jnp.eye(units), jnp.zeros(units), phi=linear, norm="batch")
        return np.asarray(z_hat)


def _batch_norm_cases() -> list[dict]:
    rng = np.random.default_rng(3)
    tiny = np.tile([[0.0], [0.002]], (2, 1))  # variance 1e-6: below eps, eps decides
    return [  # first: a constant unit, and one whose variance is below eps
        {"z": np.hstack([np.full((4, 1), 3.0), tiny, rng.normal(size=(4, 1))])},
        {"z": 3 * rng.normal(size=(6, 4))},
        {"z": 2 * rng.normal(size=(2, 3))},  # a batch of two: +-1 in every unit
        {"z": rng.normal(size=(3, 5)) * [1, 2, 3, 4, 8] + [1, 0, -1, 2, 0.5]},
    ]


def sgd_step_reference(params, grads, velocity, lr, momentum, weight_decay):
    """optax.chain(add_decayed_weights(weight_decay), sgd(lr, momentum)): one step from the
    momentum buffer `velocity`, in float64. params, grads, velocity: dicts of arrays of
    the same shapes. Returns (new params, new velocity)."""
    with jax.enable_x64(True):
        def as64(tree):
            return jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), tree)

        params, grads, velocity = as64(params), as64(grads), as64(velocity)
        optimizer = optax.chain(optax.add_decayed_weights(weight_decay),
                                optax.sgd(lr, momentum=momentum))
        state = optax.tree_utils.tree_set(optimizer.init(params), trace=velocity)
        updates, state = optimizer.update(grads, state, params)
        new_params = optax.apply_updates(params, updates)
        new_velocity = optax.tree_utils.tree_get(state, "trace")
        return (jax.tree.map(np.asarray, new_params), jax.tree.map(np.asarray, new_velocity))


def _sgd_cases() -> list[dict]:
    rng = np.random.default_rng(4)

    def tree():
        return {"W": rng.normal(size=(3, 4)), "b": rng.normal(size=(4,))}

    zero = {"W": np.zeros((3, 4)), "b": np.zeros(4)}
    return [
        {"params": tree(), "grads": tree(), "velocity": tree(), "lr": 0.1, "momentum": 0.9,
         "weight_decay": 0.01},
        {"params": tree(), "grads": tree(), "velocity": zero, "lr": 0.05, "momentum": 0.9,
         "weight_decay": 0.1},  # the first step: the buffer starts at 0
        {"params": tree(), "grads": zero, "velocity": tree(), "lr": 0.1, "momentum": 0.5,
         "weight_decay": 0.2},  # no loss gradient: only the decay and the buffer act
        {"params": tree(), "grads": tree(), "velocity": tree(), "lr": 0.02, "momentum": 0.0,
         "weight_decay": 0.05},  # no momentum: plain SGD with decay
    ]


EXERCISES = [
    Exercise(
        name="ch3_bn_small_batch",
        question=f"Batch norm on a batch of {BN_BATCH} examples: how large can |z_hat|, the "
                 "absolute value of one example's normalised pre-activation, be at most "
                 "(ignoring the small eps)?",
        hint="Over the batch, each unit's normalised values have mean 0 and mean square 1. "
             "To make one of them as large as possible, what must the others be? Then use "
             "the mean square. (Or, once you have written batch_norm (exercise 2), try batches "
             "with one outlier.)",
        truth=ch3_bn_small_batch,
        accepts=lambda answer, truth: abs(float(answer) - truth) <= 0.01,
        because=lambda truth: f"measured {truth:.4f} = sqrt({BN_BATCH} - 1): one outlier "
                              "against equal others. However far out an example lies, batch "
                              f"norm shows it at most sqrt(n - 1) from the mean (1 at n = 2: "
                              "the ±1 of the chapter).",
    ),
    Exercise(
        name="ch3_isometry_top",
        question="A linear network of 40 square layers with orthogonal weights of gain 1.05: "
                 "what is the largest singular value of its input-output Jacobian?",
        hint="Each orthogonal layer multiplies the length of every vector by its gain. What "
             "does a product of 40 of them do? Check with gv.isometry.jacobian_spectra(key, "
             "32, 40, 'linear', 'orthogonal', 1.05).at(40).",
        truth=ch3_isometry_top,
        accepts=lambda answer, truth: abs(float(answer) - truth) <= 0.02 * truth,
        because=lambda truth: f"{truth:.3f} = 1.05^40, and so is the smallest: every "
                              "singular value is the same (dynamical isometry, scaled).",
    ),
    Exercise(
        name="ch3_weight_decay_adam",
        question="Weight decay through Adam: optax.chain(optax.add_decayed_weights(0.01), "
                 "optax.adam(0.1)), on its first step, where the loss gradient is exactly 0: "
                 "by what factor is a weight of 2.0 multiplied?",
        hint="add_decayed_weights(wd) hands Adam the gradient wd * w. On Adam's first step "
             "(bias correction included) its estimates are m̂ = g and v̂ = g², and it steps "
             "by lr * m / (sqrt(v) + eps). What is that for g = wd * w, far above eps?",
        truth=ch3_weight_decay_adam,
        accepts=lambda answer, truth: abs(float(answer) - truth) <= 1e-4,
        because=lambda truth: f"{truth:.4f} = 1 - lr / w: Adam divides the decay term by its "
                              "own size, so every weight steps by lr towards 0 whatever wd "
                              "is (here, where the loss gradient is 0; in training Adam "
                              "divides the decay by the loss gradients' running size, so "
                              "weights with large gradients are decayed less: an extreme "
                              "case of Loshchilov & Hutter's (2019) argument for "
                              "optax.adamw, which applies the decay after Adam's scaling). "
                              "A weight of 0.5 would lose a fifth. With SGD the factor "
                              "would be 1 - lr * wd = 0.999.",
    ),
    CodeExercise(
        name="ch3_batch_norm",
        task="batch_norm(z) returns z normalised per unit over the batch, as gradviz's batch "
             "norm does (no learned gain or shift): (z - mean) / sqrt(var + 1e-5), the mean "
             "and the variance of each unit (column) taken over the examples (rows); z: "
             "(batch, units) -> (batch, units).",
        hint="np.mean(z, axis=0, keepdims=True) and np.var(z, axis=0, keepdims=True): axis 0 "
             "is the batch (axis 1 would be layer norm); np.var divides by n, as batch norm "
             f"does; the eps = {NORM_EPS:g} goes under the square root, next to the variance.",
        reference=batch_norm_reference,
        cases=_batch_norm_cases,
        because="each unit is centred and scaled by its own statistics over the batch; a "
                "unit that is constant over the batch gives 0 (eps keeps it from 0/0), one "
                "whose spread is below sqrt(eps) is scaled down, and a batch of two gives ±1.",
        rtol=1e-4,  # float32 answers (jax.nn.standardize, E[z^2] - E[z]^2) are off by ~1e-5
        atol=1e-4,
    ),
    CodeExercise(
        name="ch3_sgd_step",
        task="sgd_step(params, grads, velocity, lr, momentum, weight_decay) makes the step of "
             "optax.chain(optax.add_decayed_weights(weight_decay), optax.sgd(lr, momentum)) "
             "from the momentum buffer `velocity`: params, grads and velocity are dicts of "
             "arrays of the same shapes; return the tuple (new params, new velocity), both "
             "dicts with the same keys.",
        hint="Per key: the decayed gradient is g + weight_decay * w; optax's buffer adds it "
             "to momentum * velocity (no 1 - momentum factor); the new weight is w - lr * "
             "(new velocity). The decay goes through the buffer like any gradient.",
        reference=sgd_step_reference,
        cases=_sgd_cases,
        because="the decay term is part of the gradient, so it is carried by the momentum "
                "buffer too: once the buffer has settled, a weight the loss leaves alone "
                "shrinks by about lr * weight_decay / (1 - momentum) per step.",
        atol=1e-6,
    ),
]
