"""prompts package (see DESIGN.md); its public names are listed in __all__."""

__all__: list[str] = []
