#!/usr/bin/env bash
# Remove what install-desktop.sh added (the desktop entry and the icons); the bundle itself and
# the user's data (settings, models, runs) stay where they are.
set -euo pipefail
data="${XDG_DATA_HOME:-$HOME/.local/share}"
rm -f "$data/applications/workbench.desktop"
rm -f "$data"/icons/hicolor/*/apps/workbench.png "$data"/icons/hicolor/*/apps/workbench.svg
command -v update-desktop-database >/dev/null && update-desktop-database -q "$data/applications" || true
echo "removed the Workbench desktop entry and icons from $data"
