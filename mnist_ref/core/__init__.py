"""The book's model, step by step: what a run is (config), what judges it (book: every figure and band with its
source), the data (dataset), the model (model), the seven steps (walkthrough), everything framework-specific
(framework) and what the machine and stack were (environment).

May import plumbing only. Nothing here knows about replicas, workers, results files or the gate: distribution
wraps the walk-through from scale.
"""
