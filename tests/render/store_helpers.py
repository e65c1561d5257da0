"""Small stores of synthesised demo clips for the render and review tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from virtimu.body.files import load_body_model
from virtimu.io.amass import read_amass
from virtimu.labels.apply import label_store
from virtimu.sensors.placement import attach_sites, load_site_table, resolve_sites
from virtimu.sensors.synth import SynthConfig, synthesize
from virtimu.store import RecordingStore
from virtimu.synthesis import DEMO_MOTIONS, SynthJob, run_synthesis

#: A recording name that is also an HTML/script injection attempt.
EVIL_NAME = "<img src=x onerror=alert(1)>"


def build_demo_store(path: Path, clips: tuple[str, ...] = ("walking", "sit_stand"), fps: float = 30.0,
                     evil: bool = False, label: bool = True) -> Path:
    """Synthesise demo ``clips`` (left wrist, right thigh, head at ``fps``) into a store at ``path``.

    evil: also store the 'standing' clip under the name `EVIL_NAME`.
    label: run the labelling step (synthetic12) afterwards.
    """
    sites = resolve_sites("wrist,thigh,head", load_site_table(None))
    cfg = SynthConfig(fps=fps)
    job = SynthJob(store=str(path), sites=sites, config=cfg, source="demo", root=str(DEMO_MOTIONS))
    report = run_synthesis([DEMO_MOTIONS / f"{c}.npz" for c in clips], job, workers=1, progress=False)
    assert not report.failed, report.failed
    if evil:
        motion = read_amass(DEMO_MOTIONS / "standing.npz", root=DEMO_MOTIONS)
        motion.name = EVIL_NAME
        body = load_body_model(None)
        rec = synthesize(motion, body, attach_sites(body, sites, betas=motion.betas), cfg, source="demo")
        RecordingStore(path, mode="a").write(rec)
    if label:
        label_store(path)
    return path


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory):
    """walking + sit_stand at 30 Hz, labelled (synthetic12); read-only for the tests.

    Import it into a test module to use it (``from tests.render.store_helpers import demo_store``).
    """
    return build_demo_store(tmp_path_factory.mktemp("render") / "demo.zarr")
