"""Finding a Unicode TrueType font for the PDF: the core fonts of PDF cannot print `ä` or `–`.

Known families are looked for in the usual font folders first, then fontconfig is
asked; `FontNotFound` says what was searched and what to install.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from refnet.events.errors import RefNetError

# Regular and bold file of each family, in order of preference; Debian packages in brackets.
FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("DejaVu Sans", "DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),  # fonts-dejavu-core
    ("Liberation Sans", "LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf"),
    ("Noto Sans", "NotoSans-Regular.ttf", "NotoSans-Bold.ttf"),  # fonts-noto-core
    ("Arial", "arial.ttf", "arialbd.ttf"),
)

FONT_DIRS: tuple[Path, ...] = (
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
    Path.home() / ".local/share/fonts",
    Path.home() / ".fonts",
    Path("/Library/Fonts"),
    Path("/System/Library/Fonts"),
    Path("C:/Windows/Fonts"),
)


class FontNotFound(RefNetError):
    """No Unicode TrueType font could be found for the PDF."""


@dataclass(frozen=True)
class FontPair:
    family: str
    regular: Path
    bold: Path


def _in_folders(dirs: tuple[Path, ...]) -> FontPair | None:
    existing = [d for d in dirs if d.is_dir()]
    for family, regular, bold in FAMILIES:
        for folder in existing:
            found = next(folder.rglob(regular), None)
            if found is not None:
                # Without a bold file the headings are printed in the regular weight.
                return FontPair(family, found, next(found.parent.glob(bold), found))
    return None


def _fc_match(pattern: str) -> Path | None:
    program = shutil.which("fc-match")
    if program is None:
        return None
    try:
        answer = subprocess.run(
            [program, "--format=%{file}", pattern],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    path = Path(answer.stdout.strip())
    # fontconfig always answers something; only a TrueType file fpdf2 can embed will do.
    return (
        path
        if answer.returncode == 0 and path.suffix.lower() == ".ttf" and path.is_file()
        else None
    )


def _from_fontconfig() -> FontPair | None:
    regular = _fc_match("sans-serif:style=Regular:fontformat=TrueType")
    if regular is None:
        return None
    return FontPair(regular.stem, regular, _fc_match("sans-serif:style=Bold") or regular)


def find_fonts(dirs: tuple[Path, ...] = FONT_DIRS, fontconfig: bool = True) -> FontPair:
    """A regular and a bold Unicode TrueType font; FontNotFound names what was searched."""
    found = _in_folders(dirs) or (_from_fontconfig() if fontconfig else None)
    if found is None:
        families = ", ".join(family for family, _, _ in FAMILIES)
        folders = ", ".join(str(d) for d in dirs)
        raise FontNotFound(
            f"pdf: no Unicode TrueType font ({families}) in {folders}"
            + (" nor through fc-match" if fontconfig else "")
            + "; install one, e.g. Debian's fonts-dejavu-core"
        )
    return found
