"""Few-shot activity classifiers: fit the probe's head once, apply it to whole recordings, summarise per day.

- :func:`~wearfm.classify.fit.fit`: labelled windows -> a classifier folder (encoder copy, head, classes,
  data contract, provenance);
- :func:`~wearfm.classify.predict.predict`: every window of a dataset -> a Parquet timeline, with temporal
  smoothing (:mod:`wearfm.classify.smooth`) and non-wear windows marked;
- :func:`~wearfm.classify.summary.summarize`: a timeline -> minutes per class per subject per day.

``wearfm export CLASSIFIER_DIR`` writes encoder + head as one ONNX graph (:mod:`wearfm.export.classifier`).
"""

from wearfm.classify.model import Classifier, is_classifier_dir, load_classifier

__all__ = ["Classifier", "is_classifier_dir", "load_classifier"]
