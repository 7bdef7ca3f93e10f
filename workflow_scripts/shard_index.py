"""Snakemake adapter: rule shard_index -> microexpr.preprocess.write_shard_index."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # microexpr, also in a conda env

from microexpr.logs import log_to_file
from microexpr.preprocess import write_shard_index

log_to_file(snakemake.log[0])
write_shard_index(list(snakemake.input.shards), snakemake.output[0])
