"""Command line: ``microexpr synth ...``, ``manifest ...``, ``predict ...``, ``figures ...`` and
``config-reference`` (the same as ``python -m microexpr ...``).

Exit codes: 0 done; 1 an input or a run failed (the message names the file, row or setting);
2 a usage error (an unknown option or a bad option value)."""

from __future__ import annotations

import argparse
import logging
import sys

from .errors import MicroexprError


def _synth(args: argparse.Namespace) -> None:
    from .datasets.synthetic import SynthConfig, generate

    cfg = SynthConfig(
        format=args.format, subjects=args.subjects, clips_per_subject=args.clips_per_subject,
        seed=args.seed, height=args.height, width=args.width, amplitude=args.amplitude,
        noise=args.noise, jitter=args.jitter, layout=args.layout, sheet_version=args.sheet_version,
        quirks=not args.no_quirks, uncropped=args.uncropped, subject_motion=args.subject_motion,
        class_variation=args.class_variation,
    )
    generate(cfg, args.out, overwrite=args.overwrite, progress=not args.quiet)
    print(args.out)


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
    results = predict(args.model, inputs, onset=args.onset, apex=args.apex, offset=args.offset, fps=args.fps,
                      out_dir=args.out, png=args.png, max_frames=args.max_frames, failed=failed,
                      progress=len(inputs) > 1, per_clip=per_clip, spotting=args.spotting)
    for r in results:
        probs = ", ".join(f"{c} {p:.3f}" for c, p in r["probabilities"].items())
        print(f"{r['input']}: {r['predicted']} ({probs}); onset {r['onset']}, apex {r['apex']}, "
              f"offset {r['offset']}: {r['how']}")
    if args.out:
        print(f"written: {args.out}/predictions.csv, predictions.json" + (" and one PNG per clip" if args.png else ""))
    if failed:  # each was logged as it was skipped
        print(f"{len(failed)} of {len(inputs)} clip(s) failed; the others were classified", file=sys.stderr)
    return 1 if failed else 0


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
    from .config import SCHEMA_PATH, load_yaml, reference_markdown

    print(reference_markdown(load_yaml(SCHEMA_PATH)), end="")


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


class _Defaults(argparse.ArgumentDefaultsHelpFormatter):
    """Help that states each option's default, where it has one (not for required options and flags)."""

    def _get_help_string(self, action):
        if action.required or action.default in (None, False, argparse.SUPPRESS):
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    from .figures import DEFAULT_FILES

    from . import __version__

    p = argparse.ArgumentParser(prog="microexpr", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"microexpr {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="command")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text, formatter_class=_Defaults)

    s = command("synth", "write a synthetic micro-expression dataset in a real format")
    s.add_argument("--format", type=_format_name, default="casme2", help="a registered dataset format")
    s.add_argument("--out", required=True, help="output folder (must not exist unless --overwrite)")
    s.add_argument("--subjects", type=int, default=6, help="subjects to write")
    s.add_argument("--clips-per-subject", type=int, default=8, help="clips each subject has")
    s.add_argument("--seed", type=int, default=0, help="random seed (the same seed writes the same dataset)")
    s.add_argument("--height", type=int, default=170, help="frame height, px")
    s.add_argument("--width", type=int, default=140, help="frame width, px")
    s.add_argument("--amplitude", type=float, default=1.0, help="peak AU displacement at apex, px")
    s.add_argument("--noise", type=float, default=1.5, help="sensor noise std, gray levels")
    s.add_argument("--jitter", type=float, default=0.15, help="global head jitter std, px")
    s.add_argument("--layout", choices=["cropped", "raw"], default="cropped", help="CASME II only")
    s.add_argument("--sheet-version", choices=["2019", "2014"], default="2019", help="CASME II only")
    s.add_argument("--no-quirks", action="store_true", help="do not plant the real sheets' odd rows")
    s.add_argument("--uncropped", action="store_true", help="faces at random places on larger frames")
    s.add_argument("--subject-motion", type=float, default=0.0, help="px of a motion of each subject's own in every clip")
    s.add_argument("--class-variation", type=float, default=0.0,
                   help="degrees (std): each subject turns each class's motion by its own angle")
    s.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_synth)

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
                   help="the flow that measures the motion where the apex is spotted: tvl1 or farneback (10-20x "
                   "faster, less often within 5 frames of the true apex on small and large frames: docs/predict.md)")
    r.add_argument("--max-frames", type=int, default=None,
                   help="refuse clips longer than this many frames (default: microexpr.predict.MAX_FRAMES)")
    r.set_defaults(func=_predict)
    f = command("figures", "write (or --check) the default-run figures the README and docs quote")
    f.add_argument("run", help="the run's results folder (results/synthetic_casme2) or its reports/.../metrics.json")
    f.add_argument("files", nargs="*", default=list(DEFAULT_FILES), help="files that quote the figures")
    f.add_argument("--check", action="store_true", help="compare only; exit 1 when a file quotes other figures")
    f.set_defaults(func=_figures)
    c = command("config-reference", "print the configuration reference (markdown) from the schema")
    c.set_defaults(func=_config_reference)
    return p


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
        return args.func(args) or 0
    except MicroexprError as exc:  # a failed input or run; argparse exits 2 on usage errors itself
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
