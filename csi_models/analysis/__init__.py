"""The practitioner's tools beside the index models: Kano, expectation gaps (SERVQUAL), IPMA."""
