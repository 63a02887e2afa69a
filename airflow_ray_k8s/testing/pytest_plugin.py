"""pytest plugin (entry point ``pytest11``) with fixtures for users' own DAG tests.

Loaded by pytest in every project that installs the provider, so it imports nothing heavy at
module level.
"""

from __future__ import annotations
