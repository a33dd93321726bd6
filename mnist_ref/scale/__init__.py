"""The book's model on more than one device or process: data-parallel layouts and strategies (data_parallel),
worker processes (launch), seed sweeps (sweep) and their Dask cluster (cluster).

May import store, measure, core and plumbing. It wraps the walk-through from outside (a strategy scope, a
data shard, the multi-process predict); core never imports it.
"""
