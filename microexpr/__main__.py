"""Command line: ``microexpr synth ...``, ``synth-long ...``, ``manifest ...``, ``predict ...``, ``spot ...``,
``figures ...``, ``config-reference`` and ``schema`` (the same as ``python -m microexpr ...``).

Exit codes: 0 done; 1 an input or a run failed (the message names the file, row or setting);
2 a usage error (an unknown option or a bad option value)."""

from __future__ import annotations

import argparse
import logging
import sys

from .errors import MicroexprError


def _synth(args: argparse.Namespace) -> None:
    from .datasets.synthetic import generate
    from .settings import from_arguments
    from .synthetic_settings import SynthConfig

    generate(from_arguments(SynthConfig, args), args.out, overwrite=args.overwrite, progress=not args.quiet)
    print(args.out)


def _synth_long(args: argparse.Namespace) -> None:
    from .datasets.synthetic_long import generate_long
    from .settings import from_arguments
    from .synthetic_settings import LongSynthConfig

    generate_long(from_arguments(LongSynthConfig, args), args.out, overwrite=args.overwrite, progress=not args.quiet)
    print(args.out)


def _spot_settings(args: argparse.Namespace):
    from .longspot import LongSpotSettings

    return LongSpotSettings(threshold=args.spot_threshold) if args.spot_threshold else LongSpotSettings()


def _spot(args: argparse.Namespace) -> None:
    from .spot_eval import evaluate_dataset, scores_line, synthetic_labels, write_evaluation

    result = evaluate_dataset(args.dataset, args.root, settings=_spot_settings(args), model_path=args.model,
                              labels=synthetic_labels(args.root), progress=not args.quiet, face=args.face)
    write_evaluation(result, args.out, png=args.png, title=args.dataset)
    print(scores_line(result["scores"]))
    print(f"{result['scores']['videos']} videos, {result['scores']['rows_dropped']} sheet rows dropped -> {args.out}")


def _manifest(args: argparse.Namespace) -> None:
    from .datasets import load_manifest, write_manifest

    classes = args.classes.split(",") if args.classes and "," in args.classes else args.classes
    m = load_manifest(args.dataset, args.root, classes, layout=args.layout, sheet=args.sheet,
                      verify=args.verify, strict=args.strict)
    write_manifest(m, args.out, args.report)
    report = m.attrs["report"]
    print(f"{len(m)} clips, {int((report.action == 'dropped').sum())} rows dropped, "
          f"{int((report.action == 'repaired').sum())} repaired -> {args.out}")


def _predict(args: argparse.Namespace) -> int:
    from .predict import MAX_FRAMES, predict, read_clip_table

    args.max_frames = args.max_frames or MAX_FRAMES
    failed: list[dict] = []
    per_clip = read_clip_table(args.clips) if args.clips else None
    inputs = list(args.inputs) + list(per_clip or {})
    long_inputs = [p for p in inputs if _is_long(p, args, per_clip)]
    if long_inputs:
        _predict_long(args, long_inputs, failed)
    inputs = [p for p in inputs if p not in long_inputs]
    if not inputs:
        return 1 if failed else 0
    results = predict(args.model, inputs, onset=args.onset, apex=args.apex, offset=args.offset, fps=args.fps,
                      out_dir=args.out, png=args.png, max_frames=args.max_frames, failed=failed,
                      progress=len(inputs) > 1, per_clip=per_clip, spotting=args.spotting,
                      uncropped="none" if args.face == "none" else "auto")
    for r in results:
        probs = ", ".join(f"{c} {p:.3f}" for c, p in r["probabilities"].items())
        print(f"{r['input']}: {r['predicted']} ({probs}); onset {r['onset']}, apex {r['apex']}, "
              f"offset {r['offset']}: {r['how']}")
    if args.out:
        print(f"written: {args.out}/predictions.csv, predictions.json" + (" and one PNG per clip" if args.png else ""))
    if failed:  # each was logged as it was skipped
        print(f"{len(failed)} of {len(inputs)} clip(s) failed; the others were classified", file=sys.stderr)
    return 1 if failed else 0


def _is_long(path, args: argparse.Namespace, per_clip: dict | None) -> bool:
    """Whether ``path`` is a long video to spot in: --long / --clip decide, else its length."""
    if args.length != "auto":
        return args.length == "long"
    from .predict import PredictError
    from .spot_recognise import LONG_VIDEO_S, FrameSource

    fps = ((per_clip or {}).get(str(path)) or {}).get("fps") or args.fps
    try:
        return FrameSource(path, fps).seconds > LONG_VIDEO_S
    except PredictError:
        return False  # predict names what is wrong with it


def _predict_long(args: argparse.Namespace, paths: list, failed: list) -> None:
    from .predict import PredictError, build_model, load_bundle, output_names
    from .spot_recognise import predict_long

    bundle = load_bundle(args.model)
    model = build_model(bundle)
    names = dict(zip(map(str, paths), output_names([str(p) for p in paths])))
    for path in paths:
        try:
            result = predict_long(None, path, fps=args.fps, out_dir=args.out, png=args.png,
                                  settings=_spot_settings(args), name=names[str(path)], bundle=bundle, model=model,
                                  face=args.face)
        except PredictError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed.append({"input": str(path), "error": str(exc)})
            continue
        found = result["intervals"]
        print(f"{path}: long video ({result['seconds']:g} s, {result['frames']} frames at {result['fps']:g} fps; "
              f"{result['face']}): {sum(r['type'] == 'micro' for r in found)} micro- and "
              f"{sum(r['type'] == 'macro' for r in found)} macro-expression(s) spotted")
        for r in found:
            if r.get("predicted"):
                probs = ", ".join(f"{c} {r['p_' + c]:.3f}" for c in bundle["classes"])
                what = f"{r['predicted']} ({probs})"
            else:
                what = "not classified: " + r["note"] if r.get("note") else "not classified (macro-expression)"
            print(f"  {r['type']:5s} frames {r['onset']}-{r['apex']}-{r['offset']} "
                  f"({r['onset_s']:.2f}-{r['offset_s']:.2f} s, score {r['score']:.1f}): {what}")
        if args.out:
            from pathlib import Path

            print(f"written: {Path(args.out) / names[str(path)]}_intervals.csv, _intervals.json"
                  + (", _timeline.png" if args.png else ""))


def _figures(args: argparse.Namespace) -> None:
    from .figures import find_metrics, update

    metrics = find_metrics(args.run)
    problems = update(args.files, metrics, check=args.check)
    if args.check and problems:
        print("error: the quoted default-run figures are not the run's (python -m microexpr figures "
              f"{args.run} rewrites them):\n  " + "\n  ".join(problems), file=sys.stderr)
        raise SystemExit(1)
    print(f"{'checked' if args.check else 'written'}: {', '.join(map(str, args.files))} from {metrics}")


def _config_reference(args: argparse.Namespace) -> None:
    from .schema import SCHEMA_PATH, load_yaml, reference_markdown

    print(reference_markdown(load_yaml(SCHEMA_PATH)), end="")


def _schema(args: argparse.Namespace) -> None:
    from .schema import SCHEMA_PATH
    from .schema_writer import render_schema

    text = SCHEMA_PATH.read_text(encoding="utf-8")
    made = render_schema(text)
    if args.check:
        if made != text:
            print(f"error: {SCHEMA_PATH} differs from its settings classes (run `microexpr schema`)", file=sys.stderr)
            raise SystemExit(1)
        print(f"{SCHEMA_PATH}: equal to its settings classes")
        return
    SCHEMA_PATH.write_text(made, encoding="utf-8")
    print(f"written: {SCHEMA_PATH}")


def _format_name(name: str, allow_manifest: bool = False) -> str:
    """A registered dataset format; checked only when a command takes one, so that ``predict`` never
    imports the dataset loaders (and pandas) to build its parser."""
    from .datasets import format_names  # the registered formats (each format's module owns its name)

    names = format_names() + (["manifest"] if allow_manifest else [])
    if name not in names:
        raise argparse.ArgumentTypeError(f"unknown format {name!r}; registered: {', '.join(names)}")
    return name


def _positive(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


from .synthetic_settings import LONG_FORMAT_NAMES  # noqa: E402  (light: the long-video format names)


class _Defaults(argparse.ArgumentDefaultsHelpFormatter):
    """Help that states each option's default, where it has one (not for required options and flags)."""

    def _get_help_string(self, action):
        if action.required or action.default is None or action.default is argparse.SUPPRESS \
                or isinstance(action.default, bool):  # a flag's default is its absence
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="microexpr", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"microexpr {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="command")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text, formatter_class=_Defaults)

    for add in (_synth_parser, _synth_long_parser, _manifest_parser, _predict_parser, _spot_parser, _other_parsers):
        add(command)
    return p


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder (must not exist unless --overwrite)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _synth_parser(command) -> None:
    """microexpr synth: its options are microexpr.synthetic_settings.SynthConfig's settings."""
    from .settings import add_arguments
    from .synthetic_settings import SynthConfig

    s = command("synth", "write a synthetic micro-expression dataset in a real format")
    add_arguments(s, SynthConfig, types_={"format": _format_name})
    _output_options(s)
    s.set_defaults(func=_synth)


def _synth_long_parser(command) -> None:
    """microexpr synth-long: its options are microexpr.synthetic_settings.LongSynthConfig's settings."""
    from .settings import add_arguments
    from .synthetic_settings import LongSynthConfig

    sl = command("synth-long", "write synthetic long videos of faces with coded expressions (CAS(ME)^2 or SAMM long videos)")
    add_arguments(sl, LongSynthConfig, flags={"micro_per_video": "--micro", "macro_per_video": "--macro"})
    _output_options(sl)
    sl.set_defaults(func=_synth_long)


def _manifest_parser(command) -> None:
    """microexpr manifest."""
    m = command("manifest", "load a dataset root into manifest.tsv and a report of bad rows")
    m.add_argument("--dataset", type=lambda n: _format_name(n, allow_manifest=True), required=True,
                   help="a registered dataset format, or manifest for a bring-your-own CSV")
    m.add_argument("--root", required=True, help="the dataset's folder (its frames and coding sheet), or the CSV")
    m.add_argument("--classes", default="paper5", help="scheme name, 'all', or labels a,b,c")
    m.add_argument("--layout", default="auto", help="frame layout (CASME II: cropped or raw; auto finds it)")
    m.add_argument("--sheet", default=None, help="the coding workbook to read, where the root holds several")
    m.add_argument("--verify", choices=["exists", "header", "decode"], default="header",
                   help="how far each frame is checked: exists, its header, or a full decode")
    m.add_argument("--strict", action="store_true", help="stop at the first bad row instead of dropping it")
    m.add_argument("--out", required=True, help="manifest file to write (TSV)")
    m.add_argument("--report", required=True, help="report of dropped and repaired rows to write (TSV)")
    m.set_defaults(func=_manifest)


def _predict_parser(command) -> None:
    """microexpr predict."""
    r = command("predict", "classify clips (folders of frames or video files) with a trained bundle")
    r.add_argument("--model", required=True, help="a run's final_model.pt")
    r.add_argument("inputs", nargs="*", help="folders of frames (numbered file names) or video files")
    r.add_argument("--clips", help="a CSV of clips, one row each: path and, where known, onset, apex, offset, fps "
                   "(these override the options below for that clip; paths relative to the CSV's folder)")
    r.add_argument("--onset", type=int, help="onset frame (the number in the file name; for videos 0-based)")
    r.add_argument("--apex", type=int, help="apex frame; spotted from the motion when not given")
    r.add_argument("--offset", type=int, help="offset frame")
    r.add_argument("--fps", type=_positive, help="frame rate (read from a video when it states one)")
    r.add_argument("--out", help="folder for predictions.csv / predictions.json (and PNGs)")
    r.add_argument("--png", action="store_true", help="one figure per clip into --out (named by the clip's path "
                   "below the inputs' common folder): onset, apex, flow image, mask, probabilities")
    from .spotting import DEFAULT_SPOTTING, SPOT_FLOWS

    r.add_argument("--spotting", choices=sorted(SPOT_FLOWS), default=DEFAULT_SPOTTING,
                   help="what measures the motion where the apex is spotted: fd (aligned intensity difference; "
                   "the most accurate on the synthetic clips and 60-300x faster than tvl1), or the tvl1 or "
                   "farneback optical flow (docs/predict.md)")
    r.add_argument("--max-frames", type=int, default=None,
                   help="refuse clips longer than this many frames (default: microexpr.io.MAX_FRAMES)")
    from .spot_recognise import LONG_VIDEO_S

    length = r.add_mutually_exclusive_group()
    length.add_argument("--long", dest="length", action="store_const", const="long",
                        help="treat every input as a long video: spot its intervals, classify each micro-expression")
    length.add_argument("--clip", dest="length", action="store_const", const="clip",
                        help="treat every input as one clip around one expression")
    r.set_defaults(length="auto")
    r.add_argument("--face", choices=["auto", "detect", "none"], default="auto",
                   help="long videos: align the frames by the face found on the first frame (auto: where one is found "
                   "smaller than the frame; detect: a face must be found; none: whole frames); clips: unless none, a "
                   "scene (a face smaller than a face crop on the onset frame) is cut to its face (the faces extra)")
    r.add_argument("--spot-threshold", type=_positive, default=None,
                   help=f"long videos (inputs over {LONG_VIDEO_S:g} s unless --long/--clip): spot peaks above this many "
                   "noise standard deviations (default: microexpr.longspot.LongSpotSettings.threshold)")
    r.add_argument("--plugin", action="append",
                   help="a module name or .py file to load first (repeatable): the plugins the model was trained "
                   "with, where it uses a flow method, stream or model they register")
    r.set_defaults(func=_predict)


def _spot_parser(command) -> None:
    """microexpr spot."""
    sp = command("spot", "spot the intervals of every video of a coded long-video dataset and score them "
                 "(MEGC protocol: IoU >= 0.5)")
    sp.add_argument("--dataset", choices=LONG_FORMAT_NAMES, required=True, help="the long-video format")
    sp.add_argument("--root", required=True, help="the dataset's folder (its frames folder and coding sheet)")
    sp.add_argument("--out", required=True, help="folder for spotted.csv, truth.csv, report.csv, scores.json")
    sp.add_argument("--model", help="a run's final_model.pt: classify each spotted micro-expression")
    sp.add_argument("--face", choices=["auto", "detect", "none"], default="auto",
                    help="cut each video to the face found on its first frame (auto: where one is found smaller than "
                    "the frame; detect: a face must be found; none: whole frames)")
    sp.add_argument("--spot-threshold", type=_positive, default=None,
                    help="spot peaks above this many noise standard deviations")
    sp.add_argument("--png", type=int, default=3, help="timeline figures of the first N videos")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    sp.set_defaults(func=_spot)


def _other_parsers(command) -> None:
    """microexpr figures, config-reference and schema."""
    from .figures import DEFAULT_FILES

    f = command("figures", "write (or --check) the default-run figures the README and docs quote")
    f.add_argument("run", help="the run's results folder (results/synthetic_casme2) or its reports/.../metrics.json")
    f.add_argument("files", nargs="*", default=list(DEFAULT_FILES), help="files that quote the figures")
    f.add_argument("--check", action="store_true", help="compare only; exit 1 when a file quotes other figures")
    f.set_defaults(func=_figures)
    c = command("config-reference", "print the configuration reference (markdown) from the schema")
    c.set_defaults(func=_config_reference)
    s = command("schema", "rewrite the configuration schema's sections that the settings classes own (a checkout's "
                "microexpr/schemas/config.schema.yaml)")
    s.add_argument("--check", action="store_true", help="compare only; exit 1 when the file differs")
    s.set_defaults(func=_schema)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "predict" and args.png and not args.out:
        parser.error("predict --png writes its figures into --out: give --out")
    if args.command == "predict" and not args.inputs and not args.clips:
        parser.error("predict needs inputs (folders of frames or videos) or --clips table.csv")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if getattr(args, "plugin", None):
            from .plugins import load

            load(args.plugin)
        return args.func(args) or 0
    except MicroexprError as exc:  # a failed input or run; argparse exits 2 on usage errors itself
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
