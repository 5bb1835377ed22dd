#!/usr/bin/env bash
# Add Workbench to this user's application menu: the desktop entry and the icon, pointing at the
# bundle this script sits in (move the folder anywhere first; run this again after a move).
# Nothing outside $XDG_DATA_HOME (default ~/.local/share) is touched; uninstall-desktop.sh
# removes what this adds.
set -euo pipefail
bundle="$(cd "$(dirname "$0")" && pwd)"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
[ -x "$bundle/workbench" ] || { echo "no workbench binary in $bundle" >&2; exit 1; }
case "$bundle" in *$'\n'*|*'"'*|*'`'*|*'$'*|*'\'*)
    echo "the bundle's path has characters a desktop entry cannot hold: move it" >&2; exit 1;;
esac
mkdir -p "$data/applications"
for icon in "$bundle"/share/icons/hicolor/*/apps/workbench.*; do
    size="$(basename "$(dirname "$(dirname "$icon")")")"
    mkdir -p "$data/icons/hicolor/$size/apps"
    cp "$icon" "$data/icons/hicolor/$size/apps/"
done
sed "s|@BUNDLE@|$bundle|g" "$bundle/share/workbench.desktop.in" > "$data/applications/workbench.desktop"
chmod 644 "$data/applications/workbench.desktop"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$data/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$data/icons/hicolor" || true
echo "installed $data/applications/workbench.desktop (runs $bundle/workbench)"
