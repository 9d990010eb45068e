"""Count XLA compilations: the check that moving a control never recompiles."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import jax

# JAX records this event around every backend compilation, and also when the program is
# loaded from its persistent compilation cache instead (JAX_COMPILATION_CACHE_DIR, as
# `make test` sets it): a jitted function's cache miss counts either way.
_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


@dataclass
class CompileLog:
    """Compilations seen inside a `count_compiles()` block: `count` and their `seconds`."""

    seconds: list[float] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.seconds)


@contextmanager
def count_compiles() -> Iterator[CompileLog]:
    """Record every backend compilation that happens inside the `with` block.

    >>> with count_compiles() as log:
    ...     f(x)
    >>> log.count
    """
    log = CompileLog()

    def listener(event: str, duration: float, **_) -> None:
        if event == _COMPILE_EVENT:
            log.seconds.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield log
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
