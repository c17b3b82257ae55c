"""swarmrank sim package."""
