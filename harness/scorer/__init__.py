"""Training the learned detector: ``harness scorer train`` (needs the ``scorer`` extra: scikit-learn).

``data`` reads labelled keys and their texts (train split only, blind rows
kept out); ``train`` chooses, fits and writes the model folder that
``harness.analysis.classifier`` scores with numpy alone.
"""
