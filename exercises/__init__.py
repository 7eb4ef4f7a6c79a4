"""One module per lecture topic, in lecture order: mdp, ngram, nn, optim, rnn, generate,
transformer. In ``solutions/`` the graded code is written out; ``exercises/`` is generated
from it by ``python -m scratch build``, with each graded region replaced by a stub to write."""
