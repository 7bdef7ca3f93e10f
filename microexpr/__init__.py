"""microexpr: facial micro-expression recognition (MSCNN) as a library and a Snakemake pipeline.

The library is usable on its own; ``workflow_scripts/`` only adapt Snakemake's objects to calls here.
"""

__version__ = "0.1.0"
