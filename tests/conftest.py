"""Shared pytest set-up.

IDAES installs its logging handlers on ``sys.stdout`` when it is first imported.
``import idaes_hybrid`` no longer imports IDAES, so the first import could otherwise happen
inside a test whose captured ``sys.stdout`` is closed afterwards; import it here, once.
"""

import idaes  # noqa: F401
