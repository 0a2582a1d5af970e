"""Install size and time: `pip install .` (what a scheduled sweep needs) against `pip install '.[match]'`.

Each variant goes into a fresh virtual environment with pip's cache off, as in a CI container;
the figures are the wall time of the pip command and the size of site-packages afterwards.

    python bench/install_size.py [--variants core,match] [--keep]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VARIANTS = {"core": "", "match": "[match]"}


def directory_size(path: Path) -> int:
    """Bytes of every file under `path` (what `du -s --apparent-size` counts)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def disk_usage(path: Path) -> str:
    """`du -sh` of `path`, as an operator would read it."""
    done = subprocess.run(["du", "-sh", str(path)], capture_output=True, text=True, check=False)
    return done.stdout.split()[0] if done.returncode == 0 and done.stdout else "?"


def measure(variant: str, extra: str, root: Path) -> dict[str, object]:
    env_dir = root / variant
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    before = directory_size(site)
    started = time.perf_counter()
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-cache-dir", f"{REPO}{extra}"],
                   check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    after = directory_size(site)
    probe = ("import importlib.util, sys; "
             "print(','.join(m for m in ('scipy', 'numpy') if importlib.util.find_spec(m)) or '-')")
    solver = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    return {"variant": f"pip install '.{extra}'" if extra else "pip install .", "seconds": seconds,
            "site_packages_mb": after / 1e6, "added_mb": (after - before) / 1e6, "du": disk_usage(site),
            "solver": solver}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated: core, match")
    parser.add_argument("--keep", action="store_true", help="keep the virtual environments (their path is printed)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="issuebot-install-"))
    try:
        rows = [measure(name, VARIANTS[name], root) for name in args.variants.split(",")]
    finally:
        if args.keep:
            print(f"environments kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(f"{'install':<26} {'wall time':>10} {'du -sh':>8} {'site-packages':>14} {'added':>9}  solver")
    for row in rows:
        print(f"{row['variant']:<26} {row['seconds']:>9.1f}s {row['du']:>8} {row['site_packages_mb']:>11.1f} MB "
              f"{row['added_mb']:>6.1f} MB  {row['solver']}")


if __name__ == "__main__":
    main()
