"""PyInstaller hook for qtawesome: its icon fonts and their charmaps are package data, which
PyInstaller leaves behind unless told (the icons would then draw nothing in the bundle); the
smoke test's icons check proves they came along."""

from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("qtawesome", includes=["fonts/*"])
