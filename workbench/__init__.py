"""Workbench: which open model can this machine run, how fast, and how does it compare?"""

__version__ = "0.1.0"
