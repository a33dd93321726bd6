"""The results files, both directions: their schemas and validation (schema), reading and grouping bench JSON,
seed sweeps and documents (files), and the run record of `mnist-ref train` (record).

May import core and plumbing. Writers (the bench, sweeps, baseline) and readers (gate, reporting) both go
through here; schema IDs are defined in schema only.
"""
