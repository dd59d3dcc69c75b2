"""Preconditions of the whole suite."""

from __future__ import annotations

import signal
import threading

# The Ctrl-C tests need SIGINT deliverable, as in a terminal. A shell that starts the suite in
# the background without job control (`make test &` in a script, some CI runners) leaves it
# ignored, and every process started from here would inherit that: a Ctrl-C sent to it would
# then never arrive.
if (threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.SIG_IGN):
    signal.signal(signal.SIGINT, signal.default_int_handler)
