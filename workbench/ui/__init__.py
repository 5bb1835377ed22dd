"""The desktop app (PySide6). The only package that imports Qt.

``app.run_app`` starts it; ``main_window.MainWindow`` holds the pages; ``engine_bridge`` turns the
blocking inference engine into Qt signals (the engine runs in its own thread, the model in its
own process).
"""
