"""The settings of the synthetic generators (:mod:`microexpr.datasets.synthetic`, clips;
:mod:`microexpr.datasets.synthetic_long`, long videos), owned here once: the configuration's
``synthetic`` and ``spotting.synthetic`` sections and the ``microexpr synth`` / ``synth-long`` options
are made from these classes (:mod:`microexpr.settings`). Light to import (the command line reads them).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import DatasetError
from .settings import problems, setting

_SEED_HELP = "the same seed writes the same files"


@dataclass
class SynthConfig:
    """Parameters of a synthetic dataset; every field changes the files written."""

    format: str = setting("casme2", "a registered dataset format with a synthetic stand-in")
    subjects: int = setting(6, "subjects to write", minimum=1)
    clips_per_subject: int = setting(8, "clips each subject has", minimum=1)
    seed: int = setting(0, f"random seed ({_SEED_HELP})", minimum=0)
    height: int = setting(170, "frame height, px", minimum=48)
    width: int = setting(140, "frame width, px", minimum=48)
    amplitude: float = setting(1.0, "peak displacement of one AU region at apex, pixels (the lever that makes "
                                    "magnification matter)", minimum=0)
    noise: float = setting(1.5, "sensor noise std in gray levels", minimum=0)
    jitter: float = setting(0.15, "global head jitter std in pixels", minimum=0)
    layout: str = setting("cropped", "CASME II only: cropped (reg_img<N>.jpg) or raw (img<N>.jpg)",
                          choices=("cropped", "raw"))
    sheet_version: str = setting("2019", "CASME II only: 2019 (Subject as text, blank columns) or 2014",
                                 choices=("2019", "2014"))
    quirks: bool = setting(True, "plant the real sheets' odd rows")
    uncropped: bool = setting(False, "faces at random places on frames twice their size")
    subject_motion: float = setting(0.0, "px of a motion of each subject's own in every clip, whatever the class "
                                         "(hard preset)", minimum=0)
    class_variation: float = setting(0.0, "degrees (std): each subject turns each class's motion by its own angle "
                                          "(hard preset)", minimum=0)
    jpeg_quality: int = setting(95, "JPEG quality of the frames", minimum=1, maximum=100)

    def validate(self) -> None:
        from .datasets.formats import get_format

        found = _typed(self, ("subjects", "clips_per_subject", "height", "width"),
                       ("amplitude", "noise", "jitter", "subject_motion", "class_variation")) or problems(self)
        try:
            layout = get_format(self.format).synthetic
            if layout is None:
                found.append(f"format {self.format!r} has no synthetic stand-in")
            elif layout.max_subjects and isinstance(self.subjects, int) and self.subjects > layout.max_subjects:
                found.append(f"{self.format} subject ids allow at most {layout.max_subjects} subjects")
        except DatasetError as exc:
            found.append(f"format: {exc}")
        if found:
            raise DatasetError("synthetic dataset: " + "; ".join(found))


LONG_FORMAT_NAMES = ("casme_sq", "samm_lv")  # microexpr.datasets.longvideo.LONG_FORMATS (a test keeps them equal)


@dataclass
class LongSynthConfig:
    """Parameters of a synthetic long-video dataset; every field changes the files written."""

    format: str = setting("samm_lv", "casme_sq: CAS(ME)^2 (30 fps, colour); samm_lv: SAMM long videos (200 fps, gray)",
                          choices=LONG_FORMAT_NAMES)
    subjects: int = setting(3, "subjects to write", minimum=1)
    videos_per_subject: int = setting(1, "videos each subject has", minimum=1)
    seconds: float = setting(12.0, "length of each video", exclusiveMinimum=0)
    micro_per_video: int = setting(3, "micro-expressions per video", minimum=0)
    macro_per_video: int = setting(1, "macro-expressions per video", minimum=0)
    blinks_per_minute: float = setting(15.0, "blinks (not coded)", minimum=0)
    seed: int = setting(0, f"random seed ({_SEED_HELP})", minimum=0)
    height: int = setting(128, "frame height, px", minimum=48)
    width: int = setting(104, "frame width, px", minimum=48)
    micro_amplitude: float = setting(1.0, "peak displacement of a micro-expression, px (as the clip generator's "
                                          "amplitude)", minimum=0)
    macro_amplitude: float = setting(4.0, "peak displacement of a macro-expression, px", minimum=0)
    blink_amplitude: float = setting(4.0, "eyelid travel of a blink, px", minimum=0)
    drift: float = setting(1.5, "slow head motion, px (std)", minimum=0)
    jitter: float = setting(0.15, "fast head jitter, px (std)", minimum=0)
    noise: float = setting(1.5, "sensor noise, gray levels (std)", minimum=0)
    quirks: bool = setting(True, "plant the real sheets' odd rows")
    uncropped: bool = setting(False, "the face at a random place on a scene twice its size (as a camera sees it)")
    jpeg_quality: int = setting(95, "JPEG quality of the frames", minimum=1, maximum=100)

    def validate(self) -> None:
        found = _typed(self, ("subjects", "videos_per_subject", "height", "width", "micro_per_video", "macro_per_video"),
                       ("seconds", "blinks_per_minute", "micro_amplitude", "macro_amplitude", "blink_amplitude",
                        "drift", "jitter", "noise")) or problems(self)
        if found:
            raise DatasetError("synthetic long videos: " + "; ".join(found))


def _typed(obj, integers: tuple[str, ...], numbers: tuple[str, ...]) -> list[str]:
    """Values of the wrong type (a library caller may pass anything; the schema checks the workflow's)."""
    found = [f"{name} must be an integer, got {getattr(obj, name)!r}" for name in integers
             if not isinstance(getattr(obj, name), int) or isinstance(getattr(obj, name), bool)]
    return found + [f"{name} must be a number, got {getattr(obj, name)!r}" for name in numbers
                    if not isinstance(getattr(obj, name), (int, float)) or isinstance(getattr(obj, name), bool)]
