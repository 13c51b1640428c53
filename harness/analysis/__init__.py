"""Analysis of generations and corpora: everything measured on Japanese text.

Each text is NFKC-normalised and tokenized once (``tokenize``); lexicon flags
(``lexicon``, ``flagged``), tone features (``tone``) and lemma counts
(``vocab_shift``) all read those tokens.  ``stats`` and ``summary`` turn the
per-text 0/1 measures into rates with Wilson intervals and paired bootstrap
deltas.  ``score.Analyser`` is the entry point the pipeline calls.

Nothing is imported here on purpose: fugashi loads only when a tokenizer is
built, and callers import the module they need.
"""
