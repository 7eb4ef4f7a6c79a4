"""The instructor's side: build the handout, grade, and nothing a student needs to read.

- ``build``       writes ``exercises/`` from the reference implementation;
- ``release``     the student handout (with ``student_readme.md``);
- ``gradescope``  Gradescope's autograder zip;
- ``grade``       the autograder's entry (its docstring has the design), ``report`` (the
  table, ``-v``, results.json), ``submission`` (which files are graded) and ``screen``
  (early feedback on what graded code may use);
- ``run``, ``plugin``, ``channel``: the judges (pytest subprocesses, time limits, signed
  outcomes);
- ``remote``, ``handles``, ``wire``: the tests' remote ``impl`` and what crosses;
  ``sandbox`` and ``student``: the student process and what runs in it;
- ``mistakes``: the named mistakes in a failing test's message (the mutants' recorded results).
"""
