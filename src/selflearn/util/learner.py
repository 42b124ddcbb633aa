"""The one estimator base every learner derives from: scikit-learn's contract, plus one manifest.

scikit-learn's `BaseEstimator` gives the parameter half: `__init__` only stores its arguments
under their own names, `get_params` / `set_params` / `sklearn.base.clone` read them from the
signature (no learner spells "my parameters" its own way). The fitted half is the convention
`check_is_fitted` relies on: `fit(...)` returns self and every fitted attribute ends in ``_``;
using an unfitted learner raises `sklearn.exceptions.NotFittedError` (`check_fitted`). Saving
goes through `selflearn.util.manifest`: `write_manifest` records the kind, format, parameters and
feature version beside whatever fields the learner adds; `read_manifest` refuses a directory of
another kind, format or feature version. `tests/test_learner_contract.py` runs the same checks
over every learner listed in `LEARNERS` there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from selflearn.util.manifest import read_manifest, write_manifest

__all__ = ["Learner"]


class Learner(BaseEstimator):  # type: ignore[misc]
    """Base of selflearn's learners (see the module docstring)."""

    #: The manifest's ``kind`` (default: the class name).
    manifest_kind: ClassVar[str | None] = None
    #: The saved directory's layout version; raise it when a change makes old saves unreadable.
    manifest_format: ClassVar[int] = 1
    #: The version of the features the learner is fitted on, when it computes its own.
    feature_version: ClassVar[str | None] = None

    @classmethod
    def kind_name(cls) -> str:
        return cls.manifest_kind or cls.__name__

    def check_fitted(self) -> None:
        """Raise `NotFittedError` unless `fit` (or `load`) has run."""
        check_is_fitted(self)

    def write_manifest(self, directory: str | Path, **fields: Any) -> Path:
        """`directory/manifest.json` for this learner: kind, format, `get_params()`, feature
        version and `fields`."""
        return write_manifest(
            directory,
            self.kind_name(),
            self.get_params(),
            format=self.manifest_format,
            feature_version=self.feature_version,
            **fields,
        )

    @classmethod
    def read_manifest(cls, directory: str | Path) -> dict[str, Any]:
        """The checked manifest of a directory this class saved (`util.manifest.read_manifest`)."""
        return read_manifest(
            directory, cls.kind_name(), formats=(cls.manifest_format,), feature_version=cls.feature_version
        )

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> Any:
        """The unfitted learner a manifest's parameters describe (unknown parameters refused)."""
        return cls(**manifest["params"])
