"""swarmrank's adversarial swarm simulator: the node's round on simulated nodes.

Modules and what lives where:

=================  ==========================================================================
module             owns
=================  ==========================================================================
``scenario``       the TOML schema (:class:`Scenario`), validation, overrides for sweeps
``model``          the task bank, answer normalisation, the scalar model of the node's ``sim``
                   backend (:class:`SimModel`) and the vectorised generation probabilities
``judging``        the engine's judge model: advantage, correlated errors, persuasiveness,
                   one latent draw per pair, stated confidences
``population``     per-node traits as arrays, calibration exams
``engine``         :func:`simulate`: rounds as the node runs them (selection, clustering,
                   schedules, absences, reputation), behaviours and adaptive adversaries
``aggregators``    the bridge to :mod:`ranking`: stacked schedules, the aggregators compared
``metrics``        ``results.json``: one seed, or means with intervals across seeds
``runner``         runs, ``--seeds``, sweeps as Ray tasks
``report``         ``report.md``, plots, terminal tables
``live``           live mode: the same scenario through real node daemons
``cli``            ``swarmrank sim run`` / ``sim sweep``
=================  ==========================================================================

Layering: ``sim`` imports :mod:`ranking` and :mod:`protocol`, and :mod:`node` only in live mode.
"""
