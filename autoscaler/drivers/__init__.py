"""Built-in drivers: ``local`` here; others are plugins of their own."""
