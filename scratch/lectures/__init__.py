"""The lecture demo, one module per chapter; each defines ``run(impl)`` and prints what the
slides show. ``python -m scratch lecture [CHAPTER ...]`` runs them in lecture order.

A chapter never imports another: the models it needs come from :mod:`scratch.train`
(recipes and cached builders), and nothing outside this package imports a chapter."""

from scratch.train.models import Cache

# The run's cache of trained models (``--cache-dir``, ``--retrain``), set by ``python -m
# scratch lecture`` before the first chapter runs; every chapter asks it for its models.
cache = Cache()
