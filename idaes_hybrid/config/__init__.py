"""Configuration files -> checked settings (the config layer).

``run`` reads a unit configuration (``load_run_config``), ``flowsheet`` a flowsheet
configuration (``load_flowsheet_config``), ``optimization`` / ``flowsheet_optimization``
their ``[optimization]`` tables, ``checks`` the value checks they share (``ConfigError``
names the field). The names of ``run`` are available here too
(``from idaes_hybrid.config import load_run_config, ConfigError``), imported on first use.
"""


def __getattr__(name: str):
    import importlib

    if name.startswith("__"):
        raise AttributeError(name)
    try:
        return getattr(importlib.import_module("idaes_hybrid.config.run"), name)
    except AttributeError:
        raise AttributeError(f"module 'idaes_hybrid.config' has no attribute {name!r}") from None
