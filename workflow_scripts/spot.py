"""Snakemake adapter: rule spot_videos -> microexpr.spot_eval.evaluate_dataset and write_evaluation."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # microexpr, also in a conda env

from microexpr.logs import log_to_file
from microexpr.longspot import LongSpotSettings
from microexpr.spot_eval import evaluate_dataset, scores_line, synthetic_labels, write_evaluation

log_to_file(snakemake.log[0])
root = snakemake.input.root
result = evaluate_dataset(snakemake.params.dataset, root, settings=LongSpotSettings.from_dict(snakemake.params.method),
                          model_path=snakemake.input.model, labels=synthetic_labels(root), face=snakemake.params.face)
write_evaluation(result, Path(snakemake.output.scores).parent, png=snakemake.params.png, title=snakemake.params.dataset)
print(scores_line(result["scores"]))
