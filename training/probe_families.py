"""Which features tell what processing made a reference? A linear probe on projection datasets.

For a dataset made by `fxmatch predictor project` (sox references; `projection.jsonl` keeps each
example's sox recipe), a ridge read-out of the six sox effect families (drive, eq, dynamics,
modulation, echo, reverb) from a feature set, trained on the examples whose reference content file
id % 5 != 0 and scored (ROC AUC, 0.5 = chance) on the others. Feature sets: the VAE latents the
rows hold, and the files written by `cargo run --release --example probe_features` (the style
encoder's embeddings and the style statistics of the input and the reference), each read as the
reference's alone, reference - input, and both.

Usage:
  cargo run --release --example probe_features -- CONTENT DATA FEATS [--model ENCODER.onnx]
  python training/probe_families.py DATA [FEATS/encoder.f32 FEATS/stats.f32 ...]
"""
import json
import sys

import numpy as np

FAMILIES = {'drive': ('overdrive',), 'eq': ('highpass', 'lowpass', 'equalizer', 'bass', 'treble'),
            'dynamics': ('compand',), 'modulation': ('chorus', 'phaser', 'flanger', 'tremolo'),
            'echo': ('echo',), 'reverb': ('reverb',)}


def labels(data):
    """Per example: which families its recipe uses, and its reference's content id."""
    y, content = [], []
    for line in open(f'{data}/projection.jsonl'):
        record = json.loads(line)
        steps = [s.split()[0] for s in record['sox']]
        y.append([any(s in names for s in steps) for names in FAMILIES.values()])
        content.append(record['reference_content'])
    return np.array(y, float), np.array(content)


def auc(score, y):
    order = np.argsort(score)
    rank = np.empty(len(order))
    rank[order] = np.arange(1, len(order) + 1)
    pos = y > 0.5
    n1, n0 = pos.sum(), len(y) - pos.sum()
    return (rank[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)


def probe(x, y, content, name):
    """Ridge read-out (the best of five penalties on the held-out files) and its AUC per family."""
    val = (content % 5) == 0
    mean, std = x[~val].mean(0), x[~val].std(0) + 1e-6
    xs = np.hstack([(x - mean) / std, np.ones((len(x), 1))])
    best = None
    for lam in [1, 10, 100, 1000, 1e4]:
        a = xs[~val]
        w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ (2 * y[~val] - 1))
        s = xs[val] @ w
        aucs = [auc(s[:, k], y[val, k]) for k in range(y.shape[1])]
        if best is None or np.mean(aucs) > np.mean(best[1]):
            best = (lam, aucs)
    lam, aucs = best
    print(f'{name:28s} penalty {lam:6g} mean AUC {np.mean(aucs):.3f} | '
          + ' '.join(f'{k} {v:.3f}' for k, v in zip(FAMILIES, aucs)))


def main():
    data = sys.argv[1]
    meta = json.load(open(f'{data}/predict-dataset.json'))
    dim = meta['dim']
    y, content = labels(data)
    rows = np.fromfile(f'{data}/examples.f32', '<f4').reshape(meta['n'], -1)
    z_in, z_ref = rows[:, :2 * dim], rows[:, 2 * dim:4 * dim]
    print('examples', len(y), 'held out', int(((content % 5) == 0).sum()), 'family rates', y.mean(0).round(2))
    probe(z_ref, y, content, 'vae ref')
    probe(z_ref - z_in, y, content, 'vae ref-in')
    probe(np.hstack([z_in, z_ref]), y, content, 'vae [in,ref]')
    for path in sys.argv[2:]:
        f = np.fromfile(path, '<f4').reshape(meta['n'], -1)
        half, name = f.shape[1] // 2, path.split('/')[-1]
        probe(f[:, half:], y, content, f'{name} ref')
        probe(f[:, half:] - f[:, :half], y, content, f'{name} ref-in')
        probe(f, y, content, f'{name} [in,ref]')


if __name__ == '__main__':
    main()
