"""Every input of a run in one place, so that no output can overwrite one.

A run reads its data, a reference, a second sample, a baseline, a weight file, a configuration
file, an image cache, and the images of a folder or a manifest.  :class:`RunInputs` records them
as they become known; :meth:`RunInputs.check_output` refuses an output path (``-o``,
``--output-dir``, ``--write-baseline``, ``--cache``, ``reweigh -o``) that

* is one of the input files, by path, through a symbolic link, or as a hard link (same device
  and inode), or
* lies inside an audited image folder (the next scan would list the report as a skipped file,
  or the report would replace an image).

The refusal is an :class:`OutputClashError` (exit code 2 on the command line) raised before
anything is written.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from .._safe import escape_text
from ..errors import InputFileError

__all__ = ["OutputClashError", "RunInputs", "OUTPUT_IS_INPUT", "OUTPUT_IN_IMAGE_FOLDER"]

#: Message when an output path is an input file ({option}, {path}, {role}, {input}).
OUTPUT_IS_INPUT = ("{option} {path} is the input file {input} (the {role}); writing there would destroy it. "
                   "Choose another path.")
#: Message when an output path lies inside an audited image folder.
OUTPUT_IN_IMAGE_FOLDER = ("{option} {path} lies inside the audited image folder {input}; the report would "
                          "mix with the images. Write it outside that folder.")


class OutputClashError(InputFileError):
    """An output path names an input of the run (or lies inside an audited image folder)."""


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _within(path: str, folder: str) -> bool:
    folder = folder.rstrip(os.sep) or os.sep
    return path == folder or path.startswith(folder + os.sep)


@dataclass
class RunInputs:
    """The input files and audited folders of one run (see the module docstring)."""

    files: list = field(default_factory=list)  # (role, shown path, real path, (dev, ino) or None)
    folders: list = field(default_factory=list)  # (role, shown path, real path)
    _ids: dict = field(default_factory=dict)
    _reals: dict = field(default_factory=dict)

    def add(self, role: str, path) -> None:
        """Record an input file or folder (``None`` and DataFrames are ignored)."""
        if path is None or not isinstance(path, (str, os.PathLike)):
            return
        shown = os.fspath(path)
        real = os.path.realpath(shown)
        if os.path.isdir(real):
            self.folders.append((role, shown, real))
            return
        ident = _identity(real)
        self.files.append((role, shown, real, ident))
        self._reals.setdefault(real, (role, shown))
        if ident is not None:
            self._ids.setdefault(ident, (role, shown))

    def add_images(self, frame, role: str = "audited image") -> None:
        """Record the image folder or the listed images of a loaded frame (``attrs['biasaudit_images']``)."""
        info = getattr(frame, "attrs", {}).get("biasaudit_images")
        if info is None:
            return
        root = os.path.realpath(info.root)
        if any(r == root for _, _, r in self.folders):
            return  # an audited folder: every path inside it is refused already
        for rel in info.paths:
            if rel:
                real = os.path.join(root, rel)
                self._reals.setdefault(real, (role, os.path.join(info.root, rel)))

    def check_output(self, option: str, path) -> None:
        """Raise :class:`OutputClashError` when writing ``path`` would touch an input (see module docstring)."""
        if path is None:
            return
        shown = os.fspath(path)
        real = os.path.realpath(shown)
        hit = self._reals.get(real)
        if hit is None:
            ident = _identity(real)
            if ident is not None:
                hit = self._ids.get(ident)
                if hit is None and os.stat(real).st_nlink > 1:
                    hit = self._hard_link_image(ident)
        if hit is not None:
            raise OutputClashError(OUTPUT_IS_INPUT.format(option=option, path=escape_text(shown, keep_newlines=False),
                                                          role=hit[0], input=escape_text(hit[1], keep_newlines=False)))
        for role, folder_shown, folder in self.folders:
            if role == "data" and _within(real, folder):
                raise OutputClashError(OUTPUT_IN_IMAGE_FOLDER.format(
                    option=option, path=escape_text(shown, keep_newlines=False),
                    input=escape_text(folder_shown, keep_newlines=False)))

    def check_outputs(self, outputs) -> None:
        """:meth:`check_output` over ``(option, path)`` pairs."""
        for option, path in outputs:
            self.check_output(option, path)

    def _hard_link_image(self, ident) -> tuple | None:
        """The listed image that shares ``ident`` (only looked for when the output has several links)."""
        for real, hit in self._reals.items():
            if hit[0] == "audited image" and _identity(real) == ident:
                return hit
        return None
