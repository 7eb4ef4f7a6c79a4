"""The lecture demo, one module per chapter; each defines ``run(impl)`` and prints what the
slides show. ``python -m scratch lecture [CHAPTER ...]`` runs them in lecture order."""

import os
import tempfile

# Options of ``python -m scratch lecture`` that the LLM chapters read: where trained models
# are cached (None: scratch.checkpoint.default_cache_dir()), and whether to train again.
settings = {"cache_dir": None, "retrain": False}
retrained = set()  # the cache entries trained again in this run (--retrain)


def retrain(name):
    """Whether to train the cached model ``name`` again: with --retrain, the first time a
    chapter asks for it in this run; the chapters after it reuse the model just trained
    (the SFT and reward chapters start from the pretrained model, the reward one from SFT)."""
    if not settings["retrain"] or name in retrained:
        return False
    retrained.add(name)
    return True


def side_by_side(blocks, titles, gap=4):
    """Text blocks printed next to each other, each under its title."""
    columns = [[title, "-" * len(title), *block.splitlines()] for title, block in zip(titles, blocks)]
    widths = [max(map(len, column)) for column in columns]
    height = max(map(len, columns))
    rows = []
    for i in range(height):
        cells = [(column[i] if i < len(column) else "").ljust(width) for column, width in zip(columns, widths)]
        rows.append((" " * gap).join(cells).rstrip())
    return "\n".join(rows)


def save_png(draw, filename, path=None, size=(5, 3.5)):
    """Draw a figure with ``draw(ax)`` and save it as a PNG: at ``path``, else as ``filename``
    in a new temporary folder (never the current directory). Returns the path, or None when
    matplotlib (the optional ``plot`` extra) is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    if path is None:
        path = os.path.join(tempfile.mkdtemp(prefix="scratch-"), filename)
    fig, ax = plt.subplots(figsize=size)
    draw(ax)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
