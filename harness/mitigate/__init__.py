"""Model-side mitigation (issue 19): safety-tune an arm on the run's own negatives, judged on held-out probes.

``mitigate: {method: dpo | kto, from: tuned, …}`` adds the ``mitigate`` stage
(after ``export``): ``split`` (mitigation-train / mitigation-eval by a hash of
(seed, probe)), ``pairs`` (the export's DPO pairs / KTO examples from the
train side only), ``train`` (TRL's DPOTrainer / KTOTrainer, LoRA through
peft), ``stage`` (the new arm ``<from>+<method>`` probed and analysed with the
others) and ``table`` (mitigation.csv: held-out effects and capability cost).
"""
