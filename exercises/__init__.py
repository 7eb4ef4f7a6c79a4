"""One module per lecture topic, in lecture order: mdp, ngram, nn, optim, rnn, generate,
transformer, and the chapters after them (scaling to dpo). The reference implementation
writes the graded code out; the exercises package is generated from it by
``python -m scratch build``, each graded region replaced by a stub to write. ``_checks``
holds every argument check: given code, which every chapter imports."""
