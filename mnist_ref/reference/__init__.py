"""The book's math written out by hand in NumPy (numpy_model) and the oracle that holds every backend's Keras
steps to it (oracle).

May import scale, store, measure, core and plumbing.
"""
