"""Variant tags: the folder names of cached files.

Every setting that defines a cached file is in its path (readable, or through a short hash), so changing
one re-runs only what depends on it, and switching back finds the old files. EVM settings and training
settings are *variants*: the workflow's ``{evm}`` and ``{model}`` wildcards name them, and a
:class:`Variants` maps each tag back to its settings. The workflow builds one, registers the configured
settings and every study's runs at once (:meth:`Variants.add_studies`) and then freezes it, so the
rules read complete registries whatever order they are included in. The tags are a contract with the
results already on disk: tests/test_variants.py keeps the default configuration's.
"""

from __future__ import annotations

import hashlib
import json


def short_hash(obj) -> str:
    """Six hex digits of the SHA-1 of ``obj`` as sorted JSON: the hash part of every tag."""
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:6]


def _plain_number(x):
    """8.0 -> 8, so alpha 8 and alpha 8.0 name the same cached files."""
    return int(x) if float(x).is_integer() else float(x)


class Variants:
    """The EVM, training and hand-crafted features variants of one workflow run, by tag.

    ``face``: the ``face`` section (with detection on, cropping changes what EVM sees, so ``face_key``, the
    face settings that differ from the original defaults, joins the EVM hash); ``features``: the
    ``features`` section (a hand-crafted method's settings)."""

    def __init__(self, face: dict, face_key: dict, features: dict):
        self.face, self.face_key, self.features_config = face, face_key, features
        self.evm: dict[str, dict] = {}
        self.model: dict[str, dict] = {}
        self.features: dict[str, tuple[str, dict]] = {}  # features tag -> (method, settings)
        self.model_features: dict[str, str] = {}          # model tag of a hand-crafted run -> its features tag
        self._frozen = False

    def _check_open(self):
        if self._frozen:
            raise RuntimeError("the variants are complete (frozen): register variants before the rules read them")

    def add_evm(self, evm: dict) -> str:
        """Tag of an EVM setting, registered."""
        self._check_open()
        evm = {**evm, "alpha": _plain_number(evm["alpha"])}
        hashed = {**evm, "face": self.face_key} if self.face["detect"] else evm
        tag = f"alpha{evm['alpha']:g}-{evm['filter']}-{short_hash(hashed)}"
        self.evm[tag] = evm
        return tag

    def evm_settings(self, tag: str) -> dict:
        """What an EVM tag's hash is of."""
        evm = self.evm[tag]
        return {**evm, "face": self.face_key} if self.face["detect"] else evm

    def add_train(self, train: dict) -> str:
        """Tag of a training setting, registered (with a hand-crafted method's features variant)."""
        from .handcrafted import is_handcrafted, method_settings
        from .train_settings import TrainConfig, with_model_defaults

        self._check_open()
        train = with_model_defaults({**train, "streams": list(train["streams"])})  # one variant, however written
        learned = TrainConfig.tagged(train)
        seed = train["seed"]
        if is_handcrafted(train.get("model")):  # features + SVM: the network's settings play no part
            method = train["model"]
            settings = method_settings(method, self.features_config)
            feat = f"{method}-{short_hash(settings)}"
            self.features[feat] = (method, settings)
            svm = {k: learned.get(k) for k in ("model", "seed", "svm_c", "svm_folds")}
            tag = f"{method}-svm-seed{seed}-{short_hash({**svm, 'features': settings})}"
            self.model_features[tag] = feat
        elif train.get("ensemble"):  # members' settings are in the hash
            tag = f"ensemble{len(train['ensemble'])}-seed{seed}-{short_hash(learned)}"
        elif train.get("choose"):  # so are the candidates'
            tag = f"choose{len(train['choose'])}-seed{seed}-{short_hash(learned)}"
        elif train.get("model", "mscnn") == "mscnn":
            tag = f"{'+'.join(train['streams'])}-{train['sampler']}-w{train['width']}-seed{seed}-{short_hash(learned)}"
        else:  # the small models read the uvs stream; train.streams and width are MSCNN's
            tag = f"{train['model']}-{train.get('sampler') or 'default'}-seed{seed}-{short_hash(learned)}"
        self.model[tag] = train
        return tag

    def model_settings(self, tag: str) -> dict:
        """What a model tag's hash is of (a hand-crafted run's with its features' settings)."""
        model = dict(self.model[tag])
        if tag in self.model_features:
            model["features"] = self.features[self.model_features[tag]][1]
        return model

    def add_studies(self, experiments: dict, evm: dict, train: dict) -> dict[str, list[dict]]:
        """Every study's runs (:func:`microexpr.studies.study_runs`), each with its ``evm`` and ``model`` tags
        registered, by study name."""
        from .studies import STUDIES, study_runs

        out = {}
        for name in STUDIES:
            runs = []
            for run in study_runs(name, experiments, evm, train):
                evm_tag, model_tag = self.add_evm(run.pop("evm_settings")), self.add_train(run.pop("train_settings"))
                runs.append({**run, "evm": evm_tag, "model": model_tag})
            out[name] = runs
        return out

    def freeze(self) -> "Variants":
        self._frozen = True
        return self
