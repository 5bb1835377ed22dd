#!/usr/bin/env bash
# Build the Linux bundle, dist/workbench: a folder with the app, Python, Qt and llama.cpp that
# runs from anywhere (docs/packaging.md), then smoke-test it (SMOKE=0 skips that).
#   packaging/build-linux.sh            uses .venv (PYTHON=... for another environment)
#   DIST=folder WORK=folder             where the bundle and PyInstaller's work files go
#                                       (default dist/ and build/pyinstaller/)
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
if [ ! -x "$python" ]; then
    echo "no $python: python3 -m venv .venv && .venv/bin/python -m pip install -e '.[bundle]'" >&2
    exit 2
fi
"$python" -m PyInstaller --version >/dev/null 2>&1 || "$python" -m pip install -q -e ".[bundle]"
dist="${DIST:-dist}"
"$python" -m PyInstaller --noconfirm --clean --log-level WARN --distpath "$dist" \
    --workpath "${WORK:-build/pyinstaller}" packaging/workbench.spec
bundle="$dist/workbench"
mkdir -p "$bundle/share"
"$python" packaging/linux/render_icons.py "$bundle/share/icons/hicolor" >/dev/null
cp packaging/linux/workbench.desktop.in "$bundle/share/"
install -m 755 packaging/linux/install-desktop.sh packaging/linux/uninstall-desktop.sh "$bundle/"
echo "built $bundle ($(du -sh "$bundle" | cut -f1)): run $bundle/workbench, or $bundle/install-desktop.sh"
if [ "${SMOKE:-1}" = 1 ]; then
    "$python" packaging/smoke_test.py "$bundle"
fi
