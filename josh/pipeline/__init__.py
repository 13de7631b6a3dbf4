"""`josh run`: the stage pipeline from a video to a metric 4D reconstruction.

    options.py  what a run is asked to do (clip, output folder, per-component sources)
    stages.py   one small function per stage (decode, people, scene, bodies, contacts, optimise)
    cache.py    the per-stage on-disk cache (keys, atomic npz entries, lock)
    run.py      the order of the stages, caching, progress, and the atomic output set
    report.py   plausibility figures and the printed summary
    cli.py      the command-line front
"""
