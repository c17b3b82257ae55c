"""``swarmrank eval``: accuracy of a live swarm on a question set, against the majority vote of
its own generators and its best single node.

Package map (functional core, imperative shell):

* :mod:`node.eval.questions` -- the question file (JSONL ``{"id", "question", "answer",
  "aliases", "choices"?}``) parsed into :class:`~node.eval.questions.Question` s;
* :mod:`node.eval.scoring` -- pure: normalised exact match with aliases, the generators'
  majority, one round's :class:`~node.eval.scoring.QuestionResult`;
* :mod:`node.eval.stats` -- pure: Wilson intervals, Newcombe's paired difference interval, the
  summary that becomes ``results.json``;
* :mod:`node.eval.report` -- ``report.md`` (pure text) and the PNG plots (matplotlib, Agg);
* :mod:`node.eval.runner` -- the edge: asks the swarm over gRPC (``SwarmService.Ask`` then
  ``GetRecord``), appends each result to ``answers.jsonl`` as it finishes and skips done ids on
  a restart.
"""
