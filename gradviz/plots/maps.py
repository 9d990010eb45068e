"""Attribution maps as 8 x 8 images: draw_maps(axes, maps, ...) -> images; update_maps."""


import numpy as np
from matplotlib import ticker

MAP_STYLES = {  # kind -> colormap: the input, a magnitude (>= 0), a signed attribution
    "input": "gray_r",
    "ink": "gray_r",
    "magnitude": "viridis",
    "signed": "RdBu_r",
}
INK_RANGE = (0.0, 16.0)  # the raw ink of scikit-learn's digits: 0 blank paper, 16 full ink


def draw_maps(axes, maps, titles, kinds, shape=(8, 8), colorbar=False) -> list:
    """Draw one map per axis as an image of `shape` (each map: shape or flat).

    kinds: "input" (grey, from its min to its max), "ink" (grey, raw ink on the fixed
    scale INK_RANGE: blank paper white), "magnitude" (colour from 0 to its max) or
    "signed" (red positive, blue negative, white 0, symmetric limits). Every map but
    "ink" is scaled to its own largest value; colorbar=True draws each one's scale
    (it follows `update_maps`). Returns the AxesImages for `update_maps`.
    """
    images = []
    for ax, title, kind in zip(axes, titles, kinds, strict=True):
        image = ax.imshow(np.zeros(shape), cmap=MAP_STYLES[kind])
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        if colorbar:
            bar = ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
            bar.ax.tick_params(labelsize=6)
            bar.locator = ticker.MaxNLocator(5)  # kept by the bar when the limits change
            bar.formatter = ticker.FuncFormatter(lambda v, _: f"{v:.2g}")  # 2.5e-06, no offset
        images.append(image)
    update_maps(images, maps, kinds, shape)
    return images


def update_maps(images, maps, kinds, shape=(8, 8), tops=None) -> None:
    """Put new maps into the images of `draw_maps`. A "signed" or "magnitude" map is
    scaled to tops[k] if given (one scale for many maps), else to its own largest value
    rounded up to one significant digit (so that the scale, and its colour bar, changes
    only when the values pass such a number)."""
    for k, (image, values, kind) in enumerate(zip(images, maps, kinds, strict=True)):
        values = np.asarray(values, dtype=np.float64).reshape(shape)
        image.set_data(values)
        largest = float(np.nanmax(np.abs(values))) if np.any(np.isfinite(values)) else 0.0
        top = tops[k] if tops is not None else round_up(largest) if largest > 0 else 1.0
        if kind == "ink":
            image.set_clim(*INK_RANGE)
        elif kind == "signed":
            image.set_clim(-top, top)
        elif kind == "magnitude":
            image.set_clim(0.0, top)
        else:
            low, high = float(np.nanmin(values)), float(np.nanmax(values))
            image.set_clim(low, high if high > low else low + 1.0)


def round_up(value: float) -> float:
    """`value` > 0 rounded up to one significant digit: 0.163 -> 0.2, 3.1 -> 4."""
    unit = 10.0 ** np.floor(np.log10(value))
    return float(unit * np.ceil(value / unit * (1 - 1e-12)))


# --------------------------------------------------------------------------- chapter 3: fixes


def shared_tops(batches) -> list[float]:
    """One colour scale per kind of map over many examples: for each array of maps
    (n_examples, ...), its largest |value| rounded up (`round_up`), 1 where there is none."""
    tops = []
    for batch in batches:
        values = np.abs(np.asarray(batch, dtype=np.float64))
        values = values[np.isfinite(values)]
        tops.append(round_up(float(values.max())) if values.size and values.max() > 0
                    else 1.0)
    return tops
