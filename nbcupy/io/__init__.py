"""Files: one module per format, each reading and/or writing it.

* :mod:`~nbcupy.io.registry`: the image formats by name and extension, with their writers;
* images: :mod:`~nbcupy.io.floatimage` (raw float32), :mod:`~nbcupy.io.smv` (SMV/ADSC),
  :mod:`~nbcupy.io.pgm` (PGM);
* inputs: :mod:`~nbcupy.io.hkl` (``h k l F`` text), :mod:`~nbcupy.io.fdump` (nanoBragg's
  ``Fdump.bin`` cache), :mod:`~nbcupy.io.matrix` (MOSFLM orientation matrix),
  :mod:`~nbcupy.io.sourcefile` (nanoBragg's source list);
* helpers: :mod:`~nbcupy.io.atomic` (write to a temporary name, then rename),
  :mod:`~nbcupy.io.ctext` (C's ``%g`` and ``atof``).

Belongs here: bytes on disk and their meaning.  Does not: deciding what to simulate or how.
Readers return plain arrays or experiment models; writers take the models and the pixels.
Heavy format libraries are imported inside the functions that need them.
"""
