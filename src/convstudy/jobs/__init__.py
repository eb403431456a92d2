"""Job functions: one module per workflow rule (``workflow/rules/*.smk`` ->
``workflow/scripts/<rule>.py`` -> ``convstudy.jobs.<rule>``).

A job function takes plain arguments (paths, the values a rule passes as ``params:``),
reads its inputs, calls the package's concept modules, and writes its outputs and its
record. It holds no study logic of its own.
"""
