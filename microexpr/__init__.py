"""microexpr: facial micro-expression recognition (MSCNN) as a library and a Snakemake pipeline.

The library is usable on its own; ``workflow_scripts/`` only adapt Snakemake's objects to calls here.
"""

__version__ = "0.1.0"

import os as _os

if _os.environ.get("MICROEXPR_PLUGINS"):  # a workflow job: load the run's plugins (microexpr.plugins)
    from .plugins import load_from_environment as _load_plugins

    _load_plugins()
