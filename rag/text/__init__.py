"""Words, safe text and dates: the language helpers every stage shares."""
