"""swarmrank node package."""
