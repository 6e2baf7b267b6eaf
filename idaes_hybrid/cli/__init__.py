"""The command line (the highest layer): ``idaes-hybrid train|predict|optimize|update|estimate|diagnose``.

``app`` parses the arguments and dispatches; ``common`` holds what the commands share;
one module per command family (``flowsheet``, ``optimize``, ``twin``, ``diagnose``),
``output`` the ``--out`` handling, ``size`` the problem-size check.
"""


def main(argv=None) -> int:
    """Run ``idaes-hybrid`` (see :func:`idaes_hybrid.cli.app.main`)."""
    from idaes_hybrid.cli.app import main as run

    return run(argv)
