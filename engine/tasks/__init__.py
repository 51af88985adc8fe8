"""Tasks: what a model is fine-tuned and evaluated on.

base.py         the contract's data: Example, TaskFacts, TestProgram, DataContext / DataError, JSONL reader
families.py     one behaviour object per family (prompt, target, stops, post-processing, metrics, execution)
task.py         the Task base class: facts + family behaviour + `load`
programs.py     test programs for the sandbox (Python HumanEval / MBPP forms, Java HumanEval-X)
generation.py, translation.py, summarization.py   the built-in variants' data loading
custom.py       tasks declared in a spec (CustomTaskDeclaration, a Protocol: no import of engine.spec)
corpora.py, postprocess.py   shared corpus readers and text helpers
registry.py     the built-in variants by name (engine.registry.Registry), get_task, family_of
"""
