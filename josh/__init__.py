"""JOSH: joint optimisation of cameras, scene and every person's metric motion from one video.

Data flow: front-ends produce initialisations (`josh.types`), the joint optimiser
(`josh.optimize`) turns them into a `Reconstruction` in one metric world frame, and
`josh.eval` measures it. `josh.synth` generates worlds with ground truth to measure against.
"""

__version__ = "0.1.0"
