"""Make Ultralytics run without the network.

Ultralytics reaches out on import and during training unless told not to: a DNS "is online" probe,
analytics/crash reporting (settings `sync`), font downloads for plots (Arial.ttf), pip
auto-install of missing requirements, and the AMP check that downloads yolo11n.pt. `configure()`
turns all of that off and keeps Ultralytics' settings, fonts and default run folders in a
figmine-owned directory instead of ~/.config.

Call `configure()` before the first `import ultralytics`; calling it again is harmless. If
Ultralytics was already imported, the module-level constants it computed at import time
(`ONLINE`, `AUTOINSTALL`) are overwritten so the guarantees still hold. Always train with
`amp=False` on top (see `TRAIN_OVERRIDES`).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

# Arguments every Ultralytics call in figmine passes: amp=False skips the AMP check (it downloads
# yolo11n.pt); plots=False avoids font look-ups and saves CPU time.
TRAIN_OVERRIDES: dict[str, object] = {"amp": False, "plots": False}

_FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
_configured: Path | None = None


def default_config_dir() -> Path:
    """`$FIGMINE_HOME/ultralytics` (FIGMINE_HOME defaults to `.figmine`, as in figmine.settings)."""
    return Path(os.environ.get("FIGMINE_HOME", ".figmine")).expanduser().resolve() / "ultralytics"


def _bundled_font() -> Path:
    """DejaVuSans.ttf shipped inside matplotlib (found without importing matplotlib)."""
    import importlib.util

    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        raise RuntimeError("matplotlib is needed for a bundled font (DejaVuSans.ttf)")
    return Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"


def configure(config_dir: Path | str | None = None) -> Path:
    """Set Ultralytics up for offline use; return the config dir (YOLO_CONFIG_DIR).

    Idempotent: a second call returns the first call's directory unless a different one is asked for.
    """
    global _configured
    root = Path(config_dir).resolve() if config_dir else default_config_dir()
    if _configured == root and os.environ.get("YOLO_CONFIG_DIR") == str(root):
        return root
    user_dir = root / "Ultralytics"  # Ultralytics appends this sub-folder to YOLO_CONFIG_DIR
    user_dir.mkdir(parents=True, exist_ok=True)
    font = _bundled_font()
    for name in _FONT_NAMES:  # check_font() downloads these unless they are already here
        target = user_dir / name
        if not target.exists():
            shutil.copyfile(font, target)

    os.environ["YOLO_CONFIG_DIR"] = str(root)
    os.environ["YOLO_OFFLINE"] = "1"  # is_online() -> False without a DNS probe
    os.environ["YOLO_AUTOINSTALL"] = "false"  # never pip-install at run time
    os.environ.setdefault("YOLO_VERBOSE", "true")

    _patch_imported_constants()
    from ultralytics import settings  # noqa: PLC0415 - must come after the environment is set

    wanted = {
        "sync": False,  # no analytics / crash reports
        "hub": False,
        "clearml": False,
        "comet": False,
        "dvc": False,
        "mlflow": False,
        "raytune": False,
        "wandb": False,
        "tensorboard": False,
        "datasets_dir": str(root / "datasets"),
        "weights_dir": str(root / "weights"),
        "runs_dir": str(root / "runs"),
    }
    # Keys differ between Ultralytics versions; update() rejects unknown ones.
    settings.update({k: v for k, v in wanted.items() if k in settings})
    _configured = root
    return root


def _patch_imported_constants() -> None:
    """Overwrite import-time constants in Ultralytics modules that were imported before configure()."""
    for name, module in list(sys.modules.items()):
        if not name.startswith("ultralytics") or module is None:
            continue
        if hasattr(module, "ONLINE"):
            module.ONLINE = False
        if hasattr(module, "AUTOINSTALL"):
            module.AUTOINSTALL = False
    if "ultralytics.utils" in sys.modules:
        utils = sys.modules["ultralytics.utils"]
        user_dir = Path(os.environ["YOLO_CONFIG_DIR"]) / "Ultralytics"
        utils.USER_CONFIG_DIR = user_dir
        checks = sys.modules.get("ultralytics.utils.checks")
        if checks is not None and hasattr(checks, "USER_CONFIG_DIR"):
            checks.USER_CONFIG_DIR = user_dir
