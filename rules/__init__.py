"""Data package: correlation rules (*.yaml). See README.md."""
