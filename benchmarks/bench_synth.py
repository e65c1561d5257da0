"""Synthesis speed: virtimu's sparse path vs a naive full-mesh smplx forward pass.

Measured in the same run on the same poses, 3 sensors (paper 001: left wrist,
right thigh, head):

(a) virtimu: forward kinematics + sparse skinning of only the 3 sensor
    vertices + signals (acc by central difference, gyro, orientation);
(b) reference: smplx's full forward pass (all vertices, torch, no grad) in
    batches, then indexing the 3 sensor vertices (positions only: the
    reference does strictly less signal work than (a)).

Also: the end-to-end ``synthesize`` path from a 120 Hz AMASS-style sequence to
60 Hz (SLERP resampling included), the extrapolated time for all of AMASS
(~9 million frames at 60 Hz) on 2 cores, and peak memory.

Run: ``.venv/bin/python benchmarks/bench_synth.py [--frames 6000] [--body FILE]``.
Prints figures; it asserts nothing (speed is never a timed test).
"""
from __future__ import annotations

import argparse
import os
import resource
import time
import tracemalloc

import numpy as np

AMASS_FRAMES_60HZ = 9_000_000


def _best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=6000, help="frames per measurement (60 Hz)")
    ap.add_argument("--ref-frames", type=int, default=1200, help="frames for the slow smplx reference")
    ap.add_argument("--body", default=None, help="body model file (default: the open virtimu body)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads for the reference")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    import smplx
    import torch

    from virtimu.body.files import DEFAULT_BODY_PATH, load_body_model
    from virtimu.body.joints import SMPLH_JOINT_NAMES
    from virtimu.kinematics import forward_kinematics, motion_rotations, skin_vertices
    from virtimu.sensors.placement import attach_sites, load_site_table, resolve_sites
    from virtimu.sensors.synth import SynthConfig, needed_joints, sensor_trajectories, synthesize
    from virtimu.types import Motion

    torch.set_num_threads(args.threads)
    body_file = args.body or str(DEFAULT_BODY_PATH)
    body = load_body_model(body_file)
    atts = attach_sites(body, resolve_sites("wrist,thigh,head", load_site_table()))
    idx = np.array([a.vertex for a in atts])

    rng = np.random.default_rng(0)
    T = args.frames
    t = np.arange(T) / 60.0
    poses = np.zeros((T, 52, 3))
    poses[:, 0] = [np.pi / 2, 0, 0]
    # smooth random joint trajectories (sums of slow sinusoids)
    for k in range(3):
        poses[:, 1:22] += 0.25 * np.sin(2 * np.pi * rng.uniform(0.3, 2.0, (21, 3)) * t[:, None, None] + rng.uniform(0, 6, (21, 3)))
    trans = np.stack([0.5 * t, 0.1 * np.sin(t), 1.0 + 0.02 * np.sin(6 * t)], axis=1)
    betas = np.zeros(16)
    betas[:10] = rng.normal(scale=0.5, size=10)  # smplx reads 10 betas from a file with <300
    motion = Motion(poses=poses, trans=trans, betas=betas, fps=60.0, joint_names=SMPLH_JOINT_NAMES, name="bench")
    cfg = SynthConfig(fps=60.0, signals=("acc", "gyro", "rot"))

    # (a) virtimu core path: rotations, FK, sparse skinning, signals
    need = needed_joints(body, atts)  # the sensors' joints, their skinning joints and ancestors

    def virtimu_core():
        R = motion_rotations(motion, body, joints=need)
        P, R_ws = sensor_trajectories(body, betas, R, trans, atts)
        from virtimu.sensors import signals as sig
        sig.specific_force(sig.central_difference_acc(P, 1 / 60.0), R_ws)
        sig.gyro_from_orientations(R_ws, 1 / 60.0)
        sig.orientation_channels(R_ws)

    tracemalloc.start()
    virtimu_core()
    _, peak_core = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    t_core = _best_of(virtimu_core, args.repeats)

    # same positions as the reference computes (positions only), for a like-for-like ratio
    def virtimu_positions():
        R = motion_rotations(motion, body, joints=need)
        state = forward_kinematics(R, body.rest_joints(betas), body.parents, trans, joints=need)
        return skin_vertices(body, betas, R, state, idx)

    t_pos = _best_of(virtimu_positions, args.repeats)

    # (b) naive reference: full smplx forward pass, then index the sensor vertices
    model = smplx.create(body_file, model_type="smpl", num_betas=10, batch_size=1)
    n_ref = min(args.ref_frames, T)
    f32 = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    go, bp = f32(poses[:n_ref, 0]), f32(poses[:n_ref, 1:24].reshape(n_ref, -1))
    bp[:, 63:] = 0.0  # SMPL hand joints: not driven by SMPL+H body poses
    be, tr = f32(np.tile(betas[:10], (n_ref, 1))), f32(trans[:n_ref])

    def reference():
        out = []
        with torch.no_grad():
            for s in range(0, n_ref, 300):
                e = slice(s, s + 300)
                v = model(global_orient=go[e], body_pose=bp[e], betas=be[e], transl=tr[e]).vertices
                out.append(v[:, idx].numpy())
        return np.concatenate(out)

    t_ref = _best_of(reference, max(1, args.repeats - 1))
    ref_pos = reference()
    ours = virtimu_positions()[:n_ref]
    max_diff = float(np.abs(ref_pos - ours).max())

    # end to end: 120 Hz AMASS-style motion -> 60 Hz recording (SLERP resampling included)
    T120 = 2 * T
    t120 = np.arange(T120) / 120.0
    poses120 = np.zeros((T120, 52, 3))
    poses120[:, 0] = [np.pi / 2, 0, 0]
    poses120[:, 1:22] = 0.3 * np.sin(2 * np.pi * 0.9 * t120[:, None, None] + np.arange(63).reshape(21, 3))
    trans120 = np.stack([0.5 * t120, 0 * t120, 1.0 + 0.02 * np.sin(6 * t120)], axis=1)
    m120 = Motion(poses=poses120, trans=trans120, betas=betas, fps=120.0, joint_names=SMPLH_JOINT_NAMES, name="b120")
    t_e2e = _best_of(lambda: synthesize(m120, body, atts, cfg), args.repeats)
    n_out = synthesize(m120, body, atts, cfg).n_frames

    fps_core = T / t_core
    fps_pos = T / t_pos
    fps_ref = n_ref / t_ref
    fps_e2e = n_out / t_e2e
    cores = 2
    print(f"body: {body.name} ({body.v_template.shape[0]} vertices, {body.n_joints} joints); "
          f"sensors: {', '.join(a.name for a in atts)} (vertices {idx.tolist()})")
    print(f"machine: {os.cpu_count()} cores; torch threads for the reference: {args.threads}")
    print(f"(b) reference  smplx full forward + index        : {fps_ref:12,.0f} frames/s  ({n_ref} frames)")
    print(f"(a) virtimu    FK + sparse skinning (positions)  : {fps_pos:12,.0f} frames/s  ({T} frames)")
    print(f"    ratio (a)/(b), same output                    : {fps_pos / fps_ref:12,.0f} x")
    print(f"(a) virtimu    positions + acc + gyro + rot       : {fps_core:12,.0f} frames/s")
    print(f"    ratio vs reference (which computes less)      : {fps_core / fps_ref:12,.0f} x")
    print(f"    max |sparse - full| at the sensor vertices    : {max_diff:.2e} m")
    print(f"end to end synthesize() 120 Hz -> 60 Hz           : {fps_e2e:12,.0f} output frames/s (1 core)")
    secs = AMASS_FRAMES_60HZ / (fps_e2e * cores)
    print(f"all of AMASS (~{AMASS_FRAMES_60HZ / 1e6:.0f} M frames at 60 Hz) on {cores} cores, by extrapolation: "
          f"{secs:,.0f} s of compute ({'within' if secs <= 60 else 'over'} the 1-minute target)")
    print(f"peak traced memory of the virtimu path for {T} frames: {peak_core / 2**20:.1f} MiB; "
          f"process max RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
