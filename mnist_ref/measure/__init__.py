"""The measuring instruments beside the clock: instruction counts under callgrind (instructions), what else the
machine was doing during a session (contention), and the arithmetic floor of the book's step (speed_of_light).

May import core and plumbing.
"""
