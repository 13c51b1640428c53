"""Hand labels for forum posts of the open2ch ranking corpus (issue 16).

``posts``: how a (line, post) key reads its text from ``../shared`` at run time;
``labelfile``: the label file contract (columns, labels, categories) and its
checker; ``selection``: the fixed, stratified choice of posts to label, with
the blind ``test`` split; ``cli``: ``python -m harness.labels show|check|select|merge|kappa``.
The guideline is ``docs/labelling.md``.
"""
