"""A clip's id, ``dataset/subject/clip``: built and taken apart here only.

The dataset is the format's name (``casme2``, ``samm``, or a bring-your-own CSV's ``dataset`` value), the
subject and clip are the dataset's own names (safe names: no ``/``; see
:func:`microexpr.datasets.manifest.name_problem`). In a composite the run's subject is made distinct
(``casme2_sub01``) while the id keeps the dataset's own, so ``dataset/subject`` names one person.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class SampleId:
    dataset: str
    subject: str
    clip: str

    def __post_init__(self):
        for part in ("dataset", "subject", "clip"):
            value = getattr(self, part)
            if not isinstance(value, str) or not value or "/" in value:
                raise ValueError(f"a sample id's {part} must be a non-empty name without '/', got {value!r}")

    def __str__(self) -> str:
        return f"{self.dataset}/{self.subject}/{self.clip}"

    @property
    def person(self) -> str:
        """``dataset/subject``: one person, whatever the run calls the subject."""
        return f"{self.dataset}/{self.subject}"

    @classmethod
    def parse(cls, text) -> SampleId:
        parts = str(text).split("/")
        if len(parts) != 3:
            raise ValueError(f"sample id {str(text)!r} is not dataset/subject/clip")
        return cls(*parts)
