"""The command line, installed as ``nbcupy.cli`` (the ``nbcupy`` console command).

* :mod:`~nbcupy.cli.app`: ``nbcupy <nanoBragg flags> [options]``, one image as nanoBragg.c
  makes it, and the dispatch to ``nbcupy series``;
* :mod:`~nbcupy.cli.series`: ``nbcupy series``, many images;
* :mod:`~nbcupy.cli.splitting`: the one splitter of nanoBragg's flags and nbcupy's
  double-dash options (no Typer, so that plain command lines start fast);
* :mod:`~nbcupy.cli.typer_app`: the Typer application for the rare command lines that need it.

Belongs here: reading command lines, printing one-line errors and choosing exit statuses.
Does not: anything a Python caller would also need (that is in :mod:`nbcupy.api` and the
package's rooms); nothing heavy is imported before it is needed.
"""
