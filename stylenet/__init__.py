"""StyleNet: perform a flat score as a pianist of a genre would (Malik & Ek, 2017), from the command line
(`stylenet perform`) or from Python:

    import stylenet
    stylenet.perform("song.mid", genre="jazz").write("song.jazz.mid")

`perform` and `render` load on first use (docs/api.md), so `import stylenet` stays instant."""

__version__ = "0.1.0"
__all__ = ["perform", "render", "StyleNetError", "__version__"]


def __getattr__(name: str):
    if name in ("perform", "render", "StyleNetError"):
        from stylenet import api

        return getattr(api, name)
    raise AttributeError(f"module 'stylenet' has no attribute {name!r}")
