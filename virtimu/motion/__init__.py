"""Procedural, parametric human motion in the AMASS format.

Walking and running (:mod:`virtimu.motion.gait`), standing, waving, arm
stretching (:mod:`virtimu.motion.gestures`), sitting down / standing up
(:mod:`virtimu.motion.sitting`), jumping (:mod:`virtimu.motion.jumping`) and lying
down (:mod:`virtimu.motion.lying`), generated on any SMPL rest skeleton
(:mod:`virtimu.motion.skeleton`) with feet that stay on the floor and joint
paths that keep a continuous velocity (legs off the floor follow prescribed
knee curves, :mod:`virtimu.motion.swing`), so virtual IMUs see no spikes.  The
bundled demo clips (``virtimu/assets/motions``) are made by
``scripts/make_demo_motions.py`` from :data:`DEMO_CLIPS`.

Stair walking (:mod:`virtimu.motion.stairs`), held postures and postural transitions
(:mod:`virtimu.motion.transitions`) and randomised, labelled clips of the 12 UCI HAPT
activities for synthetic pretraining (:mod:`virtimu.motion.parametric`) build on the same pieces.
"""
from virtimu.motion.gestures import StandParams, StretchParams, WaveParams
from virtimu.motion.jumping import JumpParams
from virtimu.motion.lying import LieParams
from virtimu.motion.sitting import SitParams
from virtimu.motion.clip import Clip
from virtimu.motion.gait import RunParams, WalkParams
from virtimu.motion.procedural import (
    DEMO_CLIPS, DEMO_MOTIONS_DIR, amass_arrays, default_skeleton, generate, generate_demo_clips, write_clip,
)
from virtimu.motion.skeleton import APPROX_SMPL_NEUTRAL_JOINTS, Skeleton, approximate_skeleton
from virtimu.motion.stairs import StairParams, stair_params
from virtimu.motion.transitions import PostureParams
from virtimu.motion.parametric import HAPT_ACTIVITIES, Randomization, generate_clip, generate_clips, sample_params

__all__ = [
    "Clip", "Skeleton", "approximate_skeleton", "default_skeleton", "APPROX_SMPL_NEUTRAL_JOINTS",
    "WalkParams", "RunParams", "StandParams", "WaveParams", "StretchParams", "SitParams", "JumpParams",
    "LieParams", "generate", "generate_demo_clips", "write_clip", "amass_arrays", "DEMO_CLIPS",
    "DEMO_MOTIONS_DIR", "StairParams", "stair_params", "PostureParams", "HAPT_ACTIVITIES", "Randomization",
    "generate_clip", "generate_clips", "sample_params",
]
