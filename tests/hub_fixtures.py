"""Moved: the fixtures ``fake_hub`` and ``hub_env`` are in tests/conftest.py now (every test
can use them without ``pytest_plugins``). Kept empty only so that a test written meanwhile with
``pytest_plugins = ["tests.hub_fixtures"]`` still runs; to be removed."""
