"""The plugin guide's worked example (docs/plugins.md): demand read from a JSON file."""
