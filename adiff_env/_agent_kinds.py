"""Registration of the built-in agent kinds beyond ``random``.

Each kind's factory imports its module lazily, so listing kinds costs nothing. A new kind is
one function here (or an entry point in the ``adiff_env.agents`` group for a plugin).
"""

from __future__ import annotations

from adiff_env.agents import register_agent

# Kinds are added here as their modules land (expert, planner, sb3, bc, iql, cql, coder).
