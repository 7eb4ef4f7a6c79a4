"""The harness of the course: everything that is never graded.

- ``scratch.impl``       picks the implementation under test (``solutions`` or ``exercises``);
- ``scratch.build``      writes ``exercises/`` from ``solutions/``;
- ``scratch.grade``      the autograder (points per question; its docstring has the design),
  with ``grade_report`` (table, ``-v``, results.json), ``grading_run`` (the judges: pytest
  subprocesses, time limits), ``grading_plugin`` and ``grading_channel`` (signed outcomes),
  ``grading_remote`` (the tests' remote ``impl``) with ``grading_handles``, ``grading_wire``
  (what crosses), ``grading_sandbox`` and ``grading_student`` (the student process),
  ``submission_screen`` (early feedback on what graded code may use) and ``submission``
  (files students hand in);
- ``scratch.release``    the student handout (with ``student_readme.md``);
- ``scratch.gradescope`` Gradescope's autograder zip;
- ``scratch.lectures``   the lecture demo, one module per chapter;
- ``scratch.data``       embedded corpora with known entropy (no downloads);
- ``scratch.gradcheck``  centered finite differences in float64.

Run ``python -m scratch --help`` for the command line.
"""
