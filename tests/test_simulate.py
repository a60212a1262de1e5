import numpy as np
import pytest

from wearfm.simulate import ACTIVITIES, SimulationConfig, simulate_subject, write_simulated_dataset


def test_gravity_and_activities():
    cfg = SimulationConfig(subjects=1, minutes=5)
    t, acc, gyr, labels = simulate_subject(0, cfg)
    labels = np.asarray(labels)
    assert acc.shape == gyr.shape == (len(t), 3)
    assert set(labels) == set(ACTIVITIES)
    mag = np.linalg.norm(acc, axis=1)
    still = np.isin(labels, ["sitting", "standing", "lying"])
    assert np.median(mag[still]) == pytest.approx(1.0, abs=0.05)
    # gaits move more than postures, running more than walking
    sd = {a: np.linalg.norm(acc[labels == a], axis=1).std() for a in ACTIVITIES}
    assert sd["running"] > sd["walking"] > max(sd["sitting"], sd["standing"], sd["lying"])
    assert np.abs(gyr[labels == "running"]).mean() > 3 * np.abs(gyr[labels == "sitting"]).mean()


def test_walking_cadence_is_per_subject():
    cfg = SimulationConfig(subjects=2, minutes=6)
    freqs = []
    for s in range(2):
        _, acc, _, labels = simulate_subject(s, cfg)
        m = np.asarray(labels) == "walking"
        z = acc[m, 2] - acc[m, 2].mean()
        spec = np.abs(np.fft.rfft(z))
        f = np.fft.rfftfreq(len(z), 1 / cfg.rate_hz)
        band = (f > 1.2) & (f < 2.3)
        freqs.append(f[band][np.argmax(spec[band])])
    assert all(1.5 < fr < 2.1 for fr in freqs)
    assert freqs[0] != pytest.approx(freqs[1], abs=1e-3)


def test_write_csv(tmp_path):
    paths = write_simulated_dataset(tmp_path, SimulationConfig(subjects=2, minutes=1))
    assert [p.parent.name for p in paths] == ["subject_01", "subject_02"]
    header = paths[0].read_text().splitlines()[0]
    assert header == "timestamp,ax,ay,az,gx,gy,gz,activity"
    rows = np.loadtxt(paths[0], delimiter=",", skiprows=1, usecols=range(7))
    assert len(rows) == 3000
    assert np.all(np.diff(rows[:, 0]) >= 0)
    assert np.median(np.linalg.norm(rows[:, 1:4], axis=1)) == pytest.approx(9.8, abs=0.6)
