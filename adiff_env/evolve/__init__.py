"""Self-evolution core (AdaptDiffuser), domain-agnostic: the loop (:mod:`.loop`:
``EvolutionLoop``, ``RoundRecord``), the domain protocol (:mod:`.domain`: ``EvolveDomain``),
the trajectory buffer (:mod:`.buffer`), reward algebra (:mod:`.rewards`) and a learned dynamics
model (:mod:`.dynamics`). Domains (``adiff_env/maze/evolve.py``, ``adiff_env/code/evolve.py``)
import this package; it imports no domain."""
