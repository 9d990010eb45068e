"""The answer to a "predict, then look" prompt, behind a button.

    with reveal("Show the measured factor at depth 40"):
        flow = gv.gradient_flow(params, x, y, "sigmoid", depth=40)
        print(f"layer 1 gets {flow.signal_norm[0] / flow.signal_norm[-1]:.0e}")
        gv.claim("the prediction holds within a factor 3", ...)

The block runs when the cell runs, so its claims are checked then (a false one raises at
once, with what was printed so far); what it prints stays hidden until the learner clicks.
A notebook saved after "run all" therefore shows a button, not the answer.
"""

import contextlib
import io

import ipywidgets as widgets
from IPython.display import display


class Reveal(widgets.VBox):
    """A button that shows `text` (once) in the output area below it."""

    def __init__(self, label: str, text: str):
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"label must say what the button shows, got {label!r}")
        self.text = text
        self.button = widgets.Button(description=label, icon="eye",
                                     layout=widgets.Layout(width="auto"))
        self.output = widgets.Output()
        self.button.on_click(self.show)
        super().__init__([self.button, self.output])

    def show(self, _button=None) -> None:
        if not self.output.outputs:
            self.output.append_stdout(self.text)
        self.button.disabled = True

    def __repr__(self) -> str:  # what a viewer without a kernel shows
        return f"[{self.button.description}: a button; run the notebook and click it]"


@contextlib.contextmanager
def reveal(label: str):
    """Run the block now, keep what it prints for a `Reveal` button labelled `label`."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            yield
    except BaseException:
        print(printed.getvalue(), end="")  # the context of a failed claim
        raise
    display(Reveal(label, printed.getvalue()))
