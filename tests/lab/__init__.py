"""The upgrade sandbox: real PostgreSQL and HAProxy around simulated Kong nodes.

Run it as ``tests/lab/labctl`` (or ``PYTHONPATH=tests python -m lab``); see tests/lab/README.md.
"""

import os

LAB_PKG_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(LAB_PKG_DIR))
TESTS_DIR = os.path.join(REPO_ROOT, "tests")
KONGSIM_PATH = os.path.join(TESTS_DIR, "kongsim")
DEFAULT_LAB_DIR = "/tmp/kongops-lab"
