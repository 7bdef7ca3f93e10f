"""A coded long-video dataset spotted, scored by the MEGC protocol and, with a bundle, recognised: the
evaluation behind ``microexpr spot`` and ``snakemake spot``, and the files and page it leaves."""

from __future__ import annotations

import json
from pathlib import Path

from .io import atomic_path
from .longspot import LongSpotSettings, score_spotting
from .spot_recognise import FrameSource, recognise, spot_source, timeline_figure


def evaluate_dataset(fmt: str, root: str | Path, *, settings: LongSpotSettings | None = None,
                     model_path: str | Path | None = None, labels: dict | None = None, progress: bool = False,
                     face: str = "auto") -> dict:
    """Spot every video of a long-video dataset and score the spots by the MEGC protocol (IoU >= 0.5,
    pooled over the dataset, micro, macro and overall). The method learns nothing, so there is nothing to
    hold out. With a bundle, spotted micro-expressions are classified; with ``labels``
    ({(subject, video, apex frame): class} of the coded micro-expressions, e.g. a synthetic set's ground
    truth), the spot-then-recognise score is the share of coded micro-expressions both spotted and
    correctly classified (MEGC 2022). ``face``: see :func:`find_face`; ``faces`` in the result says, per
    video, what was done. Returns {"scores", "spotted" (DataFrame), "truth", "report", "signals"}."""
    import pandas as pd
    from tqdm import tqdm

    from .datasets.longvideo import get_long_format, load_long_videos
    from .predict import build_model, load_bundle

    long_fmt = get_long_format(fmt)
    videos, truth, report = load_long_videos(fmt, root)
    bundle = load_bundle(model_path) if model_path else None
    model = build_model(bundle) if bundle is not None else None
    rows, signals, faces = [], {}, []
    truth = truth.copy()
    for key in ("onset", "offset"):  # the coded frames in seconds from each video's first frame
        truth[f"{key}_s"] = [0.0] * len(truth)
    for v in tqdm(list(videos.itertuples()), desc=f"spot {fmt}", unit="video", disable=not progress):
        source = FrameSource(v.folder, long_fmt.fps)
        mine = (truth.subject == v.subject) & (truth.video == v.video)
        for key in ("onset", "offset"):
            truth.loc[mine, f"{key}_s"] = [round(source.numbers.index(n) / source.fps, 3) for n in truth.loc[mine, key]]
        signal, found = spot_source(source, settings, face)
        faces.append({"subject": v.subject, "video": v.video, "face": source.face, "box": source.crop,
                      "transform": None if source.transform is None else source.transform.tolist()})
        if bundle is not None:
            found = recognise(bundle, model, source, found)
        signals[(v.subject, v.video)] = signal
        rows += [{"subject": v.subject, "video": v.video, **{k: r[k] for k in r if k != "index"}} for r in found]
    spotted = pd.DataFrame(rows, columns=None if rows else ["subject", "video", "type", "onset", "apex", "offset", "score"])
    scores = score_spotting(spotted, truth)
    matches = scores.pop("matches")
    if labels is not None and bundle is not None:
        coded = truth[truth.type == "micro"]
        correct = 0
        for m in matches:
            if m["type"] != "micro":
                continue
            t = truth.loc[m["truth"]]
            s = spotted.loc[m["spotted"]]
            if labels.get((str(t.subject), str(t.video), int(t.apex))) == s.get("predicted"):
                correct += 1
        scores["spot_then_recognise"] = {"correct": correct, "coded_micro": int(len(coded)),
                                         "share": correct / len(coded) if len(coded) else 0.0}
    scores["videos"] = int(len(videos))
    scores["rows_dropped"] = int((report.action == "dropped").sum())
    return {"scores": scores, "spotted": spotted, "truth": truth, "report": report, "signals": signals,
            "root": str(root), "model": str(model_path) if model_path else None, "faces": faces,
            "synthetic": (Path(root) / "ground_truth" / "events.tsv").is_file()}



def synthetic_labels(root: str | Path) -> dict | None:
    """{(subject, video, apex): class} of the micro-expressions of a synthetic long-video set (None for
    any other root): what spot-then-recognise is scored against."""
    from .datasets.synthetic_long import read_events

    if not (Path(root) / "ground_truth" / "events.tsv").is_file():
        return None
    events = read_events(root)
    return {(r.subject, r.video, int(r.apex)): r.label for r in events[events.type == "micro"].itertuples()}


def write_evaluation(result: dict, out: str | Path, *, png: int = 3, title: str = "") -> Path:
    """An :func:`evaluate_dataset` result as files in ``out``: ``spotted.csv`` (every spot, with its class
    where classified), ``truth.csv`` (the coded intervals), ``report.csv`` (sheet rows dropped or repaired,
    and why), ``scores.json`` and the timelines of the first ``png`` videos."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("spotted", "truth", "report"):
        with atomic_path(out / f"{name}.csv") as tmp:
            result[name].to_csv(tmp, index=False)
    with atomic_path(out / "scores.json") as tmp:
        tmp.write_text(json.dumps(result["scores"], indent=2))
    spotted, truth = result["spotted"], result["truth"]
    timelines = []
    for (subject, video), signal in list(result["signals"].items())[:png]:
        def of(table):
            return table[(table.subject == subject) & (table.video == video)].to_dict("records")

        path = timeline_figure(signal, of(spotted), out / f"timeline_{subject}_{video}.png",
                               title=f"{title} {subject} {video}".strip(), truth=of(truth))
        timelines.append((f"{subject} {video}", path))
    _report_page(result, out, timelines, title)
    return out


def _report_page(result: dict, out: Path, timelines: list, dataset: str) -> Path:
    """``report.html`` (self-contained) and the score table as CSV and LaTeX (``scores.csv``, ``scores.tex``)."""
    import pandas as pd

    from . import __version__
    from .pages import export_tables, git_commit, now_utc, png_data_uri, render, table

    scores, spotted, truth = result["scores"], result["spotted"], result["truth"]
    rows = [{"type": k, **{m: scores[k][m] for m in ("tp", "fp", "fn", "precision", "recall", "f1")}}
            for k in ("micro", "macro", "overall")]
    score_df = pd.DataFrame(rows).rename(columns={"tp": "TP", "fp": "FP", "fn": "FN", "f1": "F1"})
    export_tables({"scores": score_df}, out)
    per_video = []
    for key, signal in result["signals"].items():
        s = spotted[(spotted.subject == key[0]) & (spotted.video == key[1])]  # both tables always have the columns
        t = truth[(truth.subject == key[0]) & (truth.video == key[1])]
        per_video.append({"subject": key[0], "video": key[1], "seconds": f"{len(signal.micro) / signal.fps:.1f}",
                          **{f"{what} {kind}": int((table.type == kind).sum()) for kind in ("micro", "macro")
                             for what, table in (("coded", t), ("spotted", s))}})
    settings = next(iter(result["signals"].values())).settings.to_dict() if result["signals"] else {}
    return render("spotting.html.j2", out / "report.html", title=f"Spotting: {dataset}", dataset=dataset,
                  root=result.get("root", ""), videos=scores["videos"], synthetic=bool(result.get("synthetic")),
                  scores=scores, strs=scores.get("spot_then_recognise"), score_table=table(score_df),
                  video_table=table(pd.DataFrame(per_video)), report_table=table(result["report"]),
                  timelines=[(name, png_data_uri(path)) for name, path in timelines],
                  provenance=table(pd.DataFrame([{"microexpr": __version__, "git commit": git_commit(),
                                                  "written": now_utc(), "model": result.get("model") or "none"}])),
                  settings=json.dumps(settings, indent=1))


def scores_line(scores: dict) -> str:
    """One line of the MEGC scores (and the spot-then-recognise share where there is one)."""
    parts = [f"{k} F1 {scores[k]['f1']:.3f} (P {scores[k]['precision']:.3f}, R {scores[k]['recall']:.3f}; "
             f"TP {scores[k]['tp']}, FP {scores[k]['fp']}, FN {scores[k]['fn']})" for k in ("micro", "macro", "overall")]
    if "spot_then_recognise" in scores:
        s = scores["spot_then_recognise"]
        parts.append(f"spotted and recognised {s['correct']} of {s['coded_micro']} micro-expressions ({s['share']:.3f})")
    return " | ".join(parts)
