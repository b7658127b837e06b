"""Quiet HiGHS instances: no solver output reaches the user's terminal.

``highspy.Highs()`` prints HiGHS' copyright banner to the process's standard output (file
descriptor 1, from C++) in its constructor, before any option can be set; ``quiet_highs``
points descriptor 1 at /dev/null for the constructor only, then turns the solver's log off.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

import highspy

_FD_LOCK = threading.Lock()


def quiet_highs() -> highspy.Highs:
    """A HiGHS instance with ``output_flag`` off, built without its banner."""
    with _FD_LOCK:
        with contextlib.suppress(AttributeError, ValueError):  # no stdout, or a closed one
            sys.stdout.flush()
        saved = os.dup(1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
            h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(devnull)
    h.setOptionValue("output_flag", False)
    return h
