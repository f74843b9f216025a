#!/bin/sh
# Add Pneumoscope to the Linux application menu (per user, no root):
#   scripts/install_desktop_entry.sh [path/to/dist/Pneumoscope/Pneumoscope]
# Writes ~/.local/share/applications/pneumoscope.desktop pointing at the built app, and the icon
# to ~/.local/share/icons/hicolor/256x256/apps/pneumoscope.png. Undo with --uninstall.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
data=${XDG_DATA_HOME:-"$HOME/.local/share"}
apps="$data/applications"
icons="$data/icons/hicolor/256x256/apps"
entry="$apps/pneumoscope.desktop"

if [ "${1:-}" = "--uninstall" ]; then
    rm -f "$entry" "$icons/pneumoscope.png"
    command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$apps" || true
    echo "Removed $entry"
    exit 0
fi

exe=${1:-"$repo/dist/Pneumoscope/Pneumoscope"}
if [ ! -x "$exe" ]; then
    echo "No built app at $exe: run 'make app' first (or pass the path to the Pneumoscope executable)." >&2
    exit 1
fi
exe=$(cd "$(dirname "$exe")" && pwd)/$(basename "$exe")
case "$exe" in
    *'"'*|*'\'*|*'`'*|*'$'*|*'%'*) echo "Cannot write a desktop entry for a path containing \" \\ \` \$ or %: $exe" >&2; exit 1 ;;
esac

mkdir -p "$apps" "$icons"
cp "$repo/resources/icon.png" "$icons/pneumoscope.png"
tmp="$entry.tmp.$$"
# The Exec path is quoted (the desktop-entry spec allows spaces inside double quotes).
sed -e "s|@EXEC@|\"$exe\"|" -e "s|@ICON@|$icons/pneumoscope.png|" "$repo/resources/pneumoscope.desktop" > "$tmp"
chmod 644 "$tmp"
mv "$tmp" "$entry"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$apps" || true
if command -v desktop-file-validate >/dev/null 2>&1; then
    desktop-file-validate "$entry" || true
fi
echo "Installed $entry"
echo "Pneumoscope is now in the application menu (log out and in if it does not show yet)."
