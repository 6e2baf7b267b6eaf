"""Configuration files -> checked settings (the config layer).

``run`` reads a unit configuration (``load_run_config``), ``flowsheet`` a flowsheet
configuration (``load_flowsheet_config``), ``optimization`` / ``flowsheet_optimization``
their ``[optimization]`` tables, ``checks`` the value checks they share (``ConfigError``
names the field). The names of ``run`` are available here too
(``from idaes_hybrid.config import load_run_config, ConfigError``), imported on first use.
"""


from idaes_hybrid.compat import reexport

__getattr__ = reexport("idaes_hybrid.config", "idaes_hybrid.config.run")
