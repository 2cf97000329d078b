"""What is simulated: the experiment models and the geometry they need.

* :mod:`~nbcupy.experiment.models`: frozen dataclasses in SI units (``Beam``, ``Sources``,
  ``Detector``, ``Crystal``, ``HKLGrid``, ``StructureFactors``, ``Spindle``, ``Mosaic``,
  ``Sampling``, ``Simulation``), named as crystallographers name them;
* :mod:`~nbcupy.experiment.conventions`: the detector conventions (MOSFLM, XDS, DIALS, ...) as
  a table;
* :mod:`~nbcupy.experiment.geometry`: vectors, rotations, detector placement;
* :mod:`~nbcupy.experiment.cell`: the unit cell's real and reciprocal axes;
* :mod:`~nbcupy.experiment.regions`: which pixels are rendered (ROI, mask).

Belongs here: descriptions of an experiment and their geometry, independent of how they were
specified and of how an image is computed.  Does not: nanoBragg's flags and set-up rules
(:mod:`nbcupy.nanobragg`), the engine, files.  Nothing here imports the other rooms.
"""
