"""unlearnlab: put claims about machine unlearning of language models to a controlled test.

Layers, lowest first; a module imports only from its own layer and the layers before it
(``tests/test_layers.py`` checks every import, inside functions too):

1. foundation: ``errors``, ``io``, ``registry``, ``grid``, ``external``;
2. ``worlds``: facts, rules, exact deduction, generators;
3. ``corpus``: splits, templates, documents, the tokenizer;
4. ``models``: the model factory, the training loop, the model store;
5. ``substrate``: config files, the experiment config, and the world, corpora and
   reference models built from it;
6. ``probes``: scoring, decoding and the probe suite;
7. ``methods``: unlearning methods and their loop;
8. ``attacks``: attacks on a model and recovery curves;
9. ``report``: results table, measures, verdicts, sections and figures, from rows alone;
10. ``experiments``: experiment kinds, which run stages and choose what to attack, and the
    config loader that validates a kind's settings;
11. ``cli``: the command line (imports model code only inside the commands that use it).
"""

__version__ = "0.1.0"
