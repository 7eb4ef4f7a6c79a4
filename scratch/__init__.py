"""The harness of the course: everything that is never graded.

- ``scratch.impl``       picks the implementation under test (``solutions`` or ``exercises``);
- ``scratch.build``      writes ``exercises/`` from ``solutions/``;
- ``scratch.grade``      the autograder (pytest in a subprocess, points, Gradescope);
- ``scratch.release``    the student handout;
- ``scratch.lectures``   the lecture demo, one module per chapter;
- ``scratch.data``       embedded corpora with known entropy (no downloads);
- ``scratch.gradcheck``  centered finite differences in float64.

Run ``python -m scratch --help`` for the command line.
"""
