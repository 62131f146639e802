"""The sizing sweeps' plot: events lost against the buffer per CPU, one line
a series (matplotlib, the optional extra; trace sizing --plot)."""


def plot_loss(series, path, title):
    """plot_loss - series {label: [(KiB of buffer per CPU, % lost)]}, drawn in
    the order of the labels' keys as given, to the PNG file path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, pts in series.items():
        pts = sorted(pts)
        ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("buffer per CPU (KiB)")
    ax.set_ylabel("events lost (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)
