"""Evaluation with the field's benchmark protocols.

Data flow of `josh eval`: `datasets.<name>` reads ground truth (SMPL evaluated by `smpl_eval`) ->
`predictions` reads a result (official JOSH layout, or world arrays of a non-SMPL body) ->
`protocol` (+ `recon` for scene metrics) computes per-frame / per-sequence values with `metrics` ->
`report` averages them the field's way and writes Markdown + JSON; `cli` wires it to the command.
"""
