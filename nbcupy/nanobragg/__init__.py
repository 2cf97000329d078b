"""nanoBragg's interface: its flags and settings, the rules that turn them into models, and
what it does with an image (noise, statistics, summary, integer pixels).

* :mod:`~nbcupy.nanobragg.flags`: nanoBragg's flag table, its exact parser and the help text;
* :mod:`~nbcupy.nanobragg.option_fields`: the table of nbcupy's own double-dash options that
  set :class:`Options` fields (``--model``, ``--cbf``, ...);
* :mod:`~nbcupy.nanobragg.options`: :class:`Options`, the run's settings as the user gave them
  (SI units), and their one validation (``validate_options``);
* :mod:`~nbcupy.nanobragg.option_checks`, :mod:`~nbcupy.nanobragg.sizes`,
  :mod:`~nbcupy.nanobragg.model_checks`: the refusals of input nanoBragg.c would quietly
  "fix", of sizes that cannot fit in memory, and of models changed by hand;
* :mod:`~nbcupy.nanobragg.rules`: nanoBragg's small rules (step counts, mosaic domains,
  automatic oversampling, ROI defaults, SMV header defaults);
* :mod:`~nbcupy.nanobragg.build`: the builders that apply them and make the experiment models;
* :mod:`~nbcupy.nanobragg.structure_inputs`: which file gives the structure factors (``-hkl``
  text, MTZ/mmCIF, ``--model``) and the cell it brings;
* :mod:`~nbcupy.nanobragg.output_options`: nbcupy's output options checked before simulating;
* :mod:`~nbcupy.nanobragg.rng`: nanoBragg's random-number generator, bit for bit;
* :mod:`~nbcupy.nanobragg.noise`, :mod:`~nbcupy.nanobragg.noise_compiled`: the noise image
  (exact, byte-identical to nanoBragg.c, or fast);
* :mod:`~nbcupy.nanobragg.stats`: the statistics nanoBragg prints;
* :mod:`~nbcupy.nanobragg.summary`: the summary it prints before rendering;
* :mod:`~nbcupy.nanobragg.adu`: the conversions of the float image into its SMV and PGM pixels;
* ``_sequential.c``: the optional C extension of its sequential loops (noise, sums).

Belongs here: nanoBragg's interface and its post-processing of images.  Does not: the
engine's computation (:mod:`nbcupy.engine`) or file formats (:mod:`nbcupy.io`).  This room
builds models (:mod:`nbcupy.experiment`) and reads files through :mod:`nbcupy.io`.
"""
