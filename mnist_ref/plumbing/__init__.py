"""Plumbing every other part stands on: typed errors and exit codes (errors), atomic writes (atomic), and
interrupt-safe processes and children (interrupts).

Owns nothing about MNIST, Keras or results files. Imports nothing from mnist_ref outside this package.
"""
