"""Data package: Jinja2 prompt templates (*.j2). See README.md."""
