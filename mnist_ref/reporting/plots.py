"""PNG plots of bench results (matplotlib, headless): throughput against batch size, training curves."""

from __future__ import annotations

import io

from mnist_ref.store.files import BenchFile, cells


def figure():
    """matplotlib.pyplot on the headless Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png(fig) -> bytes:
    """The figure as PNG bytes (closed after)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    figure().close(fig)
    return buffer.getvalue()


def throughput(files: list[BenchFile]) -> bytes:
    """fit and predict samples/s against batch size, one line per backend, device and mode."""
    plt = figure()
    measured = cells(files)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, hot_path in zip(axes, ("fit", "predict"), strict=True):
        for backend, device, mode in sorted({(k.backend, k.device, k.mode) for k in measured}):
            points = sorted(
                (key.batch_size, paths[hot_path].info.samples_per_s)
                for key, paths in measured.items()
                if (key.backend, key.device, key.mode) == (backend, device, mode)
                and hot_path in paths
                and paths[hot_path].info.samples_per_s is not None
            )
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", label=f"{backend} {device} {mode}")
        ax.set(xscale="log", yscale="log", xlabel="batch size", ylabel="samples/s (median)", title=hot_path)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    return png(fig)


def training_curves(files: list[BenchFile]) -> bytes:
    """Loss and accuracy per epoch of each case's 5-epoch training, train and validation where present."""
    plt = figure()
    measured = cells(files)
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key in sorted(measured):
        fit = measured[key].get("fit")
        history = fit.info.history if fit else None
        if not history:
            continue
        label = key.label
        epochs = range(1, len(history["loss"]) + 1)
        # tuned trains the same math as book, so its curves often lie on book's: draw it dotted on top.
        style = {"marker": "x", "linestyle": ":"} if key.mode == "tuned" else {"marker": "o", "linestyle": "-"}
        line = loss_ax.plot(epochs, history["loss"], label=label, **style)[0]
        if "accuracy" in history:  # the NumPy floor records its loss only
            acc_ax.plot(epochs, history["accuracy"], color=line.get_color(), label=label, **style)
        for ax, key_name in ((loss_ax, "val_loss"), (acc_ax, "val_accuracy")):
            if key_name in history:
                ax.plot(epochs, history[key_name], linestyle="--", alpha=0.6, color=line.get_color())
    loss_ax.set(xlabel="epoch", ylabel="training loss", title="loss")
    acc_ax.set(xlabel="epoch", ylabel="training accuracy", title="accuracy")
    for ax in (loss_ax, acc_ax):
        ax.grid(True, alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    acc_ax.legend(fontsize=7)
    return png(fig)
