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


def update_maps(images, maps, kinds, shape=(8, 8)) -> None:
    """Put new maps into the images of `draw_maps`, with limits that fit each map."""
    for image, values, kind in zip(images, maps, kinds, strict=True):
        values = np.asarray(values, dtype=np.float64).reshape(shape)
        image.set_data(values)
        top = float(np.nanmax(np.abs(values))) if np.any(np.isfinite(values)) else 1.0
        top = top if top > 0 else 1.0
        if kind == "ink":
            image.set_clim(*INK_RANGE)
        elif kind == "signed":
            image.set_clim(-top, top)
        elif kind == "magnitude":
            image.set_clim(0.0, top)
        else:
            low, high = float(np.nanmin(values)), float(np.nanmax(values))
            image.set_clim(low, high if high > low else low + 1.0)


# --------------------------------------------------------------------------- chapter 3: fixes
