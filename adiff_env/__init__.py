"""adiff-env: diffusion planners in Gymnasium environments."""
__version__ = "0.1.0"
