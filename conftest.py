"""Thin: hand over to the harness's pytest plugin.

The plugin is also an entry point (pyproject.toml) registered under the module's own
name, so pytest loads it once whether the package is installed or run from a checkout.
"""

pytest_plugins = ["harness.pytest_plugin"]
