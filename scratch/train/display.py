"""What the harness prints and draws: the training loops' progress lines, text charts, text
blocks side by side, and PNG figures (matplotlib is the optional ``plot`` extra; without it a
figure is skipped and its function returns None).

Progress display: one line every ``log_every`` steps and at the end,

    step   200/1000 | loss 1.2345 | lr 2.8e-03 | 41.2k tok/s | ETA 0:00:09

where loss is the mean over the steps since the previous line, tokens/s counts the tokens
fed (B*T per step) over the training time only (the time spent in ``eval_fn`` is left out),
and ETA extrapolates the mean training time per step so far (evaluations not counted).

:class:`MetricsDisplay` is the RLHF loops' (means of named metrics per window of iterations);
both print the time left (:meth:`WindowedDisplay.seconds_left`).
"""

import math
import os
import sys
import tempfile
import time

import numpy as np


def format_seconds(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class WindowedDisplay:
    """What both displays share: a line every ``every`` steps (and at the last), the records
    since the previous line (``window``), and the time left, extrapolated from the mean time per
    step so far with the seconds given to :meth:`exclude` (evaluations) left out."""

    def __init__(self, total_steps, every, out=None):
        self.total_steps, self.every = total_steps, max(1, int(every))
        self.out = sys.stdout if out is None else out
        self.start = time.perf_counter()
        self.excluded_seconds = 0.0
        self.window = []

    def exclude(self, seconds):
        """Leave ``seconds`` (e.g. an evaluation) out of the rates and the time left."""
        self.excluded_seconds += seconds

    def record(self, step, value):
        """Add step ``step``'s (0-based) record; return its window when a line is due, else None."""
        self.window.append(value)
        done = step + 1
        if done % self.every and done != self.total_steps:
            return None
        window, self.window = self.window, []
        return window

    def elapsed(self):
        return time.perf_counter() - self.start - self.excluded_seconds

    def seconds_left(self, step):
        done = step + 1
        return self.elapsed() / done * (self.total_steps - done)

    def print(self, line):
        print(line, file=self.out, flush=True)
        return line


class ProgressDisplay(WindowedDisplay):
    """Prints ``step | loss | lr | tokens/s | ETA`` every ``every`` steps (see the module doc)."""

    def __init__(self, total_steps, every, out=None):
        super().__init__(total_steps, every, out)
        self.tokens = 0

    def update(self, step, loss, lr, n_tokens):
        """Record step ``step`` (0-based); print a line when due. Returns the line or None."""
        self.tokens += n_tokens
        losses = self.record(step, loss)
        if losses is None:
            return None
        return self.print(f"step {step + 1:>{len(str(self.total_steps))}}/{self.total_steps} | "
                          f"loss {np.mean(losses):.4f} | lr {lr:.1e} | "
                          f"{self.tokens / max(self.elapsed(), 1e-9) / 1e3:.1f}k tok/s | "
                          f"ETA {format_seconds(self.seconds_left(step))}")


class MetricsDisplay(WindowedDisplay):
    """Prints a header, then every ``every`` iterations the means of ``columns`` (metric names)
    over the iterations since the last line, and the time left; use as ``log``. A metric an
    iteration does not record prints as ``nan``."""

    SHORT = {"grammatical": "formed", "clip_fraction": "clipped", "approx_kl": "approx kl", "value_loss": "V loss",
             "lm_loss": "LM loss"}  # headers of at most 8 characters (others: the name, cut)

    def __init__(self, iterations, every, columns, out=None, indent="  "):
        super().__init__(iterations, every, out)
        self.columns, self.indent = list(columns), indent
        self.print(indent + f"{'iter':>6}" + "".join(f"{self.SHORT.get(name, name)[:8]:>9}" for name in self.columns)
                   + f"{'ETA':>7}")

    def __call__(self, iteration, metrics):
        window = self.record(iteration, metrics)
        if window is None:
            return
        means = [np.mean([m.get(name, np.nan) for m in window]) for name in self.columns]
        self.print(self.indent + f"{iteration + 1:>6}" + "".join(f"{value:>9.3f}" for value in means)
                   + f"{self.seconds_left(iteration):>6.0f}s")


def text_curve(values, width=60, height=10, label="loss"):
    """A loss curve as lines of text: ``height`` rows, the values averaged into ``width`` columns."""
    for name, value, minimum in (("width", width, 1), ("height", height, 2)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return ""
    columns = np.array_split(values, min(width, values.size))
    means = np.array([c.mean() for c in columns])
    lo, hi = means.min(), means.max()
    span = hi - lo if hi > lo else 1.0
    levels = np.round((means - lo) / span * (height - 1)).astype(int)  # 0 bottom .. height-1 top
    rows = []
    for level in range(height - 1, -1, -1):
        value = lo + span * level / (height - 1)
        rows.append(f"{value:8.3f} |" + "".join("*" if lv == level else " " for lv in levels))
    rows.append(" " * 9 + "+" + "-" * len(levels))
    rows.append(f"{'':9} {label}: {len(values)} steps, first {values[0]:.3f}, last {values[-1]:.3f}")
    return "\n".join(rows)


def text_chart(series, references=None, width=60, height=12, x_label="step"):
    """Several curves and horizontal reference lines in one text plot (shared axes).

    series      {name: (xs, ys)}: each curve is drawn with its own marker (the first letter
                of a distinct symbol set: ``*``, ``o``, ``+``, ``x``, ...), at the columns its
                xs map to on a common x range 0 .. max(xs); a cell where two curves meet
                shows ``@``
    references  {name: value}: a horizontal line of ``-`` across the plot (drawn under the
                curves), labelled at its right end; a point near a line but not on it is
                drawn on the row beside it, on its side (a loss above its floor stays above)
    Returns the lines of text joined by newlines, with a legend of markers.
    """
    for name, value, minimum in (("width", width, 2), ("height", height, 2)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    references = dict(references or {})
    markers, overlap = "*o+x#%&", "@"
    if not series or len(series) > len(markers):
        raise ValueError(f"series must hold 1 to {len(markers)} curves; got {len(series)}")
    curves = {name: (np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)) for name, (xs, ys) in series.items()}
    for name, (xs, ys) in curves.items():
        if xs.shape != ys.shape or xs.ndim != 1 or xs.size == 0:
            raise ValueError(f"series {name!r} needs two 1-D sequences of one non-zero length; got {xs.shape} and {ys.shape}")
    values = np.concatenate([ys for _, ys in curves.values()] + [np.array(list(references.values()), dtype=float)])
    lo, hi = values.min(), values.max()
    span = hi - lo if hi > lo else 1.0
    x_max = max(xs.max() for xs, _ in curves.values()) or 1.0
    row_of = lambda y: int(round((hi - y) / span * (height - 1)))  # 0 = top row  # noqa: E731
    grid = [[" "] * width for _ in range(height)]
    for value in references.values():
        grid[row_of(value)] = ["-"] * width
    reference_rows = {row_of(value): value for value in references.values()}

    def point_row(y):
        """A point's row; never a reference line's row unless it equals that reference: a loss
        above its floor is drawn above the floor's line, however close (rounding would put it on)."""
        row = row_of(y)
        if row in reference_rows and not math.isclose(y, reference_rows[row], rel_tol=1e-9, abs_tol=1e-12):
            row = max(0, row - 1) if y > reference_rows[row] else min(height - 1, row + 1)
        return row

    for marker, (xs, ys) in zip(markers, curves.values()):
        for x, y in zip(xs, ys):
            row, column = point_row(y), min(width - 1, int(round(x / x_max * (width - 1))))
            grid[row][column] = overlap if grid[row][column] in markers + overlap else marker
    labels = {}
    for name, value in references.items():
        labels.setdefault(row_of(value), []).append(f"{name} {value:.3f}")
    lines = [f"{hi - span * row / (height - 1):8.3f} |" + "".join(cells) + (" " + ", ".join(labels[row]) if row in labels else "")
             for row, cells in enumerate(grid)]
    lines.append(" " * 9 + "+" + "-" * width)
    legend = [f"{m} {name}" for m, name in zip(markers, curves)]
    if any(overlap in cells for cells in grid):
        legend.append(f"{overlap} several")
    lines.append(f"{'':9} {x_label} 0 .. {x_max:g};  " + ", ".join(legend))
    return "\n".join(lines)


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
    matplotlib (the optional ``plot`` extra) is not installed.

    Every figure is held to one rule, here rather than in each demo: it has a title and both
    axis labels (say the units there), or ValueError names what is missing; and its legend,
    if it has one, goes outside the axes on the right, never over the data."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    if path is None:
        path = os.path.join(tempfile.mkdtemp(prefix="scratch-"), filename)
    fig, ax = plt.subplots(figsize=size)
    try:
        draw(ax)
        missing = [what for what, text in (("title", ax.get_title()), ("x-axis label", ax.get_xlabel()),
                                           ("y-axis label", ax.get_ylabel())) if not text]
        if missing:
            raise ValueError(f"figure {filename}: no {' and no '.join(missing)} (every figure is titled and "
                             "labels both axes)")
        if ax.get_legend() is not None:
            handles, labels = ax.get_legend_handles_labels()
            ax.get_legend().remove()
            ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                      fontsize="small", frameon=False)
        fig.savefig(path, bbox_inches="tight", dpi=120)
    finally:
        plt.close(fig)
    return path
