"""How a message counts things: the one `plural` every message uses ("1 range", "3 ranges", "2 entries")."""


def plural(count: int, word: str, many: str | None = None) -> str:
    """`count` and `word`, in the plural (`many`, else `word` + "s") unless the count is one."""
    return f"{count} {word if count == 1 else many or word + 's'}"
