"""The blueprints of the AI Manager server."""
