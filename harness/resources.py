"""The files the harness ships, and where default outputs go.

The only module that knows where the bundled files live: the probe sets
(``probes/*.yaml``, ``probes/groups/``), the default lexicon
(``probes/lexicons/flagged.yaml``), the demo corpora (``corpora/demo/``) and
the demo configs (``configs/demo*.yaml``).

In a source checkout they are the repository's own folders, the paths README
and docs cite.  A wheel carries the same tree inside the package, as
``harness/bundled/`` (pyproject.toml maps the folders in), so the relative
paths inside the demo configs (``../probes/seed.yaml``) resolve alike in both.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from harness.errors import HarnessError

PACKAGE = "harness"
BUNDLE = "bundled"  # the folder inside an installed package (pyproject.toml: package-dir)
DEMO_CONFIGS = ("demo", "demo-three-arms")


def package_dir() -> Path:
    """The folder of the imported ``harness`` package (on disk: zipped installs are not supported)."""
    return Path(str(resources.files(PACKAGE)))


def checkout_root() -> Path | None:
    """The source checkout this package is imported from (editable install, tests), else None."""
    root = package_dir().parent
    return root if (root / "pyproject.toml").is_file() and (root / "probes").is_dir() else None


def bundle_root() -> Path:
    """The folder holding ``probes/``, ``corpora/demo/`` and ``configs/``: installed or checkout."""
    installed = package_dir() / BUNDLE
    if installed.is_dir():
        return installed
    root = checkout_root()
    if root is None:
        raise HarnessError(f"the bundled probe sets and demo files are missing from {package_dir()}: reinstall harness")
    return root


def probes_dir() -> Path:
    """The bundled probe sets (``harness probes validate`` checks them by default)."""
    return bundle_root() / "probes"


def probe_file(name: str) -> Path:
    """One bundled probe set, e.g. ``probe_file("seed.yaml")``."""
    return probes_dir() / name


def default_lexicon() -> Path:
    """The project lexicon every command uses unless given another."""
    return probes_dir() / "lexicons" / "flagged.yaml"


def default_group_rules() -> Path:
    """The vocabulary of the group-contempt rule layer (``harness.analysis.group_rules``)."""
    return probes_dir() / "lexicons" / "negative_predicates.yaml"


def default_pair_rules() -> Path:
    """The vocabulary of the pair rule layer (``harness.analysis.pair_rules``)."""
    return probes_dir() / "lexicons" / "pair_rules.yaml"


def group_lists_dir() -> Path:
    """The group lists (``probes/groups/*.yaml``): probe templates and the group-contempt rules read them."""
    return probes_dir() / "groups"


CLASSIFIER_ENV = "HARNESS_CLASSIFIER"


def default_classifier() -> Path:
    """The default classifier's model folder: ``$HARNESS_CLASSIFIER`` when set (an installed harness's model,
    or none for tests), else where ``make classifier`` builds it (a checkout's ``build/classifier``)."""
    if os.environ.get(CLASSIFIER_ENV):
        return Path(os.environ[CLASSIFIER_ENV]).expanduser()
    root = checkout_root()
    return (root if root is not None else Path.cwd()) / "build" / "classifier"


def detector_quality_file() -> Path:
    """The measured sensitivity/specificity of the bundled detectors (``harness.analysis.prevalence``)."""
    return probes_dir() / "lexicons" / "detector_quality.json"


def demo_config(name: str = "demo") -> Path:
    """A bundled demo config (``configs/demo.yaml``, ``configs/demo-three-arms.yaml``)."""
    if name not in DEMO_CONFIGS:
        raise HarnessError(f"no bundled config '{name}' (bundled: {', '.join(DEMO_CONFIGS)})")
    return bundle_root() / "configs" / f"{name}.yaml"


def reports_dir() -> Path:
    """Where default outputs go: the checkout's ``reports/``, else ``reports/`` in the current folder.

    Never inside an installed package (site-packages).
    """
    root = checkout_root()
    return (root if root is not None else Path.cwd()) / "reports"
