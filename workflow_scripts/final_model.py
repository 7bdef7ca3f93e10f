"""Snakemake adapter: rule final_model -> microexpr.training.train_final."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # microexpr, also in a conda env

from microexpr.logs import log_to_file
from microexpr.runindex import write_index
from microexpr.training import TrainConfig, final_plan, train_final

log_to_file(snakemake.log[0])
settings = {**snakemake.params.train, "threads": snakemake.threads}
folds = [json.loads(Path(p).read_text()) for p in snakemake.input.folds]
report = json.loads(Path(snakemake.input.report).read_text())
loso = {k: report[k] for k in ("protocol", "n_folds", "n_clips", "pooled", "per_fold_mean", "per_fold_std", "classes")}
loso["report"] = str(Path(snakemake.input.report).parent / "report.html")
cfg, epochs = final_plan(TrainConfig(**settings), folds)
train_final(list(snakemake.input.shards), snakemake.output[0], cfg, epochs=epochs,
            settings=dict(snakemake.params.config), loso=loso)
write_index(Path(snakemake.params.index).parent, snakemake.params.index)  # now with a link to the final model
