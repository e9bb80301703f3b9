"""Where responses and records land: the MongoDB lake and the PostgreSQL ``raw`` schema."""
