"""The reference implementation: one module per lecture topic. Graded regions are marked
``### BEGIN SOLUTION`` / ``### END SOLUTION``; ``python -m scratch build`` turns them into
the stubs of ``exercises/``."""
