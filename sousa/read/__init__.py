"""Loading: the builder that travels in each Hub repo, and `sousa.load` / `sousa.fetch` on it.

`builder.py` is the staged builder (public `datasets` API only; `sousa.write.builder_file`
makes it `builder/sousa.py`); `package_builder.py` is `sousa.load`'s subclass of it, adding
range reads (`ranges.py`), lazy rows (`rows.py`), fast label conversion (`labels.py`) and the
streaming shortcut (`typed_stream.py`, fenced by `shortcut.py`); `loading.py` is the front door.
"""
