"""Third-party warnings repeated for every time point and experiment, shown once.

A build function that fixes a feed mole fraction at 0 (below a generic property
package's bound of 1e-20) makes Pyomo warn (W1002) for every time point of every
experiment; the command line shows each such warning once per variable (its index
left out) and counts the rest.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Iterator

#: ``'fs.feed.properties[0.0].mole_frac_comp[C]'`` -> ``'fs.feed.properties[*].mole_frac_comp[*]'``
_INDEX = re.compile(r"\[[^\[\]]*\]")
_QUOTED = re.compile(r"'([^']*)'")


class RepeatedWarnings(logging.Filter):
    """Pass the first record per message shape (quoted component names with their indices
    replaced by ``*``, numbers in the text ignored); count the others in ``suppressed``."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()
        self.suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        names = _QUOTED.findall(text)
        if not names:
            return True
        key = f"{record.name}:{record.levelno}:" + "|".join(_INDEX.sub("[*]", n) for n in names)
        if key in self.seen:
            self.suppressed += 1
            return False
        self.seen.add(key)
        return True


@contextlib.contextmanager
def warnings_once(report: logging.Logger, names: tuple[str, ...] = ("pyomo.core",)) -> Iterator[RepeatedWarnings]:
    """Show the warnings of the loggers ``names`` once per shape while inside; at exit,
    say on ``report`` how many repeats were not shown."""
    filt = RepeatedWarnings()
    loggers = [logging.getLogger(n) for n in names]
    for lg in loggers:
        lg.addFilter(filt)
    try:
        yield filt
    finally:
        for lg in loggers:
            lg.removeFilter(filt)
        if filt.suppressed:
            report.info(f"{filt.suppressed} repeats of the warnings above (the same variables at other "
                        "times or in other experiments) were not shown")
