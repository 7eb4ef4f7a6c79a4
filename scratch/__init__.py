"""The harness of the course: everything that is never graded, in one room per reader.

- ``scratch.data``      known-truth sources: corpora with exact entropies, the LLM world,
  instructions and the hidden gold reward (no model code);
- ``scratch.train``     what runs models on data: batches, the training loop and its
  display, the recipes and cached models of chapters 8 to 11, the RLHF loops, checkpoints;
- ``scratch.lectures``  the lecture demo, one module per chapter (``python -m scratch lecture``);
- ``scratch.grading``   the instructor's side: the builder of ``exercises/``, the handout,
  Gradescope's zip and the autograder (its ``grade`` module's docstring has the design);
- ``scratch.impl``      picks the implementation under test (``solutions`` or ``exercises``);
- ``scratch.gradcheck`` centered finite differences in float64.

Run ``python -m scratch --help`` for the command line.
"""
