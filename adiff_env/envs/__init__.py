"""Gymnasium environments of adiff-env, registered under ids ``adiff/...`` on import.

Mazes (``maze.py``, D4RL maze2d protocol on gymnasium-robotics' PointMaze):

=====================================  ============  =====  ====================