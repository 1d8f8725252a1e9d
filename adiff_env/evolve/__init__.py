"""Self-evolution (AdaptDiffuser): rewards, trajectory buffer, consistency filter, the loop."""
